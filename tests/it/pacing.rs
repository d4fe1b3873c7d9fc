//! Pacing after a 429 (issue 22): a 429 on the request the usage-plan model timed to a freshly
//! refilled token (the model was early by a request's transit) costs a short step, doubling up
//! to the refill period, not a whole refill period; a 429 the model did not expect still waits
//! the period. MWS's 503 is paced the same way (one `Backoff` for both models). The sandboxes
//! and the clients share one `ManualClock` (waiting advances it, nothing sleeps); the
//! sandbox's `throttle@N` fault is the 429 (503), except where a client anchored early meets
//! the sandbox's own bucket.

use crate::fetch_support;
use crate::fetch_support::Sqlite;
use crate::support;

use std::cell::RefCell;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use fulfill::clock::{Clock, ManualClock};
use fulfill::config::Profile;
use fulfill::flow::fetch::{FetchOptions, FetchReport, Quiet, fetch};
use fulfill::market::spapi::SpApi;
use fulfill::mws::client::{CallRecord, ManualTime, Observer};
use fulfill::sandbox::spapi::{SpSandbox, SpSandboxHandle};
use fulfill::sandbox::{FaultKind, FaultSpec, RequestRecord, SandboxConfig};
use fulfill::spapi::client::{Client, SearchQuery};
use fulfill::spapi::op;
use fulfill::spapi::throttle::plan;
use fulfill::vault::Vault;
use support::{OWNER_PASS, TestDir, new_vault, pass, t0};

/// Request 1 is the access token, 2..=21 the 20 pages of `searchOrders`' burst: request 22 is
/// the first page the model times to a refilled token.
const FIRST_PAST_BURST: u64 = 22;

struct Env {
    dir: TestDir,
    clock: Arc<ManualClock>,
    sb: SpSandboxHandle,
    vault: Vault,
    client: RefCell<Client>,
}

fn env(orders: usize, seed: u64, faults: &str) -> Env {
    let dir = TestDir::new();
    let vault = new_vault(&dir, Profile::Mws2020, true);
    let clock = Arc::new(ManualClock::new(t0() + Duration::hours(1)));
    let mut cfg = SandboxConfig::new(clock.clone());
    cfg.orders = orders;
    cfg.seed = seed;
    cfg.faults = FaultSpec::parse(faults).unwrap();
    let sb = SpSandbox::start(cfg).unwrap();
    let client = Client::new(
        sb.spapi_credentials(1.0).unwrap(),
        Arc::new(ManualTime(clock.clone())),
    )
    .unwrap();
    // Orders placed in the last 2 minutes are not searchable yet; move past them.
    clock.advance(Duration::minutes(3));
    Env {
        dir,
        clock,
        sb,
        vault,
        client: RefCell::new(client),
    }
}

#[derive(Default)]
struct Rec(Vec<CallRecord>);

impl Observer for Rec {
    fn call(&mut self, r: &CallRecord) -> fulfill::Result<()> {
        self.0.push(r.clone());
        Ok(())
    }
}

/// `searchOrders`' refill period: one request back every this long.
fn period() -> Duration {
    let p = plan(op::SEARCH_ORDERS).unwrap();
    Duration::microseconds((1e6 / p.rate) as i64)
}

/// The first wait after a 429 the model did not expect: a 100th of the refill period, at
/// least a second, at most the period.
fn throttle_step(period: Duration) -> Duration {
    (period / 100).max(Duration::seconds(1)).min(period)
}

/// The Amazon time the usage plan needs for `pages` answered pages from a full bucket.
fn plan_minimum(pages: usize) -> Duration {
    let p = plan(op::SEARCH_ORDERS).unwrap();
    Duration::microseconds(((pages.saturating_sub(p.burst as usize)) as f64 * 1e6 / p.rate) as i64)
}

