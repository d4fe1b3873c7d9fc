//! `fulfill fetch` and `fulfill orders` through the binary, against an in-process sandbox on
//! a scaled clock (time runs thousands of times faster; nothing sleeps).

use crate::fetch_support;
use crate::support;

use fetch_support::{CliEnv, check_against_truth};
use support::{TestDir, count, run, scan_dir};

#[test]
fn fetch_then_orders_json_with_pinned_fields_and_no_pii_on_disk_in_logs_or_output() {
    let e = CliEnv::new(150, 4, 3000.0, "");
    let r = e.fetch();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let summary: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let mut keys: Vec<&str> = summary
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "calls",
            "items_failed",
            "new_orders",
            "orders_refused",
            "orders_with_items",
            "pages",
            "pii_missing",
            "restarts",
            "throttled",
            "unlisted_marketplace",
            "updated_orders",
            "watermark"
        ]
    );
    let c = check_against_truth(&e.vault(), &e.sb, None, e.sb.now());
    assert_eq!(c.exact, c.expected);
    assert!(c.expected > 90, "{c:?}");

    // `orders --json`: the field names of an order and of an item are pinned (`due` and
    // `quantity_left` added deliberately with the urgent-first listing, `marketplace_id` with
    // marketplaces, `marketplace_unlisted` with regions).
    let r = e.run(&[
        "--operator",
        "cron",
        "--operator-key-file",
        e.key.to_str().unwrap(),
        "orders",
        "--json",
    ]);
    let r = if r.code == 0 {
        r
    } else {
        // A fetcher may not list orders; the owner can.
        e.owner(&["orders", "--json"])
    };
    let orders: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let orders = orders.as_array().expect("an array of orders");
    assert_eq!(orders.len() as i64, {
        e.db()
            .query_row("SELECT count(*) FROM orders", [], |r| r.get::<_, i64>(0))
            .unwrap()
    });
    let keys_of = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys_of(&orders[0]),
        [
            "amazon_status",
            "business",
            "due",
            "items",
            "marketplace_id",
            "marketplace_unlisted",
            "order_id",
            "pii",
            "pii_missing",
            "prime",
            "purchase_date",
            "service_category",
            "service_level",
            "ship_by",
            "ship_country",
            "shipment",
            "status"
        ]
    );
    let item = orders
        .iter()
        .find_map(|o| o["items"].as_array().and_then(|i| i.first()))
        .expect("an order with items");
    assert_eq!(
        keys_of(item),
        [
            "asin",
            "is_gift",
            "order_item_id",
            "quantity",
            "quantity_left",
            "quantity_shipped",
            "sku",
            "title"
        ]
    );
    // `--status` filters by lifecycle.
    let r = e.owner(&["orders", "--status", "unshipped", "--json"]);
    let unshipped: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let unshipped = unshipped.as_array().unwrap();
    assert!(!unshipped.is_empty() && unshipped.len() < orders.len());
    assert!(unshipped.iter().all(|o| o["status"] == "unshipped"));

    // No PII marker anywhere in the home (vault.db, -wal, -shm, logs, config) or in anything
    // the commands printed.
    let marker = e.sb.pii_marker();
    let home = e.dir.home();
    assert!(home.join("vault.db").exists() && home.join("logs").is_dir());
    assert_eq!(scan_dir(&home, marker.as_bytes()), vec![]);
    let out = e.output.borrow().clone();
    assert!(out.len() > 1000);
    assert_eq!(
        count(&out, marker.as_bytes()),
        0,
        "PII marker in CLI output"
    );
    // Positive control: a planted marker in the logs folder is found.
    std::fs::write(home.join("logs").join("planted"), format!("x{marker}x")).unwrap();
    assert_eq!(scan_dir(&home, marker.as_bytes()).len(), 1);
}

#[test]
fn a_persistent_failure_exits_4_with_one_line_saying_what_was_saved() {
    let e = CliEnv::new(150, 6, 5000.0, "");
    // The first page comes through, then every request fails.
    e.sb.set_faults(
        fulfill::sandbox::FaultSpec::parse(&format!(
            "internal@{}-100000",
            e.sb.request_count() + 3
        ))
        .unwrap(),
        1,
    );
    let r = e.fetch();
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    let line = r.stderr.trim_end();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(line.contains("failed after 5 attempts"), "{line}");
    assert!(
        line.contains("Saved before stopping: 100 new, 0 updated orders; 1 page(s)"),
        "{line}"
    );
    let n: i64 = e
        .db()
        .query_row("SELECT count(*) FROM orders", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 100);
}

