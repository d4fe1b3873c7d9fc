//! `fulfill fetch`: the job cron runs every few minutes and a packer runs before a shift.
//!
//! On a terminal: a progress line (orders, pages, items, and the wait for the next quota slot
//! with its time left). Without one: quiet, then one summary line (cron mail stays short).
//! `--json`: the summary as JSON on stdout. An attempt that gets no answer (Amazon
//! unreachable) shows as such on the progress line, with the retry's wait. Ctrl-C lets the
//! page being stored finish, says on stderr what was saved, and exits 130.
//!
//! An SP-API home with several regions fetches them at once, each on a thread of its own
//! ([`crate::flow::fetch::fetch_regions`]): the progress line sums their counts and shows each
//! region's wait by name, and the line Ctrl-C prints sums what every region saved. The summary
//! and the exit code are as for one region after the other: 0 when every region was fetched,
//! 1 when some failed, 4 when every region failed for Amazon, 5 when a record could not be
//! written.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

use crate::cli::FetchArgs;
use crate::clock::parse_time;
use crate::context::{Context, MarketClient};
use crate::error::{Error, Exit, Result};
use crate::flow::fetch::{FetchOptions, FetchReport, Progress, RegionRun, fetch, fetch_regions};
use crate::model::marketplace::Region;
use crate::mws::client::CallRecord;
use crate::role::Capability;
use std::sync::{Arc, Mutex};

/// The progress every region shares: the spinner on a terminal, each region's counts (the
/// line Ctrl-C prints sums them), and each region's last status (its wait for a quota slot,
/// or its connection trouble), shown after the counts, by region when there are several.
struct Board {
    bar: Option<ProgressBar>,
    /// The regions' names when there are several (the status lines say whose they are).
    names: Vec<Option<Region>>,
    reports: Vec<FetchReport>,
    /// Why the region's last attempt got no answer (the connection failed), until one is.
    trouble: Vec<Option<String>>,
    status: Vec<Option<String>>,
}

impl Board {
    fn new(tty: bool, names: Vec<Option<Region>>) -> Board {
        let bar = tty.then(|| {
            let pb = ProgressBar::new_spinner();
            pb.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("valid template"));
            pb.enable_steady_tick(std::time::Duration::from_millis(120));
            pb.set_message("starting");
            pb
        });
        let n = names.len();
        let names = if n > 1 { names } else { vec![None; n] };
        Board {
            bar,
            names,
            reports: vec![FetchReport::default(); n],
            trouble: vec![None; n],
            status: vec![None; n],
        }
    }

    /// What was saved so far, every region together.
    fn saved(&self) -> String {
        let mut total = FetchReport::default();
        for r in &self.reports {
            add(&mut total, r);
        }
        counts(&total)
    }

    fn show(&self) {
        let Some(pb) = &self.bar else { return };
        let mut line = self.saved();
        for (name, status) in self.names.iter().zip(&self.status) {
            if let Some(st) = status {
                line.push_str(" · ");
                if let Some(n) = name {
                    line.push_str(&format!("{n}: "));
                }
                line.push_str(st);
            }
        }
        pb.set_message(line);
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

/// A region's status while it waits: a quota slot, or a retry after a failed connection.
fn waiting_status(trouble: Option<&str>, action: &str, secs: f64) -> String {
    match trouble {
        Some(t) => format!("{t}; retrying in {secs:.1}s"),
        None => format!("next {action} slot in {secs:.1}s"),
    }
}

/// One region's progress, on the shared [`Board`].
struct Shown {
    index: usize,
    board: Arc<Mutex<Board>>,
}

impl Shown {
    fn board(&self) -> std::sync::MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Progress for Shown {
    fn stored(&mut self, r: &FetchReport) {
        let mut b = self.board();
        b.reports[self.index] = r.clone();
        b.status[self.index] = None;
        b.show();
    }
    fn waiting(&mut self, action: &str, secs: f64) {
        // Amazon's quota (what we wait for and how long is left, in Amazon's time), or a
        // retry after a connection failure, which must not read as quota pacing.
        let mut b = self.board();
        let st = waiting_status(b.trouble[self.index].as_deref(), action, secs);
        b.status[self.index] = Some(st);
        b.show();
    }
    fn attempt(&mut self, rec: &CallRecord) {
        let mut b = self.board();
        b.trouble[self.index] = trouble(rec);
        if let Some(t) = b.trouble[self.index].clone() {
            b.status[self.index] = Some(t);
            b.show();
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
    let names: Vec<Option<Region>> = match &client {
        MarketClient::Mws(_) => vec![None],
        MarketClient::SpApi(regions) => regions.iter().map(|r| Some(r.region())).collect(),
    };
    let board = Arc::new(Mutex::new(Board::new(tty, names.clone())));
    let shown = |index| Shown {
        index,
        board: board.clone(),
    };
    // Ctrl-C: the pages being stored are finished, then one line says what was saved.
    let last = board.clone();
    crate::interrupt::on_interrupt(move || {
        let b = last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pb) = &b.bar {
            pb.finish_and_clear();
        }
        eprintln!(
            "fulfill: interrupted. Saved before stopping: {}; nothing half-written. Run \
             fetch again to continue.",
            b.saved()
        );
    })?;
    let results = match &mut client {
        MarketClient::Mws(_) => {
            let opts = FetchOptions {
                since,
                ..FetchOptions::default()
            };
            vec![fetch(
                &s,
                &mut *client.market(),
                &opts,
                ctx.clock.as_ref(),
                &mut shown(0),
            )]
        }
        // One searchOrders sequence per region carrying all of its marketplaces, each region
        // with its own watermark and usage plans, all regions at once (each on a thread of its
        // own): one region down does not stop the others.
        MarketClient::SpApi(regions) => {
            let opts: Vec<FetchOptions> = regions
                .iter()
                .map(|r| FetchOptions {
                    since,
                    region: Some(r.region().to_string()),
                    watermark_key: Some(r.watermark_key()),
                })
                .collect();
            let mut markets: Vec<_> = regions.iter_mut().map(|r| r.market()).collect();
            let mut progress: Vec<Shown> = (0..markets.len()).map(shown).collect();
            let runs = markets
                .iter_mut()
                .zip(progress.iter_mut())
                .zip(opts)
                .map(|((market, progress), opts)| RegionRun {
                    market,
                    opts,
                    progress,
                })
                .collect();
            fetch_regions(&s, runs, ctx.clock.as_ref())
        }
    };
    if let Some(pb) = &board.lock().unwrap_or_else(|e| e.into_inner()).bar {
        pb.finish_and_clear();
    }
    finish(names.into_iter().zip(results).collect(), args.json)
}

type RegionOutcome = (Option<Region>, crate::flow::fetch::RegionResult);

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
        let line = waiting_status(Some(&t), "getOrders", 11.0);
        assert!(line.contains("Amazon unreachable") && line.contains("retrying in 11.0s"));
        assert!(!line.contains("slot"), "{line}");
        // An answer (even a throttle) is no connection trouble: the quota wait reads as one.
        let mut ok = CallRecord::new("getOrders", 3);
        ok.status = Some(429);
        ok.error = Some("http_429".into());
        assert_eq!(trouble(&ok), None);
        assert_eq!(
            waiting_status(None, "getOrders", 1.5),
            "next getOrders slot in 1.5s"
        );
    }
}