impl Env {
    /// Every page from `after`, 25 orders a page (so 1,000 orders make more pages than the
    /// burst), as the fetch loop pages it. Returns the order ids.
    fn page_all(&self, rec: &mut Rec) -> Vec<String> {
        let q = SearchQuery {
            max_results_per_page: Some(25),
            ..SearchQuery::since(t0() - Duration::days(4))
        };
        let mut c = self.client.borrow_mut();
        let mut ids = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = c.search_orders(&q, token.as_deref(), rec).unwrap();
            ids.extend(page.orders.iter().map(|o| o.order_id.clone()));
            match page.next_token {
                Some(t) => token = Some(t),
                None => return ids,
            }
        }
    }

    /// The sandbox's `searchOrders` requests, in order.
    fn searches(&self) -> Vec<RequestRecord> {
        self.sb
            .requests()
            .into_iter()
            .filter(|r| r.action.as_deref() == Some(op::SEARCH_ORDERS))
            .collect()
    }

    fn fetch(&self) -> FetchReport {
        let s = self
            .vault
            .unlock("olga", &pass(OWNER_PASS), self.clock.now())
            .unwrap();
        let opts = FetchOptions {
            since: Some(self.clock.now() - Duration::days(29)),
            ..FetchOptions::default()
        };
        fetch(
            &s,
            &mut SpApi::new(&mut self.client.borrow_mut(), true),
            &opts,
            self.clock.as_ref(),
            &mut Quiet,
        )
        .unwrap_or_else(|f| panic!("{}", f.error))
    }
}

/// Amazon time from the first `searchOrders` Amazon answered to the last.
fn span(searches: &[RequestRecord]) -> Duration {
    let answered: Vec<DateTime<Utc>> = searches
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.at)
        .collect();
    answered[answered.len() - 1] - answered[0]
}

#[test]
fn a_429_on_the_first_page_past_the_burst_costs_a_short_step_not_a_refill_period() {
    let e = env(1000, 4, &format!("throttle@{FIRST_PAST_BURST}"));
    let mut rec = Rec::default();
    let ids = e.page_all(&mut rec);
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no order twice");
    let searches = e.searches();
    let answered = searches.iter().filter(|r| r.status == 200).count();
    assert!(answered > 21, "positive control: {answered} pages");
    // The fault hit the first page past the burst, and only it.
    let throttled: Vec<&RequestRecord> = searches.iter().filter(|r| r.status == 429).collect();
    assert_eq!(throttled.len(), 1);
    assert_eq!(throttled[0].seq, FIRST_PAST_BURST);
    assert_eq!(throttled[0].fault, Some(FaultKind::Throttle));
    // The same request again after the short step (plus at most a second of jitter), not
    // after a refill period.
    let i = searches.iter().position(|r| r.status == 429).unwrap();
    let gap = searches[i + 1].at - searches[i].at;
    let step = throttle_step(period());
    assert!(
        step >= Duration::seconds(1) && step < Duration::seconds(2),
        "{step}"
    );
    assert!(
        gap >= step && gap <= step + Duration::seconds(1),
        "retried after {gap}"
    );
    assert_eq!(
        searches[i + 1].params,
        searches[i].params,
        "the same page again"
    );
    // The whole listing: within a few seconds of what the usage plan allows.
    let (took, min) = (span(&searches), plan_minimum(answered));
    assert!(took >= min - Duration::seconds(1), "{took} < {min}");
    assert!(
        took <= min + Duration::seconds(5),
        "{took} vs minimum {min}"
    );
    // The observer saw the throttled attempt and the retry that followed it.
    let calls: Vec<&CallRecord> = rec
        .0
        .iter()
        .filter(|r| r.action == op::SEARCH_ORDERS)
        .collect();
    assert_eq!(calls.len(), searches.len());
    let j = calls.iter().position(|r| r.throttled).unwrap();
    assert_eq!((calls[j].status, calls[j].attempt), (Some(429), 1));
    assert_eq!((calls[j + 1].status, calls[j + 1].attempt), (Some(200), 2));
}

#[test]
fn persistent_429s_back_off_doubling_up_to_the_refill_period() {
    // Twelve 429s in a row from the first page past the burst.
    let last = FIRST_PAST_BURST + 11;
    let e = env(1000, 4, &format!("throttle@{FIRST_PAST_BURST}-{last}"));
    let mut rec = Rec::default();
    let ids = e.page_all(&mut rec);
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no order twice");
    let searches = e.searches();
    let first = searches
        .iter()
        .position(|r| r.seq == FIRST_PAST_BURST)
        .unwrap();
    let storm = &searches[first..first + 13];
    assert!(storm[..12].iter().all(|r| r.status == 429));
    assert_eq!(storm[12].status, 200, "answered once the storm ends");
    let (period, mut want) = (period(), throttle_step(period()));
    for (k, w) in storm.windows(2).enumerate() {
        let gap = w[1].at - w[0].at;
        // Never sooner than the step schedule, never later than it plus a second of jitter.
        assert!(
            gap >= want && gap <= want + Duration::seconds(1),
            "wait {k}: {gap}, schedule {want}"
        );
        want = (want * 2).min(period);
    }
    assert_eq!(want, period, "the schedule reached the refill period");
    let throttled = rec
        .0
        .iter()
        .filter(|r| r.action == op::SEARCH_ORDERS && r.throttled)
        .count();
    assert_eq!(throttled, 12);
}

