//! Retention and audit benchmarks: the leak scan (building the matcher from every sealed
//! record of 20,000 orders, 100,001 values; then `scan_file`, searching every form, on 256 MiB
//! logs in the page cache: GB/s best, median and worst of 5, GB per CPU-second, peak RSS at two
//! file sizes; the same log as files that need decoding (UTF-16LE, base64, gzip), in GB/s of
//! their raw bytes; and the previous matcher, aho-corasick alone, on the same values for the
//! "before" figure) and a purge of every order (destroy, checkpoint, truncate).
//!
//! `FULFILL_BENCH_SCAN=repetitive,hex,utf16,base64,gzip,short,memory,before,purge` runs only
//! the cases named (default: all); `FULFILL_BENCH_SCAN=repetitive,hex` gives the plain-file
//! figures in about a minute.

#[path = "common.rs"]
mod common;

use std::time::Instant;

use chrono::{Duration, Utc};
use common::{median, report};
use fulfill::config::Profile;
use fulfill::flow::retention::{PurgeOptions, purge};
use fulfill::home::Home;
use fulfill::safety::Environment;
use fulfill::vault::Vault;
use fulfill::vault::key::{Credential, Passphrase};

/// 20,000 orders hold 100,001 matched values (five each, one address line shared).
const ORDERS: usize = 20_000;
const LOG_MIB: usize = 256;
const RUNS: usize = 5;

/// One matched value of order `i`'s sample record (its buyer name).
fn common_value(i: usize) -> String {
    common::sample_pii(i)
        .buyer_name
        .unwrap()
        .expose_pii()
        .to_string()
}

/// The same audit-log-like JSON line every time, with constant hex.
fn repetitive_log(_seq: usize) -> String {
    format!(
        "{{\"seq\":1,\"ts\":\"2026-11-29T10:00:00.000Z\",\"event\":\"mws.call\",\"operator\":\"cron\",\"outcome\":\"ok\",\"action\":\"ListOrderItems\",\"status\":200,\"prev\":\"{}\",\"hash\":\"{}\"}}\n",
        "ab".repeat(32),
        "cd".repeat(32)
    )
}

/// An audit-log-like JSON line as the chain writes them: its own seq, time and digests.
fn hex_log(seq: usize) -> String {
    use sha2::Digest;
    let h = |x: usize| hex::encode(sha2::Sha256::digest(x.to_le_bytes()));
    format!(
        "{{\"seq\":{seq},\"ts\":\"2026-11-29T{:02}:{:02}:{:02}.{:03}Z\",\"event\":\"mws.call\",\"operator\":\"cron\",\"outcome\":\"ok\",\"action\":\"ListOrderItems\",\"status\":200,\"prev\":\"{}\",\"hash\":\"{}\"}}\n",
        seq / 3_600_000 % 24,
        seq / 60_000 % 60,
        seq / 1000 % 60,
        seq % 1000,
        h(seq),
        h(seq + 1)
    )
}

/// Writes about `size` bytes of `line`s to `path` (left in the page cache); returns the size.
fn write_log(path: &std::path::Path, size: usize, line: fn(usize) -> String) -> usize {
    use std::io::Write;
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let (mut n, mut seq) = (0, 0);
    while n < size {
        let l = line(seq);
        w.write_all(l.as_bytes()).unwrap();
        n += l.len();
        seq += 1;
    }
    w.flush().unwrap();
    n
}

/// `b` as UTF-16LE with a BOM (each byte one code unit: the logs are ASCII).
fn utf16le(b: &[u8]) -> Vec<u8> {
    let mut out = vec![0xff, 0xfe];
    out.extend(b.iter().flat_map(|&c| [c, 0]));
    out
}

