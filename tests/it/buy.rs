//! `fulfill buy` through the binary against the sandbox's Merchant Fulfillment: quote, buy,
//! print, the order confirmed without a feed; a purchase whose reply was lost is found, not
//! bought twice; a bought label can be fetched again.

use crate::fetch_support;
use crate::support;

use std::io::Read;

use fetch_support::CliEnv;
use fulfill::sandbox::FaultSpec;
use support::{Run, count, scan_dir};

struct Env {
    e: CliEnv,
    pat: std::path::PathBuf,
}

impl Env {
    fn new(seed: u64, scale: f64) -> Env {
        let e = CliEnv::new(40, seed, scale, "");
        assert_eq!(e.fetch().code, 0);
        for (k, v) in support::SHIP_FROM {
            e.owner(&["config", "set", &format!("ship_from.{k}"), v]);
        }
        let (r, pat) = e.dir.add_operator("olga", &e.pass, "pat", "packer");
        assert_eq!(r.code, 0, "{}", r.stderr);
        Env { e, pat }
    }

    fn buy(&self, global: &[&str], args: &[&str]) -> Run {
        let mut a = global.to_vec();
        a.extend_from_slice(&[
            "--operator",
            "pat",
            "--passphrase-file",
            self.pat.to_str().unwrap(),
            "buy",
        ]);
        a.extend_from_slice(args);
        self.e.run(&a)
    }

    /// Unshipped orders Amazon has shipped nothing of, with items.
    fn orders(&self, n: usize) -> Vec<String> {
        self.e.order_ids(
            "lifecycle = 'unshipped' AND status = 'Unshipped' AND items_fetched = 1 AND pii_state = 'sealed'",
            n,
        )
    }

