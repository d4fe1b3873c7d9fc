//! Retention and audit benchmarks: the leak scan (building the matcher from every sealed
//! record, then scanning log bytes) and a purge of every order (destroy, checkpoint, truncate).

#[path = "common.rs"]
mod common;

use std::time::Instant;

use chrono::{Duration, Utc};
use common::{median, report};
use fulfill::config::Profile;
use fulfill::home::Home;
use fulfill::purge::{PurgeOptions, purge};
use fulfill::safety::Environment;
use fulfill::vault::Vault;
use fulfill::vault::key::{Credential, Passphrase};

const ORDERS: usize = 10_000;
const LOG_MIB: usize = 256;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::create(&dir.path().join("home"), &Environment::system()).unwrap();
    let pass = "benchmark passphrase, long";
    let t0 = Utc::now();
    let v = Vault::create(
        &home,
        "olga",
        Passphrase::new(pass.into()),
        Profile::Mws2020,
        true,
        t0,
    )
    .unwrap();
    println!("fulfill retention benchmarks (release build, medians)");
    let owner = v
        .unlock(
            "olga",
            &fulfill::vault::key::Credential::Passphrase(Passphrase::new(pass.into())),
            t0,
        )
        .unwrap();
    v.conn().execute_batch("BEGIN").unwrap();
    for i in 0..ORDERS {
        owner
            .store_order_pii(
                &format!("111-{i:07}-0000000"),
                "Shipped",
                Some(&common::sample_pii(i)),
                t0,
            )
            .unwrap();
    }
    v.conn().execute_batch("COMMIT").unwrap();
    let s = v
        .unlock(
            "olga",
            &Credential::Passphrase(Passphrase::new(pass.into())),
            t0,
        )
        .unwrap();

    let mut patterns = 0;
    let d = median(3, || {
        patterns = s.leak_scanner(t0).unwrap().patterns();
    });
    report(
        &format!("leak matcher: open {ORDERS} records, {patterns} values"),
        d,
        Some((ORDERS as f64, "records")),
    );

    // Log-like bytes without PII: JSON records with hex hashes.
    let line = format!(
        "{{\"seq\":1,\"ts\":\"2026-11-29T10:00:00.000Z\",\"event\":\"mws.call\",\"operator\":\"cron\",\"outcome\":\"ok\",\"action\":\"ListOrderItems\",\"status\":200,\"prev\":\"{}\",\"hash\":\"{}\"}}\n",
        "ab".repeat(32),
        "cd".repeat(32)
    );
    let log: Vec<u8> = line
        .as_bytes()
        .iter()
        .copied()
        .cycle()
        .take(LOG_MIB << 20)
        .collect();
    let scanner = s.leak_scanner(t0).unwrap();
    let d = median(3, || {
        assert_eq!(scanner.scan_bytes(&log).count(), 0);
    });
    report(
        &format!("leak scan: {LOG_MIB} MiB of log, {patterns} values"),
        d,
        Some(((LOG_MIB << 20) as f64 / 1e6, "MB")),
    );
    drop(scanner);

    let later = t0 + Duration::days(31);
    let opts = PurgeOptions {
        dry_run: false,
        order: None,
        pii_days: 30,
        log_days: 90,
    };
    let started = Instant::now();
    let r = purge(&v, "cron", &opts, later).unwrap();
    let d = started.elapsed();
    assert_eq!(r.orders_purged as usize, ORDERS);
    assert!(r.wal_truncated);
    report(
        &format!("purge {ORDERS} orders + WAL truncate (1 run)"),
        d,
        Some((ORDERS as f64, "orders")),
    );
}
