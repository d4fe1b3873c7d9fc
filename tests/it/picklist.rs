//! `fulfill picklist` and `fulfill sku set-location` through the binary, against an in-process
//! sandbox: exact sums per SKU, bin order, a picker runs it, no PII in any format.

use crate::fetch_support;
use crate::support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::fs::PermissionsExt;

use fetch_support::CliEnv;
use support::count;

/// What a pick list should say for one SKU: units and orders.
type Want = BTreeMap<String, (u64, BTreeSet<String>)>;

/// An item's SKU, quantity ordered and quantity shipped.
type ItemFacts = (Option<String>, u32, Option<u32>);

/// The pick list the vault's items call for, computed independently of the command: items of
/// orders in `states`, ordered minus shipped, control characters dropped from the SKU.
fn expected(e: &CliEnv, states: &[&str]) -> Want {
    let db = e.db();
    let mut st = db
        .prepare(
            "SELECT o.lifecycle, i.amazon_order_id, COALESCE(i.seller_sku, i.asin), i.quantity_ordered,
                    COALESCE(i.quantity_shipped, 0)
             FROM order_items i JOIN orders o USING (amazon_order_id)",
        )
        .unwrap();
    let mut want = Want::new();
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)? as u64,
                r.get::<_, i64>(4)? as u64,
            ))
        })
        .unwrap();
    for row in rows {
        let (state, order, sku, ordered, shipped) = row.unwrap();
        if states.contains(&state.as_str()) && ordered > shipped {
            let sku: String = sku.chars().filter(|c| !c.is_control()).collect();
            let w = want.entry(sku).or_default();
            w.0 += ordered - shipped;
            w.1.insert(order);
        }
    }
    want
}

/// A CSV pick list as rows of (bin, sku, quantity, orders); each order's marketplace (the
/// sandbox's one) is checked on the way.
fn rows(csv_text: &str) -> Vec<(String, String, u64, BTreeSet<String>)> {
    let mut r = csv::Reader::from_reader(csv_text.as_bytes());
    assert_eq!(
        r.headers().unwrap().iter().collect::<Vec<_>>(),
        ["bin", "sku", "quantity", "orders", "marketplaces"]
    );
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            assert_eq!(
                rec[4].split(' ').collect::<Vec<_>>(),
                vec!["ATVPDKIKX0DER"; rec[3].split(' ').count()]
            );
            (
                rec[0].to_owned(),
                rec[1].to_owned(),
                rec[2].parse().unwrap(),
                rec[3].split(' ').map(str::to_owned).collect(),
            )
        })
        .collect()
}

fn as_want(rows: &[(String, String, u64, BTreeSet<String>)]) -> Want {
    rows.iter()
        .map(|(_, s, q, o)| (s.clone(), (*q, o.clone())))
        .collect()
}

