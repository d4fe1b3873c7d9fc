//! Peak RSS of a real `fulfill fetch` process as the order count grows (goal: at most
//! 100 MiB, flat in the order count).
//!
//! The sandbox runs as its own process (`fulfill sandbox`), so only the fetcher is measured;
//! the fetch runs as a key-file fetcher in a sandbox home with Amazon's real quotas at a time
//! scale. Peak RSS is the child's `VmHWM`, sampled from `/proc/<pid>/status` every 10 ms until
//! it exits (the high-water mark only grows, so the last sample is the peak up to then).
//! Sizes: `FULFILL_BENCH_RSS=10000,100000` (default 10000,30000).

use std::io::{BufRead, BufReader};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_fulfill");
const SCALE: &str = "2000";

fn secret(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&p)
        .unwrap();
    std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
    p
}

fn fulfill(home: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env("FULFILL_HOME", home).stdin(Stdio::null());
    c
}

fn ok(c: &mut Command) {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn measure(orders: usize) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let home = dir.path().join("home");
    let mut sandbox = Command::new(BIN)
        .args([
            "sandbox",
            "--api",
            "mws",
            "--orders",
            &orders.to_string(),
            "--seed",
            "5",
            "--time-scale",
            SCALE,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(sandbox.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let sb: serde_json::Value = serde_json::from_str(&line).unwrap();
    let owner = secret(dir.path(), "owner", "benchmark owner passphrase");
    ok(fulfill(&home)
        .args([
            "init",
            "--profile",
            "mws-2020",
            "--sandbox",
            "--owner",
            "olga",
            "--passphrase-file",
        ])
        .arg(&owner));
    let key = dir.path().join("cron.key");
    let as_owner = |c: &mut Command| {
        c.args(["--operator", "olga", "--passphrase-file"])
            .arg(&owner);
    };
    let mut c = fulfill(&home);
    as_owner(&mut c);
    ok(
        c.args(["operator", "add", "cron", "--role", "fetcher", "--key-file"])
            .arg(&key),
    );
    let sk = secret(dir.path(), "sk", sb["secret_key"].as_str().unwrap());
    let mut c = fulfill(&home);
    as_owner(&mut c);
    ok(c.args([
        "credentials",
        "set",
        "--api",
        "mws",
        "--seller-id",
        sb["seller_id"].as_str().unwrap(),
    ])
    .args(["--access-key-id", sb["access_key_id"].as_str().unwrap()])
    .args(["--marketplace", sb["marketplace_id"].as_str().unwrap()])
    .args([
        "--endpoint",
        sb["base_url"].as_str().unwrap(),
        "--time-scale",
        SCALE,
        "--secret-key-file",
    ])
    .arg(&sk));

    let started = Instant::now();
    let mut fetch = fulfill(&home)
        .args(["--operator", "cron", "--operator-key-file"])
        .arg(&key)
        .args(["fetch", "--json", "--since", "2000-01-01"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = fetch.id();
    let mut peak = 0;
    while fetch.try_wait().unwrap().is_none() {
        if let Some(k) = vm_hwm_kib(pid) {
            peak = peak.max(k);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = fetch.wait_with_output().unwrap();
    let _ = sandbox.kill();
    let _ = sandbox.wait();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    println!(
        "fetch {:>7} orders (new {:>7}, items for {:>7}) {:>8.1} s   peak RSS {:>6.1} MiB",
        orders,
        report["new_orders"],
        report["orders_with_items"],
        started.elapsed().as_secs_f64(),
        peak as f64 / 1024.0
    );
}

fn main() {
    let sizes = std::env::var("FULFILL_BENCH_RSS").unwrap_or_else(|_| "10000,30000".into());
    println!(
        "fulfill fetch memory benchmark (release build; sandbox in its own process, time x{SCALE})"
    );
    for n in sizes.split(',').filter_map(|s| s.trim().parse().ok()) {
        measure(n);
    }
}