#[test]
fn a_429_the_model_did_not_expect_waits_a_whole_refill_period() {
    // Request 5 is the fourth page of the burst: the model still held 17 tokens, so its
    // picture was wrong by more than a transit (another client on the same quota).
    let e = env(1000, 4, "throttle@5");
    let mut rec = Rec::default();
    e.page_all(&mut rec);
    let searches = e.searches();
    let i = searches.iter().position(|r| r.status == 429).unwrap();
    assert_eq!(searches[i].seq, 5);
    let gap = searches[i + 1].at - searches[i].at;
    assert!(
        gap >= period() && gap <= period() + Duration::seconds(1),
        "{gap}"
    );
}

#[test]
fn a_fetch_through_a_429_past_the_burst_stores_every_order_once_and_records_the_attempt() {
    // About 2,400 merchant-fulfilled orders in 29 days: 24 pages of 100, 4 past the burst.
    let e = env(3000, 5, &format!("throttle@{FIRST_PAST_BURST}"));
    let r = e.fetch();
    let searches = e.searches();
    let answered = searches.iter().filter(|r| r.status == 200).count();
    assert!(answered > 21, "positive control: {answered} pages");
    let hit: Vec<&RequestRecord> = searches.iter().filter(|r| r.status == 429).collect();
    assert_eq!(hit.len(), 1);
    assert_eq!(
        hit[0].seq, FIRST_PAST_BURST,
        "the first page past the burst"
    );
    assert_eq!(r.throttled, 1, "{r:?}");
    let conn = e.vault.sqlite();
    fetch_support::no_duplicates(&conn);
    let listed: std::collections::BTreeSet<String> =
        e.sb.orders()
            .iter()
            .filter(|o| o.order.info.fulfillment_channel.as_deref() == Some("MFN"))
            .map(|o| o.order.info.amazon_order_id.clone())
            .collect();
    let stored: i64 = conn
        .query_row("SELECT count(*) FROM orders", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored as u64, r.new_orders);
    assert!(stored as usize <= listed.len() && stored > 2000, "{stored}");
    // Within a few seconds of the usage plan's minimum, in Amazon time.
    let (took, min) = (span(&searches), plan_minimum(answered));
    assert!(
        took <= min + Duration::seconds(5),
        "{took} vs minimum {min}"
    );
    // Every attempt is an `mws.call` record; the throttled one says so, and its retry follows.
    let mut lines = Vec::new();
    for f in std::fs::read_dir(e.vault.home().logs_dir())
        .unwrap()
        .flatten()
    {
        let text = std::fs::read_to_string(f.path()).unwrap_or_default();
        for l in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(l) else {
                continue;
            };
            if v["event"] == "mws.call" && v.to_string().contains(op::SEARCH_ORDERS) {
                lines.push(v);
            }
        }
    }
    assert_eq!(lines.len(), searches.len(), "one record per attempt");
    let throttled: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|v| v.to_string().contains("\"throttled\":true"))
        .collect();
    assert_eq!(throttled.len(), 1, "{throttled:?}");
    assert!(throttled[0].to_string().contains("\"status\":429"));
    let _ = &e.dir;
}

/// The client's time, `behind` the sandbox's until the first reply's `Date` sets it right (as
/// a sandbox timebase follows the server): the model's refill is anchored that much before
/// the sandbox's, so its first refilled token comes that much early, as a request's transit
/// makes it come early against Amazon.
struct Behind {
    clock: Arc<ManualClock>,
    behind: std::sync::Mutex<Duration>,
}

