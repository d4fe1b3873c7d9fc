//! Partial shipments and several parcels through the binary against an in-process sandbox:
//! `ship ORDER --item ITEM:QTY ...` records one package, the feed carries each package's items
//! (checked by the sandbox as Amazon would), the order is `shipped` only when every item is,
//! bad packages are refused whole, and the retention clock starts at the last package.

use crate::fetch_support;
use crate::support;

use chrono::{DateTime, Duration, Utc};
use fetch_support::CliEnv;
use support::Run;

/// An order ready to ship with at least `units` units of which Amazon has shipped none: the
/// oldest such (the sandbox cancels only young orders by itself), not one of `except`. Returns
/// its id and items (id, quantity ordered) by item id.
fn order_with(e: &CliEnv, units: i64, except: &[String]) -> (String, Vec<(String, u32)>) {
    let db = e.db();
    let mut st = db
        .prepare(
            "SELECT o.amazon_order_id FROM orders o
             WHERE o.lifecycle = 'unshipped' AND o.status = 'Unshipped' AND o.items_fetched = 1
               AND o.fulfillment_channel = 'MFN' AND o.pii_state = 'sealed'
               AND (SELECT sum(quantity_ordered) FROM order_items i
                    WHERE i.amazon_order_id = o.amazon_order_id) >= ?1
               AND NOT EXISTS (SELECT 1 FROM order_items i WHERE i.amazon_order_id = o.amazon_order_id
                    AND COALESCE(i.quantity_shipped, 0) > 0)
             ORDER BY o.purchase_date, o.amazon_order_id",
        )
        .unwrap();
    let id = st
        .query_map([units], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .find(|id| !except.contains(id))
        .unwrap_or_else(|| panic!("an unshipped order with {units} or more units"));
    (id.clone(), items(e, &id))
}

fn items(e: &CliEnv, id: &str) -> Vec<(String, u32)> {
    let db = e.db();
    let mut st = db
        .prepare(
            "SELECT order_item_id, quantity_ordered FROM order_items WHERE amazon_order_id = ?1
             ORDER BY order_item_id",
        )
        .unwrap();
    st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn lifecycle(e: &CliEnv, id: &str) -> (String, Option<String>) {
    e.db()
        .query_row(
            "SELECT lifecycle, retention_start FROM orders WHERE amazon_order_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

/// Packages and package items recorded for `id`.
fn recorded(e: &CliEnv, id: &str) -> (i64, i64) {
    e.db()
        .query_row(
            "SELECT (SELECT count(*) FROM shipments WHERE amazon_order_id = ?1),
                (SELECT count(*) FROM shipment_items p JOIN shipments s ON s.id = p.shipment_id
                 WHERE s.amazon_order_id = ?1)",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

fn packer(e: &CliEnv) -> std::path::PathBuf {
    let (r, p) = e.dir.add_operator("olga", &e.pass, "pat", "packer");
    assert_eq!(r.code, 0, "{}", r.stderr);
    p
}

/// `ship` as the packer, with global flags `global` first.
fn ship(e: &CliEnv, pass: &std::path::Path, global: &[&str], args: &[&str]) -> Run {
    let mut a = global.to_vec();
    a.push("ship");
    a.extend_from_slice(args);
    e.run_as("pat", pass, &a)
}

fn item_arg(id: &str, q: u32) -> String {
    format!("{id}:{q}")
}

/// `confirm --json` as cron until no feed is in flight; the runs' JSON.
fn confirm_until_done(e: &CliEnv) -> Vec<serde_json::Value> {
    let mut runs = Vec::new();
    for _ in 0..60 {
        let r = e.run(&[
            "--operator",
            "cron",
            "--operator-key-file",
            e.key.to_str().unwrap(),
            "confirm",
            "--json",
        ]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let done = v["feeds_in_flight"] == 0;
        runs.push(v);
        if done {
            return runs;
        }
    }
    panic!("feeds still in flight after 60 runs");
}

fn total(runs: &[serde_json::Value], k: &str) -> u64 {
    runs.iter().map(|v| v[k].as_u64().unwrap_or(0)).sum()
}

/// Amazon's view of the order: status and quantity shipped per item.
fn truth(e: &CliEnv, id: &str) -> (String, Vec<(String, u32)>) {
    let o =
        e.sb.orders()
            .into_iter()
            .find(|o| o.order.info.amazon_order_id == id)
            .unwrap();
    let mut items: Vec<(String, u32)> = o
        .items
        .iter()
        .map(|i| {
            (
                i.info.order_item_id.clone(),
                i.info.quantity_shipped.unwrap_or(0),
            )
        })
        .collect();
    items.sort();
    (o.order.info.order_status.clone(), items)
}

/// `(AmazonOrderItemCode, Quantity)` of each `Item` of each message of a feed body, by
/// message, for order `id`.
fn feed_items(body: &[u8], id: &str) -> Vec<Vec<(String, u32)>> {
    let feed = fulfill::mws::xml::parse_fulfillment_feed(body).unwrap();
    feed.messages
        .into_iter()
        .map(Result::unwrap)
        .filter(|m| m.amazon_order_id.as_deref() == Some(id))
        .map(|m| {
            m.items
                .into_iter()
                .map(|i| (i.amazon_order_item_code.unwrap(), i.quantity.unwrap()))
                .collect()
        })
        .collect()
}

#[test]
fn two_parcels_for_one_order_are_confirmed_with_their_items() {
    let e = CliEnv::new(60, 41, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    let (id, items) = order_with(&e, 2, &[]);
    let pat = packer(&e);
    let (first, q0) = items[0].clone();

    // Parcel 1: one unit of the first item.
    let one = item_arg(&first, 1);
    let r = ship(
        &e,
        &pat,
        &[],
        &[
            &id,
            "--item",
            &one,
            "--carrier",
            "UPS",
            "--tracking",
            &support::ups(11),
            "--json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["package"], 1);
    assert_eq!(v["state"], "queued");
    assert_eq!(v["order_status"], "partially_shipped");
    assert_eq!(v["items"][0]["order_item_id"], first.as_str());
    assert_eq!(v["items"][0]["quantity"], 1);
    let want_left: u32 = items.iter().map(|(_, q)| q).sum::<u32>() - 1;
    let left: u64 = v["left"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["quantity"].as_u64().unwrap())
        .sum();
    assert_eq!(left, u64::from(want_left));
    assert_eq!(lifecycle(&e, &id), ("partially_shipped".into(), None));

    // Parcel 2: everything else, given item by item (the same item twice is summed).
    let mut rest: Vec<String> = Vec::new();
    if q0 > 1 {
        rest.push(item_arg(&first, q0 - 1));
    }
    for (i, q) in &items[1..] {
        rest.push(item_arg(i, *q));
    }
    let mut args = vec![id.as_str()];
    for r in &rest {
        args.extend_from_slice(&["--item", r]);
    }
    args.extend_from_slice(&[
        "--carrier",
        "Other",
        "--carrier-name",
        "Bob's Vans",
        "--tracking",
        "BV-000002",
    ]);
    let r = ship(&e, &pat, &[], &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("package 2 of"), "{}", r.stdout);
    assert!(!r.stdout.contains("Still to ship"), "{}", r.stdout);
    assert_eq!(lifecycle(&e, &id).0, "shipped");

    // Both wait for `confirm`: a tracking number is corrected by naming the package.
    let r = ship(
        &e,
        &pat,
        &[],
        &[&id, "--carrier", "UPS", "--tracking", &support::ups(12)],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--package N"), "{}", r.stderr);
    let r = ship(
        &e,
        &pat,
        &[],
        &[
            &id,
            "--package",
            "1",
            "--carrier",
            "UPS",
            "--tracking",
            &support::ups(12),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Corrected"), "{}", r.stdout);
    assert_eq!(recorded(&e, &id).0, 2, "corrected, not added");

    // One feed, one message per parcel, each with its items; Amazon ships exactly those.
    let runs = confirm_until_done(&e);
    assert_eq!(total(&runs, "feeds_submitted"), 1);
    assert_eq!(total(&runs, "shipments_submitted"), 2);
    assert_eq!(total(&runs, "confirmed"), 2);
    assert_eq!(total(&runs, "failed"), 0);
    let feeds = e.sb.feeds();
    assert_eq!(feeds.len(), 1);
    let body = String::from_utf8_lossy(&feeds[0].body);
    assert!(
        body.contains(&support::ups(12)) && !body.contains(&support::ups(11)),
        "{body}"
    );
    let mut second: Vec<(String, u32)> = items.clone();
    second[0].1 -= 1;
    second.retain(|(_, q)| *q > 0);
    assert_eq!(
        feed_items(&feeds[0].body, &id),
        [vec![(first.clone(), 1)], second]
    );
    let (status, shipped) = truth(&e, &id);
    assert_eq!(status, "Shipped");
    assert_eq!(shipped, items);
    assert_eq!(lifecycle(&e, &id).0, "confirmed");

    // `orders --json` lists both packages with their items and states.
    let r = e.owner(&["orders", "--json"]);
    let orders: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let o = orders
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["order_id"] == id.as_str())
        .unwrap();
    let packages = o["shipment"]["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 2);
    assert_eq!(packages[0]["tracking"], support::ups(12));
    assert_eq!(packages[1]["carrier"], "Bob's Vans");
    assert!(packages.iter().all(|p| p["state"] == "confirmed"));
    assert_eq!(o["shipment"]["tracking"], "BV-000002", "the latest package");

    // Each package is on the record with its items.
    let log = e.dir.audit_text();
    assert_eq!(log.matches("\"event\":\"ship.recorded\"").count(), 3);
    assert!(log.contains("\"corrected\":true"));
    assert!(log.contains(&format!("\"items\":\"{first}:1\"")), "{log}");
    assert_eq!(log.matches("\"event\":\"ship.confirmed\"").count(), 2);
    assert!(log.contains("\"package\":2"));
}

/// The pick list's quantity of `sku`.
fn to_pick(e: &CliEnv, sku: &str) -> u64 {
    let r = e.owner(&["picklist", "--format", "csv"]);
    let mut rd = csv::Reader::from_reader(r.stdout.as_bytes());
    rd.records()
        .map(Result::unwrap)
        .find(|rec| &rec[1] == sku)
        .map_or(0, |rec| rec[2].parse().unwrap())
}

#[test]
fn part_now_and_the_rest_later_each_confirmed_as_it_ships() {
    let e = CliEnv::new(60, 42, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    let (id, items) = order_with(&e, 2, &[]);
    let pat = packer(&e);
    let (first, _) = items[0].clone();
    let sku: String = e
        .db()
        .query_row(
            "SELECT COALESCE(seller_sku, asin) FROM order_items WHERE order_item_id = ?1",
            [&first],
            |r| r.get(0),
        )
        .unwrap();
    let picked_before = to_pick(&e, &sku);
    let one = item_arg(&first, 1);
    let r = ship(
        &e,
        &pat,
        &[],
        &[
            &id,
            "--item",
            &one,
            "--carrier",
            "USPS",
            "--tracking",
            &support::usps(111),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Still to ship"), "{}", r.stdout);
    // The pick list still has the order (units are left), less what its package holds.
    assert_eq!(
        to_pick(&e, &sku) + 1,
        picked_before,
        "one unit of {sku} packed"
    );
    let listed = e.owner(&["picklist", "--format", "csv"]).stdout;
    assert!(listed.contains(&id), "{listed}");

    // Amazon confirms the first parcel: partly shipped there and here.
    let runs = confirm_until_done(&e);
    assert_eq!(total(&runs, "confirmed"), 1);
    let (status, shipped) = truth(&e, &id);
    assert_eq!(status, "PartiallyShipped");
    let first_shipped = shipped.iter().find(|(i, _)| *i == first).unwrap().1;
    assert_eq!(first_shipped, 1);
    assert_eq!(lifecycle(&e, &id), ("partially_shipped".into(), None));
    // Amazon's PartiallyShipped does not roll the order back.
    assert_eq!(e.fetch().code, 0);
    assert_eq!(lifecycle(&e, &id).0, "partially_shipped");
    let r = e.owner(&["orders", "--status", "partially_shipped", "--json"]);
    assert!(r.stdout.contains(&id), "{}", r.stdout);

    // The rest, as a whole-order shipment: package 2 holds what was left.
    let r = ship(
        &e,
        &pat,
        &[],
        &[&id, "--carrier", "USPS", "--tracking", &support::usps(222)],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(lifecycle(&e, &id).0, "shipped");
    let runs = confirm_until_done(&e);
    assert_eq!(total(&runs, "confirmed"), 1);
    assert_eq!(total(&runs, "failed"), 0);
    let feeds = e.sb.feeds();
    assert_eq!(feeds.len(), 2);
    let mut rest = items.clone();
    rest[0].1 -= 1;
    rest.retain(|(_, q)| *q > 0);
    assert_eq!(feed_items(&feeds[1].body, &id), [rest]);
    let (status, shipped) = truth(&e, &id);
    assert_eq!((status.as_str(), shipped), ("Shipped", items));
    assert_eq!(lifecycle(&e, &id).0, "confirmed");

    // Nothing is left: neither a package nor a whole-order shipment is taken any more.
    let r = ship(
        &e,
        &pat,
        &[],
        &[
            &id,
            "--item",
            &one,
            "--carrier",
            "USPS",
            "--tracking",
            &support::usps(333),
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = ship(
        &e,
        &pat,
        &[],
        &[&id, "--carrier", "USPS", "--tracking", &support::usps(333)],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(recorded(&e, &id).0, 2);
}

/// `ship --item SKU:QTY`: the packer names the item by the SKU on the pick list; a SKU two
/// items of the order share is refused (the item id then names the one meant).
#[test]
fn an_item_is_named_by_its_sku_and_an_ambiguous_one_is_refused() {
    let e = CliEnv::new(60, 45, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    let (id, lines): (String, Vec<(String, String)>) = {
        let db = e.db();
        let id: String = db
            .query_row(
                "SELECT o.amazon_order_id FROM orders o
                 WHERE o.lifecycle = 'unshipped' AND o.status = 'Unshipped' AND o.items_fetched = 1
                   AND o.pii_state = 'sealed'
                   AND (SELECT count(*) FROM order_items i WHERE i.amazon_order_id = o.amazon_order_id
                        AND i.seller_sku IS NOT NULL AND COALESCE(i.quantity_shipped, 0) = 0) >= 2
                 ORDER BY o.amazon_order_id LIMIT 1",
                [],
                |r| r.get(0),
            )
            .expect("an unshipped order with two items");
        let mut st = db
            .prepare(
                "SELECT order_item_id, seller_sku FROM order_items WHERE amazon_order_id = ?1
                 ORDER BY order_item_id",
            )
            .unwrap();
        let lines = st
            .query_map([&id], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        (id, lines)
    };
    let pat = packer(&e);
    let (first, sku) = lines[0].clone();
    let by_sku = format!("{sku}:1");
    let r = ship(
        &e,
        &pat,
        &[],
        &[
            &id,
            "--item",
            &by_sku,
            "--carrier",
            "UPS",
            "--tracking",
            &support::ups(45),
            "--json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["items"][0]["order_item_id"], first.as_str());
    assert_eq!(v["items"][0]["quantity"], 1);
    assert!(
        e.dir
            .audit_text()
            .contains(&format!("\"items\":\"{first}:1\"")),
        "the record names the item by its id"
    );

    // The second item gets the first's SKU: the SKU is ambiguous now and is refused whole.
    let second = lines[1].0.clone();
    e.db()
        .execute(
            "UPDATE order_items SET seller_sku = ?1 WHERE order_item_id = ?2",
            [&sku, &second],
        )
        .unwrap();
    let r = ship(
        &e,
        &pat,
        &[],
        &[
            &id,
            "--item",
            &by_sku,
            "--carrier",
            "UPS",
            "--tracking",
            &support::ups(46),
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("names 2 items") && r.stderr.contains(&second),
        "{}",
        r.stderr
    );
    assert_eq!(recorded(&e, &id), (1, 1), "nothing more recorded");
    // Positive control: its item id names it.
    let by_id = item_arg(&second, 1);
    let r = ship(
        &e,
        &pat,
        &[],
        &[
            &id,
            "--item",
            &by_id,
            "--carrier",
            "UPS",
            "--tracking",
            &support::ups(46),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(recorded(&e, &id), (2, 2));
}

#[test]
fn bad_packages_are_refused_with_one_line_and_nothing_recorded() {
    let e = CliEnv::new(80, 43, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    let (id, items) = order_with(&e, 1, &[]);
    let (other, other_items) = order_with(&e, 1, std::slice::from_ref(&id));
    let pat = packer(&e);
    let (first, q0) = items[0].clone();
    let too_many = item_arg(&first, q0 + 1);
    let stranger = item_arg(&other_items[0].0, 1);
    let unknown = item_arg("99999999999999", 1);
    let zero = item_arg(&first, 0);
    let fine = item_arg(&first, 1);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![&id, "--item", &too_many], "left to ship"),
        // One good item does not carry a bad one: the package is refused whole.
        (
            vec![&id, "--item", &fine, "--item", &too_many],
            "left to ship",
        ),
        (vec![&id, "--item", &stranger], "is not in order"),
        (vec![&id, "--item", &unknown], "is not in order"),
        (vec![&id, "--item", &zero], "at least 1"),
        (vec![&id, "--item", "12:1"], "is not in order"),
        (vec![&id, "--item", ":1"], "an order item id or a SKU"),
        (
            vec!["111-0000000-0000000", "--item", &fine],
            "not in the vault",
        ),
    ];
    let before = e.dir.audit_text().matches("ship.recorded").count();
    for (args, why) in &cases {
        let mut a = args.clone();
        let t = support::ups(99);
        a.extend_from_slice(&["--carrier", "UPS", "--tracking", &t]);
        let r = ship(&e, &pat, &[], &a);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(why), "{args:?}: {}", r.stderr);
        // One line (clap adds its "For more information" hint to a usage error).
        assert_eq!(r.stderr.trim().lines().next().map(|_| ()), Some(()));
        assert!(r.stderr.trim().lines().count() <= 3, "{}", r.stderr);
        assert!(r.stdout.is_empty(), "{}", r.stdout);
    }
    assert_eq!(recorded(&e, &id), (0, 0), "nothing half recorded");
    assert_eq!(lifecycle(&e, &id), ("unshipped".into(), None));
    assert_eq!(
        e.dir.audit_text().matches("ship.recorded").count(),
        before,
        "no record of a refused package"
    );

    // An order Amazon shipped part of: what Amazon shipped counts.
    let db = e.db();
    let (pid, item, q): (String, String, u32) = db
        .query_row(
            "SELECT i.amazon_order_id, i.order_item_id, i.quantity_ordered FROM order_items i
             JOIN orders o USING (amazon_order_id)
             WHERE o.lifecycle = 'unshipped' AND i.quantity_shipped = i.quantity_ordered
             ORDER BY 1 LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("an order Amazon has shipped part of");
    drop(db);
    let a = item_arg(&item, 1);
    let r = ship(
        &e,
        &pat,
        &[],
        &[
            &pid,
            "--item",
            &a,
            "--carrier",
            "UPS",
            "--tracking",
            &support::ups(1),
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "0 left to ship ({q} ordered, {q} already shipped)"
        )),
        "{}",
        r.stderr
    );

    // A canceled order takes no package.
    assert!(e.sb.cancel_order(&other));
    assert_eq!(e.fetch_until(&other, "canceled"), "canceled");
    let a = item_arg(&other_items[0].0, 1);
    let r = ship(
        &e,
        &pat,
        &[],
        &[
            &other,
            "--item",
            &a,
            "--carrier",
            "UPS",
            "--tracking",
            &support::ups(1),
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("canceled"), "{}", r.stderr);
    assert_eq!(recorded(&e, &other), (0, 0));

    // Positive control: the same order takes a right package.
    let r = ship(
        &e,
        &pat,
        &[],
        &[
            &id,
            "--item",
            &fine,
            "--carrier",
            "UPS",
            "--tracking",
            &support::ups(3),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(recorded(&e, &id), (1, 1));
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `purge --json` at `now`; the purged order ids.
fn purged_at(e: &CliEnv, now: DateTime<Utc>) -> Vec<String> {
    let n = at(now);
    let r = e.run(&["--now", &n, "--operator", "cron", "purge", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    v["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn retention_counts_from_the_last_package() {
    let e = CliEnv::new(60, 44, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    let (id, items) = order_with(&e, 2, &[]);
    let pat = packer(&e);
    // Sandbox time, in the millisecond precision `--now` carries.
    let s = DateTime::parse_from_rfc3339(&at(e.sb.now()))
        .unwrap()
        .with_timezone(&Utc);
    let one = item_arg(&items[0].0, 1);
    let day0 = at(s);
    let r = ship(
        &e,
        &pat,
        &["--now", &day0],
        &[
            &id,
            "--item",
            &one,
            "--carrier",
            "UPS",
            "--tracking",
            &support::ups(4),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(lifecycle(&e, &id).1, None, "no clock while items are left");
    let day3 = at(s + Duration::days(3));
    let r = ship(
        &e,
        &pat,
        &["--now", &day3],
        &[&id, "--carrier", "UPS", "--tracking", &support::ups(5)],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let start = lifecycle(&e, &id).1.expect("the clock started");
    assert_eq!(
        DateTime::parse_from_rfc3339(&start).unwrap(),
        s + Duration::days(3)
    );

    // Day 31 after the first parcel: past 30 days from it, not from the last: kept, while
    // others past their own deadline go (the positive control).
    let first = purged_at(&e, s + Duration::days(31));
    assert!(!first.contains(&id), "purged from the first parcel");
    assert!(!first.is_empty(), "nothing was due at all");
    // Day 34: 30 days after the last parcel have passed.
    assert!(purged_at(&e, s + Duration::days(34)).contains(&id));
}
