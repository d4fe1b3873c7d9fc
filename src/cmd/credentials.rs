//! `fulfill credentials set|show`.

use serde::Serialize;
use zeroize::Zeroizing;

use crate::cli::{CredentialsCmd, SandboxApi};
use crate::context::Context;
use crate::error::{Error, Exit, Result};
use crate::mws::credentials::{CredentialsInput, MwsCredentials};
use crate::spapi::credentials::{Region, SpApiCredentials, SpApiCredentialsInput};
use crate::vault::MarketCredentials;

fn need_seller(v: &Option<String>) -> Result<&str> {
    v.as_deref()
        .ok_or_else(|| Error::usage("credentials set needs --seller-id ID"))
}

fn need<'a>(v: Option<&'a std::path::Path>, flag: &str) -> Result<&'a std::path::Path> {
    v.ok_or_else(|| {
        Error::usage(format!(
            "SP-API credentials need {flag} (MWS ones: --api mws; a sandbox's: --from-sandbox FILE)"
        ))
    })
}

/// Refuses the first flag given that belongs to the other API: "`FLAG` `why`".
fn refuse_given(flags: &[(bool, &str)], why: &str) -> Result<()> {
    match flags.iter().find(|(given, _)| *given) {
        Some((_, flag)) => Err(Error::usage(format!("{flag} {why}"))),
        None => Ok(()),
    }
}

fn read_secret(path: &std::path::Path, what: &str) -> Result<Zeroizing<String>> {
    let s = crate::safety::read_private_file(path, what)?;
    Ok(Zeroizing::new(s.trim().to_string()))
}

/// `credentials show --json` (field names pinned by a test).
#[derive(Debug, Serialize)]
struct View<'a> {
    seller_id: &'a str,
    access_key_id: &'a str,
    marketplaces: &'a [String],
    endpoint: &'a str,
    auth_token: bool,
    time_scale: f64,
    updated_at: &'a str,
    updated_by: &'a str,
}

/// The line `fulfill sandbox --line-file FILE` writes (zeroized on drop: it holds secrets).
#[derive(serde::Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
struct SandboxLine {
    #[serde(default)]
    api: Option<String>,
    base_url: String,
    seller_id: String,
    marketplace_id: String,
    #[zeroize(skip)]
    time_scale: f64,
    #[serde(default)]
    token_url: Option<String>,
    #[serde(default)]
    lwa_client_id: Option<String>,
    #[serde(default)]
    lwa_client_secret: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    access_key_id: Option<String>,
    #[serde(default)]
    secret_key: Option<String>,
}

