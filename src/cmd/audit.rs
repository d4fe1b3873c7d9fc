//! `fulfill audit [--window DAYS] [--scan PATH]... [--json]`: the compliance report (auditor or
//! owner). Exit 0: every check passed; 1: findings; 5: the audit log is broken or the vault
//! database is damaged.

use crate::cli::AuditArgs;
use crate::compliance::{AuditOptions, Status, audit, record_run};
use crate::config::Config;
use crate::context::Context;
use crate::error::{Error, Exit, Result};
use crate::safety::Environment;

/// Runs `audit`.
pub fn run(ctx: &Context, args: &AuditArgs) -> Result<Exit> {
    let s = ctx.unlock()?;
    let now = ctx.now();
    let profile = ctx.vault.profile();
    let cfg = Config::load(&ctx.vault.home().config_path(), profile)?;
    let window_days = args.window.unwrap_or(profile.min_log_days());
    if window_days == 0 {
        return Err(Error::usage("--window must be at least 1 day"));
    }
    let opts = AuditOptions {
        window_days,
        pii_days: cfg.retention.pii_days,
        scan: args.scan.clone(),
        anchors: args.anchors.clone(),
    };
    let report = audit(&ctx.vault, &s, &Environment::system(), &opts, now)?;
    if args.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serializes")
        );
    } else {
        crate::outln!(
            "fulfill audit, {} (profile {}, last {} days)\n",
            report.generated_at,
            report.profile,
            report.window_days
        );
        for c in &report.checks {
            let mark = match c.status {
                Status::Pass => "PASS",
                Status::Fail => "FAIL",
                Status::Info => "INFO",
            };
            crate::outln!("{mark}  [{}] {}", c.id, c.title);
            for d in &c.details {
                crate::outln!("      {d}");
            }
        }
        crate::outln!(
            "\n{} finding(s).{}",
            report.findings,
            if report.findings == 0 {
                ""
            } else {
                " Each FAIL line says what to do."
            }
        );
    }
    if !report.chain_intact {
        // The log stays broken for every writer (exit 5) until someone deals with it.
        ctx.vault.audit_log().taint();
    }
    record_run(&ctx.vault, &s, &report, now)?;
    Ok(if !report.chain_intact || !report.database_intact {
        Exit::Unsafe
    } else if report.findings > 0 {
        Exit::Failed
    } else {
        Exit::Ok
    })
}
