//! `fulfill purge`: cron's daily retention run. Needs no passphrase (see [`crate::purge`]).

use crate::cli::PurgeArgs;
use crate::config::Config;
use crate::context::Context;
use crate::error::{Exit, Result};
use crate::purge::{PurgeOptions, purge};

/// Runs `purge`.
pub fn run(ctx: &Context, args: &PurgeArgs) -> Result<Exit> {
    let now = ctx.now();
    let cfg = Config::load(&ctx.vault.home().config_path(), ctx.vault.profile())?;
    let opts = PurgeOptions {
        dry_run: args.dry_run,
        order: args.order.clone(),
        pii_days: cfg.retention.pii_days,
        log_days: cfg.log.max_days,
    };
    let operator = ctx.operator_name()?;
    let report = purge(&ctx.vault, &operator, &opts, now)?;
    if args.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serializes")
        );
        return Ok(Exit::Ok);
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
            "; the WAL was busy and will be truncated on the next run"
        }
    );
    Ok(Exit::Ok)
}
