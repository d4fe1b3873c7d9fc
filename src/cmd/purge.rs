//! `fulfill purge`: cron's daily retention run. Needs no passphrase (see [`crate::flow::retention`]);
//! runs on the profile's numbers when `config.toml` is missing or broken; recorded under the
//! OS user, whatever `--operator` says.

use crate::cli::PurgeArgs;
use crate::config::Config;
use crate::context::Context;
use crate::error::{Exit, Result};
use crate::flow::retention::{PurgeOptions, os_user, purge_with};

/// Runs `purge`.
pub fn run(ctx: &Context, args: &PurgeArgs) -> Result<Exit> {
    let now = ctx.now();
    let (cfg, fallback) =
        Config::load_or_profile(&ctx.vault.home().config_path(), ctx.vault.profile());
    if let Some(why) = fallback {
        eprintln!(
            "warning: config.toml is {why}; purging on profile {}'s numbers (fix it with `fulfill config set`)",
            ctx.vault.profile()
        );
    }
    let opts = PurgeOptions {
        dry_run: args.dry_run,
        order: args.order.clone(),
        pii_days: cfg.retention.pii_days,
        log_days: cfg.log.max_days,
    };
    let operator = os_user();
    let report = purge_with(&ctx.vault, &operator, &opts, fallback, now)?;
    for p in &report.label_files_refused {
        eprintln!(
            "refused to destroy {p}: it is not the label file fulfill wrote there (recorded as label.refused); check it by hand"
        );
    }
    if !report.dry_run && !report.wal_truncated {
        eprintln!(
            "the WAL could not be emptied: {} held a read transaction on vault.db past {} s, so \
             the purged ciphertext stays in vault.db until a checkpoint finishes (recorded in \
             purge.run; `audit` flags it); end that reader and run `fulfill purge` again",
            if report.wal_held_by.is_empty() {
                "another connection".to_string()
            } else {
                report.wal_held_by.join(", ")
            },
            crate::store::sqlite::CHECKPOINT_WAIT.as_secs()
        );
    }
    if args.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serializes")
        );
        return Ok(exit(&report));
    }
    let verb = if report.dry_run {
        "Would purge"
    } else {
        "Purged"
    };
    crate::outln!(
        "{verb} the PII of {} order(s) (older than {} days); {} label file(s) {}; {} audit day file(s) pruned{}.",
        report.orders_purged,
        opts.pii_days,
        report.label_files_removed,
        if report.dry_run {
            "to remove"
        } else {
            "removed"
        },
        report.log_files_pruned,
        if report.dry_run || report.wal_truncated {
            ""
        } else {
            "; the WAL was held (see above)"
        }
    );
    Ok(exit(&report))
}

/// 1 when a tracked path was refused or the WAL could not be emptied (someone must look at
/// it), else 0.
fn exit(report: &crate::flow::retention::PurgeReport) -> Exit {
    if report.label_files_refused.is_empty() && (report.dry_run || report.wal_truncated) {
        Exit::Ok
    } else {
        Exit::Failed
    }
}
