//! `fulfill slip` through the binary: packing slips (items, quantities, gift messages, the
//! ship-to block) as one PDF per print job, opened with purpose `slip` in one record,
//! tracked like labels and destroyed by `purge`; bad orders get one line each.

use crate::fetch_support;
use crate::support;

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use fetch_support::CliEnv;
use support::{Run, count, scan_dir};

struct Env {
    e: CliEnv,
    pat: PathBuf,
}

impl Env {
    fn new(seed: u64) -> Env {
        Env::with(40, seed)
    }

    fn with(orders: usize, seed: u64) -> Env {
        let e = CliEnv::new(orders, seed, 3000.0, "");
        assert_eq!(e.fetch().code, 0);
        let (r, pat) = e.dir.add_operator("olga", &e.pass, "pat", "packer");
        assert_eq!(r.code, 0, "{}", r.stderr);
        Env { e, pat }
    }

    fn as_pat(&self, args: &[&str]) -> Run {
        self.e.run_as("pat", &self.pat, args)
    }

    /// Addressable unshipped orders whose PII is all Latin-1 (what the slip's font shows),
    /// with or without a gift message, by id.
    fn latin(&self, gift: bool, n: usize) -> Vec<String> {
        let latin: HashSet<String> = self
            .e
            .sb
            .orders()
            .iter()
            .filter(|o| {
                o.order
                    .pii
                    .fields()
                    .iter()
                    .all(|(_, v)| v.expose_pii().chars().all(|c| (c as u32) < 0x100))
            })
            .map(|o| o.order.info.amazon_order_id.clone())
            .collect();
        let db = self.e.db();
        let mut st = db
            .prepare(&format!(
                "SELECT amazon_order_id FROM orders o WHERE lifecycle = 'unshipped' AND \
                 pii_state = 'sealed' AND pii_missing = 0 AND items_fetched = 1 AND {} EXISTS \
                 (SELECT 1 FROM order_items i WHERE i.amazon_order_id = o.amazon_order_id \
                 AND i.gift_message IS NOT NULL) ORDER BY 1",
                if gift { "" } else { "NOT" }
            ))
            .unwrap();
        let ids: Vec<String> = st
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .filter(|id| latin.contains(id))
            .take(n)
            .collect();
        assert_eq!(ids.len(), n, "Latin orders, gift {gift}");
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

    fn skus(&self, id: &str) -> Vec<(String, i64)> {
        let db = self.e.db();
        let mut st = db
            .prepare(
                "SELECT COALESCE(seller_sku, asin), quantity_ordered FROM order_items
                 WHERE amazon_order_id = ?1 ORDER BY order_item_id",
            )
            .unwrap();
        st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }
}

fn records(log: &str, event: &str) -> Vec<serde_json::Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == event)
        .collect()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn target(r: &Run) -> PathBuf {
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let t = v[0]["target"].as_str().unwrap();
    assert!(
        v.as_array().unwrap().iter().all(|p| p["target"] == t),
        "one file: {v}"
    );
    PathBuf::from(t)
}

