//! `fulfill operator`: add, list, disable, passwd, unlock, recover, totp-enroll.

use std::io::IsTerminal;

use serde::Serialize;

use crate::cli::OperatorCmd;
use crate::context::{Context, new_passphrase};
use crate::error::{Exit, Result};
use crate::role::{Capability, Role};
use crate::vault::NewCredential;
use crate::vault::store::OperatorRow;

/// One row of `operator list --json` (field names pinned by a test).
#[derive(Debug, Serialize)]
pub struct OperatorView {
    /// Name.
    pub name: String,
    /// Role.
    pub role: String,
    /// `passphrase` or `keyfile`.
    pub credential: &'static str,
    /// When added (RFC 3339).
    pub created: String,
    /// Who added it.
    pub created_by: Option<String>,
    /// Last successful unlock.
    pub last_used: Option<String>,
    /// Locked after failed unlocks.
    pub locked: bool,
    /// Disabled (keys destroyed).
    pub disabled: bool,
}

impl From<&OperatorRow> for OperatorView {
    fn from(o: &OperatorRow) -> Self {
        let t =
            |d: chrono::DateTime<chrono::Utc>| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        OperatorView {
            name: o.name.clone(),
            role: o.role.to_string(),
            credential: match o.credential {
                crate::vault::store::StoredCredential::KeyFile => "keyfile",
                crate::vault::store::StoredCredential::Passphrase { .. } => "passphrase",
            },
            created: t(o.created_at),
            created_by: o.created_by.clone(),
            last_used: o.last_used_at.map(t),
            locked: o.locked_at.is_some(),
            disabled: o.disabled_at.is_some(),
        }
    }
}

/// Runs an `operator` subcommand.
pub fn run(ctx: &Context, cmd: &OperatorCmd) -> Result<Exit> {
    if let OperatorCmd::Recover {
        name,
        recovery_key_file,
        new_passphrase_file,
    } = cmd
    {
        // No unlock: the recovery key stands in for the passphrase that is lost or locked.
        let text = crate::safety::read_private_file(recovery_key_file, "recovery key")?;
        let key = crate::vault::key::parse_recovery_key(&text)?;
        let p = new_passphrase(new_passphrase_file.as_deref(), name)?;
        ctx.vault.recover_owner(name, &key, p, ctx.now())?;
        crate::outln!("Owner {name} has a new passphrase and is unlocked.");
        return Ok(Exit::Ok);
    }
    if let OperatorCmd::TotpEnroll { code_file } = cmd {
        return enrol_totp(ctx, code_file.as_deref());
    }
    let mut s = ctx.unlock()?;
    let now = ctx.now();
    match cmd {
        OperatorCmd::Recover { .. } | OperatorCmd::TotpEnroll { .. } => {
            unreachable!("handled above")
        }
        OperatorCmd::Add {
            name,
            role,
            new_passphrase_file,
            new_key_file,
        } => {
            let role = Role::from(*role);
            // Check the right before asking anyone to type a passphrase.
            s.check_can_add(role, now)?;
            let cred = match new_key_file {
                Some(p) => NewCredential::KeyFile(p),
                None => {
                    NewCredential::Passphrase(new_passphrase(new_passphrase_file.as_deref(), name)?)
                }
            };
            s.add_operator(name, role, cred, now)?;
            crate::outln!("Added operator {name} ({role}).");
        }
        OperatorCmd::List { json } => {
            if !(s.role().can(Capability::ManagePeople) || s.role().can(Capability::Audit)) {
                s.require(Capability::ManagePeople, "operator.list", now)?;
            }
            let ops: Vec<OperatorView> = ctx
                .vault
                .operators()?
                .iter()
                .map(OperatorView::from)
                .collect();
            if *json {
                crate::outln!(
                    "{}",
                    serde_json::to_string_pretty(&ops).expect("serializes")
                );
            } else {
                crate::outln!(
                    "{:<20} {:<8} {:<10} {:<20} {:<20} STATE",
                    "NAME",
                    "ROLE",
                    "CREDENTIAL",
                    "CREATED",
                    "LAST USED"
                );
                for o in ops {
                    let state = if o.disabled {
                        "disabled"
                    } else if o.locked {
                        "locked"
                    } else {
                        "active"
                    };
                    crate::outln!(
                        "{:<20} {:<8} {:<10} {:<20} {:<20} {state}",
                        o.name,
                        o.role,
                        o.credential,
                        o.created,
                        o.last_used.as_deref().unwrap_or("never")
                    );
                }
            }
        }
        OperatorCmd::Disable { name } => {
            let rotated = s.disable_operator(name, now)?;
            crate::outln!("Disabled operator {name}; its keys are destroyed.");
            if let Some(r) = rotated {
                crate::cmd::rekey::print_report(&r);
            }
        }
        OperatorCmd::Passwd {
            new_passphrase_file,
        } => {
            let p = new_passphrase(new_passphrase_file.as_deref(), s.name())?;
            s.change_passphrase(p, now)?;
            crate::outln!("Passphrase changed for {}.", s.name());
        }
        OperatorCmd::Unlock { name } => {
            s.unlock_operator(name, now)?;
            crate::outln!("Unlocked operator {name}.");
        }
    }
    Ok(Exit::Ok)
}

/// `operator totp-enroll`: a fresh secret shown as a QR code (and its `otpauth://` URL), then
/// a code from the authenticator to prove it has it.
fn enrol_totp(ctx: &Context, code_file: Option<&std::path::Path>) -> Result<Exit> {
    let s = ctx.unlock_to_enrol()?;
    let (secret, url) = s.begin_totp()?;
    crate::outln!(
        "Scan this with an authenticator app (or enter the link), then give the code it shows.\n{}\n{}",
        crate::vault::totp::qr_for_terminal(&url)?.as_str(),
        url.as_str()
    );
    let code = match code_file {
        Some(p) => crate::safety::read_private_file(p, "one-time code")?,
        None if std::io::stdin().is_terminal() => {
            zeroize::Zeroizing::new(rpassword::prompt_password("Code from the app: ")?)
        }
        None => {
            let mut line = zeroize::Zeroizing::new(String::new());
            std::io::stdin().read_line(&mut line)?;
            line
        }
    };
    s.confirm_totp(secret, &code, ctx.now())?;
    crate::outln!("Second factor enrolled for {}.", s.name());
    Ok(Exit::Ok)
}
