//! The fetch engine against the in-process sandbox, through the library. The sandbox and the
//! client share one `ManualClock` (`ManualTime`): waiting for a quota slot or a back-off
//! advances it, so nothing sleeps and Amazon's real quotas apply.

use crate::fetch_support;
use crate::fetch_support::Sqlite;
use crate::support;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use fetch_support::{check_against_truth, creds_for, integrity_ok, no_duplicates, t, vault_items};
use fulfill::Exit;
use fulfill::clock::{Clock, ManualClock};
use fulfill::config::Profile;
use fulfill::flow::fetch::{FetchFailure, FetchOptions, FetchReport, Quiet, fetch};
use fulfill::market::mws::Mws;
use fulfill::mws::client::{Client, ManualTime};
use fulfill::mws::model::{FulfillmentFeed, FulfillmentItem, FulfillmentMessage};
use fulfill::mws::{FULFILLMENT_FEED_TYPE, sign, xml};
use fulfill::sandbox::api::signed_request;
use fulfill::sandbox::{
    FaultKind, FaultSpec, RequestRecord, Sandbox, SandboxConfig, SandboxHandle,
};
use fulfill::vault::orders::watermark;
use fulfill::vault::{Purpose, Vault};
use support::{OWNER_PASS, TestDir, count, new_vault, pass, scan_dir, t0};

struct Env {
    dir: TestDir,
    clock: Arc<ManualClock>,
    sb: SandboxHandle,
    vault: Vault,
    client: std::cell::RefCell<Client>,
}

type Outcome = Result<FetchReport, Box<FetchFailure>>;

fn env(orders: usize, seed: u64, faults: &str) -> Env {
    let dir = TestDir::new();
    let clock = Arc::new(ManualClock::new(t0()));
    let mut cfg = SandboxConfig::new(clock.clone());
    cfg.orders = orders;
    cfg.seed = seed;
    cfg.faults = FaultSpec::parse(faults).unwrap();
    let sb = Sandbox::start(cfg).unwrap();
    let vault = new_vault(&dir, Profile::Mws2020, true);
    let client = Client::new(creds_for(&sb, 1.0), Arc::new(ManualTime(clock.clone()))).unwrap();
    Env {
        dir,
        clock,
        sb,
        vault,
        client: std::cell::RefCell::new(client),
    }
}

