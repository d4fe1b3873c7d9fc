//! `fulfill fetch`: the job cron runs every few minutes and a packer runs before a shift.
//!
//! On a terminal: a progress line (orders, pages, items, and the wait for the next quota slot
//! with its time left). Without one: quiet, then one summary line (cron mail stays short).
//! `--json`: the summary as JSON on stdout.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

use crate::cli::FetchArgs;
use crate::clock::parse_time;
use crate::context::Context;
use crate::error::{Error, Exit, Result};
use crate::flow::fetch::{FetchOptions, FetchReport, Progress, Quiet, fetch};
use crate::role::Capability;

struct Bar {
    pb: ProgressBar,
    counts: String,
}

impl Bar {
    fn new() -> Bar {
        let pb = ProgressBar::new_spinner();
        pb.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("valid template"));
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        Bar {
            pb,
            counts: "starting".into(),
        }
    }
}

fn counts(r: &FetchReport) -> String {
    format!(
        "{} new, {} updated orders; {} page(s); items for {} order(s)",
        r.new_orders, r.updated_orders, r.pages, r.orders_with_items
    )
}

impl Progress for Bar {
    fn stored(&mut self, r: &FetchReport) {
        self.counts = counts(r);
        self.pb.set_message(self.counts.clone());
    }
    fn waiting(&mut self, action: &str, secs: f64) {
        // Amazon's quota: show what we wait for and how long is left (in Amazon's time).
        self.pb.set_message(format!(
            "{} · next {action} slot in {secs:.1}s",
            self.counts
        ));
    }
}

/// Runs `fetch`.
pub fn run(ctx: &Context, args: &FetchArgs) -> Result<Exit> {
    let since = args
        .since
        .as_deref()
        .map(parse_time)
        .transpose()
        .map_err(Error::Usage)?;
    let s = ctx.unlock()?;
    let now = ctx.now();
    s.require(Capability::Fetch, "fetch", now)?;
    let mut client = ctx.market_client(&s, "fetch")?;
    let tty = std::io::stderr().is_terminal() && !args.json;
    let mut bar = tty.then(Bar::new);
    let mut quiet = Quiet;
    let progress: &mut dyn Progress = match bar.as_mut() {
        Some(b) => b,
        None => &mut quiet,
    };
    let opts = FetchOptions { since };
    let outcome = fetch(
        &s,
        &mut *client.market(),
        &opts,
        ctx.clock.as_ref(),
        progress,
    );
    if let Some(b) = bar {
        b.pb.finish_and_clear();
    }
    let (report, error) = match outcome {
        Ok(r) => (r, None),
        Err(f) => (f.report, Some(f.error)),
    };
    if args.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serializes")
        );
    }
    match error {
        None => {
            if !args.json {
                let w = report.watermark.as_deref().unwrap_or("none");
                let missing = if report.pii_missing > 0 {
                    format!(
                        "; {} order(s) came without an address and cannot be labelled",
                        report.pii_missing
                    )
                } else {
                    String::new()
                };
                crate::outln!(
                    "Fetched: {}; up to date as of {w}{missing}.",
                    counts(&report)
                );
            }
            Ok(Exit::Ok)
        }
        Some(Error::Remote(m)) => Err(Error::Remote(format!(
            "{m}. Saved before stopping: {}; nothing half-written. Run fetch again to continue.",
            counts(&report)
        ))),
        Some(e) => Err(e),
    }
}
