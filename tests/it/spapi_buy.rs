//! `fulfill buy` on SP-API (Shipping API v2) through the binary, against the in-process SP-API
//! sandbox: quote, buy, print, reprint, cancel; the order confirmed by the purchase; no ship-to
//! sent; a purchase whose reply was lost is resent with its idempotency key and never bought
//! twice, in the same run or the next; a resend refused because the quote expired buys from a
//! fresh quote.

use crate::sp_env::SpEnv;
use crate::support;

use std::path::PathBuf;

use fulfill::sandbox::FaultSpec;
use support::{Run, count, scan_dir};

struct Env {
    e: SpEnv,
    pat: PathBuf,
}

/// Sandbox time runs 100 times real time here: a quote lives 10 sandbox minutes (6 s real),
/// far longer than one command takes.
const SCALE: f64 = 100.0;

impl Env {
    fn new(seed: u64) -> Env {
        let e = SpEnv::at_scale(40, seed, "", SCALE);
        let r = e.fetch();
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        for (k, v) in support::SHIP_FROM {
            e.owner(&["config", "set", &format!("ship_from.{k}"), v]);
        }
        let (r, pat) = e.dir.add_operator("olga", &e.pass, "pat", "packer");
        assert_eq!(r.code, 0, "{}", r.stderr);
        Env { e, pat }
    }

    fn buy(&self, args: &[&str]) -> Run {
        let mut a = vec![
            "--operator",
            "pat",
            "--passphrase-file",
            self.pat.to_str().unwrap(),
            "buy",
        ];
        a.extend_from_slice(args);
        self.e.run(&a)
    }

    /// `buy ORDER` with the parcel, plus `extra`.
    fn buy_parcel(&self, id: &str, extra: &[&str]) -> Run {
        let mut a = vec![id, "--package", "10x8x4in", "--weight", "12oz"];
        a.extend_from_slice(extra);
        self.buy(&a)
    }