#[test]
fn a_real_home_refuses_a_plain_http_endpoint() {
    let dir = TestDir::new();
    let p = dir.secret_file("owner.pass", support::OWNER_PASS);
    let sk = dir.secret_file("mws.secret", "secret-key-value");
    let r = run(dir.fulfill().args([
        "init",
        "--profile",
        "mws-2020",
        "--owner",
        "olga",
        "--passphrase-file",
        p.to_str().unwrap(),
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(dir.fulfill().args([
        "--operator",
        "olga",
        "--passphrase-file",
        p.to_str().unwrap(),
        "credentials",
        "set",
        "--api",
        "mws",
        "--seller-id",
        "A1EXAMPLE",
        "--access-key-id",
        "AKIAEXAMPLE",
        "--secret-key-file",
        sk.to_str().unwrap(),
        "--marketplace",
        "ATVPDKIKX0DER",
        "--endpoint",
        "http://127.0.0.1:9",
    ]));
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("http"), "{}", r.stderr);
    assert_eq!(r.stderr.trim_end().lines().count(), 1);
}

#[test]
fn ctrl_c_says_what_fetch_saved_and_exits_130() {
    // Real time (scale 1): Amazon's item quota makes this fetch take minutes, so Ctrl-C
    // lands in the middle of it.
    let e = CliEnv::new(150, 12, 1.0, "");
    let base = e.sb.request_count();
    let mut child = e
        .fetch_cmd(false)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first listing page and a few orders' items asked: some pages are stored.
    while !e
        .sb
        .wait_for_requests(base + 6, std::time::Duration::from_millis(100))
    {
        assert!(child.try_wait().unwrap().is_none(), "fetch ended early");
    }
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let saved = stderr
        .strip_prefix("fulfill: interrupted. Saved before stopping: ")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        saved
            .trim_end()
            .ends_with("; nothing half-written. Run fetch again to continue."),
        "{stderr}"
    );
    // The numbers are what the vault holds: nothing stored after the line was printed.
    let n = |s: &str| -> i64 { s.trim().parse().unwrap_or_else(|_| panic!("{stderr}")) };
    let new = n(saved.split(" new,").next().unwrap());
    let with_items = n(saved
        .split("items for ")
        .nth(1)
        .and_then(|s| s.split(" order(s)").next())
        .unwrap());
    let db = e.db();
    fetch_support::integrity_ok(&db);
    assert!(new > 0, "a page was stored: {stderr}");
    let q = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(q("SELECT count(*) FROM orders"), new, "{stderr}");
    assert_eq!(
        q("SELECT count(*) FROM orders WHERE items_fetched = 1"),
        with_items,
        "{stderr}"
    );
}

#[test]
fn an_unreachable_amazon_shows_as_such_on_the_terminal_not_as_quota_pacing() {
    // A sandbox home whose Amazon is a port nobody listens on; sandbox time runs 15 times
    // faster, so the client's four back-offs (1, 4, 10, 30 s) take 3 s.
    let dir = TestDir::new();
    let pass = dir.init(true);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sk = dir.secret_file("sk", "SECRETKEYVALUE");
    let r = run(dir
        .as_op("olga", &pass)
        .args([
            "credentials",
            "set",
            "--api",
            "mws",
            "--seller-id",
            "A1EXAMPLE",
        ])
        .args([
            "--access-key-id",
            "AKIAEXAMPLE",
            "--marketplace",
            "ATVPDKIKX0DER",
        ])
        .args(["--time-scale", "15", "--endpoint"])
        .arg(format!("http://127.0.0.1:{port}"))
        .arg("--secret-key-file")
        .arg(&sk));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let key = dir.path().join("cron.key");
    let r = run(dir
        .as_op("olga", &pass)
        .args(["operator", "add", "cron", "--role", "fetcher", "--key-file"])
        .arg(&key));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // On a terminal (util-linux `script` gives fetch one), where the progress line is drawn.
    let cmd = format!(
        "{} --operator cron --operator-key-file {} fetch",
        env!("CARGO_BIN_EXE_fulfill"),
        key.display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("FULFILL_HOME", dir.home())
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("`script` (util-linux) runs fetch on a terminal; install it");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{shown}");
    assert!(
        shown.contains("Amazon unreachable (cannot connect)") && shown.contains("retrying in"),
        "{shown}"
    );
    assert!(!shown.contains("slot in"), "not quota pacing: {shown}");
}
