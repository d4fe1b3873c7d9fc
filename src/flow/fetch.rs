//! Fetching merchant-fulfilled orders into the vault, over any [`Marketplace`].
//!
//! **Watermark.** Orders are listed from the stored watermark. Each page is stored in its own
//! transaction (upserts are idempotent, and an order that came with its items is stored with
//! them); the last page commits the upper end of the listing as the next watermark in the same
//! transaction. A run killed anywhere re-lists from the old watermark: nothing lost, nothing
//! duplicated.
//!
//! **Items** that did not come with their order (MWS) are fetched only for orders whose items
//! are not stored (`items_fetched = 0`), one transaction per order, so they too survive a kill.
//!
//! **Pacing.** Listing pages and item calls have separate quota buckets. The loop always sends
//! whichever request the quota model allows soonest, preferring a listing page on a tie, so
//! item calls run while the listing bucket refills and the run takes about as long as the
//! slower bucket requires, not the sum of both.
//!
//! **Hostile replies.** An order the adapter refuses (an id not in Amazon's format, a quantity
//! or price outside [`crate::model::plausible`]'s bounds, an entry that does not parse) is
//! never stored, counted in `orders_refused`, and the run ends with exit 1 after storing the
//! rest of the page, naming the first refusal with its reason. An item listing that is refused
//! (by Amazon, or for a bad item id or an implausible number in it) fails its order the same
//! way (`items_failed`; asked again on the next run).
//!
//! **Listings end.** A listing is watched by a [`Paging`]: a paging token it already gave, or
//! more pages than the orders can fill ([`crate::market::MAX_BARREN_PAGES`] pages that list no
//! order new to the listing), ends the run with exit 4, keeping every page stored (the
//! watermark moves only with a last page). The marketplace's client bounds every wait and the
//! run itself ([`crate::mws::client::Limits`], [`crate::mws::client::run_limits::FETCH`]).
//!
//! **Regions.** An SP-API home with several regions fetches them at once
//! ([`fetch_regions`]): one thread per region, each with its own vault handle
//! ([`Vault::another`]: a connection of its own on the same WAL database), sealer, quota model
//! (its own usage plans), watermark and progress, so a run takes as long as its slowest region,
//! not the sum. Only the writes take turns: a page store or an audit record holds the
//! process's write gate ([`crate::interrupt`]), then the log's file lock and SQLite's write
//! lock, exactly as two processes would, so the records of both threads form one chain and
//! Ctrl-C still finds every region between two whole writes.
//!
//! **Memory.** A page (at most 100 orders) is parsed as it streams in and stored; pending item
//! work is read from the vault in small batches. Memory does not grow with the order count
//! beyond 8 bytes per order listed in the run (the [`Paging`] check).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::audit::{Event, Outcome};
use crate::calls::AuditedCalls;
use crate::clock::Clock;
use crate::config::Profile;
use crate::error::{Error, Result};
use crate::market::{MarketError, Marketplace, Observer, PageEnd, Paging, Since};
use crate::mws::client::CallRecord;
use crate::vault::datakeys::Sealer;
use crate::vault::ingest::{self, Upsert};
use crate::vault::orders;
use crate::vault::{Session, Vault};

/// Paging-token restarts tolerated in one run before giving up.
const MAX_RESTARTS: u32 = 3;

/// What a fetch did (`fetch --json` prints it; field names pinned by a test).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct FetchReport {
    /// Listing pages stored.
    pub pages: u64,
    /// Orders seen for the first time.
    pub new_orders: u64,
    /// Orders updated (status changes, PII completed, cancellations).
    pub updated_orders: u64,
    /// Orders whose items were fetched.
    pub orders_with_items: u64,
    /// HTTP calls made (all attempts).
    pub calls: u64,
    /// Calls Amazon answered with a throttle.
    pub throttled: u64,
    /// Times a listing (from the watermark) or an item listing restarted after
    /// `NextTokenCorrupted`.
    pub restarts: u64,
    /// The watermark after the run.
    pub watermark: Option<String>,
    /// Orders stored without the address a label needs.
    pub pii_missing: u64,
    /// Orders whose items Amazon refused this run (retried on the next run).
    pub items_failed: u64,
    /// Orders refused alone and not stored: an id not in Amazon's format, a quantity or price
    /// outside plausible bounds, an entry that does not parse.
    pub orders_refused: u64,
    /// Orders stored from a marketplace the home did not configure (Amazon returned them
    /// anyway): kept, flagged in `orders` and `audit`.
    pub unlisted_marketplace: u64,
}

