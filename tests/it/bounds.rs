//! Every remote wait ends (issue 18): a listing whose paging token never ends, a rate limit of
//! 1e-9 on a 429, a body that trickles in one byte at a time. Each ends by itself with exit 4
//! within the bound `docs/sp-api.md` documents ("Every wait ends"), keeping what was stored.
//! In-process, the sandbox and the client share one `ManualClock` (waiting advances it; nothing
//! sleeps), and a trickle is cut by a short reply deadline; through the binary, the sandbox
//! runs on a scaled clock.

use crate::fetch_support;
use crate::fetch_support::Sqlite;
use crate::sp_env::SpEnv;
use crate::support;

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use fulfill::Exit;
use fulfill::clock::{Clock, ManualClock};
use fulfill::config::Profile;
use fulfill::flow::fetch::{FetchFailure, FetchOptions, FetchReport, Quiet, fetch};
use fulfill::market::MAX_BARREN_PAGES;
use fulfill::market::mws::Mws;
use fulfill::market::spapi::SpApi;
use fulfill::mws::client::{
    CallRecord, Limits, MAX_WAIT, ManualTime, Observer, RetryPolicy, run_limits,
};
use fulfill::mws::xml::XmlError;
use fulfill::sandbox::spapi::{SpSandbox, SpSandboxHandle};
use fulfill::sandbox::{FaultSpec, Sandbox, SandboxConfig, SandboxHandle};
use fulfill::spapi::op;
use fulfill::spapi::throttle::plan;
use fulfill::vault::Vault;
use support::{OWNER_PASS, TestDir, new_vault, pass, t0};

type Outcome = Result<FetchReport, Box<FetchFailure>>;

/// Either sandbox, in-process on one manual clock, with a vault and a client.
enum Server {
    Sp(SpSandboxHandle, RefCell<fulfill::spapi::client::Client>),
    Mws(SandboxHandle, RefCell<fulfill::mws::client::Client>),
}

struct Env {
    _dir: TestDir,
    clock: Arc<ManualClock>,
    vault: Vault,
    server: Server,
}

fn env(sp: bool, orders: usize, seed: u64, faults: &str) -> Env {
    let dir = TestDir::new();
    let vault = new_vault(&dir, Profile::Mws2020, true);
    let clock = Arc::new(ManualClock::new(t0() + Duration::hours(1)));
    let mut cfg = SandboxConfig::new(clock.clone());
    cfg.orders = orders;
    cfg.seed = seed;
    cfg.faults = FaultSpec::parse(faults).unwrap();
    let time = Arc::new(ManualTime(clock.clone()));
    let server = if sp {
        let sb = SpSandbox::start(cfg).unwrap();
        let c =
            fulfill::spapi::client::Client::new(sb.spapi_credentials(1.0).unwrap(), time).unwrap();
        Server::Sp(sb, RefCell::new(c))
    } else {
        let sb = Sandbox::start(cfg).unwrap();
        let c =
            fulfill::mws::client::Client::new(fetch_support::creds_for(&sb, 1.0), time).unwrap();
        Server::Mws(sb, RefCell::new(c))
    };
    // Orders placed in the last 2 minutes are not searchable yet (SP-API); move past them.
    clock.advance(Duration::minutes(3));
    Env {
        _dir: dir,
        clock,
        vault,
        server,
    }
}

impl Env {
    fn sandbox(&self) -> &SandboxHandle {
        match &self.server {
            Server::Sp(sb, _) => sb,
            Server::Mws(sb, _) => sb,
        }
    }

    fn fetch(&self) -> Outcome {
        let s = self
            .vault
            .unlock("olga", &pass(OWNER_PASS), self.clock.now())
            .unwrap();
        let opts = FetchOptions {
            since: Some(self.clock.now() - Duration::days(29)),
            ..FetchOptions::default()
        };
        match &self.server {
            Server::Sp(_, c) => fetch(
                &s,
                &mut SpApi::new(&mut c.borrow_mut(), true),
                &opts,
                self.clock.as_ref(),
                &mut Quiet,
            ),
            Server::Mws(_, c) => fetch(
                &s,
                &mut Mws::new(&mut c.borrow_mut()),
                &opts,
                self.clock.as_ref(),
                &mut Quiet,
            ),
        }
    }