/// How long `--from-sandbox` waits for a sandbox started a moment ago to write its line.
const SANDBOX_LINE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads the sandbox's line from `path`, waiting for a sandbox just started to write it (it
/// writes the file whole, by rename, once it listens).
fn read_sandbox_line(path: &std::path::Path) -> Result<SandboxLine> {
    let started = std::time::Instant::now();
    while std::fs::symlink_metadata(path).is_err() {
        if started.elapsed() >= SANDBOX_LINE_WAIT {
            return Err(Error::usage(format!(
                "{} does not exist: start the sandbox first (`fulfill sandbox --line-file {}`)",
                path.display(),
                path.display()
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let text = crate::safety::read_private_file(path, "sandbox line")?;
    serde_json::from_str(text.trim()).map_err(|e| {
        Error::usage(format!(
            "{} is not the line `fulfill sandbox` prints: {e}",
            path.display()
        ))
    })
}

/// `credentials set --from-sandbox FILE`: the sandbox's own credentials, for a sandbox home.
fn set_from_sandbox(
    ctx: &Context,
    s: &crate::vault::Session<'_>,
    path: &std::path::Path,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    if !ctx.vault.is_sandbox() {
        return Err(Error::usage(
            "--from-sandbox is for a sandbox home (made with `fulfill init --sandbox`); a real \
             home takes Amazon's credentials",
        ));
    }
    let mut line = read_sandbox_line(path)?;
    let missing = |f: &str| {
        Error::usage(format!(
            "{} lacks {f}: it is not the line `fulfill sandbox` prints",
            path.display()
        ))
    };
    let secret =
        |v: &mut Option<String>, f: &str| v.take().map(Zeroizing::new).ok_or_else(|| missing(f));
    if line.api.as_deref() == Some("sp-api") {
        let input = SpApiCredentialsInput {
            seller_id: line.seller_id.clone(),
            marketplace_id: line.marketplace_id.clone(),
            lwa_client_id: line
                .lwa_client_id
                .clone()
                .ok_or_else(|| missing("lwa_client_id"))?,
            lwa_client_secret: secret(&mut line.lwa_client_secret, "lwa_client_secret")?,
            refresh_token: secret(&mut line.refresh_token, "refresh_token")?,
            region: Region::Na,
            endpoint: Some(line.base_url.clone()),
            token_endpoint: Some(line.token_url.clone().ok_or_else(|| missing("token_url"))?),
            time_scale: line.time_scale,
        };
        let creds = SpApiCredentials::new(input, true)?;
        s.store_spapi_credentials(&creds, now)?;
        crate::outln!(
            "Stored the sandbox's SP-API credentials for seller {} (marketplace {}, {}).",
            line.seller_id,
            line.marketplace_id,
            creds.endpoint
        );
    } else {
        let input = CredentialsInput {
            seller_id: line.seller_id.clone(),
            access_key_id: line
                .access_key_id
                .clone()
                .ok_or_else(|| missing("access_key_id"))?,
            secret_key: secret(&mut line.secret_key, "secret_key")?,
            auth_token: None,
            marketplaces: vec![line.marketplace_id.clone()],
            endpoint: line.base_url.clone(),
            time_scale: line.time_scale,
        };
        let creds = MwsCredentials::new(input, true)?;
        s.store_credentials(&creds, now)?;
        crate::outln!(
            "Stored the sandbox's MWS credentials for seller {} ({}).",
            line.seller_id,
            line.base_url
        );
    }
    Ok(())
}

/// Runs a `credentials` subcommand.
pub fn run(ctx: &Context, cmd: &CredentialsCmd) -> Result<Exit> {
    let s = ctx.unlock()?;
    let now = ctx.now();
    match cmd {
        CredentialsCmd::Set {
            from_sandbox: Some(path),
            ..
        } => {
            s.require(
                crate::role::Capability::ManagePeople,
                "credentials.set",
                now,
            )?;
            set_from_sandbox(ctx, &s, path, now)?;
        }
        CredentialsCmd::Set {
            api: SandboxApi::SpApi,
            from_sandbox: None,
            seller_id,
            access_key_id,
            secret_key_file,
            marketplaces,
            endpoint,
            auth_token_file,
            lwa_client_id,
            lwa_client_secret_file,
            refresh_token_file,
            region,
            token_endpoint,
            time_scale,
        } => {
            s.require(
                crate::role::Capability::ManagePeople,
                "credentials.set",
                now,
            )?;
            refuse_given(
                &[
                    (access_key_id.is_some(), "--access-key-id"),
                    (secret_key_file.is_some(), "--secret-key-file"),
                    (auth_token_file.is_some(), "--auth-token-file"),
                ],
                "is an MWS flag: pass --api mws (SP-API, the default, takes --lwa-client-id, \
                 --lwa-client-secret-file and --refresh-token-file)",
            )?;
            let seller_id = need_seller(seller_id)?;
            let [marketplace] = marketplaces.as_slice() else {
                return Err(Error::usage(
                    "SP-API credentials take exactly one --marketplace",
                ));
            };
            let input = SpApiCredentialsInput {
                seller_id: seller_id.to_string(),
                marketplace_id: marketplace.clone(),
                lwa_client_id: lwa_client_id.clone().ok_or_else(|| {
                    Error::usage(
                        "SP-API credentials need --lwa-client-id ID (MWS ones: --api mws; a \
                             sandbox's: --from-sandbox FILE)",
                    )
                })?,
                lwa_client_secret: read_secret(
                    need(
                        lwa_client_secret_file.as_deref(),
                        "--lwa-client-secret-file FILE",
                    )?,
                    "LWA client secret",
                )?,
                refresh_token: read_secret(
                    need(refresh_token_file.as_deref(), "--refresh-token-file FILE")?,
                    "refresh token",
                )?,
                region: region
                    .as_deref()
                    .map(Region::parse)
                    .transpose()?
                    .unwrap_or(Region::Na),
                endpoint: endpoint.clone(),
                token_endpoint: token_endpoint.clone(),
                time_scale: *time_scale,
            };
            let creds = SpApiCredentials::new(input, ctx.vault.is_sandbox())?;
            s.store_spapi_credentials(&creds, now)?;
            crate::outln!(
                "Stored SP-API credentials for seller {seller_id} (marketplace {marketplace}, {}).",
                creds.endpoint
            );
        }
        CredentialsCmd::Set {
            api: SandboxApi::Mws,
            from_sandbox: None,
            seller_id,
            access_key_id,
            secret_key_file,
            marketplaces,
            endpoint,
            auth_token_file,
            lwa_client_id,
            lwa_client_secret_file,
            refresh_token_file,
            region,
            token_endpoint,
            time_scale,
        } => {
            s.require(
                crate::role::Capability::ManagePeople,
                "credentials.set",
                now,
            )?;
            refuse_given(
                &[
                    (lwa_client_id.is_some(), "--lwa-client-id"),
                    (lwa_client_secret_file.is_some(), "--lwa-client-secret-file"),
                    (refresh_token_file.is_some(), "--refresh-token-file"),
                    (region.is_some(), "--region"),
                    (token_endpoint.is_some(), "--token-endpoint"),
                ],
                "is an SP-API flag: leave out --api mws",
            )?;
            let (Some(access_key_id), Some(secret_key_file), Some(endpoint)) =
                (access_key_id, secret_key_file, endpoint)
            else {
                return Err(Error::usage(
                    "MWS credentials need --access-key-id ID, --secret-key-file FILE and \
                     --endpoint URL (SP-API credentials: leave out --api mws)",
                ));
            };
            let seller_id = need_seller(seller_id)?;
            let input = CredentialsInput {
                seller_id: seller_id.to_string(),
                access_key_id: access_key_id.clone(),
                secret_key: read_secret(secret_key_file, "secret key")?,
                auth_token: auth_token_file
                    .as_deref()
                    .map(|p| read_secret(p, "auth token"))
                    .transpose()?,
                marketplaces: marketplaces.clone(),
                endpoint: endpoint.clone(),
                time_scale: *time_scale,
            };
            let creds = MwsCredentials::new(input, ctx.vault.is_sandbox())?;
            s.store_credentials(&creds, now)?;
            crate::outln!(
                "Stored MWS credentials for seller {seller_id} ({} marketplace(s), {endpoint}).",
                marketplaces.len()
            );
        }
        CredentialsCmd::Show { json } => {
            let st = s.load_market_credentials("credentials.show", now)?;
            let c = match &st.credentials {
                MarketCredentials::Mws(c) => c,
                MarketCredentials::SpApi(c) => {
                    show_spapi(c, &st.updated_at, &st.updated_by, *json);
                    return Ok(Exit::Ok);
                }
            };
            let v = View {
                seller_id: &c.seller_id,
                access_key_id: &c.access_key_id,
                marketplaces: &c.marketplaces,
                endpoint: &c.endpoint,
                auth_token: c.has_auth_token(),
                time_scale: c.time_scale,
                updated_at: &st.updated_at,
                updated_by: &st.updated_by,
            };
            if *json {
                crate::outln!("{}", serde_json::to_string_pretty(&v).expect("serializes"));
            } else {
                crate::outln!("seller id      {}", v.seller_id);
                crate::outln!("access key id  {}", v.access_key_id);
                crate::outln!("secret key     (stored, not shown)");
                crate::outln!(
                    "auth token     {}",
                    if v.auth_token {
                        "(stored, not shown)"
                    } else {
                        "none"
                    }
                );
                crate::outln!("marketplaces   {}", v.marketplaces.join(", "));
                crate::outln!("endpoint       {}", v.endpoint);
                if v.time_scale != 1.0 {
                    crate::outln!("time scale     {} (sandbox)", v.time_scale);
                }
                crate::outln!("updated        {} by {}", v.updated_at, v.updated_by);
            }
        }
    }
    Ok(Exit::Ok)
}

/// `credentials show --json` for SP-API credentials (never the secret or the refresh token).
#[derive(Debug, Serialize)]
struct SpView<'a> {
    api: &'static str,
    seller_id: &'a str,
    marketplace_id: &'a str,
    lwa_client_id: &'a str,
    region: String,
    endpoint: &'a str,
    token_endpoint: &'a str,
    time_scale: f64,
    updated_at: &'a str,
    updated_by: &'a str,
}

fn show_spapi(c: &SpApiCredentials, updated_at: &str, updated_by: &str, json: bool) {
    let v = SpView {
        api: "sp-api",
        seller_id: &c.seller_id,
        marketplace_id: &c.marketplace_id,
        lwa_client_id: &c.lwa_client_id,
        region: format!("{:?}", c.region).to_ascii_lowercase(),
        endpoint: &c.endpoint,
        token_endpoint: &c.token_endpoint,
        time_scale: c.time_scale,
        updated_at,
        updated_by,
    };
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(&v).expect("serializes"));
        return;
    }
    crate::outln!("api            SP-API");
    crate::outln!("seller id      {}", v.seller_id);
    crate::outln!("marketplace    {}", v.marketplace_id);
    crate::outln!("lwa client id  {}", v.lwa_client_id);
    crate::outln!("client secret  (stored, not shown)");
    crate::outln!("refresh token  (stored, not shown)");
    crate::outln!("region         {}", v.region);
    crate::outln!("endpoint       {}", v.endpoint);
    crate::outln!("token endpoint {}", v.token_endpoint);
    if v.time_scale != 1.0 {
        crate::outln!("time scale     {} (sandbox)", v.time_scale);
    }
    crate::outln!("updated        {} by {}", v.updated_at, v.updated_by);
}