/// A fetch that stopped: what it had saved, and why it stopped.
#[derive(Debug)]
pub struct FetchFailure {
    /// What was saved before stopping.
    pub report: FetchReport,
    /// Why it stopped.
    pub error: Error,
}

/// Progress callbacks for people (a progress bar on a terminal).
pub trait Progress {
    /// A listing page or an order's items were stored.
    fn stored(&mut self, _report: &FetchReport) {}
    /// Waiting for a quota slot or a back-off: `secs` of client time left.
    fn waiting(&mut self, _action: &str, _secs: f64) {}
    /// One attempt at a call ended (with Amazon's answer, or none: `status` is `None` when
    /// the connection failed).
    fn attempt(&mut self, _rec: &CallRecord) {}
}

/// No progress output.
#[derive(Debug, Default)]
pub struct Quiet;
impl Progress for Quiet {}

/// Options of one run.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// Where to start when there is no watermark yet (default: 30 days back).
    pub since: Option<DateTime<Utc>>,
    /// The SP-API region fetched (its own watermark, under `watermark_key`), for the record.
    pub region: Option<String>,
    /// The meta key of the watermark (default: the home's one,
    /// [`orders::WATERMARK_KEY`]); each SP-API region has its own.
    pub watermark_key: Option<String>,
}

impl FetchOptions {
    fn watermark_key(&self) -> &str {
        self.watermark_key
            .as_deref()
            .unwrap_or(orders::WATERMARK_KEY)
    }
}

/// The shared call recorder, plus the run's counts and the progress line.
struct AuditObserver<'a, 'p> {
    calls: AuditedCalls<'a>,
    report: &'a mut FetchReport,
    progress: &'p mut dyn Progress,
}

impl Observer for AuditObserver<'_, '_> {
    fn call(&mut self, rec: &CallRecord) -> Result<()> {
        self.report.calls += 1;
        self.report.throttled += u64::from(rec.throttled);
        self.progress.attempt(rec);
        self.calls.call(rec)
    }

    fn waiting(&mut self, action: &str, until: DateTime<Utc>, now: DateTime<Utc>) {
        self.progress
            .waiting(action, (until - now).num_milliseconds() as f64 / 1000.0);
    }
}

enum Cursor {
    Start,
    Next(Since, String),
}

/// Fetches new and updated MFN orders and the items of orders that lack them.
///
/// Audit records (one call record per attempt, `fetch.run` at the end) are stamped with
/// `clock`, the command's clock; Amazon's requests use the marketplace's own timebase. On
/// failure the report still says what was saved.
pub fn fetch(
    session: &Session<'_>,
    market: &mut dyn Marketplace,
    opts: &FetchOptions,
    clock: &dyn Clock,
    progress: &mut dyn Progress,
) -> std::result::Result<FetchReport, Box<FetchFailure>> {
    // PII is sealed under this run's epoch data keys, wrapped from the operator's sealer key
    // to the PII public key its key set authenticates, never to a row.
    let sealer = match session.sealer(clock.now()) {
        Ok(s) => s,
        Err(error) => {
            return Err(Box::new(FetchFailure {
                report: FetchReport::default(),
                error,
            }));
        }
    };
    let run = Run {
        vault: session.vault(),
        operator: session.name(),
        clock,
        stop: None,
    };
    run.fetch(sealer, market, opts, progress)
}

/// One region's share of [`fetch_regions`].
pub struct RegionRun<'r> {
    /// The region's client behind the seam.
    pub market: &'r mut (dyn Marketplace + Send),
    /// Its options: its region and its own watermark key.
    pub opts: FetchOptions,
    /// Its progress (what it stored, its waits).
    pub progress: &'r mut (dyn Progress + Send),
}

/// What [`fetch_regions`] says of each region, in the order given.
pub type RegionResult = std::result::Result<FetchReport, Box<FetchFailure>>;