    /// Gives the next fetch the time limit `fulfill fetch` has.
    fn limit_run(&self) {
        match &self.server {
            Server::Sp(_, c) => c.borrow_mut().limit_run("fetch", run_limits::FETCH),
            Server::Mws(_, c) => c.borrow_mut().limit_run("fetch", run_limits::FETCH),
        }
    }

    fn count(&self, sql: &str) -> i64 {
        self.vault
            .sqlite()
            .query_row(sql, [], |r| r.get(0))
            .unwrap()
    }

    fn watermark(&self) -> Option<String> {
        self.vault.read(fulfill::vault::orders::watermark).unwrap()
    }

    /// The `searchOrders` rate the vault keeps for the next run.
    fn kept_search_rate(&self) -> f64 {
        let saved: String = self
            .vault
            .sqlite()
            .query_row(
                "SELECT value FROM meta WHERE key = 'spapi_throttle'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&saved).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .find(|b| b["operation"] == op::SEARCH_ORDERS)
            .and_then(|b| b["rate"].as_f64())
            .unwrap()
    }
}

/// A listing that points back at itself (`repeat-token`) or whose last page comes with a fresh
/// token serving it again (`endless-token`), on both APIs: the fetch ends by itself with exit
/// 4, having stored the pages it got, the watermark unmoved; the number of pages is bounded
/// (a repeated token at once; at most MAX_BARREN_PAGES pages that list nothing new). Without
/// the fault, the next run completes.
#[test]
fn a_paging_token_that_never_ends_stops_the_fetch_with_exit_4() {
    for sp in [true, false] {
        for fault in ["repeat-token=1", "endless-token=1"] {
            let what = format!("{} {fault}", if sp { "SP-API" } else { "MWS" });
            let e = env(sp, 250, 70, fault);
            let start = e.clock.now();
            let f = e.fetch().unwrap_err();
            assert_eq!(f.error.exit(), Exit::Remote, "{what}: {}", f.error);
            let msg = f.error.to_string();
            assert!(msg.contains("does not end"), "{what}: {msg}");
            assert!(!msg.contains('\n'));
            assert!(
                e.sandbox().requests().iter().any(|r| r
                    .fault
                    .is_some_and(|k| k.name() == &fault[..fault.len() - 2])),
                "{what}: the fault was injected"
            );
            // What was stored stays; the watermark did not move.
            assert!(f.report.pages >= 1, "{what}");
            assert!(f.report.new_orders > 0, "{what}");
            assert_eq!(
                e.count("SELECT count(*) FROM orders"),
                f.report.new_orders as i64,
                "{what}"
            );
            assert_eq!(e.watermark(), None, "{what}");
            // Within the bound: three real pages (250 orders), then at most MAX_BARREN_PAGES
            // + 1 that list nothing new; a repeated token is caught on the page that repeats.
            let most = if fault.starts_with("repeat") {
                2
            } else {
                3 + u64::from(MAX_BARREN_PAGES) + 1
            };
            let list_calls = e
                .sandbox()
                .requests()
                .iter()
                .filter(|r| {
                    matches!(
                        r.action.as_deref(),
                        Some("searchOrders" | "ListOrders" | "ListOrdersByNextToken")
                    )
                })
                .count() as u64;
            assert!(
                f.report.pages <= most && list_calls <= most,
                "{what}: {} pages, {list_calls} listing calls",
                f.report.pages
            );
            assert!(e.clock.now() - start <= run_limits::FETCH, "{what}");
            // Positive control: the same server without the fault ends, and the run completes.
            e.sandbox().set_faults(FaultSpec::none(), 1);
            e.clock.advance(Duration::hours(1));
            let r = e.fetch().unwrap_or_else(|f| panic!("{what}: {}", f.error));
            assert!(e.watermark().is_some(), "{what}: {r:?}");
            assert!(e.count("SELECT count(*) FROM orders") > f.report.new_orders as i64);
        }
    }
}

/// A 429 whose `x-amzn-RateLimit-Limit` says 1e-9 requests a second made the client wait
/// 1e6 s (11.6 days) and kept that rate in the vault for later runs. The rate is now held to
/// a tenth of the plan's: the one wait is under MAX_WAIT, the vault keeps a tenth of the plan,
/// and a server answering every request so ends the fetch with exit 4 within its time limit.
#[test]
fn a_rate_limit_of_1e_9_is_held_to_a_tenth_of_the_plan_and_the_fetch_ends() {
    // Fewer than 100 orders: one page, so one wait.
    let e = env(true, 60, 71, "");
    // Request 1 is the access token; the first searchOrders is request 2.
    let n = e.sandbox().request_count() + 2;
    e.sandbox()
        .set_faults(FaultSpec::parse(&format!("tiny-rate@{n}")).unwrap(), 1);
    let start = e.clock.now();
    let r = e.fetch().unwrap_or_else(|f| panic!("{}", f.error));
    assert_eq!(r.throttled, 1, "{r:?}");
    let waited = e.clock.now() - start;
    let tenth = plan(op::SEARCH_ORDERS).unwrap().rate / 10.0;
    assert!(waited < MAX_WAIT, "waited {waited}");
    assert!(
        waited >= Duration::seconds((1.0 / tenth) as i64 - 1),
        "waited {waited}: one request at a tenth of the plan"
    );
    // The reply that followed said the plan's rate again, and that is what is kept.
    assert!(e.kept_search_rate() >= tenth, "{}", e.kept_search_rate());
    assert!(e.watermark().is_some());

    // Every request answered so: the run ends at its time limit, exit 4, what was stored
    // kept (nothing here), and no single wait over the cap.
    e.sandbox()
        .set_faults(FaultSpec::parse("tiny-rate=1").unwrap(), 1);
    e.clock.advance(Duration::hours(1));
    e.limit_run();
    let before = e.count("SELECT count(*) FROM orders");
    let start = e.clock.now();
    let f = e.fetch().unwrap_err();
    assert_eq!(f.error.exit(), Exit::Remote, "{}", f.error);
    assert!(
        f.error.to_string().contains("time limit of 6 h"),
        "{}",
        f.error
    );
    let took = e.clock.now() - start;
    assert!(took <= run_limits::FETCH, "took {took}");
    assert!(took >= run_limits::FETCH - MAX_WAIT, "took {took}");
    let times: Vec<DateTime<Utc>> = e
        .sandbox()
        .requests()
        .iter()
        .filter(|r| r.at >= start)
        .map(|r| r.at)
        .collect();
    assert!(times.len() >= 10, "{} requests", times.len());
    assert!(times.windows(2).all(|w| w[1] - w[0] <= MAX_WAIT));
    assert_eq!(e.count("SELECT count(*) FROM orders"), before);
    assert!((e.kept_search_rate() - tenth).abs() < 1e-12);
}

#[derive(Default)]
struct Rec(Vec<CallRecord>);

impl Observer for Rec {
    fn call(&mut self, r: &CallRecord) -> fulfill::Result<()> {
        self.0.push(r.clone());
        Ok(())
    }
}

/// The sandbox trickles the next replies' bodies (one byte every 0.2 s real time: each read
/// returns well within any timeout between bytes).
fn trickle_from_now(sb: &SandboxHandle) {
    let n = sb.request_count() + 1;
    let spec = format!("trickle@{n}-{},drip=0.2", n + 20);
    sb.set_faults(FaultSpec::parse(&spec).unwrap(), 1);
}

const SHORT: Limits = Limits {
    reply: StdDuration::from_millis(1500),
    max_wait: MAX_WAIT,
};

fn one_retry() -> RetryPolicy {
    RetryPolicy {
        backoff: vec![Duration::seconds(1)],
        max_throttled: 20,
    }
}

/// A reply whose body trickles in one byte at a time was never cut: the client's timeout ran
/// between bytes only. The whole reply now has a deadline (here a short one, as a test can set
/// it; `REPLY_DEADLINE` in a command): each attempt is cut there, recorded as
/// `reply_deadline`, retried like a timeout, and the call ends with exit 4. The manual clock
/// moves only by the back-off. Positive control: a normal reply passes the same deadline.
#[test]
fn a_trickling_body_is_cut_at_the_reply_deadline() {
    // SP-API.
    let e = env(true, 20, 72, "");
    let Server::Sp(sb, _) = &e.server else {
        unreachable!()
    };
    let mut c = fulfill::spapi::client::Client::new(
        sb.spapi_credentials(1.0).unwrap(),
        Arc::new(ManualTime(e.clock.clone())),
    )
    .unwrap()
    .with_limits(SHORT)
    .with_policy(one_retry());
    let id = sb.orders()[0].order.info.amazon_order_id.clone();
    let mut rec = Rec::default();
    c.get_order(&id, &mut rec).unwrap();
    trickle_from_now(sb);
    let start = e.clock.now();
    let err = match c.get_order(&id, &mut rec).unwrap_err() {
        fulfill::spapi::client::CallError::Failed(err) => err,
        other => panic!("{other:?}"),
    };
    assert_eq!(err.exit(), Exit::Remote, "{err}");
    assert!(err.to_string().contains("longer than 1.5 s"), "{err}");
    let cut = rec
        .0
        .iter()
        .filter(|r| r.error.as_deref() == Some("reply_deadline"))
        .count();
    assert_eq!(cut, 2, "{:?}", rec.0);
    assert!(e.clock.now() - start <= Duration::milliseconds(1250));
    assert!(sb.requests().iter().any(|r| r.fault.is_some()));

    // MWS.
    let e = env(false, 20, 73, "");
    let Server::Mws(sb, _) = &e.server else {
        unreachable!()
    };
    let mut c = fulfill::mws::client::Client::new(
        fetch_support::creds_for(sb, 1.0),
        Arc::new(ManualTime(e.clock.clone())),
    )
    .unwrap()
    .with_limits(SHORT)
    .with_policy(one_retry());
    let read_all = |r: &mut dyn std::io::BufRead| {
        let mut v = Vec::new();
        std::io::Read::read_to_end(r, &mut v).map_err(|e| XmlError::Malformed(e.to_string()))?;
        Ok(v.len())
    };
    let id = sb.orders()[0].order.info.amazon_order_id.clone();
    let params = [("AmazonOrderId", id)];
    let mut rec = Rec::default();
    let n = c
        .call_orders("ListOrderItems", &params, &mut rec, read_all)
        .unwrap();
    assert!(n > 100, "positive control: {n} bytes");
    trickle_from_now(sb);
    let start = e.clock.now();
    let err = fulfill::Error::from(
        c.call_orders("ListOrderItems", &params, &mut rec, read_all)
            .unwrap_err(),
    );
    assert_eq!(err.exit(), Exit::Remote, "{err}");
    assert!(err.to_string().contains("longer than 1.5 s"), "{err}");
    let cut = rec
        .0
        .iter()
        .filter(|r| r.error.as_deref() == Some("reply_deadline"))
        .count();
    assert_eq!(cut, 2, "{:?}", rec.0);
    assert!(e.clock.now() - start <= Duration::milliseconds(1250));
}

/// Through the binary (a cron fetch by the key-file fetcher on an SP-API sandbox home): a
/// listing that points back at itself exits 4 with one line that says what was saved, and a
/// 429 saying 1e-9 costs one wait of a tenth of the plan (a fraction of a second here), not
/// 11.6 days: the run completes, and the vault keeps no rate below a tenth of the plan.
#[test]
fn through_the_binary_a_listing_without_end_exits_4_and_a_tiny_rate_is_not_kept() {
    let e = SpEnv::new(150, 74, "repeat-token=1");
    let r = e.fetch();
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("does not end") && r.stderr.contains("Saved before stopping"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    let failed: i64 = e
        .db()
        .query_row("SELECT count(*) FROM orders", [], |r| r.get(0))
        .unwrap();
    assert!(failed > 0, "the first page is kept");
    let log = e.dir.audit_text();
    assert!(
        log.lines()
            .any(|l| l.contains("\"event\":\"fetch.run\"") && l.contains("\"outcome\":\"failed\"")),
        "the failed run is recorded"
    );
    // One 429 saying 1e-9 on the next run's first searchOrders (its request 2).
    let n = e.sb.request_count() + 2;
    e.sb.set_faults(FaultSpec::parse(&format!("tiny-rate@{n}")).unwrap(), 1);
    let r = e.fetch();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(e.sb.requests().iter().any(|r| r.status == 429));
    let saved: String = e
        .db()
        .query_row(
            "SELECT value FROM meta WHERE key = 'spapi_throttle:na'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&saved).unwrap();
    let rate = v
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["operation"] == op::SEARCH_ORDERS)
        .and_then(|b| b["rate"].as_f64())
        .unwrap();
    let tenth = plan(op::SEARCH_ORDERS).unwrap().rate / 10.0;
    assert!(rate >= tenth, "kept {rate}");
    e.check_exact();
}