/// `b` in base64, 76 characters a line (MIME).
fn base64_lines(b: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let mut out = Vec::with_capacity(b.len() * 4 / 3 + b.len() / 28);
    for group in b.chunks(57) {
        out.extend_from_slice(
            base64::engine::general_purpose::STANDARD
                .encode(group)
                .as_bytes(),
        );
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// `b` gzipped (default level).
fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// Scans `path` (`size` bytes) a few times and prints GB/s best, median and worst and GB per
/// CPU-second; with `decoded`, also the decoded bytes per second.
fn measure(
    scanner: &fulfill::audit::leak::LeakScanner,
    path: &std::path::Path,
    what: &str,
    size: usize,
    decoded: Option<usize>,
) {
    let _ = scanner.scan_file(path).unwrap(); // page cache warm
    let mut times = Vec::new();
    let cpu0 = cpu_seconds();
    for _ in 0..RUNS {
        let t = Instant::now();
        let r = scanner.scan_file(path).unwrap();
        assert!(
            r.leaks.is_empty() && r.unscanned.is_empty(),
            "{:?}",
            r.unscanned
        );
        times.push(t.elapsed());
    }
    let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
    times.sort();
    let rate = |n: usize, d: std::time::Duration| n as f64 / d.as_secs_f64() / 1e9;
    println!(
        "leak scan: {what}: best {:.2} GB/s, median {:.2}, worst {:.2} ({RUNS} runs); {} GB per CPU-second{}",
        rate(size, times[0]),
        rate(size, times[RUNS / 2]),
        rate(size, times[RUNS - 1]),
        cpu.map_or("?".into(), |c| format!(
            "{:.2}",
            RUNS as f64 * size as f64 / c / 1e9
        )),
        decoded.map_or(String::new(), |d| format!(
            "; decoded {:.2} GB/s best, {:.2} median",
            rate(d, times[0]),
            rate(d, times[RUNS / 2])
        )),
    );
}

/// Whether case `name` runs (`FULFILL_BENCH_SCAN` names the cases to run; unset: all).
fn runs(name: &str) -> bool {
    std::env::var("FULFILL_BENCH_SCAN").map_or(true, |v| v.split(',').any(|c| c.trim() == name))
}

/// CPU time used by this process so far (all threads, user and system), where the system
/// says: with other work on the cores, wall time alone says little about the scanner.
fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let f: Vec<&str> = s.rsplit(')').next()?.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ, 100 on Linux
}

/// A `/proc/self/status` figure in KiB (`VmRSS`, `VmHWM`), where the system has one.
fn rss_kib(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let l = s.lines().find(|l| l.starts_with(key))?;
    l.split_whitespace().nth(1)?.parse().ok()
}

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
    v.write(|_| {
        for i in 0..ORDERS {
            owner.store_order_pii(
                &format!("111-{i:07}-0000000"),
                "Shipped",
                Some(&common::sample_pii(i)),
                t0,
            )?;
        }
        Ok(())
    })
    .unwrap();
    let s = v
        .unlock(
            "olga",
            &Credential::Passphrase(Passphrase::new(pass.into())),
            t0,
        )
        .unwrap();

    let mut patterns = 0;
    let d = median(1, || {
        patterns = s.leak_scanner(t0).unwrap().0.patterns();
    });
    report(
        &format!("leak matcher: open {ORDERS} records, {patterns} values"),
        d,
        Some((ORDERS as f64, "records")),
    );

    // The leak scan as `audit` runs it: `scan_file` on log files in the page cache.
    let (scanner, _) = s.leak_scanner(t0).unwrap();
    // Positive controls: a value planted in log bytes is found in every form the files below
    // take (the scans below find none).
    let value = common_value(ORDERS / 2);
    let planted = format!("{{\"note\":\"{value}\"}}\n");
    for bytes in [
        planted.clone().into_bytes(),
        utf16le(planted.as_bytes()),
        base64_lines(planted.as_bytes()),
        gzip(planted.as_bytes()),
    ] {
        assert_eq!(scanner.scan_bytes(&bytes).count(), 1);
    }
    let logs = [
        (
            "repetitive",
            "repetitive log (one line repeated)",
            repetitive_log as fn(usize) -> String,
        ),
        ("hex", "log with distinct SHA-256 hex per line", hex_log),
    ];
    let path = dir.path().join("scan.log");
    for (_, what, line) in logs.iter().filter(|l| runs(l.0)) {
        let size = write_log(&path, LOG_MIB << 20, *line);
        measure(
            &scanner,
            &path,
            &format!("{LOG_MIB} MiB {what}, {patterns} values"),
            size,
            None,
        );
    }
    // Files that need decoding: the hex log as Notepad saves it (UTF-16LE with BOM), as base64
    // in 76-character lines, and gzipped. Rates are of the file's raw bytes.
    let (plain_size, text) = if ["utf16", "base64", "gzip"].iter().any(|c| runs(c)) {
        let size = write_log(&path, LOG_MIB << 20, hex_log);
        (size, std::fs::read(&path).unwrap())
    } else {
        (0, Vec::new())
    };
    let encoded: Vec<(&str, Vec<u8>)> = [
        ("utf16", "UTF-16LE"),
        ("base64", "base64, 76-character lines"),
        ("gzip", "gzip"),
    ]
    .into_iter()
    .filter(|c| runs(c.0))
    .map(|(case, what)| {
        let bytes = match case {
            "utf16" => utf16le(&text[..text.len() / 2]),
            "base64" => base64_lines(&text[..text.len() * 3 / 4]),
            _ => gzip(&text),
        };
        (what, bytes)
    })
    .collect();
    drop(text);
    for (what, bytes) in encoded {
        std::fs::write(&path, &bytes).unwrap();
        let decoded = if what == "gzip" {
            Some(plain_size)
        } else {
            None
        };
        measure(
            &scanner,
            &path,
            &format!(
                "{} MiB hex log as {what}, {patterns} values",
                bytes.len() >> 20
            ),
            bytes.len(),
            decoded,
        );
        if what == "gzip" {
            // Inflate alone (flate2's backend, from memory to nowhere): the bound on any scan
            // of a gzipped file, whose one stream no second core can share.
            let mut times = Vec::new();
            for _ in 0..RUNS {
                let t = Instant::now();
                let mut d = flate2::read::GzDecoder::new(&bytes[..]);
                let n = std::io::copy(&mut d, &mut std::io::sink()).unwrap();
                assert_eq!(n as usize, plain_size);
                times.push(t.elapsed());
            }
            times.sort();
            let rate = |d: std::time::Duration| plain_size as f64 / d.as_secs_f64() / 1e9;
            println!(
                "inflate alone: {} MiB gzip to {} MiB: best {:.2} GB/s of output, median {:.2} ({:.2} and {:.2} GB/s of input)",
                bytes.len() >> 20,
                plain_size >> 20,
                rate(times[0]),
                rate(times[RUNS / 2]),
                rate(times[0]) * bytes.len() as f64 / plain_size as f64,
                rate(times[RUNS / 2]) * bytes.len() as f64 / plain_size as f64,
            );
        }
    }
    // Real vaults hold short names too ("Ann Lee" is 6 bytes without its space): values under
    // 8 bytes get a second prefilter pass of 4-byte grams (every 3 bytes for 6-byte values).
    if runs("short") {
        let mut short = fulfill::audit::leak::ScannerBuilder::default();
        for i in 0..ORDERS {
            short.add(&format!("111-{i:07}-0000000"), &common::sample_pii(i));
        }
        short.add(
            "111-9999999-0000000",
            &fulfill::pii::BuyerPii {
                buyer_name: Some(fulfill::pii::Pii::new("Ann Lee")),
                ..Default::default()
            },
        );
        let short = short.build().unwrap();
        let size = write_log(&path, LOG_MIB << 20, hex_log);
        measure(
            &short,
            &path,
            &format!(
                "{LOG_MIB} MiB log with distinct SHA-256 hex per line, {} values, one of 6 bytes",
                short.patterns()
            ),
            size,
            None,
        );
        drop(short);
    }
    // Memory: peak RSS while scanning, over the RSS before, for two file sizes, plain and
    // gzipped.
    if runs("memory") {
        for (mib, gz) in [
            (LOG_MIB / 4, false),
            (LOG_MIB, false),
            (LOG_MIB / 4, true),
            (LOG_MIB, true),
        ] {
            let path = dir.path().join("scan.log");
            let mut size = write_log(&path, mib << 20, hex_log);
            if gz {
                let bytes = gzip(&std::fs::read(&path).unwrap());
                size = bytes.len();
                std::fs::write(&path, bytes).unwrap();
            }
            let before = rss_kib("VmRSS");
            let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
            assert!(scanner.scan_file(&path).unwrap().leaks.is_empty());
            let peak = rss_kib("VmHWM");
            match (reset, before, peak) {
                (true, Some(b), Some(p)) => println!(
                    "leak scan memory: {} MiB {} file: peak RSS {:.1} MiB, {:.1} MiB over the {:.1} MiB before",
                    size >> 20,
                    if gz { "gzipped log" } else { "log" },
                    p as f64 / 1024.0,
                    p.saturating_sub(b) as f64 / 1024.0,
                    b as f64 / 1024.0
                ),
                _ => println!("leak scan memory: peak RSS not available on this system"),
            }
        }
    }
    drop(scanner);

    // Before: the previous matcher, one unanchored aho-corasick pass (leftmost-longest, ASCII
    // case-insensitive) over the same values and their PDF hex forms, in 8 MiB reads.
    if runs("before") {
        let mut pats: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for i in 0..ORDERS {
            for (field, v) in common::sample_pii(i).fields() {
                let v = v.expose_pii().trim().to_string();
                let local = ["city", "state_or_region", "postal_code", "country_code"];
                if !local.contains(&field) && v.len() >= 6 && seen.insert(v.to_lowercase()) {
                    pats.push(v.chars().map(|c| format!("{:02X}", c as u32)).collect());
                    pats.push(v);
                }
            }
        }
        let ac = aho_corasick::AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(&pats)
            .unwrap();
        drop(pats);
        let path = dir.path().join("scan.log");
        for (_, what, line) in logs {
            let size = write_log(&path, LOG_MIB << 20, line);
            let cpu0 = cpu_seconds();
            let d = median(1, || {
                let mut f = std::fs::File::open(&path).unwrap();
                let mut buf = vec![0u8; 8 << 20];
                loop {
                    let n = std::io::Read::read(&mut f, &mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    assert_eq!(ac.find_iter(&buf[..n]).count(), 0);
                }
            });
            let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| (b - a) / 2.0);
            println!(
                "before: aho-corasick alone, {LOG_MIB} MiB {what}, {} patterns: {:.2} GB/s; {} GB per CPU-second",
                ac.patterns_len(),
                size as f64 / d.as_secs_f64() / 1e9,
                cpu.map_or("?".into(), |c| format!("{:.2}", size as f64 / c / 1e9)),
            );
        }
        drop(ac);
        std::fs::remove_file(&path).unwrap();
    }
    if runs("purge") {
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
}
