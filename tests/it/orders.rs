//! `fulfill orders` through the binary: the most urgent first (ship-by, oldest first) with LATE
//! and TODAY judged by the command's clock, `--late`, `--sort`, columns that hold every state,
//! `--status` checked by clap, and `orders ORDER` with each item's id, SKU and what is left.

use crate::fetch_support;
use crate::support;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use fetch_support::CliEnv;
use support::Run;

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `orders ARGS` as the owner at `now`, in UTC (TODAY is the command's calendar day).
fn orders(e: &CliEnv, now: &str, args: &[&str]) -> Run {
    let mut c = e.dir.fulfill();
    c.env("TZ", "UTC").args([
        "--now",
        now,
        "--operator",
        "olga",
        "--passphrase-file",
        e.pass.to_str().unwrap(),
        "orders",
    ]);
    c.args(args);
    support::run(&mut c)
}

fn json(r: &Run) -> Vec<serde_json::Value> {
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    serde_json::from_str::<serde_json::Value>(&r.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn set_ship_by(e: &CliEnv, id: &str, t: &str) {
    e.db()
        .execute(
            "UPDATE orders SET latest_ship_date = ?2 WHERE amazon_order_id = ?1",
            [id, t],
        )
        .unwrap();
}

#[test]
fn the_late_order_comes_first_flagged_and_every_state_fits_its_column() {
    let e = CliEnv::new(60, 47, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    let now = DateTime::parse_from_rfc3339(&at(e.sb.now()))
        .unwrap()
        .with_timezone(&Utc);
    let now_s = at(now);
    // The late one is the unshipped order bought first (a newest-purchase-first listing puts
    // it last); the one due today is bought last.
    let open: Vec<String> = {
        let db = e.db();
        let mut st = db
            .prepare(
                "SELECT amazon_order_id FROM orders WHERE lifecycle = 'unshipped'
                   AND items_fetched = 1 AND pii_state = 'sealed' AND status = 'Unshipped'
                 ORDER BY purchase_date, amazon_order_id",
            )
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert!(open.len() >= 3, "{open:?}");
    let (late, today) = (open[0].clone(), open[open.len() - 1].clone());
    set_ship_by(&e, &late, &at(now - Duration::days(60)));
    let end_of_day = format!("{}T23:59:59.999Z", now.format("%Y-%m-%d"));
    set_ship_by(&e, &today, &end_of_day);
    // A long state in the list: one unit of a two-unit order ships.
    let partial: String = e
        .db()
        .query_row(
            "SELECT o.amazon_order_id FROM orders o WHERE o.lifecycle = 'unshipped'
               AND o.items_fetched = 1 AND o.pii_state = 'sealed' AND o.amazon_order_id NOT IN (?1, ?2)
               AND (SELECT sum(quantity_ordered - COALESCE(quantity_shipped, 0)) FROM order_items i
                    WHERE i.amazon_order_id = o.amazon_order_id) >= 2
             ORDER BY 1 LIMIT 1",
            [&late, &today],
            |r| r.get(0),
        )
        .unwrap();
    let (item, sku): (String, String) = e
        .db()
        .query_row(
            "SELECT order_item_id, seller_sku FROM order_items WHERE amazon_order_id = ?1
               AND quantity_ordered > COALESCE(quantity_shipped, 0) ORDER BY 1 LIMIT 1",
            [&partial],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let one = format!("{sku}:1");
    e.owner(&[
        "ship",
        &partial,
        "--item",
        &one,
        "--carrier",
        "UPS",
        "--tracking",
        &support::ups(47),
    ]);

    // The text list: the late order first, flagged; the one due today flagged TODAY.
    let r = orders(&e, &now_s, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("ORDER "), "{}", r.stdout);
    assert!(
        lines[1].starts_with(&late) && lines[1].contains("  LATE  "),
        "{}",
        r.stdout
    );
    let today_line = lines.iter().find(|l| l.starts_with(&today)).unwrap();
    assert!(today_line.contains("  TODAY  "), "{today_line}");
    // Every column starts where its header does, whatever the state's length.
    let rows: Vec<&str> = lines
        .iter()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .copied()
        .collect();
    assert!(rows.iter().any(|l| l.contains("partially_shipped")));
    let header: Vec<char> = lines[0].chars().collect();
    let at_col = |col: &str| {
        let h: String = header.iter().collect();
        h[..h.find(col).unwrap()].chars().count()
    };
    for col in ["STATUS", "SHIP BY", "SERVICE", "ITEMS"] {
        let x = at_col(col);
        for row in &rows {
            let c: Vec<char> = row.chars().collect();
            assert!(
                c.len() > x && c[x] != ' ' && c[x - 2..x] == [' ', ' '],
                "{col} at {x}: {row:?}\n{}",
                r.stdout
            );
        }
    }
    assert!(r.stdout.contains("late"), "{}", r.stdout);

    // JSON: the same order and flags; --late keeps only late ones; --sort purchase.
    let v = json(&orders(&e, &now_s, &["--json"]));
    assert_eq!(v[0]["order_id"], late.as_str());
    assert_eq!(v[0]["due"], "late");
    let t = v.iter().find(|o| o["order_id"] == today.as_str()).unwrap();
    assert_eq!(t["due"], "today");
    let ship_by: Vec<DateTime<Utc>> = v
        .iter()
        .filter_map(|o| o["ship_by"].as_str())
        .map(|s| fulfill::model::urgency::parse_time(s).unwrap())
        .collect();
    assert!(ship_by.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    let l = json(&orders(&e, &now_s, &["--late", "--json"]));
    assert!(l.iter().any(|o| o["order_id"] == late.as_str()));
    assert!(l.iter().all(|o| o["due"] == "late"), "{l:?}");
    assert!(l.len() < v.len());
    let p = json(&orders(&e, &now_s, &["--sort", "purchase", "--json"]));
    let bought: Vec<DateTime<Utc>> = p
        .iter()
        .filter_map(|o| o["purchase_date"].as_str())
        .map(|s| fulfill::model::urgency::parse_time(s).unwrap())
        .collect();
    assert!(bought.windows(2).all(|w| w[0] <= w[1]));
    let s = json(&orders(&e, &now_s, &["--sort", "status", "--json"]));
    assert_eq!(s.len(), v.len());
    let pos = |st: &str| s.iter().position(|o| o["status"] == st);
    assert!(pos("unshipped") < pos("partially_shipped"));

    // A day later the one due today is late too (the clock is the command's).
    let tomorrow = at(now + Duration::days(1));
    let l = json(&orders(&e, &tomorrow, &["--late", "--json"]));
    assert!(l.iter().any(|o| o["order_id"] == today.as_str()));

    // --status is checked by clap: a usage error, not "No orders".
    let r = orders(&e, &now_s, &["--status", "bogus"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("possible values"), "{}", r.stderr);
    let ps = json(&orders(
        &e,
        &now_s,
        &["--status", "partially_shipped", "--json"],
    ));
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0]["order_id"], partial.as_str());

    // One order: every item with its id, SKU and what is left to ship.
    let r = orders(&e, &now_s, &[&partial]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("ITEM ID"), "{}", r.stdout);
    let row = r
        .stdout
        .lines()
        .find(|l| l.starts_with(&item))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(row.contains(&sku), "{row}");
    assert!(r.stdout.contains("PACKAGES"), "{}", r.stdout);
    let r = orders(&e, &now_s, &[&partial, "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let o: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let it = o["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["order_item_id"] == item.as_str())
        .unwrap()
        .clone();
    let ordered = it["quantity"].as_u64().unwrap();
    assert_eq!(it["quantity_left"].as_u64().unwrap(), ordered - 1);
    // An id that is not one, and one the vault does not have: exit 2, one line.
    for (bad, why) in [
        ("112-9672024-964525", "not an Amazon order id"),
        ("111-0000000-0000000", "not in the vault"),
    ] {
        let r = orders(&e, &now_s, &[bad]);
        assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(why), "{}", r.stderr);
    }
}

/// Issue 22 item 3: every order shows the marketplace it was sold in, and `--marketplace`
/// (an id or a country) keeps one.
#[test]
fn every_order_names_its_marketplace_and_marketplace_filters() {
    let e = CliEnv::new(30, 48, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    let now = at(e.sb.now());
    let all = json(&orders(&e, &now, &["--json"]));
    assert!(all.len() > 5);
    assert!(
        all.iter().all(|o| o["marketplace_id"] == "ATVPDKIKX0DER"),
        "the sandbox sells in the US"
    );
    // One order stands in for a sale in Germany.
    let de = all[0]["order_id"].as_str().unwrap().to_string();
    e.db()
        .execute(
            "UPDATE orders SET marketplace_id = 'A1PA6795UKMFR9' WHERE amazon_order_id = ?1",
            [&de],
        )
        .unwrap();
    for m in ["DE", "de", "A1PA6795UKMFR9"] {
        let only = json(&orders(&e, &now, &["--json", "--marketplace", m]));
        assert_eq!(only.len(), 1, "{m}");
        assert_eq!(only[0]["order_id"], de.as_str());
        assert_eq!(only[0]["marketplace_id"], "A1PA6795UKMFR9");
    }
    let us = json(&orders(&e, &now, &["--json", "--marketplace", "US"]));
    assert_eq!(us.len(), all.len() - 1);
    // The text listing has a column for it.
    let r = orders(&e, &now, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let header = r.stdout.lines().next().unwrap();
    assert!(
        header.starts_with("ORDER") && header.contains(" MARKET "),
        "{header}"
    );
    let row = r.stdout.lines().find(|l| l.starts_with(&de)).unwrap();
    assert_eq!(row.split_whitespace().nth(1), Some("DE"), "{row}");
    let r = orders(&e, &now, &[&de]);
    assert!(
        r.stdout.contains("Sold in DE (amazon.de, EUR)"),
        "{}",
        r.stdout
    );
    // A marketplace with no orders says so; a bad value is a usage error.
    let r = orders(&e, &now, &["--marketplace", "JP"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout
            .contains("No orders in marketplace JP (amazon.co.jp, JPY)."),
        "{}",
        r.stdout
    );
    let r = orders(&e, &now, &["--marketplace", "Germany!"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}
