//! `fulfill fetch`: the job cron runs every few minutes and a packer runs before a shift.
//!
//! On a terminal: a progress line (orders, pages, items, and the wait for the next quota slot
//! with its time left). Without one: quiet, then one summary line (cron mail stays short).
//! `--json`: the summary as JSON on stdout. An attempt that gets no answer (Amazon
//! unreachable) shows as such on the progress line, with the retry's wait. Ctrl-C lets the
//! page being stored finish, says on stderr what was saved, and exits 130.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

use crate::cli::FetchArgs;
use crate::clock::parse_time;
use crate::context::Context;
use crate::error::{Error, Exit, Result};
use crate::flow::fetch::{FetchOptions, FetchReport, Progress, fetch};
use crate::mws::client::CallRecord;
use crate::role::Capability;
use std::sync::{Arc, Mutex};

struct Bar {
    pb: ProgressBar,
    counts: String,
    /// Why the last attempt got no answer (the connection failed), until one is answered.
    trouble: Option<String>,
}

impl Bar {
    fn new() -> Bar {
        let pb = ProgressBar::new_spinner();
        pb.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("valid template"));
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        Bar {
            pb,
            counts: "starting".into(),
            trouble: None,
        }
    }
}

fn counts(r: &FetchReport) -> String {
    format!(
        "{} new, {} updated orders; {} page(s); items for {} order(s)",
        r.new_orders, r.updated_orders, r.pages, r.orders_with_items
    )
}

/// What an attempt that got no answer says on the spinner ("Amazon unreachable ...").
fn trouble(rec: &CallRecord) -> Option<String> {
    if rec.status.is_some() {
        return None;
    }
    let why = match rec.error.as_deref()? {
        "connect_failed" => "Amazon unreachable (cannot connect)",
        "timeout" => "Amazon unreachable (no answer in time)",
        "reply_deadline" | "truncated_response" => "the connection to Amazon broke off",
        _ => "the connection to Amazon failed",
    };
    Some(format!("{why}: {} attempt {}", rec.action, rec.attempt))
}

/// The spinner's line while waiting: a quota slot, or a retry after a failed connection.
fn waiting_line(counts: &str, trouble: Option<&str>, action: &str, secs: f64) -> String {
    match trouble {
        Some(t) => format!("{counts} · {t}; retrying in {secs:.1}s"),
        None => format!("{counts} · next {action} slot in {secs:.1}s"),
    }
}

impl Progress for Bar {
    fn stored(&mut self, r: &FetchReport) {
        self.counts = counts(r);
        self.pb.set_message(self.counts.clone());
    }
    fn waiting(&mut self, action: &str, secs: f64) {
        // Amazon's quota (what we wait for and how long is left, in Amazon's time), or a
        // retry after a connection failure, which must not read as quota pacing.
        self.pb.set_message(waiting_line(
            &self.counts,
            self.trouble.as_deref(),
            action,
            secs,
        ));
    }
    fn attempt(&mut self, rec: &CallRecord) {
        self.trouble = trouble(rec);
        if let Some(t) = &self.trouble {
            self.pb.set_message(format!("{} · {t}", self.counts));
        }
    }
}

/// The progress shown (a spinner on a terminal, or nothing), and what was saved so far for
/// the line Ctrl-C prints.
struct Shown {
    bar: Option<Bar>,
    saved: Arc<Mutex<String>>,
}

impl Progress for Shown {
    fn stored(&mut self, r: &FetchReport) {
        *self.saved.lock().unwrap_or_else(|e| e.into_inner()) = counts(r);
        if let Some(b) = &mut self.bar {
            b.stored(r);
        }
    }
    fn waiting(&mut self, action: &str, secs: f64) {
        if let Some(b) = &mut self.bar {
            b.waiting(action, secs);
        }
    }
    fn attempt(&mut self, rec: &CallRecord) {
        if let Some(b) = &mut self.bar {
            b.attempt(rec);
        }
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
    let saved = Arc::new(Mutex::new(counts(&FetchReport::default())));
    let mut shown = Shown {
        bar: tty.then(Bar::new),
        saved: saved.clone(),
    };
    // Ctrl-C: the page being stored is finished, then one line says what was saved.
    let pb = shown.bar.as_ref().map(|b| b.pb.clone());
    crate::interrupt::on_interrupt(move || {
        if let Some(pb) = pb {
            pb.finish_and_clear();
        }
        let saved = saved.lock().unwrap_or_else(|e| e.into_inner()).clone();
        eprintln!(
            "fulfill: interrupted. Saved before stopping: {saved}; nothing half-written. Run \
             fetch again to continue."
        );
    })?;
    let opts = FetchOptions { since };
    let outcome = fetch(
        &s,
        &mut *client.market(),
        &opts,
        ctx.clock.as_ref(),
        &mut shown,
    );
    if let Some(b) = shown.bar {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_connection_reads_as_such_not_as_quota_pacing() {
        let mut rec = CallRecord::new("getOrders", 2);
        rec.error = Some("connect_failed".into());
        let t = trouble(&rec).expect("no answer is trouble");
        assert_eq!(
            t,
            "Amazon unreachable (cannot connect): getOrders attempt 2"
        );
        let line = waiting_line("0 new", Some(&t), "getOrders", 11.0);
        assert!(line.contains("Amazon unreachable") && line.contains("retrying in 11.0s"));
        assert!(!line.contains("slot"), "{line}");
        // An answer (even a throttle) is no connection trouble: the quota wait reads as one.
        let mut ok = CallRecord::new("getOrders", 3);
        ok.status = Some(429);
        ok.error = Some("http_429".into());
        assert_eq!(trouble(&ok), None);
        assert_eq!(
            waiting_line("0 new", None, "getOrders", 1.5),
            "0 new · next getOrders slot in 1.5s"
        );
    }
}
