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
use crate::context::{Context, MarketClient};
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
    let outcome = match &mut client {
        MarketClient::Mws(_) => {
            let opts = FetchOptions {
                since,
                ..FetchOptions::default()
            };
            vec![(
                None,
                fetch(
                    &s,
                    &mut *client.market(),
                    &opts,
                    ctx.clock.as_ref(),
                    &mut shown,
                ),
            )]
        }
        // One searchOrders sequence per region carrying all of its marketplaces, each region
        // with its own watermark and usage plans: one region down does not stop the others.
        MarketClient::SpApi(regions) => {
            let mut out = Vec::new();
            for r in regions.iter_mut() {
                let opts = FetchOptions {
                    since,
                    region: Some(r.region().to_string()),
                    watermark_key: Some(r.watermark_key()),
                };
                let region = r.region();
                let res = fetch(&s, &mut r.market(), &opts, ctx.clock.as_ref(), &mut shown);
                // The audit log failing stops everything (exit 5): nothing runs unrecorded.
                let stop = matches!(&res, Err(f) if f.error.exit() == Exit::Unsafe);
                out.push((Some(region), res));
                if stop {
                    break;
                }
            }
            out
        }
    };
    if let Some(b) = shown.bar {
        b.pb.finish_and_clear();
    }
    finish(outcome, args.json)
}

type RegionOutcome = (
    Option<crate::model::marketplace::Region>,
    std::result::Result<FetchReport, Box<crate::flow::fetch::FetchFailure>>,
);

/// The summary (a line, or JSON) and the exit: 0 when every region was fetched, the error
/// when the only region failed, 4 when every region failed for Amazon, 1 when some did.
fn finish(outcome: Vec<RegionOutcome>, json: bool) -> Result<Exit> {
    let several = outcome.len() > 1;
    let mut total = FetchReport::default();
    let mut done: Vec<(Option<crate::model::marketplace::Region>, FetchReport)> = Vec::new();
    let mut failed: Vec<(Option<crate::model::marketplace::Region>, Error)> = Vec::new();
    for (region, res) in outcome {
        let (r, e) = match res {
            Ok(r) => (r, None),
            Err(f) => (f.report, Some(f.error)),
        };
        add(&mut total, &r);
        match e {
            None => done.push((region, r)),
            Some(e) => failed.push((region, e)),
        }
    }
    if done.len() == 1 && failed.is_empty() {
        total.watermark = done[0].1.watermark.clone();
    }
    if json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&total).expect("serializes")
        );
    }
    let name = |r: &Option<crate::model::marketplace::Region>| match r {
        Some(r) if several => format!("region {r}: "),
        _ => String::new(),
    };
    let unlisted = if total.unlisted_marketplace > 0 {
        format!(
            "; {} order(s) from a marketplace not configured (kept, flagged in `orders`)",
            total.unlisted_marketplace
        )
    } else {
        String::new()
    };
    if let Some(i) = failed.iter().position(|(_, e)| e.exit() == Exit::Unsafe) {
        return Err(failed.swap_remove(i).1);
    }
    if failed.is_empty() {
        if !json {
            let missing = if total.pii_missing > 0 {
                format!(
                    "; {} order(s) came without an address and cannot be labelled",
                    total.pii_missing
                )
            } else {
                String::new()
            };
            let asof = match done.as_slice() {
                [(_, r)] => format!(
                    "up to date as of {}",
                    r.watermark.as_deref().unwrap_or("none")
                ),
                many => format!(
                    "up to date as of {}",
                    many.iter()
                        .map(|(g, r)| format!(
                            "{} {}",
                            g.map_or("-", |g| g.as_str()),
                            r.watermark.as_deref().unwrap_or("none")
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            crate::outln!("Fetched: {}; {asof}{missing}{unlisted}.", counts(&total));
        }
        return Ok(Exit::Ok);
    }
    if done.is_empty() && failed.len() == 1 {
        let (region, e) = failed.remove(0);
        return Err(match e {
            Error::Remote(m) => Error::Remote(format!(
                "{}{m}. Saved before stopping: {}; nothing half-written. Run fetch again to continue.",
                name(&region),
                counts(&total)
            )),
            e => e,
        });
    }
    let why = failed
        .iter()
        .map(|(r, e)| format!("{}{e}", name(r)))
        .collect::<Vec<_>>()
        .join("; ");
    if done.is_empty() {
        let remote = failed.iter().all(|(_, e)| e.exit() == Exit::Remote);
        let m = format!(
            "every region failed ({why}). Saved before stopping: {}; the watermarks did not \
             move. Run fetch again to continue.",
            counts(&total)
        );
        return Err(if remote {
            Error::Remote(m)
        } else {
            Error::Failed(m)
        });
    }
    let ok = done
        .iter()
        .map(|(r, _)| r.map_or("-", |r| r.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    Err(Error::Failed(format!(
        "{why}. Fetched the other region(s) ({ok}): {}{unlisted}; the failed region's orders \
         wait for the next run (its watermark did not move).",
        counts(&total)
    )))
}

fn add(t: &mut FetchReport, r: &FetchReport) {
    t.pages += r.pages;
    t.new_orders += r.new_orders;
    t.updated_orders += r.updated_orders;
    t.orders_with_items += r.orders_with_items;
    t.calls += r.calls;
    t.throttled += r.throttled;
    t.restarts += r.restarts;
    t.items_failed += r.items_failed;
    t.orders_refused += r.orders_refused;
    t.unlisted_marketplace += r.unlisted_marketplace;
    // The count of the whole vault, the same from every region.
    t.pii_missing = t.pii_missing.max(r.pii_missing);
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
