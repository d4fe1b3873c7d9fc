//! `fulfill credentials set|show`.

use serde::Serialize;
use zeroize::Zeroizing;

use crate::cli::CredentialsCmd;
use crate::context::Context;
use crate::error::{Exit, Result};
use crate::mws::credentials::{CredentialsInput, MwsCredentials};

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

/// Runs a `credentials` subcommand.
pub fn run(ctx: &Context, cmd: &CredentialsCmd) -> Result<Exit> {
    let s = ctx.unlock()?;
    let now = ctx.now();
    match cmd {
        CredentialsCmd::Set {
            seller_id,
            access_key_id,
            secret_key_file,
            marketplaces,
            endpoint,
            auth_token_file,
            time_scale,
        } => {
            s.require(
                crate::role::Capability::ManagePeople,
                "credentials.set",
                now,
            )?;
            let input = CredentialsInput {
                seller_id: seller_id.clone(),
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
            let st = s.load_credentials("credentials.show", now)?;
            let c = &st.credentials;
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