/// Fetches several SP-API regions at once, as `fulfill fetch` does: each region on a thread
/// of its own with its own vault handle ([`Vault::another`]), sealer, quota model, watermark
/// and progress, so the regions' usage plans run in parallel and the run takes as long as the
/// slowest region, not the sum. Writes stay whole and in turn: each region's page stores and
/// audit records take the process's write gate ([`crate::interrupt`]), the log's file lock
/// and SQLite's write lock, as two processes would. A region that fails does not stop the
/// others, except an audit or integrity failure (exit 5): the others then stop before their
/// next request, since nothing may run unrecorded. One region runs on the calling thread.
pub fn fetch_regions(
    session: &Session<'_>,
    runs: Vec<RegionRun<'_>>,
    clock: &dyn Clock,
) -> Vec<RegionResult> {
    if runs.len() == 1 {
        let RegionRun {
            market,
            opts,
            progress,
        } = runs.into_iter().next().expect("one region");
        return vec![fetch(session, market, &opts, clock, progress)];
    }
    let fail = |error| {
        Err(Box::new(FetchFailure {
            report: FetchReport::default(),
            error,
        }))
    };
    // Each region's sealer and vault handle, made here (a `Session` stays on its thread).
    let mut out: Vec<Option<RegionResult>> = Vec::new();
    let mut work = Vec::new();
    for (i, r) in runs.into_iter().enumerate() {
        let sealer = match session.sealer(clock.now()) {
            Ok(s) => s,
            Err(e) => {
                out.push(Some(fail(e)));
                continue;
            }
        };
        match session.vault().another() {
            Ok(v) => {
                out.push(None);
                work.push((i, v, sealer, r));
            }
            Err(e) => out.push(Some(fail(e))),
        }
    }
    let stop = std::sync::atomic::AtomicBool::new(false);
    let operator = session.name();
    std::thread::scope(|scope| {
        let threads: Vec<_> = work
            .into_iter()
            .map(|(i, vault, sealer, r)| {
                let stop = &stop;
                let thread = std::thread::Builder::new()
                    .name(format!("fetch-{}", r.opts.region.as_deref().unwrap_or("-")))
                    .spawn_scoped(scope, move || {
                        let run = Run {
                            vault: &vault,
                            operator,
                            clock,
                            stop: Some(stop),
                        };
                        let res = run.fetch(sealer, r.market, &r.opts, r.progress);
                        if matches!(&res, Err(f) if f.error.exit() == crate::Exit::Unsafe) {
                            stop.store(true, std::sync::atomic::Ordering::SeqCst);
                        }
                        res
                    });
                (i, thread)
            })
            .collect();
        for (i, t) in threads {
            out[i] = Some(match t {
                Ok(h) => h.join().unwrap_or_else(|_| {
                    fail(Error::Failed(
                        "a region's fetch stopped unexpectedly; what it stored is kept".into(),
                    ))
                }),
                Err(e) => fail(Error::Failed(format!("cannot start a region's fetch: {e}"))),
            });
        }
    });
    out.into_iter()
        .map(|r| r.expect("every region has its result"))
        .collect()
}

/// What one region's run writes with: its vault handle, as whom, stamped by which clock, and
/// the flag another region sets when it stops on an audit or integrity failure.
struct Run<'a> {
    vault: &'a Vault,
    operator: &'a str,
    clock: &'a dyn Clock,
    stop: Option<&'a std::sync::atomic::AtomicBool>,
}

impl Run<'_> {
    fn fetch(
        &self,
        mut sealer: Sealer,
        market: &mut dyn Marketplace,
        opts: &FetchOptions,
        progress: &mut dyn Progress,
    ) -> std::result::Result<FetchReport, Box<FetchFailure>> {
        let Run {
            vault,
            operator,
            clock,
            stop,
        } = *self;
        let mut report = FetchReport::default();
        // The quota model continues from the last run (cron starts a new process each time), and
        // is saved again whatever happens, so the next run never sends what would be throttled.
        crate::calls::restore_market_quota(vault, market);
        let result = run(
            vault,
            &mut sealer,
            operator,
            market,
            opts,
            clock,
            &mut report,
            progress,
            stop,
        );
        let saved = crate::calls::save_market_quota(vault, market);
        let summary = (|| -> Result<()> {
            report.watermark = vault.read(|tx| orders::watermark_at(tx, opts.watermark_key()))?;
            report.pii_missing = vault.read(orders::pii_missing_count)?;
            Ok(())
        })();
        let mut ev = Event::new("fetch.run")
            .operator(operator)
            .field("pages", report.pages)
            .field("new_orders", report.new_orders)
            .field("updated_orders", report.updated_orders)
            .field("orders_with_items", report.orders_with_items)
            .field("calls", report.calls)
            .field("throttled", report.throttled)
            .field("restarts", report.restarts)
            .field("items_failed", report.items_failed)
            .field("orders_refused", report.orders_refused)
            .field("watermark", report.watermark.clone());
        if let Some(r) = &opts.region {
            ev = ev.field("region", r.as_str());
        }
        if let Err(e) = &result {
            ev = ev.outcome(Outcome::Failed).field("error", error_kind(e));
        }
        // A failure to record the run must not hide the run's own error.
        let recorded = vault.record(&[ev], clock.now());
        match result.and(summary).and(recorded).and(saved) {
            Ok(()) => Ok(report),
            Err(error) => Err(Box::new(FetchFailure { report, error })),
        }
    }
}

