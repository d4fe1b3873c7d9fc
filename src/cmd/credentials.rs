//! `fulfill credentials set|list|remove`: MWS credentials, or SP-API credentials per region
//! (one authorisation and its marketplaces per region; `--discover` asks Amazon for them).

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
    /// SP-API: every region the sandbox serves, each on its own listener.
    #[serde(default)]
    regions: Vec<SandboxRegion>,
}

/// One region of an SP-API sandbox's line.
#[derive(serde::Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
struct SandboxRegion {
    region: String,
    base_url: String,
    token_url: String,
    seller_id: String,
    marketplaces: Vec<String>,
    lwa_client_id: String,
    lwa_client_secret: String,
    refresh_token: String,
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
    if line.api.as_deref() == Some("sp-api") && !line.regions.is_empty() {
        for r in &line.regions {
            let input = SpApiCredentialsInput {
                seller_id: r.seller_id.clone(),
                marketplaces: r.marketplaces.clone(),
                lwa_client_id: r.lwa_client_id.clone(),
                lwa_client_secret: Zeroizing::new(r.lwa_client_secret.clone()),
                refresh_token: Zeroizing::new(r.refresh_token.clone()),
                region: Region::parse(&r.region)?,
                endpoint: Some(r.base_url.clone()),
                token_endpoint: Some(r.token_url.clone()),
                time_scale: line.time_scale,
            };
            let creds = SpApiCredentials::new(input, true)?;
            s.store_spapi_region(&creds, now)?;
            crate::outln!(
                "Stored the sandbox's SP-API credentials for region {} (seller {}, marketplaces {}, {}).",
                creds.region,
                creds.seller_id,
                names(&creds.marketplaces),
                creds.endpoint
            );
        }
    } else if line.api.as_deref() == Some("sp-api") {
        let input = SpApiCredentialsInput {
            seller_id: line.seller_id.clone(),
            marketplaces: vec![line.marketplace_id.clone()],
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
        s.store_spapi_region(&creds, now)?;
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
            discover,
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
            let region = region
                .as_deref()
                .map(Region::parse)
                .transpose()?
                .unwrap_or(Region::Na);
            let mut input = SpApiCredentialsInput {
                seller_id: seller_id.to_string(),
                marketplaces: marketplaces.clone(),
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
                region,
                endpoint: endpoint.clone(),
                token_endpoint: token_endpoint.clone(),
                time_scale: *time_scale,
            };
            if *discover {
                input.marketplaces = discover_marketplaces(ctx, &s, &input, now)?;
            }
            let creds = SpApiCredentials::new(input, ctx.vault.is_sandbox())?;
            let change = s.store_spapi_region(&creds, now)?;
            let mut note = String::new();
            if change.replaced {
                note.push_str(" It replaces that region's earlier credentials.");
            }
            if change.mws_replaced {
                note.push_str(" The MWS credentials are replaced: this home talks SP-API now.");
            }
            if let Some(r) = change.carried_over {
                note.push_str(&format!(
                    " The credentials set before regions are kept as region {r}'s."
                ));
            }
            crate::outln!(
                "Stored SP-API credentials for region {region} (seller {seller_id}, marketplaces {}, {}).{note}",
                names(&creds.marketplaces),
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
            discover,
        } => {
            s.require(
                crate::role::Capability::ManagePeople,
                "credentials.set",
                now,
            )?;
            refuse_given(
                &[
                    (*discover, "--discover"),
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
        CredentialsCmd::Remove { region } => {
            let region = Region::parse(region)?;
            s.remove_spapi_region(region, now)?;
            crate::outln!(
                "Removed the SP-API credentials of region {region}; the other regions stay."
            );
        }
        CredentialsCmd::List { json } => {
            let st = s.load_market_credentials("credentials.show", now)?;
            let c = match &st.credentials {
                MarketCredentials::Mws(c) => c,
                MarketCredentials::SpApi(regions) => {
                    show_spapi(regions, *json);
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

/// Marketplace ids with their countries: `ATVPDKIKX0DER (US), A2EUQ1WTGCTBG2 (CA)`.
fn names(ids: &[String]) -> String {
    ids.iter()
        .map(|m| match crate::model::marketplace::Marketplace::by_id(m) {
            Some(k) => format!("{m} ({})", k.country),
            None => m.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `credentials set --discover`: the marketplaces of the region Amazon lists the seller as
/// participating in (`getMarketplaceParticipations`, which lists every region's), asked with
/// the credentials being set. The call is recorded like every call to Amazon.
fn discover_marketplaces(
    ctx: &Context,
    s: &crate::vault::Session<'_>,
    input: &SpApiCredentialsInput,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<String>> {
    let probe = SpApiCredentials::new(
        SpApiCredentialsInput {
            seller_id: input.seller_id.clone(),
            // Not sent: the call takes no marketplace.
            marketplaces: vec!["-".into()],
            lwa_client_id: input.lwa_client_id.clone(),
            lwa_client_secret: input.lwa_client_secret.clone(),
            refresh_token: input.refresh_token.clone(),
            region: input.region,
            endpoint: input.endpoint.clone(),
            token_endpoint: input.token_endpoint.clone(),
            time_scale: input.time_scale,
        },
        ctx.vault.is_sandbox(),
    )?;
    let time: std::sync::Arc<dyn crate::mws::client::Timebase> = if ctx.vault.is_sandbox() {
        std::sync::Arc::new(crate::mws::client::SandboxTime::new(now, probe.time_scale))
    } else {
        std::sync::Arc::new(crate::mws::client::RealTime)
    };
    let mut client = crate::spapi::client::Client::new(probe, time)?;
    let mut obs = crate::calls::AuditedCalls::new(&ctx.vault, ctx.clock.as_ref(), s.name());
    let all = client
        .get_marketplace_participations(&mut obs)
        .map_err(|e| match e {
            crate::spapi::client::CallError::Refused(e, _)
            | crate::spapi::client::CallError::Failed(e) => e,
            crate::spapi::client::CallError::Reauthorize => {
                crate::spapi::lwa::LwaError::Reauthorize.into()
            }
            crate::spapi::client::CallError::PaginationExpired => {
                Error::Remote("Amazon did not list the seller's marketplaces".into())
            }
        })?;
    let mine: Vec<String> = all
        .into_iter()
        .filter(|p| p.participating)
        .map(|p| p.marketplace_id)
        .filter(|m| {
            crate::model::marketplace::Marketplace::by_id(m)
                .is_some_and(|k| k.region == input.region)
        })
        .collect();
    if mine.is_empty() {
        return Err(Error::usage(format!(
            "Amazon lists no marketplace of region {} where this seller sells: give \
             --marketplace ID, or set the region the seller sells in",
            input.region
        )));
    }
    Ok(mine)
}

/// `credentials list --json` for SP-API credentials: each region with its marketplaces
/// (never the secret or the refresh token).
#[derive(Debug, Serialize)]
struct SpView<'a> {
    api: &'static str,
    regions: Vec<SpRegionView<'a>>,
}

#[derive(Debug, Serialize)]
struct SpRegionView<'a> {
    region: &'static str,
    seller_id: &'a str,
    marketplaces: &'a [String],
    lwa_client_id: &'a str,
    endpoint: &'a str,
    token_endpoint: &'a str,
    time_scale: f64,
    updated_at: &'a str,
    updated_by: &'a str,
}

fn show_spapi(regions: &[crate::vault::RegionCredentials], json: bool) {
    let v = SpView {
        api: "sp-api",
        regions: regions
            .iter()
            .map(|r| SpRegionView {
                region: r.credentials.region.as_str(),
                seller_id: &r.credentials.seller_id,
                marketplaces: &r.credentials.marketplaces,
                lwa_client_id: &r.credentials.lwa_client_id,
                endpoint: &r.credentials.endpoint,
                token_endpoint: &r.credentials.token_endpoint,
                time_scale: r.credentials.time_scale,
                updated_at: &r.updated_at,
                updated_by: &r.updated_by,
            })
            .collect(),
    };
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(&v).expect("serializes"));
        return;
    }
    crate::outln!("api            SP-API");
    for r in &v.regions {
        crate::outln!();
        crate::outln!("region         {}", r.region);
        crate::outln!("seller id      {}", r.seller_id);
        crate::outln!("marketplaces   {}", names(r.marketplaces));
        crate::outln!("lwa client id  {}", r.lwa_client_id);
        crate::outln!("client secret  (stored, not shown)");
        crate::outln!("refresh token  (stored, not shown)");
        crate::outln!("endpoint       {}", r.endpoint);
        crate::outln!("token endpoint {}", r.token_endpoint);
        if r.time_scale != 1.0 {
            crate::outln!("time scale     {} (sandbox)", r.time_scale);
        }
        crate::outln!("updated        {} by {}", r.updated_at, r.updated_by);
    }
}
