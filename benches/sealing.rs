//! Sealing v2 at scale (issue 17): `purge` of a large vault with half its orders due (rows and
//! epoch keys destroyed, one transaction, WAL truncated), and `backup` / `restore` of a large
//! vault. Time and peak RSS (`VmHWM`, reset before each step where the kernel allows).
//!
//! `FULFILL_BENCH_PURGE_ORDERS` (default 1,000,000) and `FULFILL_BENCH_BACKUP_ORDERS` (default
//! 100,000) set the sizes. `FULFILL_BENCH_STORE=postgres://...` (an empty database) runs the
//! purge on a PostgreSQL store instead of `vault.db` (no backup: a shared store is backed up
//! on the server).

mod common;

use std::time::Instant;

use chrono::{Duration, Utc};
use fulfill::config::Profile;
use fulfill::home::Home;
use fulfill::safety::Environment;
use fulfill::vault::Vault;
use fulfill::vault::key::{Credential, Passphrase};

const PASS: &str = "benchmark passphrase, long";

fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A `/proc/self/status` figure in KiB.
fn status_kib(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let l = s.lines().find(|l| l.starts_with(key))?;
    l.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the peak RSS to the current RSS (Linux `clear_refs` 5); false where not allowed.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn cred() -> Credential {
    Credential::Passphrase(Passphrase::new(PASS.into()))
}

/// A vault of `n` orders with sealed PII; the first half sealed 40 days before `t0` (due at
/// `t0`, their epoch ended), the rest at `t0`.
fn vault(root: &std::path::Path, n: usize, t0: chrono::DateTime<Utc>) -> Vault {
    let home = Home::create(root, &Environment::system()).unwrap();
    std::fs::write(
        home.config_path(),
        fulfill::config::Config::for_profile(Profile::Mws2020).to_toml(),
    )
    .unwrap();
    if let Ok(url) = std::env::var("FULFILL_BENCH_STORE") {
        fulfill::store::location::Location::Postgres {
            uri: fulfill::store::uri::StoreUri::parse(&url, "postgres").unwrap(),
            password_file: None,
        }
        .write_to(&home)
        .unwrap();
    }
    let v = Vault::create(
        &home,
        "olga",
        Passphrase::new(PASS.into()),
        Profile::Mws2020,
        true,
        t0,
    )
    .unwrap();
    {
        let s = v.unlock("olga", &cred(), t0).unwrap();
        let old = t0 - Duration::days(40);
        for chunk in 0..n.div_ceil(10_000) {
            v.write(|_| {
                for i in chunk * 10_000..((chunk + 1) * 10_000).min(n) {
                    let at = if i < n / 2 { old } else { t0 };
                    s.store_order_pii(
                        &format!("111-{i:07}-0000000"),
                        "Shipped",
                        Some(&common::sample_pii(i)),
                        at,
                    )?;
                }
                Ok(())
            })
            .unwrap();
        }
    }
    v
}

fn main() {
    println!("fulfill sealing v2 benchmarks (release build)");
    let t0 = Utc::now();

    let n = size("FULFILL_BENCH_PURGE_ORDERS", 1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let v = vault(&dir.path().join("home"), n, t0);
    println!(
        "(made a vault of {n} orders in {:.1} s)",
        t.elapsed().as_secs_f64()
    );
    let opts = fulfill::flow::retention::PurgeOptions {
        dry_run: false,
        order: None,
        pii_days: 30,
        log_days: 90,
    };
    // The planning alone (which orders are due, which keys die): a dry run.
    let dry = fulfill::flow::retention::PurgeOptions {
        dry_run: true,
        ..opts.clone()
    };
    let t = Instant::now();
    fulfill::flow::retention::purge(&v, "cron", &dry, t0).unwrap();
    common::report(
        &format!("purge --dry-run of {n} orders (planning only)"),
        t.elapsed(),
        Some((n as f64, "orders")),
    );
    let reset = reset_peak();
    let before = status_kib("VmRSS").unwrap_or(0);
    let t = Instant::now();
    let r = fulfill::flow::retention::purge(&v, "cron", &opts, t0).unwrap();
    let d = t.elapsed();
    let peak = status_kib("VmHWM").unwrap_or(0);
    assert_eq!(r.orders_purged as usize, n / 2);
    assert!(r.epoch_keys_destroyed >= 1);
    common::report(
        &format!("purge {n} orders, half due (rows + epoch keys)"),
        d,
        Some(((n / 2) as f64, "orders")),
    );
    println!(
        "    peak RSS {:.1} MiB (RSS before {:.1} MiB{}), {} epoch key(s) destroyed, WAL truncated: {}",
        peak as f64 / 1024.0,
        before as f64 / 1024.0,
        if reset { "" } else { "; peak not reset" },
        r.epoch_keys_destroyed,
        r.wal_truncated
    );
    drop(v);
    drop(dir);
    if std::env::var_os("FULFILL_BENCH_STORE").is_some() {
        return;
    }

    let n = size("FULFILL_BENCH_BACKUP_ORDERS", 100_000);
    let dir = tempfile::tempdir().unwrap();
    let v = vault(&dir.path().join("home"), n, t0);
    let out = dir.path().join("vault.backup");
    let s = v.unlock("olga", &cred(), t0).unwrap();
    let reset = reset_peak();
    let t = Instant::now();
    let b = s.backup(&out, t0).unwrap();
    let d = t.elapsed();
    let peak = status_kib("VmHWM").unwrap_or(0);
    common::report(
        &format!("backup of {n} orders"),
        d,
        Some((n as f64, "orders")),
    );
    println!(
        "    {:.1} MiB written, {} sealed records left out, peak RSS {:.1} MiB{}",
        b.bytes as f64 / 1048576.0,
        b.sealed_records_left_out,
        peak as f64 / 1024.0,
        if reset { "" } else { " (peak not reset)" }
    );
    drop(s);
    let root = dir.path().join("restored");
    let home = Home::create(&root, &Environment::system()).unwrap();
    let reset = reset_peak();
    let t = Instant::now();
    let r = fulfill::vault::restore(
        &home,
        &out,
        "olga",
        &cred(),
        &|| unreachable!("no second factor"),
        t0,
    )
    .unwrap();
    let d = t.elapsed();
    let peak = status_kib("VmHWM").unwrap_or(0);
    common::report(
        &format!("restore of {n} orders (two Argon2id unlocks included)"),
        d,
        Some((r.orders as f64, "orders")),
    );
    println!(
        "    peak RSS {:.1} MiB{}",
        peak as f64 / 1024.0,
        if reset { "" } else { " (peak not reset)" }
    );
}