fn error_kind(e: &Error) -> &'static str {
    match e.exit() {
        crate::Exit::Remote => "remote",
        crate::Exit::Unsafe => "audit_or_integrity",
        _ => "other",
    }
}

#[allow(clippy::too_many_arguments)]
fn run(
    vault: &Vault,
    sealer: &mut Sealer,
    operator: &str,
    market: &mut dyn Marketplace,
    opts: &FetchOptions,
    clock: &dyn Clock,
    report: &mut FetchReport,
    progress: &mut dyn Progress,
    stop: Option<&std::sync::atomic::AtomicBool>,
) -> Result<()> {
    let mut cursor = Some(Cursor::Start);
    let mut paging = Paging::new("order");
    let mut restarts = 0;
    // Orders whose items Amazon refused: one bad order must not block the others.
    let mut refused: Vec<(String, String)> = Vec::new();
    // Orders the listing refused alone (a bad id, an implausible number): the rest stored.
    let mut bad_orders: Vec<String> = Vec::new();
    loop {
        if stop.is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst)) {
            return Err(Error::Failed(
                "stopped: another region's audit record could not be written".into(),
            ));
        }
        let pending_items: Vec<String> = vault
            .read(|tx| orders::orders_missing_items(tx, refused.len() + 1))?
            .into_iter()
            .filter(|id| !refused.iter().any(|(r, _)| r == id))
            .take(1)
            .collect();
        let list_at = cursor.as_ref().map(|_| market.next_page_at());
        let items_at = pending_items.first().map(|_| market.next_items_at());
        let do_list = match (list_at, items_at) {
            (None, None) if refused.is_empty() && bad_orders.is_empty() => return Ok(()),
            (None, None) if refused.is_empty() => {
                return Err(Error::Failed(format!(
                    "{} order(s) in Amazon's reply were refused and not stored (first: {}); \
                     everything else was saved",
                    bad_orders.len(),
                    bad_orders[0]
                )));
            }
            (None, None) => {
                let (id, why) = &refused[0];
                let also = if bad_orders.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; {} order(s) were refused and not stored (first: {})",
                        bad_orders.len(),
                        bad_orders[0]
                    )
                };
                return Err(Error::Failed(format!(
                    "the items of {} order(s) could not be fetched (first: {id}: {why}){also}; \
                     everything else was saved, and the next run asks again",
                    refused.len()
                )));
            }
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(i)) => l <= i,
        };
        let mut obs = AuditObserver {
            calls: AuditedCalls::new(vault, clock, operator),
            report,
            progress,
        };
        if do_list {
            let c = cursor.take().expect("listing pending");
            if matches!(c, Cursor::Start) {
                paging = Paging::new("order");
            }
            match list_page(
                vault,
                sealer,
                market,
                c,
                opts,
                &mut obs,
                &mut bad_orders,
                &mut paging,
            ) {
                Ok(next) => cursor = next,
                Err(MarketError::Restart) => {
                    restarts += 1;
                    obs.report.restarts += 1;
                    if restarts > MAX_RESTARTS {
                        return Err(market.too_many_restarts(restarts, None));
                    }
                    cursor = Some(Cursor::Start);
                }
                Err(MarketError::Failed(e) | MarketError::Refused(e)) => return Err(e),
            }
        } else {
            let id = &pending_items[0];
            match fetch_items(vault, sealer, market, id, &mut obs) {
                Ok(()) => {}
                Err(MarketError::Restart) => {
                    // The order's items are not stored, so the loop asks for them again.
                    restarts += 1;
                    obs.report.restarts += 1;
                    if restarts > MAX_RESTARTS {
                        return Err(market.too_many_restarts(restarts, Some(id)));
                    }
                }
                Err(MarketError::Refused(e)) => {
                    obs.report.items_failed += 1;
                    refused.push((id.clone(), e.to_string()));
                }
                Err(MarketError::Failed(e)) => return Err(e),
            }
        }
        obs.progress.stored(obs.report);
    }
}