#[test]
fn a_picker_gets_exact_sums_by_bin_in_every_format_and_never_pii() {
    let e = CliEnv::new(80, 11, 3000.0, "");
    let r = e.fetch();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    // What was fetched is what Amazon (the sandbox) has: every stored item's SKU and quantities.
    let truth: HashMap<(String, String), ItemFacts> =
        e.sb.orders()
            .into_iter()
            .flat_map(|o| {
                let id = o.order.info.amazon_order_id.clone();
                o.items.into_iter().map(move |i| {
                    (
                        (id.clone(), i.info.order_item_id.clone()),
                        (
                            i.info.seller_sku.clone(),
                            i.info.quantity_ordered,
                            i.info.quantity_shipped,
                        ),
                    )
                })
            })
            .collect();
    let db = e.db();
    let stored: Vec<(String, String, ItemFacts)> = db
        .prepare("SELECT amazon_order_id, order_item_id, seller_sku, quantity_ordered, quantity_shipped FROM order_items")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, (r.get(2)?, r.get(3)?, r.get(4)?))))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(stored.len() > 60, "{} items", stored.len());
    for (o, i, facts) in &stored {
        assert_eq!(&truth[&(o.clone(), i.clone())], facts);
    }
    // The sandbox gives every order its own SKUs; a real catalogue sells the same SKU to many
    // buyers. Pool two thirds of the items into seven SKUs, ship one unit of a multi-unit item
    // (a partial shipment), and give one SKU remote text with a terminal escape and Latin-1.
    db.execute_batch(
        "UPDATE order_items SET seller_sku = 'POOL-' || (rowid % 7) WHERE rowid % 3 != 0;
         UPDATE order_items SET quantity_shipped = 1 WHERE rowid = (SELECT min(rowid) FROM order_items
             WHERE quantity_ordered > 1 AND amazon_order_id IN (SELECT amazon_order_id FROM orders WHERE lifecycle = 'unshipped'));
         UPDATE order_items SET seller_sku = 'ODD-' || char(27) || '[31m-Zoë' WHERE rowid = (SELECT min(rowid) FROM order_items
             WHERE rowid % 3 = 0 AND amazon_order_id IN (SELECT amazon_order_id FROM orders WHERE lifecycle = 'unshipped'));",
    )
    .unwrap();
    drop(db);
    let want = expected(&e, &["unshipped"]);
    let pooled = want.iter().filter(|(s, _)| s.starts_with("POOL-")).count();
    assert_eq!(pooled, 7);
    assert!(
        want["POOL-3"].1.len() > 1,
        "a pooled SKU goes to several orders"
    );

    // Bins: the owner sets two, an admin a third; a picker may not.
    let adam = e
        .dir
        .secret_file("adam.pass", "adam passphrase long enough\n");
    let pia = e
        .dir
        .secret_file("pia.pass", "pia passphrase long enough\n");
    for (name, role, p) in [("adam", "admin", &adam), ("pia", "picker", &pia)] {
        e.owner(&[
            "operator",
            "add",
            name,
            "--role",
            role,
            "--new-passphrase-file",
            p.to_str().unwrap(),
        ]);
    }
    e.owner(&["sku", "set-location", "POOL-5", "B-02"]);
    e.owner(&["sku", "set-location", "POOL-3", "C-01"]);
    e.owner(&["sku", "set-location", "POOL-3", "A-01"]); // moved
    let r = e.run_as("adam", &adam, &["sku", "set-location", "POOL-1", "A-00"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = e.run_as("pia", &pia, &["sku", "set-location", "POOL-2", "Z-99"]);
    assert_eq!(r.code, 3, "a picker may not set bins: {}", r.stderr);
    assert!(r.stderr.contains("may not"), "{}", r.stderr);
    let r = e.run_as(
        "adam",
        &adam,
        &["sku", "set-location", "POOL-2", "bad\tbin"],
    );
    assert_eq!((r.code, r.stderr.lines().count()), (2, 1), "{}", r.stderr);
    let log = e.dir.audit_text();
    assert_eq!(
        count(log.as_bytes(), br#""event":"sku.location_changed""#),
        4
    );
    assert!(log.contains(r#""old":"C-01""#) && log.contains(r#""new":"A-01""#));
    assert!(
        !log.contains("Z-99"),
        "the refused change is not recorded as made"
    );

    // The picker's CSV: exact sums and orders per SKU, binned SKUs first by bin, then by SKU.
    let r = e.run_as("pia", &pia, &["picklist", "--format", "csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let csv_out = r.stdout.clone();
    let got = rows(&csv_out);
    assert_eq!(as_want(&got), want);
    let order: Vec<(&str, &str)> = got
        .iter()
        .map(|(b, s, _, _)| (b.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        order[..3],
        [("A-00", "POOL-1"), ("A-01", "POOL-3"), ("B-02", "POOL-5")]
    );
    let rest: Vec<&str> = order[3..]
        .iter()
        .map(|(b, s)| {
            assert_eq!(*b, "");
            *s
        })
        .collect();
    let mut sorted = rest.clone();
    sorted.sort_by(|a, b| fulfill::vault::skus::natural_cmp(a, b));
    assert_eq!(rest, sorted, "unbinned SKUs by SKU, numbers by value");
    // The sandbox's own SKUs are SKU-<order serial>-<n>: by serial as a number, not as text.
    let serials: Vec<u32> = rest
        .iter()
        .filter_map(|s| s.strip_prefix("SKU-")?.split('-').next()?.parse().ok())
        .collect();
    assert!(serials.is_sorted(), "{serials:?}");
    assert!(
        serials.iter().any(|&n| n < 10) && serials.iter().any(|&n| n >= 10),
        "{serials:?}"
    );
    assert!(rest.contains(&"ODD-[31m-Zoë"), "the escape is stripped");

    // Text: the same lines, no escape character reaches the terminal.
    let r = e.run_as("pia", &pia, &["picklist"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = r.stdout.clone();
    let first = text.lines().nth(4).unwrap();
    assert!(
        first.starts_with("A-00") && first.contains("POOL-1"),
        "{first}"
    );
    assert!(text.contains("ODD-[31m-Zoë") && !text.contains('\u{1b}'));
    let units: u64 = want.values().map(|w| w.0).sum();
    assert!(
        text.contains(&format!("{} SKU(s), {units} unit(s)", want.len())),
        "{text}"
    );

    // Every order with its marketplace, and the marketplace named once in the heading.
    assert!(
        text.lines().nth(1) == Some("Marketplaces: US (amazon.com, USD)"),
        "{text}"
    );
    assert!(first.contains(" US"), "{first}");

    // PDF to a file: 0600, in the embedded fonts, each line's text beside its glyphs.
    let pdf_path = e.dir.path().join("pick.pdf");
    let r = e.run_as(
        "pia",
        &pia,
        &[
            "picklist",
            "--format",
            "pdf",
            "--paper",
            "a4",
            "--out",
            pdf_path.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let pdf = std::fs::read(&pdf_path).unwrap();
    assert_eq!(
        std::fs::metadata(&pdf_path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(pdf.starts_with(b"%PDF-") && count(&pdf, b"/FontFile2") > 0);
    assert_eq!(count(&pdf, b"/Helvetica"), 0);
    assert!(count(&pdf, b"% POOL-3\n") == 1 && count(&pdf, b"% A-01\n") == 1);
    assert_eq!(count(&pdf, "% ODD-[31m-Zoë\n".as_bytes()), 1);
    // No escape in what the pages draw (the compressed font programs are any bytes).
    let pages = support::pdf_streams(&pdf);
    assert!(!pages.is_empty());
    assert!(pages.iter().all(|p| count(p, b"\x1b") == 0));

    // No PII in any output: no marker in what was printed or written...
    let marker = e.sb.pii_marker();
    for out in [csv_out.as_bytes(), text.as_bytes(), &pdf] {
        assert_eq!(count(out, marker.as_bytes()), 0);
    }
    // ...while the vault does hold PII with it (sealed) and the scan finds it once it is in
    // something the list shows (positive control).
    e.db()
        .execute(
            "UPDATE order_items SET seller_sku = 'LEAK-' || ?1 WHERE rowid = (SELECT max(rowid) FROM order_items
             WHERE amazon_order_id IN (SELECT amazon_order_id FROM orders WHERE lifecycle = 'unshipped'))",
            [&marker],
        )
        .unwrap();
    let r = e.run_as("pia", &pia, &["picklist", "--format", "csv"]);
    assert_eq!(count(r.stdout.as_bytes(), marker.as_bytes()), 1);

    // States: nothing is labelled yet; one labelled order moves from unshipped to labelled/open.
    let r = e.run_as(
        "pia",
        &pia,
        &["picklist", "--status", "labelled", "--format", "csv"],
    );
    assert_eq!(rows(&r.stdout), vec![]);
    let labelled = e
        .order_ids("lifecycle = 'unshipped' AND items_fetched = 1", 1)
        .remove(0);
    e.db()
        .execute(
            "UPDATE orders SET lifecycle = 'labelled' WHERE amazon_order_id = ?1",
            [&labelled],
        )
        .unwrap();
    let has = |status: &str| {
        let r = e.run_as(
            "pia",
            &pia,
            &["picklist", "--status", status, "--format", "csv"],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        let got = rows(&r.stdout);
        let found = got.iter().any(|(_, _, _, o)| o.contains(&labelled));
        (got.len(), found)
    };
    assert!(has("labelled").1 && !has("unshipped").1 && has("open").1);
    assert_eq!(
        as_want(&rows(
            &e.run_as(
                "pia",
                &pia,
                &["picklist", "--status", "open", "--format", "csv"]
            )
            .stdout
        )),
        expected(&e, &["unshipped", "labelled"])
    );
}

#[test]
fn a_bad_status_is_a_usage_error_with_one_clear_line() {
    let e = CliEnv::new(5, 3, 3000.0, "");
    let r = e.run(&[
        "--operator",
        "olga",
        "--passphrase-file",
        e.pass.to_str().unwrap(),
        "picklist",
        "--status",
        "shipped",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("possible values: unshipped, labelled, open"),
        "{}",
        r.stderr
    );
    // Positive control: a good status runs.
    let r = e.owner(&["picklist", "--status", "open"]);
    assert!(
        r.stdout
            .starts_with("Pick list: unshipped and labelled orders"),
        "{}",
        r.stdout
    );
}
