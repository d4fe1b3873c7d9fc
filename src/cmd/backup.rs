//! `fulfill backup --out FILE` (owner) and `fulfill restore FILE`: see `vault::backup`.

use crate::cli::{BackupArgs, Global, RestoreArgs};
use crate::context::{Context, clock_for, credential, one_time_code, operator_name};
use crate::error::{Error, Exit, Result};
use crate::home::Home;
use crate::safety::Environment;

/// Runs `backup`.
pub fn backup(ctx: &Context, args: &BackupArgs) -> Result<Exit> {
    let s = ctx.unlock()?;
    let r = s.backup(&args.out, ctx.now())?;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&r).expect("serializes"));
    } else {
        crate::outln!(
            "Wrote {} ({} bytes): {} orders and {} audit day file(s); {} sealed PII record(s) left out. \
             It holds no key to any buyer's details: keep it anywhere, for as long as the log must be kept.",
            args.out.display(),
            r.bytes,
            r.orders,
            r.log_files,
            r.sealed_records_left_out
        );
    }
    Ok(Exit::Ok)
}

/// Runs `restore`: a new home (which must not exist yet, or be empty) from a backup.
pub fn restore(g: &Global, args: &RestoreArgs) -> Result<Exit> {
    let root = Home::locate(g.home.clone())?;
    if !args.file.is_file() {
        return Err(Error::usage(format!(
            "{} is not a backup file",
            args.file.display()
        )));
    }
    let sandbox = crate::vault::backup_is_sandbox(&args.file)?;
    let clock = clock_for(g.now.as_deref(), sandbox)?;
    let name = operator_name(g.operator.as_deref())?;
    let cred = credential(
        g.operator_key_file.as_deref(),
        g.passphrase_file.as_deref(),
        &name,
    )?;
    let code = || one_time_code(g.totp_file.as_deref(), &name);
    let existed = root.exists();
    let home = Home::create(&root, &Environment::system())?;
    let made = crate::vault::restore(&home, &args.file, &name, &cred, &code, clock.now());
    let r = match made {
        Ok(r) => r,
        Err(e) => {
            // Leave nothing half-made: the folder was new (or empty) a moment ago.
            if existed {
                if let Ok(rd) = std::fs::read_dir(&root) {
                    for e in rd.flatten() {
                        let _ = std::fs::remove_dir_all(e.path())
                            .or_else(|_| std::fs::remove_file(e.path()));
                    }
                }
            } else {
                let _ = std::fs::remove_dir_all(&root);
            }
            return Err(e);
        }
    };
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&r).expect("serializes"));
    } else {
        crate::outln!(
            "Restored {} orders and {} audit day file(s) into {}. {} order(s) still to ship wait \
             for their buyer's details: run `fulfill fetch` to bring them back from Amazon.",
            r.orders,
            r.log_files,
            root.display(),
            r.orders_waiting_for_pii
        );
    }
    Ok(Exit::Ok)
}