#[test]
fn slips_are_one_pdf_with_items_gifts_and_the_address_tracked_and_purged() {
    let t = Env::with(120, 61);
    let gifted = t.latin(true, 1).remove(0);
    let plain = t.latin(false, 1).remove(0);
    let marker = t.e.sb.pii_marker();

    let r = t.as_pat(&["slip", &gifted, &plain, "--size", "4x6", "--json"]);
    let spooled = target(&r);
    assert_eq!(spooled.parent().unwrap(), t.e.dir.home().join("spool"));
    let name = spooled.file_name().unwrap().to_str().unwrap();
    assert!(
        name.ends_with(".slip.pdf") && !name.contains(&gifted),
        "{name}"
    );
    assert_eq!(mode(&spooled), 0o600);
    let pdf = std::fs::read(&spooled).unwrap();
    assert!(pdf.starts_with(b"%PDF-") && pdf.ends_with(b"%%EOF"));
    assert!(count(&pdf, b"/MediaBox [0 0 288 432]") >= 2);

    // Each order's first page carries its id as a barcode that decodes; pages follow the
    // order the ids were given in.
    let barcodes: Vec<String> = support::pdf_streams(&pdf)
        .into_iter()
        .flat_map(support::pdf_barcodes)
        .map(Result::unwrap)
        .collect();
    assert_eq!(barcodes, vec![gifted.clone(), plain.clone()]);
    // Items and quantities, the gift message and the address (all values carry the marker).
    for (sku, qty) in t.skus(&gifted).into_iter().chain(t.skus(&plain)) {
        assert!(count(&pdf, format!("% {sku}").as_bytes()) > 0, "{sku}");
        assert!(count(&pdf, format!("% {qty}\n").as_bytes()) > 0, "{qty}");
    }
    assert!(count(&pdf, b"% Gift message:\n") == 1, "one gifted order");
    assert!(
        count(&pdf, marker.as_bytes()) >= 2,
        "address and gift message"
    );

    // One opening (purpose slip, addresses and gift messages) and one record for the
    // job; a slip leaves the order's lifecycle alone; no PII in any log or output.
    let log = t.e.dir.audit_text();
    let opened = records(&log, "pii.opened");
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0]["purpose"], "slip");
    assert_eq!(opened[0]["count"], 2);
    assert_eq!(opened[0]["fields"], "address,gift_message");
    assert_eq!(opened[0]["orders"], serde_json::json!([gifted, plain]));
    let printed = records(&log, "slip.printed");
    assert_eq!(printed.len(), 1);
    assert_eq!(printed[0]["count"], 2);
    assert!(records(&log, "label.printed").is_empty());
    assert_eq!(t.lifecycle(&gifted), "unshipped");
    assert_eq!(
        scan_dir(&t.e.dir.home().join("logs"), marker.as_bytes()),
        vec![]
    );
    assert_eq!(count(&t.e.output.borrow(), marker.as_bytes()), 0);

    // Letter and A4 to a named file.
    let out = t.e.dir.path().join("slip-a4.pdf");
    let r = t.as_pat(&[
        "slip",
        &gifted,
        "--size",
        "a4",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(target(&r), out.canonicalize().unwrap());
    assert_eq!(mode(&out), 0o600);
    let a4 = std::fs::read(&out).unwrap();
    assert_eq!(count(&a4, b"/MediaBox [0 0 595.28 841.89]"), 1);

    // Shipped and purged early: both slip files are destroyed with the order's PII.
    assert_eq!(
        t.as_pat(&[
            "ship",
            &gifted,
            "--carrier",
            "UPS",
            "--tracking",
            &support::ups(9)
        ])
        .code,
        0
    );
    let r =
        t.e.run(&["--operator", "cron", "purge", "--order", &gifted, "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["label_files_removed"], 2, "{v}");
    assert!(!spooled.exists() && !out.exists());
}

#[test]
fn a_reprint_replaces_its_own_slip_and_never_a_batch_file() {
    let t = Env::new(62);
    let ids = t.latin(false, 2);
    let one = target(&t.as_pat(&["slip", &ids[0], "--json"]));
    let again = target(&t.as_pat(&["slip", &ids[0], "--json"]));
    assert_eq!(one, again, "a reprint replaces the order's own slip");
    let batch = target(&t.as_pat(&["slip", &ids[0], &ids[1], "--json"]));
    assert_ne!(batch, one);
    let third = target(&t.as_pat(&["slip", &ids[1], "--json"]));
    assert_ne!(
        third, batch,
        "a file holding another order is never overwritten"
    );
    let slips = std::fs::read_dir(t.e.dir.home().join("spool"))
        .unwrap()
        .count();
    assert_eq!(slips, 3);
    // A label of the same order is a different file from its slip.
    let label = target(&t.as_pat(&["label", &ids[0], "--format", "pdf", "--json"]));
    assert!(label.to_str().unwrap().ends_with(".pdf") && label != one);
    assert!(one.exists());

    // Purge destroys every file holding the order, refusing none.
    assert_eq!(
        t.as_pat(&[
            "ship",
            &ids[0],
            "--carrier",
            "UPS",
            "--tracking",
            &support::ups(8)
        ])
        .code,
        0
    );
    let r =
        t.e.run(&["--operator", "cron", "purge", "--order", &ids[0], "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["label_files_removed"], 3, "{v}");
    assert_eq!(v["label_files_refused"], serde_json::json!([]));
    assert!(!one.exists() && !batch.exists() && !label.exists());
    assert!(third.exists(), "the other order's own slip stays");
}

#[test]
fn slips_are_refused_for_a_picker_bad_orders_and_what_the_font_cannot_show() {
    let t = Env::new(63);
    let good = t.latin(false, 1).remove(0);
    let (r, pia) = t.e.dir.add_operator("olga", &t.e.pass, "pia", "picker");
    assert_eq!(r.code, 0);
    let r = t.e.run_as("pia", &pia, &["slip", &good]);
    assert_eq!(r.code, 3, "a picker: {}", r.stderr);
    assert!(records(&t.e.dir.audit_text(), "pii.opened").is_empty());

    // A non-Latin address prints in its own script (the embedded fonts draw it).
    let truth = t.e.sb.orders();
    let db = t.e.db();
    let other = truth
        .iter()
        .find(|o| {
            let id = &o.order.info.amazon_order_id;
            let addressable: bool = db
                .query_row(
                    "SELECT lifecycle = 'unshipped' AND pii_missing = 0 AND pii_state = 'sealed'
                     FROM orders WHERE amazon_order_id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .unwrap_or(false);
            addressable
                && o.order
                    .pii
                    .recipient_name
                    .as_ref()
                    .is_some_and(|n| n.expose_pii().chars().any(|c| (c as u32) > 0xFF))
        })
        .expect("a non-Latin order in the sandbox");
    let other_id = other.order.info.amazon_order_id.clone();
    let r = t.as_pat(&["slip", &other_id]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let name = other
        .order
        .pii
        .recipient_name
        .as_ref()
        .unwrap()
        .expose_pii();
    assert!(!r.stderr.contains(name));
    let spool = t.e.dir.home().join("spool");
    let files = || std::fs::read_dir(&spool).map_or(0, |d| d.count());
    assert_eq!(files(), 1);

    // Mixed: one line per bad order, exit 1, the good one printed.
    // The buyer cancels an unshipped order; the next fetch brings the cancellation in.
    let canceled =
        t.e.order_ids(
            &format!("lifecycle = 'unshipped' AND amazon_order_id NOT IN ('{good}', '{other_id}')"),
            1,
        )
        .remove(0);
    assert!(t.e.sb.cancel_order(&canceled));
    assert_eq!(t.e.fetch_until(&canceled, "canceled"), "canceled");
    let r = t.as_pat(&["slip", &good, &canceled, "999-0000000-0000009"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 2, "{}", r.stderr);
    assert!(r.stderr.contains(&format!("order {canceled} is canceled")));
    assert!(
        r.stdout.contains(&format!("Slip for {good}")),
        "{}",
        r.stdout
    );
    assert_eq!(files(), 2);
    let printed = records(&t.e.dir.audit_text(), "slip.printed");
    assert_eq!(printed.len(), 2);
    assert_eq!(printed[1]["orders"], serde_json::json!([good]));

    // A cloud-sync folder is refused before anything is opened; a printer that does not
    // answer is recorded as slip.failed.
    let synced = t.e.dir.path().join("Dropbox");
    std::fs::create_dir(&synced).unwrap();
    let before = records(&t.e.dir.audit_text(), "pii.opened").len();
    let r = t.as_pat(&[
        "slip",
        &good,
        "--out",
        synced.join("s.pdf").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert_eq!(records(&t.e.dir.audit_text(), "pii.opened").len(), before);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let r = t.as_pat(&["slip", &good, "--to", &format!("tcp://{closed}")]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(records(&t.e.dir.audit_text(), "slip.failed").len(), 1);
}
