//! `fulfill purge` through the binary: PII past its retention is destroyed from every copy the
//! tool made (database, WAL, label files), the non-PII facts stay, and the clock is `--now`.

use crate::fetch_support;
use crate::support;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use fetch_support::CliEnv;
use fulfill::mws::model::parse_mws_time;
use support::{Run, count};

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `purge` as cron: no passphrase, no key.
fn purge(e: &CliEnv, now: DateTime<Utc>, extra: &[&str]) -> (Run, serde_json::Value) {
    let n = at(now);
    let mut a = vec!["--now", n.as_str(), "--operator", "cron", "purge", "--json"];
    a.extend_from_slice(extra);
    let r = e.run(&a);
    let v = serde_json::from_str(&r.stdout).unwrap_or(serde_json::Value::Null);
    (r, v)
}

/// Every order's sealed PII blob, by order id.
fn blobs(e: &CliEnv) -> HashMap<String, Vec<u8>> {
    let db = e.db();
    let mut st = db
        .prepare("SELECT amazon_order_id, pii FROM orders WHERE pii IS NOT NULL")
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The order's deadline worked out here, independently of the library: shipment or
/// cancellation, else latest ship date, else purchase date; plus 30 days.
fn deadlines(e: &CliEnv) -> HashMap<String, DateTime<Utc>> {
    let db = e.db();
    let mut st = db
        .prepare(
            "SELECT amazon_order_id, retention_start, latest_ship_date, purchase_date FROM orders",
        )
        .unwrap();
    st.query_map([], |r| {
        let start: Option<String> = r.get(1)?;
        let ship_by: Option<String> = r.get(2)?;
        let bought: Option<String> = r.get(3)?;
        let t = start
            .or(ship_by)
            .or(bought)
            .expect("every sandbox order has a date");
        Ok((r.get(0)?, parse_mws_time(&t).unwrap() + Duration::days(30)))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn purged(e: &CliEnv) -> Vec<String> {
    let db = e.db();
    let mut st = db
        .prepare("SELECT amazon_order_id FROM orders WHERE purged_at IS NOT NULL ORDER BY 1")
        .unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// All bytes of the vault's files (database and WAL).
fn vault_bytes(e: &CliEnv) -> Vec<u8> {
    let mut all = Vec::new();
    for f in ["vault.db", "vault.db-wal"] {
        if let Ok(b) = std::fs::read(e.dir.home().join(f)) {
            all.extend_from_slice(&b);
        }
    }
    all
}

fn spool_file(e: &CliEnv, order: &str) -> std::path::PathBuf {
    let spool = e.dir.home().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o700)).unwrap();
    e.dir.secret_file(
        &format!("home/spool/{order}.zpl"),
        "^XA^FDlabel with an address^FS^XZ",
    )
}

#[test]
fn purge_destroys_pii_past_retention_everywhere_and_keeps_the_facts() {
    let e = CliEnv::new(80, 21, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    let s = e.sb.now();
    let s_at = at(s);
    // A packer ships one order at sandbox time S: its clock starts then.
    let (r, pat) = e.dir.add_operator("olga", &e.pass, "pat", "packer");
    assert_eq!(r.code, 0);
    let shipped: String = e
        .db()
        .query_row(
            "SELECT amazon_order_id FROM orders WHERE lifecycle = 'unshipped' AND pii_state = 'sealed'
             ORDER BY amazon_order_id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let r = e.run(&[
        "--now",
        &s_at,
        "--operator",
        "pat",
        "--passphrase-file",
        pat.to_str().unwrap(),
        "ship",
        &shipped,
        "--carrier",
        "UPS",
        "--tracking",
        &support::ups(7),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let label = spool_file(&e, &shipped);
    let before = blobs(&e);
    let due = deadlines(&e);
    assert!(before.contains_key(&shipped));

    // Day 29 after shipping: the shipped order is kept; exactly the orders past their own
    // deadline are purged.
    let t1 = s + Duration::days(29);
    let (r, v) = purge(&e, t1, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let want: Vec<String> = {
        let mut w: Vec<String> = due
            .iter()
            .filter(|(_, d)| **d <= t1)
            .map(|(k, _)| k.clone())
            .collect();
        w.sort();
        w
    };
    assert_eq!(purged(&e), want);
    assert!(!want.contains(&shipped));
    assert!(label.exists(), "its label is still needed");
    assert_eq!(v["orders_purged"], want.len());

    // A dry run at day 31 reports without changing anything.
    let t2 = s + Duration::days(31);
    let (r, v) = purge(&e, t2, &["--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        v["orders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == shipped.as_str())
    );
    assert_eq!(v["label_files_removed"], 1);
    assert_eq!(purged(&e), want, "dry run changed nothing");
    assert!(label.exists());

    // Day 31: everything is past its deadline now.
    let (r, v) = purge(&e, t2, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(v["wal_truncated"], true);
    assert_eq!(v["label_files_removed"], 1);
    assert!(!label.exists(), "the label file is gone");
    let mut want2: Vec<String> = due
        .iter()
        .filter(|(_, d)| **d <= t2)
        .map(|(k, _)| k.clone())
        .collect();
    want2.sort();
    assert!(want2.contains(&shipped) && want2.len() > want.len());
    assert_eq!(purged(&e), want2);

    // No copy of any sealed record survives in the database or its WAL.
    let bytes = vault_bytes(&e);
    let mut checked = 0;
    for (id, b) in before.iter().filter(|(id, _)| want2.contains(id)) {
        let probe = &b[b.len() / 2..b.len() / 2 + 32];
        assert_eq!(
            count(&bytes, probe),
            0,
            "a piece of {id}'s sealed PII survived"
        );
        checked += 1;
    }
    assert!(checked > 20, "{checked}");
    let db = e.db();
    let left: i64 = db
        .query_row(
            "SELECT count(*) FROM orders WHERE purged_at IS NOT NULL AND (pii IS NOT NULL OR pii_state <> 'purged')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0);
    let gifts: i64 = db
        .query_row(
            "SELECT count(*) FROM order_items i JOIN orders o USING (amazon_order_id)
             WHERE i.gift_message IS NOT NULL AND o.purged_at IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(gifts, 0);
    // The facts stay: items, the shipment and its tracking number.
    let items: i64 = db
        .query_row("SELECT count(*) FROM order_items", [], |r| r.get(0))
        .unwrap();
    assert!(items > 0);
    let tracking: String = db
        .query_row(
            "SELECT tracking FROM shipments WHERE amazon_order_id = ?1",
            [&shipped],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tracking, support::ups(7));
    drop(db);

    // Recorded each time, on one chain, by the OS-level operator name.
    let log = e.dir.audit_text();
    assert_eq!(log.matches("\"event\":\"purge.run\"").count(), 3);
    assert!(log.contains("\"dry_run\":true"));
}

#[test]
fn the_probe_finds_sealed_pii_that_was_not_purged() {
    // Positive control for the byte probe above: before a purge, the blobs are in the files.
    let e = CliEnv::new(20, 22, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    let before = blobs(&e);
    assert!(!before.is_empty());
    let bytes = vault_bytes(&e);
    for b in before.values() {
        assert!(count(&bytes, &b[b.len() / 2..b.len() / 2 + 32]) >= 1);
    }
}

#[test]
fn purge_one_order_early_only_once_it_has_shipped() {
    let e = CliEnv::new(30, 23, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    let s = e.sb.now();
    let unshipped: String = e
        .db()
        .query_row(
            "SELECT amazon_order_id FROM orders WHERE lifecycle = 'unshipped' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let (r, _) = purge(&e, s, &["--order", &unshipped]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("still needed"), "{}", r.stderr);
    let (r, _) = purge(&e, s, &["--order", "000-0000000-0000000"]);
    assert_eq!(r.code, 2);

    let (r, pat) = e.dir.add_operator("olga", &e.pass, "pat", "packer");
    assert_eq!(r.code, 0);
    let r = e.run(&[
        "--operator",
        "pat",
        "--passphrase-file",
        pat.to_str().unwrap(),
        "ship",
        &unshipped,
        "--carrier",
        "USPS",
        "--tracking",
        &support::usps(1),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (r, v) = purge(&e, s, &["--order", &unshipped]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(v["orders"], serde_json::json!([unshipped]));
    assert_eq!(purged(&e), vec![unshipped.clone()]);
    let (r, _) = purge(&e, s, &["--order", &unshipped]);
    assert_eq!(r.code, 2, "already purged");

    // A run killed after its commit but before shredding leaves a label file behind: the next
    // run, with nothing new to purge, destroys it.
    let left = spool_file(&e, &unshipped);
    let (r, v) = purge(&e, s, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(v["label_files_removed"], 1);
    assert!(!left.exists());
}

/// The `purge.run` records of the log, parsed.
fn purge_runs(e: &CliEnv) -> Vec<serde_json::Value> {
    e.dir
        .audit_text()
        .lines()
        .filter(|l| l.contains("\"event\":\"purge.run\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A packer labels `id` into `out`, then ships it.
fn label_and_ship(e: &CliEnv, pat: &std::path::Path, id: &str, out: &std::path::Path) {
    let r = e.run_as("pat", pat, &["label", id, "--out", out.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = e.run_as(
        "pat",
        pat,
        &[
            "ship",
            id,
            "--carrier",
            "UPS",
            "--tracking",
            &support::ups(9),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn purge_destroys_only_the_label_files_the_tool_wrote() {
    let e = CliEnv::new(30, 25, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    let (r, pat) = e.dir.add_operator("olga", &e.pass, "pat", "packer");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ids = e.order_ids(
        "lifecycle = 'unshipped' AND pii_state = 'sealed' AND pii_missing = 0 AND items_fetched = 1",
        3,
    );
    let labels = e.dir.path().join("labels");
    std::fs::create_dir(&labels).unwrap();
    let keep = |name: &str| {
        let p = e.dir.path().join(name);
        std::fs::write(&p, "precious, not a label").unwrap();
        p
    };
    // 1. A label the tool wrote and that is still there: the positive control.
    let real = labels.join("a.zpl");
    label_and_ship(&e, &pat, &ids[0], &real);
    // 2. A row added by hand naming a file the tool never wrote.
    let planted = keep("planted.txt");
    e.db()
        .execute(
            "INSERT INTO label_files (path, amazon_order_id, written_at, written_by)
             VALUES (?1, ?2, '2026-01-01T00:00:00.000Z', 'pat')",
            [planted.to_str().unwrap(), ids[0].as_str()],
        )
        .unwrap();
    // ... and one naming the real label's path for another order: it saves nothing.
    e.db()
        .execute(
            "INSERT INTO label_files (path, amazon_order_id, written_at, written_by)
             VALUES (?1, ?2, '2026-01-01T00:00:00.000Z', 'pat')",
            [
                std::fs::canonicalize(&real).unwrap().to_str().unwrap(),
                ids[1].as_str(),
            ],
        )
        .unwrap();
    // 3. A label whose file was replaced by another one (moved into its place).
    let replaced = labels.join("b.zpl");
    label_and_ship(&e, &pat, &ids[1], &replaced);
    std::fs::rename(keep("moved.txt"), &replaced).unwrap();
    // 4. A label replaced by a link to another file.
    let linked = labels.join("c.zpl");
    label_and_ship(&e, &pat, &ids[2], &linked);
    let target = keep("target.txt");
    std::fs::remove_file(&linked).unwrap();
    std::os::unix::fs::symlink(&target, &linked).unwrap();

    let later = e.sb.now() + Duration::days(60);
    // A dry run reports what it would refuse and touches nothing.
    let (r, v) = purge(&e, later, &["--dry-run"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(v["label_files_refused"].as_array().unwrap().len(), 3, "{v}");
    assert_eq!(v["label_files_removed"], 1, "{v}");
    assert!(real.exists());
    assert!(!e.dir.audit_text().contains("\"event\":\"label.refused\""));
    let (r, v) = purge(&e, later, &[]);
    assert_eq!(r.code, 1, "refusals need a look: {}{}", r.stdout, r.stderr);
    assert!(!real.exists(), "the tool's own label is destroyed");
    for p in [&planted, &replaced, &target] {
        assert_eq!(
            std::fs::read_to_string(p).unwrap(),
            "precious, not a label",
            "{} was left alone",
            p.display()
        );
    }
    assert!(
        std::fs::symlink_metadata(&linked)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let mut refused: Vec<String> = v["label_files_refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    refused.sort();
    let mut want: Vec<String> = [&linked, &replaced, &planted]
        .iter()
        .map(|p| {
            std::fs::canonicalize(p.parent().unwrap())
                .unwrap()
                .join(p.file_name().unwrap())
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    want.sort();
    assert_eq!(refused, want, "{v}");
    assert_eq!(v["label_files_removed"], 1, "{v}");
    assert!(r.stderr.contains("refused to destroy"), "{}", r.stderr);
    let log = e.dir.audit_text();
    assert_eq!(log.matches("\"event\":\"label.refused\"").count(), 3);
    let runs = purge_runs(&e);
    assert_eq!(
        (
            runs[0]["dry_run"].as_bool(),
            runs[0]["label_files_refused"].as_u64()
        ),
        (Some(true), Some(3))
    );
    assert_eq!(runs[1]["label_files_refused"], 3);
}

#[test]
fn purge_runs_on_the_profiles_numbers_without_a_config_and_records_the_os_user() {
    let e = CliEnv::new(20, 26, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    let config = e.dir.home().join("config.toml");
    let sound = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, "retention = [broken").unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let later = e.sb.now() + Duration::days(90);
    let n = at(later);
    let r = e.run(&["--now", &n, "--operator", "mallory", "purge", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("config.toml is invalid"), "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(v["orders_purged"].as_u64().unwrap() > 0, "{v}");
    std::fs::remove_file(&config).unwrap();
    let (r, _) = purge(&e, later, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // With a sound file again, its numbers are used (the control).
    std::fs::write(&config, sound).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    e.owner(&["config", "set", "retention.pii_days", "20"]);
    let (r, _) = purge(&e, later, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    let runs = purge_runs(&e);
    assert_eq!(runs.len(), 3);
    assert_eq!(
        (
            runs[0]["config"].as_str(),
            runs[0]["config_problem"].as_str()
        ),
        (Some("profile"), Some("invalid"))
    );
    assert_eq!(runs[0]["pii_days"], 30);
    assert_eq!(runs[1]["config_problem"], "missing");
    assert_eq!(
        (runs[2]["config"].as_str(), runs[2]["pii_days"].as_u64()),
        (Some("config.toml"), Some(20))
    );
    // Whoever runs it, the record names the OS user, never the name claimed.
    let me = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    let me = String::from_utf8(me.stdout).unwrap().trim().to_string();
    for run in &runs {
        assert_ne!(run["operator"], "mallory", "{run}");
        assert_ne!(run["operator"], "cron", "{run}");
        if !me.is_empty() {
            assert_eq!(run["operator"], me.as_str(), "{run}");
        }
    }
}

#[test]
fn items_fetched_again_for_a_purged_order_carry_no_gift_message() {
    let e = CliEnv::new(200, 27, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    // Orders holding a sealed gift message (of purged orders only, when asked: new orders keep
    // arriving from the sandbox while the test runs).
    let gift = |e: &CliEnv, purged_only: bool| -> Vec<String> {
        let db = e.db();
        let mut st = db
            .prepare(
                "SELECT DISTINCT i.amazon_order_id FROM order_items i JOIN orders o USING (amazon_order_id)
                 WHERE i.gift_message IS NOT NULL AND (?1 = 0 OR o.purged_at IS NOT NULL) ORDER BY 1",
            )
            .unwrap();
        st.query_map([purged_only], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let with_gift = gift(&e, false);
    assert!(!with_gift.is_empty(), "the sandbox sends gift messages");
    let (r, _) = purge(&e, e.sb.now() + Duration::days(120), &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(purged(&e).contains(&with_gift[0]));
    assert!(gift(&e, true).is_empty());
    // Amazon sends the items again (as after an update): they come back, without the message.
    e.db()
        .execute(
            "UPDATE orders SET items_fetched = 0 WHERE amazon_order_id = ?1",
            [&with_gift[0]],
        )
        .unwrap();
    assert_eq!(e.fetch().code, 0);
    let (fetched, is_gift): (bool, bool) = e
        .db()
        .query_row(
            "SELECT o.items_fetched, max(i.is_gift) FROM orders o JOIN order_items i USING (amazon_order_id)
             WHERE amazon_order_id = ?1",
            [&with_gift[0]],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(fetched && is_gift, "the items were fetched again");
    assert_eq!(gift(&e, true), Vec::<String>::new());
}

/// `audit --json` as the owner at `now`: (exit code, the R15 check).
fn audit_r15(e: &CliEnv, now: DateTime<Utc>) -> (i32, serde_json::Value) {
    let n = at(now);
    let r = e.run(&[
        "--now",
        &n,
        "--operator",
        "olga",
        "--passphrase-file",
        e.pass.to_str().unwrap(),
        "audit",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}{}", r.stdout, r.stderr));
    let r15 = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "R15")
        .unwrap()
        .clone();
    (r.code, r15)
}

#[test]
fn a_purge_under_a_reader_names_its_hold_exits_1_and_audit_flags_it_until_a_later_purge() {
    let e = CliEnv::new(30, 27, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    let before = blobs(&e);
    assert!(before.len() > 10, "{}", before.len());
    let t = e.sb.now() + Duration::days(40);
    // Positive control: before any purge, audit has nothing to say about the WAL.
    let (_, r15) = audit_r15(&e, e.sb.now());
    assert!(!r15.to_string().contains("WAL"), "{r15}");

    // Another connection holds a read transaction (as a `sqlite3` shell left open would).
    let reader = e.db();
    reader.execute_batch("BEGIN").unwrap();
    let n: i64 = reader
        .query_row("SELECT count(*) FROM orders", [], |r| r.get(0))
        .unwrap();
    assert!(n > 0);
    let (r, v) = purge(&e, t, &[]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(v["wal_truncated"], false, "{v}");
    let me = format!("pid {} ", std::process::id());
    assert!(
        v["wal_held_by"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h.as_str().unwrap().starts_with(&me)),
        "{v}"
    );
    assert!(
        r.stderr.contains(&me) && r.stderr.contains("read transaction"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(v["orders_purged"].as_u64().unwrap() > 10, "{v}");
    // What audit flags: the purged ciphertext is still in vault.db.
    let db = std::fs::read(e.dir.home().join("vault.db")).unwrap();
    let left = before
        .values()
        .filter(|b| count(&db, &b[b.len() / 2..b.len() / 2 + 32]) > 0)
        .count();
    assert!(left > 0, "the reader kept the old pages in vault.db");
    let runs = purge_runs(&e);
    let last = runs.last().unwrap();
    assert_eq!(last["wal_truncated"], false, "{last}");
    assert!(last["wal_held_by"].to_string().contains(&me), "{last}");
    let (code, r15) = audit_r15(&e, t);
    assert_eq!(code, 1, "{r15}");
    assert_eq!(r15["status"], "fail", "{r15}");
    assert!(r15.to_string().contains("could not empty the WAL"), "{r15}");

    // The reader goes; the next purge empties the WAL and audit passes that check.
    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    let (r, v) = purge(&e, t, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(v["wal_truncated"], true, "{v}");
    let bytes = vault_bytes(&e);
    for (id, b) in &before {
        let probe = &b[b.len() / 2..b.len() / 2 + 32];
        assert_eq!(count(&bytes, probe), 0, "{id}'s sealed PII survived");
    }
    let (_, r15) = audit_r15(&e, t);
    assert_eq!(r15["status"], "pass", "{r15}");
    assert!(!r15.to_string().contains("WAL"), "{r15}");
}
