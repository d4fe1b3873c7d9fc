//! `fulfill sandbox`: serve the built-in fake Selling Partner API (North America and Europe,
//! each region on its own listener; or, with `--api mws`, the fake MWS) until killed. `--line-file FILE` also writes its JSON line to FILE (0600, whole,
//! by rename) for `fulfill credentials set --from-sandbox FILE`.

use std::io::Write;
use std::sync::Arc;

use crate::cli::{SandboxApi, SandboxArgs};
use crate::clock::ScaledClock;
use crate::sandbox::spapi::SpSandbox;
use crate::sandbox::{FaultSpec, Sandbox, SandboxConfig};
use crate::{Error, Exit, Result};

/// Runs the sandbox command: prints one JSON line (base URL, credentials, time scale), then
/// serves until the process is killed.
pub fn run(args: &SandboxArgs) -> Result<Exit> {
    if !(args.time_scale.is_finite() && args.time_scale > 0.0) {
        return Err(Error::usage(format!(
            "sandbox: --time-scale must be a positive number, got {}",
            args.time_scale
        )));
    }
    let faults = match &args.faults {
        Some(s) => {
            FaultSpec::parse(s).map_err(|e| Error::usage(format!("sandbox: --faults: {e}")))?
        }
        None => FaultSpec::none(),
    };
    let clock = Arc::new(ScaledClock::new(chrono::Utc::now(), args.time_scale));
    let cfg = SandboxConfig {
        addr: args.addr.clone(),
        orders: args.orders,
        seed: args.seed,
        time_scale: args.time_scale,
        faults,
        clock,
    };
    // Kept alive (the server thread stops when its handle drops).
    let (_mws, _sp, line);
    match args.api {
        SandboxApi::Mws => {
            let handle = Sandbox::start(cfg)?;
            let c = handle.credentials();
            line = serde_json::json!({
                "base_url": handle.base_url(),
                "seller_id": c.seller_id,
                "access_key_id": c.access_key_id,
                "secret_key": c.secret_key,
                "marketplace_id": c.marketplace_id,
                "time_scale": args.time_scale,
            });
            (_mws, _sp) = (Some(handle), None);
        }
        SandboxApi::SpApi => {
            // North America on --addr, Europe on another port of the same host.
            let host = crate::sandbox::loopback_addr(&args.addr)?.ip();
            let eu_addr = std::net::SocketAddr::new(host, 0).to_string();
            let (na, eu) = SpSandbox::start_regions(cfg, &eu_addr)?;
            let c = na.credentials();
            let region = |h: &crate::sandbox::spapi::SpSandboxHandle| {
                let c = h.credentials();
                serde_json::json!({
                    "region": c.region,
                    "base_url": h.base_url(),
                    "token_url": h.token_url(),
                    "seller_id": c.seller_id,
                    "marketplaces": c.marketplaces,
                    "lwa_client_id": c.lwa_client_id,
                    "lwa_client_secret": c.lwa_client_secret,
                    "refresh_token": c.refresh_token,
                })
            };
            // The top-level fields are North America's (one region, for older readers).
            line = serde_json::json!({
                "api": "sp-api",
                "base_url": na.base_url(),
                "token_url": na.token_url(),
                "lwa_client_id": c.lwa_client_id,
                "lwa_client_secret": c.lwa_client_secret,
                "refresh_token": c.refresh_token,
                "seller_id": c.seller_id,
                "marketplace_id": c.marketplace_id,
                "time_scale": args.time_scale,
                "regions": [region(&na), region(&eu)],
            });
            (_mws, _sp) = (None, Some((na, eu)));
        }
    }
    if let Some(path) = &args.line_file {
        crate::home::write_private(path, format!("{line}\n").as_bytes())?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    drop(out);
    loop {
        std::thread::park();
    }
}