    fn lifecycle(&self, id: &str) -> (String, Option<String>) {
        self.e
            .db()
            .query_row(
                "SELECT o.lifecycle, s.amazon_shipment_id FROM orders o LEFT JOIN shipments s USING (amazon_order_id)
                 WHERE amazon_order_id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    }
}

const PARCEL: [&str; 4] = ["--package", "10x8x4in", "--weight", "12oz"];

#[test]
fn quote_buy_print_and_the_order_is_confirmed_without_a_feed() {
    let t = Env::new(61, 3000.0);
    let id = t.orders(1).remove(0);

    let mut args = vec![id.as_str()];
    args.extend_from_slice(&PARCEL);
    let r = t.buy(&[], &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("UPS_PTP_GND") && r.stdout.contains("USPS_PTP_PRI"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("not offered: FEDEX_PTP_HOME_DELIVERY"),
        "{}",
        r.stdout
    );
    assert!(t.e.sb.labels_bought().is_empty(), "a quote buys nothing");

    args.extend_from_slice(&["--service", "UPS_PTP_GND", "--json"]);
    let r = t.buy(&[], &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let tracking = v["tracking"].as_str().unwrap().to_string();
    assert!(tracking.starts_with("1Z"), "{v}");
    assert_eq!(v["recovered"], false);
    let bought = t.e.sb.labels_bought();
    assert_eq!(bought.len(), 1);
    assert_eq!(
        (bought[0].1.as_str(), bought[0].2.as_str()),
        (id.as_str(), tracking.as_str())
    );
    assert_eq!(v["shipment_id"], bought[0].0.as_str());

    // The label Amazon made: decoded, checked, in spool/ as ZPL with the tracking barcode and
    // the address (the only place the address is).
    let path = v["printed"][0]["target"].as_str().unwrap();
    assert!(
        path.contains("/spool/") && path.ends_with(".zpl") && !path.contains(&id),
        "{path}"
    );
    let mut zpl = String::new();
    std::fs::File::open(path)
        .unwrap()
        .read_to_string(&mut zpl)
        .unwrap();
    assert!(zpl.contains(&tracking), "{zpl}");
    let marker = t.e.sb.pii_marker();
    assert!(count(zpl.as_bytes(), marker.as_bytes()) > 0);
    assert_eq!(
        scan_dir(&t.e.dir.home().join("logs"), marker.as_bytes()),
        vec![]
    );
    assert_eq!(count(&t.e.output.borrow(), marker.as_bytes()), 0);

    // Confirmed by the purchase: Amazon shows it shipped, and confirm has nothing to send.
    assert_eq!(
        t.lifecycle(&id),
        ("confirmed".to_string(), Some(bought[0].0.clone()))
    );
    let truth = t.e.sb.orders();
    let o = truth
        .iter()
        .find(|o| o.order.info.amazon_order_id == id)
        .unwrap();
    assert_eq!(o.order.info.order_status, "Shipped");
    let before = t.e.sb.request_count();
    let r = t.e.run(&[
        "--operator",
        "cron",
        "--operator-key-file",
        t.e.key.to_str().unwrap(),
        "confirm",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(t.e.sb.request_count(), before, "no feed for a bought label");

    // Buying again fetches the same label (a reprint), never a second purchase.
    let r = t.buy(&[], &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["reprint"], true);
    assert_eq!(v["tracking"], tracking.as_str());
    assert_eq!(t.e.sb.labels_bought().len(), 1);

    let log = t.e.dir.audit_text();
    assert_eq!(log.matches("\"event\":\"label.bought\"").count(), 1);
    assert_eq!(log.matches("\"event\":\"label.printed\"").count(), 2);
    assert!(log.contains("\"action\":\"CreateShipment\""));

    // A mis-bought label is cancelled (refund asked): its file is destroyed, the order is
    // unshipped again, and a new label can be bought.
    let r = t.buy(&[], &[&id, "--cancel", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let c: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(c["status"], "RefundPending");
    assert_eq!(c["label_files_removed"], 1);
    assert_eq!(
        c["label_files_kept"],
        serde_json::json!([]),
        "no batch held it"
    );
    assert!(!std::path::Path::new(path).exists());
    assert_eq!(t.lifecycle(&id).0, "unshipped");
    assert_eq!(t.e.sb.labels_bought()[0].3, "RefundPending");
    let mut again = vec![id.as_str()];
    again.extend_from_slice(&PARCEL);
    again.extend_from_slice(&["--service", "USPS_PTP_PRI", "--json"]);
    let r = t.buy(&[], &again);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        (v["reprint"].clone(), v["recovered"].clone()),
        (false.into(), false.into())
    );
    assert_eq!(t.e.sb.labels_bought().len(), 2);
    assert_eq!(t.lifecycle(&id).0, "confirmed");
    assert_eq!(t.buy(&[], &["000-0000000-0000000", "--cancel"]).code, 2);
    assert!(
        t.e.dir
            .audit_text()
            .contains("\"event\":\"label.cancelled\"")
    );
}

/// `buy --cancel` destroys the bought label's own file and nothing else: a ZPL wave and a slip
/// batch that hold the order and others are kept, named, and the order is marked cancelled in
/// them, so a reprint of the wave leaves it out with one line.
#[test]
fn a_cancel_keeps_the_wave_and_the_slip_batch_and_the_order_is_not_printed_from_them_again() {
    let t = Env::new(63, 3000.0);
    let as_pat = |args: &[&str]| t.e.run_as("pat", &t.pat, args);
    let wave = t.e.dir.path().join("wave.zpl");
    let slips = t.e.dir.path().join("slips.pdf");
    // The slip batch: the orders whose slips the PDF font can show (the others get a line).
    let candidates: Vec<String> = {
        let db = t.e.db();
        let mut st = db
            .prepare(
                "SELECT amazon_order_id FROM orders WHERE lifecycle = 'unshipped'
                   AND status = 'Unshipped' AND items_fetched = 1 AND pii_state = 'sealed'
                 ORDER BY amazon_order_id",
            )
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let mut a = vec!["slip", "--json", "--out", slips.to_str().unwrap()];
    a.extend(candidates.iter().map(String::as_str));
    let r = as_pat(&a);
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    let printed: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let ids: Vec<String> = printed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["order_id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.len() >= 3, "{ids:?} of {candidates:?}");
    let id = ids[0].clone();
    if ids.len() < candidates.len() {
        // Printed again with only those, so the batch holds exactly `ids`.
        let mut a = vec!["slip", "--out", slips.to_str().unwrap()];
        a.extend(ids.iter().map(String::as_str));
        let r = as_pat(&a);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let mut a = vec!["label", "--out", wave.to_str().unwrap()];
    a.extend(ids.iter().map(String::as_str));
    let r = as_pat(&a);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let wave_before = std::fs::read(&wave).unwrap();
    let slips_before = std::fs::read(&slips).unwrap();
    assert!(String::from_utf8_lossy(&wave_before).contains(&id));

    let mut args = vec![id.as_str()];
    args.extend_from_slice(&PARCEL);
    args.extend_from_slice(&["--service", "UPS_PTP_GND", "--json"]);
    let r = t.buy(&[], &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let label = std::path::PathBuf::from(v["printed"][0]["target"].as_str().unwrap());
    assert!(label.exists());

    let r = t.buy(&[], &[&id, "--cancel"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!label.exists(), "the void label's own file is destroyed");
    // One line naming what was kept and why.
    assert_eq!(r.stdout.trim().lines().count(), 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("1 label file(s) destroyed"),
        "{}",
        r.stdout
    );
    let canon = |p: &std::path::Path| std::fs::canonicalize(p).unwrap();
    let others = ids.len() - 1;
    for f in [&wave, &slips] {
        let named = format!("{} ({others} other order(s))", canon(f).display());
        assert!(r.stdout.contains(&named), "{named}: {}", r.stdout);
    }
    assert!(
        r.stdout.contains(&format!(
            "{id} is marked cancelled there and will not be printed from it again"
        )),
        "{}",
        r.stdout
    );
    assert_eq!(
        std::fs::read(&wave).unwrap(),
        wave_before,
        "the wave is kept whole"
    );
    assert_eq!(std::fs::read(&slips).unwrap(), slips_before);
    // Still tracked for the order (it holds its address: purge destroys it with it), marked.
    let marked: i64 =
        t.e.db()
            .query_row(
                "SELECT count(*) FROM label_files WHERE amazon_order_id = ?1
             AND cancelled_at IS NOT NULL",
                [&id],
                |r| r.get(0),
            )
            .unwrap();
    assert_eq!(marked, 2);
    assert_eq!(t.lifecycle(&id).0, "unshipped");
    let log = t.e.dir.audit_text();
    let rec = log
        .lines()
        .find(|l| l.contains("\"event\":\"label.cancelled\""))
        .unwrap();
    assert!(rec.contains("\"files_kept\":2"), "{rec}");

    // Reprinting the wave leaves the cancelled order out, with one line; the others print.
    let mut a = vec!["label", "--out", wave.to_str().unwrap()];
    a.extend(ids.iter().map(String::as_str));
    let r = as_pat(&a);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&id) && r.stderr.contains("not printed into that batch again"),
        "{}",
        r.stderr
    );
    let again = String::from_utf8_lossy(&std::fs::read(&wave).unwrap()).into_owned();
    assert!(
        !again.contains(&id),
        "the cancelled order is not in the reprint"
    );
    for other in &ids[1..] {
        assert!(again.contains(other.as_str()), "{other} reprinted");
    }
    // So does the slip batch; printed on its own, the order prints.
    let mut a = vec!["slip", "--out", slips.to_str().unwrap()];
    a.extend(ids.iter().map(String::as_str));
    let r = as_pat(&a);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(&id), "{}", r.stderr);
    let alone = t.e.dir.path().join("alone.zpl");
    let r = as_pat(&["label", &id, "--out", alone.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // Purging the order destroys the file that holds its address; the reprinted batches no
    // longer do, and are left.
    let r = as_pat(&[
        "ship",
        &id,
        "--carrier",
        "UPS",
        "--tracking",
        &support::ups(63),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r =
        t.e.run(&["--operator", "cron", "purge", "--order", &id, "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!alone.exists());
    assert!(wave.exists() && slips.exists());
}

#[test]
fn a_purchase_whose_reply_was_lost_is_found_not_bought_twice() {
    let t = Env::new(62, 300.0);
    let id = t.orders(1).remove(0);
    // Quote is the next request, CreateShipment the one after: its reply is lost (`reset`:
    // the sandbox sells the label, then closes the connection).
    let next = t.e.sb.request_count() + 2;
    t.e.sb
        .set_faults(FaultSpec::parse(&format!("reset@{next}")).unwrap(), 1);
    let now =
        t.e.sb
            .now()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut args = vec![id.as_str()];
    args.extend_from_slice(&PARCEL);
    args.extend_from_slice(&["--service", "USPS_PTP_PRI", "--json"]);
    let r = t.buy(&["--now", &now], &args);
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("never bought twice"), "{}", r.stderr);
    assert_eq!(t.e.sb.labels_bought().len(), 1, "the sandbox did sell it");
    assert_eq!(t.lifecycle(&id).0, "unshipped");

    let r = t.buy(&[], &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["recovered"], true, "{v}");
    assert_eq!(t.e.sb.labels_bought().len(), 1, "not bought twice");
    assert_eq!(v["shipment_id"], t.e.sb.labels_bought()[0].0.as_str());
    assert_eq!(t.lifecycle(&id).0, "confirmed");
}

#[test]
fn bad_parcels_missing_ship_from_and_roles_are_refused() {
    let t = Env::new(63, 3000.0);
    let id = t.orders(1).remove(0);
    assert_eq!(
        t.buy(&[], &[&id, "--package", "10x8in", "--weight", "12oz"])
            .code,
        2
    );
    assert_eq!(
        t.buy(&[], &[&id, "--package", "10x8x4in", "--weight", "12"])
            .code,
        2
    );
    let r = t.buy(
        &[],
        &[
            &id,
            "--package",
            "10x8x4in",
            "--weight",
            "12oz",
            "--service",
            "DHL_NOPE",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("not offered"), "{}", r.stderr);
    let (r, pia) = t.e.dir.add_operator("olga", &t.e.pass, "pia", "picker");
    assert_eq!(r.code, 0);
    let r = t.e.run(&[
        "--operator",
        "pia",
        "--passphrase-file",
        pia.to_str().unwrap(),
        "buy",
        &id,
        "--package",
        "10x8x4in",
        "--weight",
        "12oz",
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(t.e.sb.labels_bought().is_empty());
}

#[test]
fn a_purged_order_gets_no_label_again_neither_bought_nor_reprinted() {
    let t = Env::new(64, 3000.0);
    let ids = t.orders(2);
    // One with a label bought (a reprint would download it again), one without.
    let mut args = vec![ids[0].as_str()];
    args.extend_from_slice(&PARCEL);
    args.extend_from_slice(&["--service", "UPS_PTP_GND", "--json"]);
    let r = t.buy(&[], &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let later = (t.e.sb.now() + chrono::Duration::days(90))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let r =
        t.e.run(&["--now", &later, "--operator", "cron", "purge", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let purged: i64 = t
        .e
        .db()
        .query_row(
            "SELECT count(*) FROM orders WHERE purged_at IS NOT NULL AND amazon_order_id IN (?1, ?2)",
            [&ids[0], &ids[1]],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(purged, 2);
    let before = t.e.sb.request_count();
    let spool_before = std::fs::read_dir(t.e.dir.home().join("spool"))
        .unwrap()
        .count();
    for id in &ids {
        let mut args = vec![id.as_str()];
        args.extend_from_slice(&PARCEL);
        args.extend_from_slice(&["--service", "UPS_PTP_GND"]);
        let r = t.buy(&[], &args);
        assert_eq!(r.code, 2, "{id}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("was purged"), "{}", r.stderr);
    }
    assert_eq!(t.e.sb.request_count(), before, "nothing asked of Amazon");
    assert_eq!(
        std::fs::read_dir(t.e.dir.home().join("spool"))
            .unwrap()
            .count(),
        spool_before,
        "no label file written"
    );
    assert_eq!(t.e.sb.labels_bought().len(), 1);
}