    /// Unshipped orders Amazon has shipped nothing of, with items and sealed PII.
    fn orders(&self, n: usize) -> Vec<String> {
        let db = self.e.db();
        let ids: Vec<String> = db
            .prepare(
                "SELECT amazon_order_id FROM orders WHERE lifecycle = 'unshipped' AND status = 'Unshipped'
                 AND items_fetched = 1 AND pii_state = 'sealed' ORDER BY amazon_order_id LIMIT ?1",
            )
            .unwrap()
            .query_map([n as i64], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(ids.len(), n, "enough unshipped orders");
        ids
    }

    fn lifecycle(&self, id: &str) -> String {
        self.e
            .db()
            .query_row(
                "SELECT lifecycle FROM orders WHERE amazon_order_id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap()
    }

    /// Requests the sandbox served for `operation`.
    fn served(&self, operation: &str) -> usize {
        self.e
            .sb
            .requests()
            .iter()
            .filter(|r| r.action.as_deref() == Some(operation))
            .count()
    }

    /// Faults for the requests of the next command from its `first`-th request on (its LWA
    /// token is the 1st, `getRates` the 2nd, the purchase the 3rd), `n` of them.
    fn fault_from(&self, kind: &str, first: usize, n: usize) {
        let k = self.e.sb.request_count() + first;
        let spec = format!("{kind}@{k}-{}", k + n - 1);
        self.e.sb.set_faults(FaultSpec::parse(&spec).unwrap(), 1);
    }

    fn no_faults(&self) {
        self.e.sb.set_faults(FaultSpec::none(), 1);
    }
}

fn json(r: &Run) -> serde_json::Value {
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

#[test]
fn quote_buy_reprint_and_cancel_on_sp_api_with_no_ship_to_sent() {
    let t = Env::new(71);
    let id = t.orders(1).remove(0);

    let r = t.buy_parcel(&id, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("UPS_PTP_GND") && r.stdout.contains("USPS_PTP_PRI"),
        "{}",
        r.stdout
    );
    assert!(t.e.sb.labels().is_empty(), "a quote buys nothing");
    assert_eq!(t.served("getRates"), 1);

    let v = json(&t.buy_parcel(&id, &["--service", "UPS_PTP_GND", "--json"]));
    let labels = t.e.sb.labels();
    assert_eq!(labels.len(), 1, "bought once");
    let l = &labels[0];
    assert_eq!(v["shipment_id"], l.shipment_id.as_str());
    assert_eq!(v["tracking"], l.tracking.as_str());
    assert_eq!(l.order_id, id);
    assert_eq!(v["service_id"], "UPS_PTP_GND");
    assert_eq!(v["recovered"], false);
    assert!(l.idempotency_key.as_deref().is_some_and(|k| k.len() >= 32));
    // Amazon confirmed it with the purchase: the vault says so, and nothing else is sent.
    assert_eq!(t.lifecycle(&id), "confirmed");
    assert_eq!(t.e.sb.confirmations().len(), 1);
    // No ship-to ever left: Amazon fills it in for an Amazon order.
    assert_eq!(t.e.sb.ship_to_received(), 0);

    // The label Amazon made, checked, in spool/ as ZPL with the tracking and the address.
    let path = v["printed"][0]["target"].as_str().unwrap();
    assert!(
        path.contains("/spool/") && path.ends_with(".zpl") && !path.contains(&id),
        "{path}"
    );
    let zpl = std::fs::read(path).unwrap();
    assert!(count(&zpl, l.tracking.as_bytes()) > 0);
    let marker = t.e.sb.pii_marker();
    assert!(count(&zpl, marker.as_bytes()) > 0, "positive control");

    // A second run reprints (getShipmentDocuments), it does not buy.
    let again = json(&t.buy_parcel(&id, &["--service", "UPS_PTP_GND", "--json"]));
    assert_eq!(again["reprint"], true);
    assert_eq!(again["tracking"], l.tracking.as_str());
    assert_eq!(again["carrier"], v["carrier"]);
    assert_eq!(again["service_id"], "UPS_PTP_GND");
    assert_eq!(t.e.sb.labels().len(), 1);
    assert_eq!(t.served("getShipmentDocuments"), 1);

    // Cancel: refunded at Amazon, the label files gone, the order unshipped again.
    let c = json(&t.buy(&[&id, "--cancel", "--json"]));
    assert_eq!(c["status"], "Cancelled");
    assert_eq!(c["label_files_removed"], 1, "the order's label file");
    assert!(t.e.sb.labels()[0].cancelled);
    assert_eq!(t.lifecycle(&id), "unshipped");
    // And a new label can be bought.
    let v = json(&t.buy_parcel(&id, &["--service", "USPS_PTP_PRI", "--json"]));
    assert_eq!(
        (v["reprint"].clone(), v["recovered"].clone()),
        (false.into(), false.into())
    );
    assert_eq!(t.e.sb.labels().len(), 2);
    assert_eq!(t.lifecycle(&id), "confirmed");

    // Every call is in the audit log, without PII or a token.
    let logs = t.e.dir.home().join("logs");
    let mut log = Vec::new();
    for f in std::fs::read_dir(&logs).unwrap() {
        log.extend(std::fs::read(f.unwrap().path()).unwrap());
    }
    for op in [
        "getRates",
        "purchaseShipment",
        "getShipmentDocuments",
        "cancelShipment",
    ] {
        assert!(
            count(&log, format!("\"action\":\"{op}\"").as_bytes()) > 0,
            "{op} recorded"
        );
    }
    for s in t.e.secrets().iter().chain([&marker]) {
        assert_eq!(scan_dir(&logs, s.as_bytes()), vec![], "{s:?} in the log");
    }
    let out = t.e.output.borrow().clone();
    assert_eq!(count(&out, marker.as_bytes()), 0, "no PII in any output");
}

#[test]
fn a_purchase_reply_lost_mid_run_is_resent_with_the_same_key_and_bought_once() {
    let t = Env::new(72);
    let id = t.orders(1).remove(0);
    // The purchase is sold, then its reply lost; the client sends it again, same key.
    t.fault_from("reset", 3, 1);
    let v = json(&t.buy_parcel(&id, &["--service", "USPS_PTP_PRI", "--json"]));
    assert_eq!(t.served("purchaseShipment"), 2, "sent twice");
    let labels = t.e.sb.labels();
    assert_eq!(labels.len(), 1, "bought once");
    assert_eq!(v["shipment_id"], labels[0].shipment_id.as_str());
    assert_eq!(t.lifecycle(&id), "confirmed");
}

#[test]
fn a_purchase_whose_reply_never_came_is_found_by_the_next_run_not_bought_twice() {
    let t = Env::new(73);
    let id = t.orders(1).remove(0);
    // Every attempt of the purchase loses its reply: the run gives up not knowing.
    t.fault_from("reset", 3, 20);
    let r = t.buy_parcel(&id, &["--service", "USPS_PTP_PRI", "--json"]);
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("never bought twice"), "{}", r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert_eq!(t.e.sb.labels().len(), 1, "the sandbox did sell it");
    assert_eq!(t.lifecycle(&id), "unshipped");
    t.no_faults();

    let quotes = t.served("getRates");
    let v = json(&t.buy_parcel(&id, &["--service", "USPS_PTP_PRI", "--json"]));
    assert_eq!(v["recovered"], true, "{v}");
    assert_eq!(t.e.sb.labels().len(), 1, "not bought twice");
    assert_eq!(v["shipment_id"], t.e.sb.labels()[0].shipment_id.as_str());
    assert_eq!(
        t.served("getRates"),
        quotes,
        "resent first, not quoted again"
    );
    assert_eq!(t.lifecycle(&id), "confirmed");
    let path = v["printed"][0]["target"].as_str().unwrap();
    assert!(std::fs::read(path).unwrap().starts_with(b"^XA"));
}

#[test]
fn a_resend_refused_because_the_quote_expired_buys_from_a_fresh_quote() {
    let t = Env::new(74);
    let id = t.orders(1).remove(0);
    // Every attempt of the purchase fails before Amazon acts on it (500s).
    t.fault_from("internal", 3, 20);
    let r = t.buy_parcel(&id, &["--service", "UPS_PTP_GND"]);
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    assert!(t.e.sb.labels().is_empty());
    t.no_faults();
    // The packer comes back after lunch: the quote the note is pinned to has expired.
    t.e.clock.advance(chrono::Duration::minutes(45));
    let quotes = t.served("getRates");
    let v = json(&t.buy_parcel(&id, &["--service", "UPS_PTP_GND", "--json"]));
    assert_eq!(t.served("getRates"), quotes + 1, "quoted again");
    assert_eq!(v["recovered"], false);
    assert_eq!(t.e.sb.labels().len(), 1);
    assert_eq!(t.lifecycle(&id), "confirmed");
}

#[test]
fn what_shipping_v2_cannot_take_is_refused_before_anything_is_sent() {
    let t = Env::new(75);
    let id = t.orders(1).remove(0);
    let before = t.e.sb.request_count();
    let r = t.buy(&[
        &id,
        "--package",
        "USPS_SmallFlatRateBox",
        "--weight",
        "12oz",
    ]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("box's size"), "{}", r.stderr);
    assert_eq!(t.e.sb.request_count(), before, "nothing was sent");
    let r = t.buy_parcel(&id, &["--service", "DHL_NOPE"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("not offered"), "{}", r.stderr);
    assert!(t.e.sb.labels().is_empty());
}

#[test]
fn a_throttled_purchase_waits_for_its_bucket_and_is_bought_once() {
    let t = Env::new(76);
    let id = t.orders(1).remove(0);
    // Three 429s in a row on the purchase: the same request (same key) once the bucket refills.
    t.fault_from("throttle", 3, 3);
    let v = json(&t.buy_parcel(&id, &["--service", "UPS_PTP_GND", "--json"]));
    assert_eq!(t.served("purchaseShipment"), 4);
    let labels = t.e.sb.labels();
    assert_eq!(labels.len(), 1, "bought once");
    assert_eq!(v["shipment_id"], labels[0].shipment_id.as_str());
    let log = std::fs::read_dir(t.e.dir.home().join("logs"))
        .unwrap()
        .map(|f| std::fs::read(f.unwrap().path()).unwrap())
        .collect::<Vec<_>>()
        .concat();
    assert_eq!(count(&log, b"\"throttled\":true"), 3, "each 429 recorded");
}

/// Findings of `audit` as the owner (exit 1 with findings), as text.
fn audit_findings(t: &Env) -> (i32, String) {
    let r = t.e.run(&[
        "--operator",
        "olga",
        "--passphrase-file",
        t.e.pass.to_str().unwrap(),
        "audit",
        "--json",
    ]);
    let v: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", r.stdout, r.stderr));
    let r20 = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "R20")
        .unwrap()
        .clone();
    (r.code, r20.to_string())
}

#[test]
fn a_refused_resend_of_a_purchase_that_went_through_keeps_it_noted_and_found() {
    let t = Env::new(77);
    let id = t.orders(1).remove(0);
    // The purchase is sold, but every reply is lost: the run does not know.
    t.fault_from("reset", 3, 20);
    let r = t.buy_parcel(&id, &["--service", "USPS_PTP_PRI"]);
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    assert_eq!(t.e.sb.labels().len(), 1, "the sandbox did sell it");
    let key = t.e.sb.labels()[0].idempotency_key.clone().unwrap();
    // Positive control: audit has nothing to say about it yet.
    let (_, r20) = audit_findings(&t);
    assert!(!r20.contains("may have been bought"), "{r20}");

    // The next run's resend is refused (a 4xx: Amazon judged it afresh); the order is shipped
    // at Amazon, so the fresh quote is refused too.
    t.fault_from("refuse", 2, 1);
    let sent = t.served("purchaseShipment");
    let r = t.buy_parcel(&id, &["--service", "USPS_PTP_PRI"]);
    assert_eq!(r.code, 6, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("Seller Central"), "{}", r.stderr);
    assert!(
        r.stderr.contains(&key),
        "the idempotency key is named: {}",
        r.stderr
    );
    assert_eq!(t.e.sb.labels().len(), 1, "nothing bought twice");
    assert_eq!(
        t.served("purchaseShipment"),
        sent + 1,
        "the resend, and no new purchase"
    );
    t.no_faults();
    // The note is kept, and `audit` names the order until it is resolved.
    let db = t.e.db();
    let noted: Option<String> = db
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [format!("buy_intent/{id}")],
            |r| r.get(0),
        )
        .unwrap();
    assert!(noted.is_some_and(|n| n.contains(&key)), "still noted");
    let (code, r20) = audit_findings(&t);
    assert_eq!(code, 1, "{r20}");
    assert!(
        r20.contains(&id) && r20.contains("may have been bought"),
        "{r20}"
    );
    let log = std::fs::read_dir(t.e.dir.home().join("logs"))
        .unwrap()
        .map(|f| std::fs::read(f.unwrap().path()).unwrap())
        .collect::<Vec<_>>()
        .concat();
    assert_eq!(count(&log, b"\"event\":\"label.unresolved\""), 1);

    // Amazon answers the resend again: the first purchase is handed back, recorded and
    // printed; the finding is gone; still one label.
    let v = json(&t.buy_parcel(&id, &["--service", "USPS_PTP_PRI", "--json"]));
    assert_eq!(v["recovered"], true, "{v}");
    assert_eq!(v["shipment_id"], t.e.sb.labels()[0].shipment_id.as_str());
    assert_eq!(t.e.sb.labels().len(), 1, "not bought twice");
    assert_eq!(t.lifecycle(&id), "confirmed");
    let (_, r20) = audit_findings(&t);
    assert!(!r20.contains("may have been bought"), "{r20}");
}

#[test]
fn a_refused_resend_of_a_purchase_that_never_went_through_buys_from_a_fresh_quote() {
    let t = Env::new(78);
    let id = t.orders(1).remove(0);
    // Every attempt fails before Amazon acts on it: nothing is sold, but the run cannot know.
    t.fault_from("internal", 3, 20);
    let r = t.buy_parcel(&id, &["--service", "UPS_PTP_GND"]);
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    assert!(t.e.sb.labels().is_empty());
    // The resend is refused; the order still quotes, so nothing was bought: bought now, once.
    t.fault_from("refuse", 2, 1);
    let quotes = t.served("getRates");
    let v = json(&t.buy_parcel(&id, &["--service", "UPS_PTP_GND", "--json"]));
    t.no_faults();
    assert_eq!(
        t.served("getRates"),
        quotes + 1,
        "one fresh quote, bought from"
    );
    assert_eq!(v["recovered"], false);
    assert_eq!(t.e.sb.labels().len(), 1);
    assert_eq!(t.lifecycle(&id), "confirmed");
}