/// One listing page: fetch, parse as it streams, store in one transaction (with the
/// watermark when it is the last page). Returns where the listing goes on, if it does; an
/// error, after the page is stored, when `paging` finds the listing does not end.
#[allow(clippy::too_many_arguments)]
fn list_page(
    vault: &Vault,
    sealer: &mut Sealer,
    market: &mut dyn Marketplace,
    cursor: Cursor,
    opts: &FetchOptions,
    obs: &mut AuditObserver<'_, '_>,
    bad_orders: &mut Vec<String>,
    paging: &mut Paging,
) -> std::result::Result<Option<Cursor>, MarketError> {
    let (since, token) = match cursor {
        Cursor::Next(since, token) => (since, Some(token)),
        Cursor::Start => {
            let since = match vault.read(|tx| orders::watermark_at(tx, opts.watermark_key()))? {
                Some(w) => Since::Watermark(w),
                None => Since::Time(
                    opts.since
                        .unwrap_or_else(|| market.now() - Duration::days(30)),
                ),
            };
            (since, None)
        }
    };
    let page = market.list_orders(&since, token.as_deref(), obs)?;
    let listed: Vec<&str> = page
        .orders
        .iter()
        .map(|l| l.order.info.amazon_order_id.as_str())
        .chain(page.refused.iter().map(String::as_str))
        .collect();
    let ends = paging.page(
        listed,
        match &page.end {
            PageEnd::More(t) => Some(t.as_str()),
            _ => None,
        },
    );
    let now = obs.calls.now();
    // Ctrl-C waits for the page to be stored and counted (`crate::interrupt`).
    let _gate = crate::interrupt::hold();
    let (next, watermark) = match page.end {
        PageEnd::More(t) => (Some(Cursor::Next(since, t)), None),
        PageEnd::Last { watermark } => (None, Some(watermark)),
        // Nothing of the page is stored.
        PageEnd::NoWatermark(e) => return Err(MarketError::Failed(e)),
    };
    vault.write(|tx| {
        for l in &page.orders {
            let o = &l.order;
            // The listing asked for MFN only; anything else is not ours to ship.
            if o.info
                .fulfillment_channel
                .as_deref()
                .is_some_and(|c| c != "MFN")
            {
                continue;
            }
            match ingest::upsert_order(tx, sealer, o, now)? {
                Upsert::New => obs.report.new_orders += 1,
                Upsert::Updated => obs.report.updated_orders += 1,
            }
            // Where it came from; a marketplace the home did not configure is kept, flagged.
            if let Some((region, unlisted)) = market.origin(o.info.marketplace_id.as_deref()) {
                orders::set_origin(tx, &o.info.amazon_order_id, region, unlisted)?;
                obs.report.unlisted_marketplace += u64::from(unlisted);
            }
            if let Some(items) = &l.items {
                ingest::store_items(tx, sealer, &o.info.amazon_order_id, items)?;
                obs.report.orders_with_items += 1;
            }
            // Under dpp-2025 retention counts from delivery, where the protocol reports it.
            let by_delivery = l.reports_delivery && vault.profile() == Profile::Dpp2025;
            ingest::anchor_retention(tx, &o.info.amazon_order_id, by_delivery, l.delivered, now)?;
        }
        match &watermark {
            Some(w) => orders::set_watermark_at(tx, opts.watermark_key(), w),
            None => Ok(()),
        }
    })?;
    obs.report.pages += 1;
    // A page listed again (after a restart) does not count its refusals twice.
    for bad in page.refused {
        if !bad_orders.contains(&bad) {
            obs.report.orders_refused += 1;
            bad_orders.push(bad);
        }
    }
    obs.progress.stored(obs.report);
    ends?;
    Ok(next)
}

/// All items of one order, stored in one transaction.
fn fetch_items(
    vault: &Vault,
    sealer: &mut Sealer,
    market: &mut dyn Marketplace,
    order_id: &str,
    obs: &mut AuditObserver<'_, '_>,
) -> std::result::Result<(), MarketError> {
    let items = market.order_items(order_id, obs)?;
    let _gate = crate::interrupt::hold();
    vault.write(|tx| ingest::store_items(tx, sealer, order_id, &items))?;
    obs.report.orders_with_items += 1;
    obs.progress.stored(obs.report);
    Ok(())
}