impl fulfill::mws::client::Timebase for Behind {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now() - *self.behind.lock().unwrap()
    }
    fn wait_until(&self, t: DateTime<Utc>) {
        let t = t + *self.behind.lock().unwrap();
        if t > self.clock.now() {
            self.clock.set(t);
        }
    }
    fn observe_server_time(&self, server_now: DateTime<Utc>) {
        *self.behind.lock().unwrap() = self.clock.now() - server_now;
    }
    fn follows_server(&self) -> bool {
        true
    }
}

#[test]
fn a_model_anchored_a_second_early_meets_amazons_429_and_loses_one_short_step() {
    let e = env(1000, 4, "");
    let mut c = Client::new(
        e.sb.spapi_credentials(1.0).unwrap(),
        Arc::new(Behind {
            clock: e.clock.clone(),
            behind: std::sync::Mutex::new(Duration::seconds(1)),
        }),
    )
    .unwrap();
    let q = SearchQuery {
        max_results_per_page: Some(25),
        ..SearchQuery::since(t0() - Duration::days(4))
    };
    let mut rec = Rec::default();
    let mut token: Option<String> = None;
    loop {
        let page = c.search_orders(&q, token.as_deref(), &mut rec).unwrap();
        match page.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    let searches = e.searches();
    let answered = searches.iter().filter(|r| r.status == 200).count();
    assert!(answered > 21, "positive control: {answered} pages");
    // The sandbox's own bucket refused the first page past the burst (no fault injected).
    let refused: Vec<&RequestRecord> = searches.iter().filter(|r| r.status == 429).collect();
    assert_eq!(refused.len(), 1, "one 429");
    assert_eq!((refused[0].seq, refused[0].fault), (FIRST_PAST_BURST, None));
    let i = searches.iter().position(|r| r.status == 429).unwrap();
    let gap = searches[i + 1].at - searches[i].at;
    let step = throttle_step(period());
    assert!(
        gap >= step && gap <= step + Duration::seconds(1),
        "retried after {gap}"
    );
    let (took, min) = (span(&searches), plan_minimum(answered));
    assert!(
        took <= min + Duration::seconds(5),
        "{took} vs minimum {min}"
    );
}

/// MWS `GetServiceStatus` (2 at once, one back every 5 minutes) with `faults`: the times the
/// sandbox saw its requests.
fn mws_service_status(faults: &str, calls: usize) -> Vec<RequestRecord> {
    let clock = Arc::new(ManualClock::new(t0()));
    let mut cfg = SandboxConfig::new(clock.clone());
    cfg.orders = 10;
    cfg.seed = 3;
    cfg.faults = FaultSpec::parse(faults).unwrap();
    let sb = fulfill::sandbox::Sandbox::start(cfg).unwrap();
    let mut c = fulfill::mws::client::Client::new(
        fetch_support::creds_for(&sb, 1.0),
        Arc::new(ManualTime(clock.clone())),
    )
    .unwrap();
    let mut rec = Rec::default();
    for _ in 0..calls {
        c.call_orders("GetServiceStatus", &[], &mut rec, |_| Ok(()))
            .unwrap();
    }
    let throttled = rec.0.iter().filter(|r| r.throttled).count();
    let log = sb.requests();
    assert_eq!(throttled, log.iter().filter(|r| r.status == 503).count());
    log
}

#[test]
fn mws_a_503_on_the_last_token_costs_a_short_step_doubling_to_the_restore_interval() {
    // Requests 1 and 2 are the burst; 3 is timed to the first restored token, and it and the
    // next three are answered 503: waits of 3 s (a 100th of 5 minutes), 6, 12 and 24 s (plus
    // at most 2 s of jitter), not 5 minutes each.
    let log = mws_service_status("throttle@3-6", 3);
    assert_eq!(log.len(), 7);
    assert_eq!(log[2].at - log[1].at, Duration::minutes(5));
    let mut want = Duration::seconds(3);
    for w in log[2..].windows(2) {
        assert_eq!(w[0].status, 503);
        let gap = w[1].at - w[0].at;
        assert!(
            gap >= want && gap <= want + Duration::seconds(2),
            "{gap}, schedule {want}"
        );
        want = want * 2;
    }
    assert_eq!(log[6].status, 200);
    // A 503 while the model held a spare request: the whole restore interval.
    let log = mws_service_status("throttle@1", 1);
    let gap = log[1].at - log[0].at;
    assert!(
        gap >= Duration::minutes(5) && gap <= Duration::minutes(5) + Duration::seconds(2),
        "{gap}"
    );
}