impl Env {
    fn fetch(&self) -> Outcome {
        let owner = self
            .vault
            .unlock("olga", &pass(OWNER_PASS), self.clock.now())
            .unwrap();
        fetch(
            &owner,
            &mut Mws::new(&mut self.client.borrow_mut()),
            &FetchOptions::default(),
            self.clock.as_ref(),
            &mut Quiet,
        )
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn ids(&self) -> HashSet<String> {
        let db = self.vault.sqlite();
        let mut st = db.prepare("SELECT amazon_order_id FROM orders").unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    fn watermark(&self) -> Option<DateTime<Utc>> {
        self.vault.read(watermark).unwrap().map(|w| t(&w))
    }

    fn count(&self, sql: &str) -> i64 {
        self.vault
            .sqlite()
            .query_row(sql, [], |r| r.get(0))
            .unwrap()
    }

    /// Ships `ids` through a fulfillment feed sent straight to the sandbox, as another tool
    /// (Seller Central, another app) would: the orders turn `Shipped` without us.
    fn ship_elsewhere(&self, ids: &[String]) {
        let truth = self.sb.orders();
        let messages = ids
            .iter()
            .enumerate()
            .map(|(n, id)| {
                let o = truth
                    .iter()
                    .find(|o| &o.order.info.amazon_order_id == id)
                    .unwrap();
                FulfillmentMessage {
                    message_id: n as u64 + 1,
                    amazon_order_id: Some(id.clone()),
                    fulfillment_date: sign::timestamp(self.now()),
                    carrier_code: Some("UPS".into()),
                    shipper_tracking_number: Some(format!("1Z{n:06}")),
                    items: o
                        .items
                        .iter()
                        .map(|it| FulfillmentItem {
                            amazon_order_item_code: Some(it.info.order_item_id.clone()),
                            quantity: Some(
                                it.info.quantity_ordered - it.info.quantity_shipped.unwrap_or(0),
                            ),
                            ..Default::default()
                        })
                        .filter(|i| i.quantity != Some(0))
                        .collect(),
                    ..Default::default()
                }
            })
            .collect();
        let c = self.sb.credentials();
        let body = xml::write_fulfillment_feed(&FulfillmentFeed {
            merchant_identifier: c.seller_id.clone(),
            messages,
        });
        let md5 = sign::content_md5(&body);
        let p = [
            ("Action", "SubmitFeed"),
            ("ContentMD5Value", md5.as_str()),
            ("FeedType", FULFILLMENT_FEED_TYPE),
            ("MarketplaceIdList.Id.1", c.marketplace_id.as_str()),
            ("Merchant", c.seller_id.as_str()),
            ("Version", "2009-01-01"),
        ];
        let req = signed_request(
            &c,
            "POST",
            &self.sb.addr().to_string(),
            "/",
            &p,
            self.now(),
            false,
            Some(("text/xml", body)),
        );
        let r = self.sb.call(&req);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
}

fn is_list(r: &RequestRecord) -> bool {
    matches!(
        r.action.as_deref(),
        Some("ListOrders" | "ListOrdersByNextToken")
    )
}

/// The leaky-bucket rule for a bucket of `max` restoring one request per `restore`, starting
/// full: any `n` consecutive requests span at least `(n - max) * restore`.
fn assert_within_quota(times: &[DateTime<Utc>], max: usize, restore: Duration, what: &str) {
    for i in 0..times.len() {
        for j in i + max..times.len() {
            let need = restore * (j - i + 1 - max) as i32;
            assert!(
                times[j] - times[i] >= need,
                "{what}: requests {i}..={j} within {} but the quota needs {need}",
                times[j] - times[i]
            );
        }
    }
}

#[test]
fn a_thousand_orders_arrive_exact_throttle_exact_and_later_changes_apply() {
    let e = env(1000, 11, "");
    let owner = e.vault.unlock("olga", &pass(OWNER_PASS), e.now()).unwrap();

    // Run 1: everything, exactly.
    let r1 = e.fetch().unwrap();
    let truth = e.sb.orders();
    let mfn = |o: &&fulfill::sandbox::SandboxOrder| {
        o.order.info.fulfillment_channel.as_deref() == Some("MFN")
    };
    let afn: Vec<&str> = truth
        .iter()
        .filter(|o| !mfn(o))
        .map(|o| o.order.info.amazon_order_id.as_str())
        .collect();
    assert!(afn.len() > 100, "the sandbox made AFN orders");
    let ids = e.ids();
    assert!(afn.iter().all(|id| !ids.contains(*id)), "AFN order stored");
    let c = check_against_truth(&e.vault, &e.sb, Some(&owner), e.now());
    assert!(c.expected >= 750, "{c:?}");
    assert_eq!(c.exact, c.expected, "{c:?}");
    assert_eq!(c.with_items, ids.len(), "every stored order has its items");
    assert!(c.pii_opened > 500, "{c:?}");
    assert_eq!(r1.new_orders as usize, ids.len());
    assert_eq!(r1.orders_with_items as usize, ids.len());
    assert_eq!(r1.throttled, 0);
    assert!(
        e.count("SELECT count(*) FROM orders WHERE pii_missing = 1") > 0,
        "the sandbox withholds some addresses"
    );
    assert_eq!(
        r1.pii_missing as i64,
        e.count("SELECT count(*) FROM orders WHERE pii_missing = 1")
    );

    // Throttle-exact: the sandbox (which enforces Amazon's quotas) never had to throttle us,
    // and the listing calls were spaced as its bucket (6, then 1 a minute) requires, no
    // slower than one a minute once the burst was spent.
    let log = e.sb.requests();
    assert!(log.iter().all(|r| r.status == 200), "a request failed");
    assert!(
        !log.iter()
            .any(|r| r.error_code.as_deref() == Some("RequestThrottled")),
        "the client sent a request its model should have held back"
    );
    let list_times: Vec<DateTime<Utc>> = log.iter().filter(|r| is_list(r)).map(|r| r.at).collect();
    assert!(list_times.len() >= 8, "{} listing calls", list_times.len());
    assert_within_quota(&list_times, 6, Duration::minutes(1), "ListOrders");
    for w in list_times[5..].windows(2) {
        assert!(
            w[1] - w[0] <= Duration::seconds(61),
            "listing waited {}",
            w[1] - w[0]
        );
    }
    let item_times: Vec<DateTime<Utc>> = log
        .iter()
        .filter(|r| {
            r.action
                .as_deref()
                .is_some_and(|a| a.starts_with("ListOrderItems"))
        })
        .map(|r| r.at)
        .collect();
    assert_within_quota(&item_times, 30, Duration::seconds(2), "ListOrderItems");
    let calls = e.count("SELECT count(*) FROM orders");
    assert!(item_times.len() as i64 >= calls);

    // Run 2, at once: only what changed while run 1 fetched items; no items fetched twice.
    let w1 = e.watermark().unwrap();
    let before = e.ids();
    let seen = log.len();
    let r2 = e.fetch().unwrap();
    let w2 = e.watermark().unwrap();
    assert!(w2 > w1);
    let truth = e.sb.orders();
    let changed = |new: bool| {
        truth
            .iter()
            .filter(|o| mfn(o))
            .filter(|o| before.contains(&o.order.info.amazon_order_id) != new)
            .filter(|o| {
                let u = t(&o.order.info.last_update_date);
                u >= w1 && u < w2
            })
            .count() as u64
    };
    assert_eq!(r2.new_orders, changed(true), "new in run 2");
    assert_eq!(r2.updated_orders, changed(false), "updated in run 2");
    assert_eq!(r2.orders_with_items, r2.new_orders);
    for r in &e.sb.requests()[seen..] {
        if r.action.as_deref() == Some("ListOrderItems") {
            let id = &r
                .params
                .iter()
                .find(|(k, _)| k == "AmazonOrderId")
                .unwrap()
                .1;
            assert!(!before.contains(id), "items of {id} fetched again");
        }
    }
    check_against_truth(&e.vault, &e.sb, None, e.now());

    // Later: a few unshipped orders are shipped elsewhere, then two days pass (pending orders
    // complete, some get canceled).
    let vault_state = |e: &Env, lc: &str| -> HashSet<String> {
        let db = e.vault.sqlite();
        let mut st = db
            .prepare("SELECT amazon_order_id FROM orders WHERE lifecycle = ?1")
            .unwrap();
        st.query_map([lc], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    let pending = vault_state(&e, "pending");
    let unshipped: Vec<String> = {
        let mut v: Vec<String> = vault_state(&e, "unshipped").into_iter().collect();
        v.sort();
        v.truncate(5);
        v
    };
    assert!(
        !pending.is_empty() && unshipped.len() == 5,
        "{} pending",
        pending.len()
    );
    e.ship_elsewhere(&unshipped);
    e.clock.advance(Duration::days(2));
    let r3 = e.fetch().unwrap();
    assert!(r3.updated_orders > 0);
    let c = check_against_truth(&e.vault, &e.sb, Some(&owner), e.now());
    assert_eq!(c.exact, c.expected);
    let shipped = vault_state(&e, "shipped");
    assert!(
        unshipped.iter().all(|id| shipped.contains(id)),
        "shipped elsewhere"
    );
    let canceled = vault_state(&e, "canceled");
    let completed: Vec<&String> = pending
        .iter()
        .filter(|id| vault_state(&e, "unshipped").contains(*id))
        .collect();
    assert!(!completed.is_empty(), "no pending order completed");
    for id in &completed {
        let pii = owner
            .open_pii(id, fulfill::vault::Purpose::Label, e.now())
            .unwrap();
        assert!(!pii.is_empty(), "{id} completed without PII");
    }
    let canceled_from_vault: Vec<&String> = canceled
        .iter()
        .filter(|id| before.contains(*id) || pending.contains(*id))
        .collect();
    assert!(
        !canceled_from_vault.is_empty(),
        "no stored order was canceled"
    );
    let no_retention = e.count(
        "SELECT count(*) FROM orders WHERE lifecycle IN ('canceled', 'shipped') AND retention_start IS NULL",
    );
    assert_eq!(no_retention, 0);
}

/// Each fault kind, where it hurts: retried (or restarted) to exact data.
#[test]
fn every_fault_kind_is_retried_to_exact_data() {
    let cases: &[(&str, Option<FaultKind>)] = &[
        ("throttle@2-6", Some(FaultKind::Throttle)),
        ("throttle=0.15", Some(FaultKind::Throttle)),
        ("internal@2-5,internal@9", Some(FaultKind::Internal)),
        ("slow@2,slow@8,delay=0.05", Some(FaultKind::Slow)),
        ("reset@2,reset@8", Some(FaultKind::Reset)),
        ("truncate@2,truncate@8", Some(FaultKind::Truncate)),
        ("malformed@2,malformed@8", Some(FaultKind::Malformed)),
        ("corrupt-token@1", Some(FaultKind::CorruptToken)),
        ("skew=600", None),
        ("skew=-600", None),
    ];
    for (spec, kind) in cases {
        let e = env(260, 5, spec);
        let r = e.fetch().unwrap_or_else(|f| panic!("{spec}: {}", f.error));
        let log = e.sb.requests();
        if let Some(k) = kind {
            assert!(
                log.iter().any(|r| r.fault == Some(*k)),
                "{spec}: fault never injected"
            );
        }
        let c = check_against_truth(&e.vault, &e.sb, None, e.now());
        assert!(c.expected > 150, "{spec}: {c:?}");
        assert_eq!(c.exact, c.expected, "{spec}");
        assert_eq!(
            c.with_items as i64,
            e.count("SELECT count(*) FROM orders"),
            "{spec}"
        );
        match kind {
            Some(FaultKind::Throttle) => assert!(r.throttled > 0, "{spec}"),
            Some(FaultKind::CorruptToken) => assert_eq!(r.restarts, 1, "{spec}"),
            _ => {}
        }
        // Every attempt is in the audit log as mws.call.
        let calls = std::fs::read_dir(e.vault.home().logs_dir())
            .unwrap()
            .flatten()
            .map(|f| count(&std::fs::read(f.path()).unwrap(), b"\"mws.call\""))
            .sum::<usize>();
        assert_eq!(calls as u64, r.calls, "{spec}: mws.call records");
        assert!(r.calls >= log.len() as u64 - 1, "{spec}");
    }
}

/// A persistent fault: a clean `Remote` error (exit 4) that says what was saved, nothing
/// half-written, and the next run completes exactly.
#[test]
fn persistent_failures_stop_cleanly_and_the_next_run_completes() {
    // Where would the first multi-page item listing be? A fault-free twin tells us.
    let (twin, twin_pages) = {
        let e = env(300, 8, "");
        let r = e.fetch().unwrap();
        let seq =
            e.sb.requests()
                .iter()
                .find(|r| r.action.as_deref() == Some("ListOrderItemsByNextToken"))
                .unwrap()
                .seq;
        (seq, r.pages)
    };
    assert!(twin_pages >= 3);
    for spec in [
        "internal@2-2000".to_owned(),
        format!("internal@{twin}-2000"),
        "reset@1-2000".to_owned(),
    ] {
        let e = env(300, 8, &spec);
        let FetchFailure { report, error: err } = *e.fetch().unwrap_err();
        assert_eq!(err.exit(), Exit::Remote, "{spec}: {err}");
        let msg = err.to_string();
        assert!(msg.contains("after 5 attempts"), "{spec}: {msg}");
        assert!(!msg.contains('\n'), "{spec}");
        integrity_ok(&e.vault.sqlite());
        no_duplicates(&e.vault.sqlite());
        // What the report says was saved is what was saved.
        assert_eq!(
            report.new_orders as i64,
            e.count("SELECT count(*) FROM orders")
        );
        assert_eq!(
            report.orders_with_items as i64,
            e.count("SELECT count(*) FROM orders WHERE items_fetched = 1")
        );
        // Items: all or nothing per order.
        let items = vault_items(&e.vault);
        let partial = e.count(
            "SELECT count(*) FROM orders o WHERE items_fetched = 0
             AND EXISTS (SELECT 1 FROM order_items i WHERE i.amazon_order_id = o.amazon_order_id)",
        );
        assert_eq!(
            partial, 0,
            "{spec}: items stored for an order not marked fetched"
        );
        let c = check_against_truth(&e.vault, &e.sb, None, e.now());
        assert_eq!(
            c.with_items,
            items.values().filter(|v| !v.is_empty()).count(),
            "{spec}"
        );
        // The watermark moved only with a complete listing.
        assert_eq!(
            e.watermark().is_some(),
            report.pages == twin_pages,
            "{spec}: {} of {twin_pages} pages",
            report.pages
        );
        if spec.starts_with("internal@2-") {
            assert_eq!(report.pages, 1, "{spec}");
            assert!(e.watermark().is_none());
        }
        if spec.starts_with("reset") {
            assert_eq!(report.new_orders, 0);
        }
        // Fixed: the next run picks up where this one stopped.
        e.sb.set_faults(FaultSpec::none(), 1);
        let r = e.fetch().unwrap();
        let c = check_against_truth(&e.vault, &e.sb, None, e.now());
        assert_eq!(c.exact, c.expected, "{spec}");
        assert!(c.expected > 200);
        assert_eq!(
            c.with_items as i64,
            e.count("SELECT count(*) FROM orders"),
            "{spec}: {r:?}"
        );
    }
}

#[test]
fn a_clock_off_by_more_than_15_minutes_stops_with_a_message_about_the_clock() {
    let e = env(50, 3, "skew=1200");
    let FetchFailure { report, error: err } = *e.fetch().unwrap_err();
    assert_eq!(err.exit(), Exit::Remote);
    let msg = err.to_string();
    assert!(msg.contains("clock"), "{msg}");
    assert!(msg.contains("NTP"), "{msg}");
    assert_eq!(report.new_orders, 0);
    assert!(e.watermark().is_none());
    assert_eq!(
        e.sb.requests()
            .iter()
            .filter(|r| r.error_code.as_deref() == Some("RequestExpired"))
            .count(),
        1,
        "RequestExpired is not retried"
    );
}

#[test]
fn the_vault_files_and_logs_hold_no_pii() {
    let e = env(200, 21, "");
    e.fetch().unwrap();
    let marker = e.sb.pii_marker();
    let home = e.vault.home().root().to_path_buf();
    let files = ["vault.db", "vault.db-wal", "vault.db-shm"];
    let mut scanned = 0;
    for f in files {
        if let Ok(bytes) = std::fs::read(home.join(f)) {
            scanned += bytes.len();
            assert_eq!(count(&bytes, marker.as_bytes()), 0, "PII marker in {f}");
        }
    }
    assert!(scanned > 100_000, "scanned {scanned} bytes");
    assert!(
        std::fs::metadata(home.join("vault.db-wal")).is_ok(),
        "the WAL is part of the scan"
    );
    let logs = e.vault.home().logs_dir();
    assert!(
        scan_dir(&logs, marker.as_bytes()).is_empty(),
        "PII marker in the logs"
    );
    assert!(
        !scan_dir(&logs, b"mws.call").is_empty(),
        "the logs were scanned"
    );
    // Positive control: the same scan finds a value SQLite stores in plain text.
    e.vault
        .sqlite()
        .execute_batch(&format!(
            "CREATE TABLE planted(x); INSERT INTO planted VALUES ('x {marker} y');"
        ))
        .unwrap();
    let hits: usize = files
        .iter()
        .filter_map(|f| std::fs::read(home.join(f)).ok())
        .map(|b| count(&b, marker.as_bytes()))
        .sum();
    assert!(hits > 0, "the scan would not find a planted marker");
    drop(e.dir);
}

/// Cron starts a new process for every run: the quota model must carry over, or the next
/// run's first listing call would meet an empty bucket at Amazon.
#[test]
fn a_new_run_remembers_the_quota_the_last_one_used() {
    let e = env(700, 11, "");
    e.fetch().unwrap();
    let used = e.sb.requests().iter().filter(|r| is_list(r)).count();
    assert!(
        used >= 6,
        "the first run used the whole listing bucket ({used} calls)"
    );
    // A new process: a new client, no memory but what the vault keeps.
    let fresh = Client::new(creds_for(&e.sb, 1.0), Arc::new(ManualTime(e.clock.clone()))).unwrap();
    *e.client.borrow_mut() = fresh;
    e.fetch().unwrap();
    let throttled =
        e.sb.requests()
            .iter()
            .filter(|r| r.error_code.as_deref() == Some("RequestThrottled"))
            .count();
    assert_eq!(
        throttled, 0,
        "the second run waited for the bucket instead of being throttled"
    );
}

/// An order whose items Amazon refuses (a 4xx for that order) must not block the others:
/// everything else is fetched, the run ends with exit 1 naming the order, and the order is
/// asked for again on the next run.
#[test]
fn one_order_amazon_refuses_does_not_block_the_others() {
    let e = env(150, 21, "");
    // An order the marketplace does not know (as if it had been removed), waiting for items.
    let mut ghost = e.sb.orders()[0].order.duplicate();
    ghost.info.amazon_order_id = "999-0000000-0000000".into();
    ghost.info.purchase_date = "2000-01-01T00:00:00Z".into(); // first in the items queue
    let mut sealer = e
        .vault
        .unlock("olga", &pass(OWNER_PASS), e.now())
        .unwrap()
        .sealer(e.now())
        .unwrap();
    e.vault
        .write(|tx| fulfill::vault::ingest::upsert_order(tx, &mut sealer, &ghost, e.now()))
        .unwrap();
    let FetchFailure { report, error: err } = *e.fetch().unwrap_err();
    assert_eq!(err.exit(), Exit::Failed, "{err}");
    assert!(err.to_string().contains("999-0000000-0000000"), "{err}");
    assert_eq!(report.items_failed, 1);
    assert_eq!(
        e.count("SELECT items_fetched FROM orders WHERE amazon_order_id = '999-0000000-0000000'"),
        0
    );
    // The watermark moved: the listing itself completed.
    assert!(e.watermark().is_some());
    // The next run asks again (and fails the same way).
    let err = e.fetch().unwrap_err().error;
    assert!(err.to_string().contains("999-0000000-0000000"));
    // Every real order arrived complete, items and all.
    e.vault
        .sqlite()
        .execute(
            "DELETE FROM orders WHERE amazon_order_id = '999-0000000-0000000'",
            [],
        )
        .unwrap();
    let c = check_against_truth(&e.vault, &e.sb, None, e.now());
    assert_eq!(c.exact, c.expected, "{c:?}");
    assert!(c.expected > 90);
    assert_eq!(c.with_items as i64, e.count("SELECT count(*) FROM orders"));
}

/// Gift messages are PII too: sealed per item, bound to order and item, opened only with the
/// PII key (for the packing slip), and the opening is recorded.
#[test]
fn gift_messages_are_sealed_per_item_and_open_for_the_packing_slip() {
    let e = env(200, 31, "");
    e.fetch().unwrap();
    let truth = e.sb.orders();
    let (order, item, text) = truth
        .iter()
        .filter(|o| o.order.info.fulfillment_channel.as_deref() == Some("MFN"))
        .flat_map(|o| {
            o.items.iter().filter_map(move |i| {
                i.gift_message_text.as_ref().map(|g| {
                    (
                        o.order.info.amazon_order_id.clone(),
                        i.info.order_item_id.clone(),
                        g.expose_pii().to_string(),
                    )
                })
            })
        })
        .find(|(id, _, _)| e.ids().contains(id))
        .expect("the sandbox made a gift order");
    assert!(text.contains(&e.sb.pii_marker()));
    let owner = e.vault.unlock("olga", &pass(OWNER_PASS), e.now()).unwrap();
    let opened = owner
        .open_gift_messages(&order, Purpose::PackingSlip, e.now())
        .unwrap();
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].0, item);
    assert_eq!(opened[0].1.expose_pii(), text);
    // Moved to another item, the sealed message no longer opens.
    e.vault
        .sqlite()
        .execute("UPDATE order_items SET order_item_id = order_item_id || 'X' WHERE amazon_order_id = ?1 AND gift_message IS NOT NULL", [&order])
        .unwrap();
    let err = owner
        .open_gift_messages(&order, Purpose::PackingSlip, e.now())
        .unwrap_err();
    assert!(err.to_string().contains(&order), "{err}");
    // A role without the PII key has nothing to open it with.
    let s = owner;
    s.add_operator(
        "pia",
        fulfill::role::Role::Picker,
        fulfill::vault::NewCredential::Passphrase(fulfill::vault::key::Passphrase::new(
            "picker passphrase long".into(),
        )),
        e.now(),
    )
    .unwrap();
    let picker = e
        .vault
        .unlock("pia", &pass("picker passphrase long"), e.now())
        .unwrap();
    assert_eq!(
        picker
            .open_gift_messages(&order, Purpose::PackingSlip, e.now())
            .unwrap_err()
            .exit(),
        Exit::Denied
    );
    assert!(count(support_log(&e).as_bytes(), br#""fields":"gift_message""#) >= 1);
}

fn support_log(e: &Env) -> String {
    let mut s = String::new();
    for (_, p) in e.vault.audit_log().day_files().unwrap() {
        s.push_str(&std::fs::read_to_string(p).unwrap());
    }
    s
}
