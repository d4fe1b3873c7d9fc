//! `fulfill audit [--window DAYS] [--scan PATH]... [--json] [--html FILE] [--pdf FILE]`: the
//! compliance report (auditor or owner). Exit 0: every check passed; 1: findings; 5: the audit
//! log is broken or the vault database is damaged. `--html` and `--pdf` also write the report
//! a person looks at ([`crate::audit::report`]), whatever the verdict: a broken log is when it
//! is most needed. They are written (0600, atomically, never through a link) before the run
//! is recorded, and the run is recorded even when a write fails (that error is returned after).

use crate::audit::report::checks::{AuditOptions, Status, audit, record_run};
use crate::cli::AuditArgs;
use crate::config::Config;
use crate::context::Context;
use crate::error::{Error, Exit, Result};
use crate::safety::Environment;

/// Runs `audit`.
pub fn run(ctx: &Context, args: &AuditArgs) -> Result<Exit> {
    if let (Some(h), Some(p)) = (&args.html, &args.pdf)
        && h == p
    {
        return Err(Error::usage(
            "--html and --pdf name the same file; give each its own",
        ));
    }
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
        crate::outln!("{}", crate::audit::report::title_line(&report));
        for m in crate::audit::report::marketplace_lines(&report) {
            crate::outln!("Marketplace: {m}");
        }
        crate::outln!();
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
            if let Some(next) = c.next_action {
                crate::outln!("      next: {next}");
            }
        }
        crate::outln!(
            "\n{} finding(s).{}",
            report.findings,
            if report.findings == 0 {
                ""
            } else {
                " Each FAIL says what to do next."
            }
        );
    }
    let written = write_reports(args, &report);
    if !report.chain_intact {
        // The log stays broken for every writer (exit 5) until someone deals with it.
        ctx.vault.audit_log().taint();
    }
    record_run(&ctx.vault, &s, &report, now)?;
    written?;
    Ok(if !report.chain_intact || !report.database_intact {
        Exit::Unsafe
    } else if report.findings > 0 {
        Exit::Failed
    } else {
        Exit::Ok
    })
}

/// Writes `--html` and `--pdf`, each 0600 through [`crate::home::write_private`] (a temp file
/// made exclusively beside it, never through a link, then renamed into place).
fn write_reports(
    args: &AuditArgs,
    report: &crate::audit::report::checks::AuditReport,
) -> Result<()> {
    if let Some(path) = &args.html {
        let page = crate::audit::report::render_html(report);
        crate::home::write_private(path, page.as_bytes())?;
        eprintln!("Wrote the audit report (HTML) to {}.", path.display());
    }
    if let Some(path) = &args.pdf {
        let pdf = crate::audit::report::render_pdf(report);
        crate::home::write_private(path, &pdf)?;
        eprintln!("Wrote the audit report (PDF) to {}.", path.display());
    }
    Ok(())
}
