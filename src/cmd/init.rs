//! `fulfill init`: a new home, its vault and its owner.

use crate::cli::{Global, InitArgs};
use crate::config::{Config, Profile};
use crate::context::{clock_for, new_passphrase};
use crate::error::{Exit, Result};
use crate::home::{Home, write_private};
use crate::safety::Environment;
use crate::vault::{Vault, check_operator_name};

/// Runs `init`.
pub fn run(g: &Global, args: &InitArgs) -> Result<Exit> {
    let root = Home::locate(g.home.clone())?;
    let clock = clock_for(g.now.as_deref(), args.sandbox)?;
    check_operator_name(&args.owner)?;
    let profile = Profile::from(args.profile);
    // Ask for the passphrase before anything is created, so a typo leaves nothing behind.
    let pass = new_passphrase(g.passphrase_file.as_deref(), &args.owner)?;
    pass.check_policy(&profile.passphrase_policy(), &args.owner)?;
    let mut config = Config::for_profile(profile);
    for (key, value) in [
        ("anchor.syslog", args.anchor_syslog.clone()),
        ("anchor.remote", args.anchor_remote.clone()),
        (
            "anchor.remote_ca",
            args.anchor_remote_ca
                .as_ref()
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
                .map(|p| p.display().to_string()),
        ),
    ] {
        if let Some(v) = value {
            config.set(key, &v, profile)?;
        }
    }
    let location = match &args.store {
        None => None,
        Some(url) => Some(crate::store::location::Location::Postgres {
            uri: crate::store::uri::StoreUri::parse(url, &crate::store::location::default_user())?,
            password_file: args
                .store_password_file
                .as_ref()
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone())),
        }),
    };
    let existed = root.exists();
    let home = Home::create(&root, &Environment::system())?;
    let made = (|| -> Result<_> {
        write_private(&home.config_path(), config.to_toml().as_bytes())?;
        if let Some(l) = &location {
            l.write_to(&home)?;
        }
        let (_, recovery) = Vault::create_with_recovery(
            &home,
            &args.owner,
            pass,
            profile,
            args.sandbox,
            clock.now(),
        )?;
        Ok(recovery)
    })();
    let recovery = match made {
        Ok(r) => r,
        Err(e) => {
            // Leave nothing half-made: the folder was new (or empty) a moment ago.
            let _ = if existed {
                std::fs::read_dir(&root).map(|rd| {
                    for e in rd.flatten() {
                        let _ = std::fs::remove_dir_all(e.path())
                            .or_else(|_| std::fs::remove_file(e.path()));
                    }
                })
            } else {
                std::fs::remove_dir_all(&root)
            };
            return Err(e);
        }
    };
    let kind = if args.sandbox { "sandbox home" } else { "home" };
    crate::outln!(
        "Created {kind} {} (profile {profile}) with owner {}.",
        root.display(),
        args.owner
    );
    if let Some(crate::store::location::Location::Postgres { uri, .. }) = &location {
        crate::outln!(
            "Its rows are in the PostgreSQL store {uri}; keys, keyring, config, spool and logs stay in the home."
        );
    }
    // Shown once, never stored in the clear: it alone lets the owner back in after a lost
    // passphrase or a lockout by someone typing wrong ones.
    crate::outln!(
        "Recovery key for {} (shown once; write it down and keep it offline):\n  {}\n\
         With it, `fulfill operator recover {} --recovery-key-file FILE` sets a new passphrase.",
        args.owner,
        crate::vault::key::format_recovery_key(&recovery).as_str(),
        args.owner
    );
    let anchors = config.anchor.anchors()?;
    let mut to: Vec<String> = anchors
        .syslog
        .iter()
        .map(|p| format!("the system log ({})", p.display()))
        .collect();
    to.extend(anchors.remote.iter().map(|r| format!("the collector {r}")));
    if to.is_empty() {
        crate::outln!(
            "No anchor is set: `fulfill audit` fails until one is (`fulfill config set anchor.remote tls://HOST:6514`)."
        );
    } else {
        crate::outln!("The audit chain's heads go to {}.", to.join(" and "));
    }
    if profile.requires_totp() {
        // Under this profile every person needs a second factor before anything else works.
        crate::outln!(
            "The {profile} profile requires a second factor of every person: next, \
             `fulfill --operator {owner} operator totp-enroll` shows a QR code for an \
             authenticator app and asks for a code from it.",
            owner = args.owner
        );
        crate::outln!(
            "Then `fulfill operator add NAME --role packer` for each person (each enrols the \
             same way at their first unlock)."
        );
    } else {
        crate::outln!("Next: `fulfill operator add NAME --role packer` for each person.");
    }
    Ok(Exit::Ok)
}
