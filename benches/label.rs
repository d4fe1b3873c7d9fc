//! Warehouse-day benchmarks: one print job of 200 labels (ZPL and PDF) and of 200 packing
//! slips, as the real `fulfill` binary runs it (unlock at the stored Argon2id parameters,
//! one batch opening, render, one tracked file): wall time and peak RSS (goal: under 2 s and
//! under 100 MiB); 200 ZPL labels of which half are in other scripts and rasterised (Japanese,
//! Arabic, Hebrew, Polish, Turkish, Greek, Thai, Devanagari; goal: under 2 s and under 150
//! MiB); and the packing station's scan-to-label latency over 1,000 scans (p50,
//! p99, max; goal p99 under 20 ms), in-process, printer excluded (labels go to spool/, each
//! with its fsynced records, as on a real shift).
//!
//! Peak RSS is the child's `VmHWM`, sampled from `/proc/<pid>/status` every 2 ms until it
//! exits (the high-water mark only grows). Orders are made through the library: Latin-1
//! addresses (`common::sample_pii`), two items each, a gift message on every fifth; the mixed
//! batch cycles through nine scripts (Latin, Japanese, Arabic, Hebrew, Polish, Turkish, Greek,
//! Thai, Devanagari: [`mixed_pii`]), and the Japanese station run gives every order a Japanese
//! address and prints PDF labels (the CJK face is read once, on the first scan).

// A plain rusqlite baseline, or setup as an operator with sqlite3 would do it: a connection
// of the bench's own (clippy.toml keeps connections out of the crate outside `vault`).
#![allow(clippy::disallowed_types)]

#[path = "common.rs"]
mod common;

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use fulfill::config::Profile;
use fulfill::flow::station::{Scan, Station, StationConfig};
use fulfill::home::Home;
use fulfill::label::{Destination, Dpi, Format, LabelRequest};
use fulfill::mws::model::{OrderItem, OrderItemInfo};
use fulfill::pii::{BuyerPii, Pii};
use fulfill::safety::Environment;
use fulfill::vault::Vault;
use fulfill::vault::key::{Credential, Passphrase};

const BIN: &str = env!("CARGO_BIN_EXE_fulfill");
const PASS: &str = "benchmark passphrase, long";
const BATCH: usize = 200;
const SCANS: usize = 1000;

/// Which addresses the orders get.
#[derive(Clone, Copy)]
enum Scripts {
    /// `common::sample_pii`, to the US.
    Latin,
    /// [`mixed_pii`], each to its country.
    Mixed,
    /// Japanese, to Japan.
    Japanese,
}

/// The countries and addresses of the mixed batch, one per script.
const MIXED: [(&str, &str, &str, &str, &str); 9] = [
    (
        "US",
        "Recipient Name",
        "Some Long Street Name",
        "Springfield IL",
        "62704",
    ),
    (
        "JP",
        "山田 太郎",
        "丸の内2丁目7-2",
        "千代田区 東京都",
        "100-0001",
    ),
    ("SA", "عبد الله الفيصل", "طريق الملك فهد", "الرياض", "12345"),
    ("IL", "דוד כהן", "רחוב הרצל", "תל אביב-יפו", "6423902"),
    (
        "PL",
        "Łukasz Żółkiewski",
        "ul. Piotrkowska",
        "Łódź",
        "90-001",
    ),
    (
        "TR",
        "Şükrü Ağaoğlu",
        "Bağdat Caddesi No:",
        "İstanbul Kadıköy",
        "34710",
    ),
    (
        "GR",
        "Ζωή Παπαδοπούλου",
        "Οδός Ερμού",
        "Αθήνα Αττική",
        "10563",
    ),
    ("TH", "สมชาย ใจดี", "ถนนสุขุมวิท", "กรุงเทพมหานคร", "10110"),
    ("IN", "राहुल शर्मा", "कनॉट प्लेस", "नई दिल्ली", "110001"),
];

/// Order `i`'s country and address in script `i % 9` of [`MIXED`].
fn mixed_pii(i: usize, k: usize) -> (&'static str, fulfill::pii::BuyerPii) {
    use fulfill::pii::{BuyerPii, Pii};
    let (country, name, street, city, postal) = MIXED[k % MIXED.len()];
    let pii = BuyerPii {
        buyer_name: Some(Pii::new(format!("{name} {i}"))),
        recipient_name: Some(Pii::new(format!("{name} {i}"))),
        address_line1: Some(Pii::new(format!("{street} {i}"))),
        city: Some(Pii::new(city.to_string())),
        postal_code: Some(Pii::new(postal.to_string())),
        phone: Some(Pii::new(format!("+1 555 {i:07}"))),
        ..Default::default()
    };
    (country, pii)
}

/// Order `i` of the half-rasterised ZPL wave: even orders Latin-1 to the US (printer text on
/// a ZPL label), odd ones in the other scripts of [`MIXED`] (drawn as `^GF` images).
fn half_rasterised(i: usize) -> (&'static str, BuyerPii) {
    if i.is_multiple_of(2) {
        ("US", common::sample_pii(i))
    } else {
        mixed_pii(i, 1 + (i / 2) % (MIXED.len() - 1))
    }
}

/// A vault with `n` unshipped, addressable orders (ids `111-NNNNNNN-0000000`).
fn vault_with_orders(root: &Path, n: usize, t0: DateTime<Utc>, scripts: Scripts) -> Vault {
    match scripts {
        Scripts::Latin => vault_with(root, n, t0, |i| ("US", common::sample_pii(i))),
        Scripts::Mixed => vault_with(root, n, t0, |i| mixed_pii(i, i)),
        Scripts::Japanese => vault_with(root, n, t0, |i| mixed_pii(i, 1)),
    }
}

/// A vault with `n` unshipped, addressable orders whose country and address `of` gives.
fn vault_with(
    root: &Path,
    n: usize,
    t0: DateTime<Utc>,
    of: impl Fn(usize) -> (&'static str, BuyerPii),
) -> Vault {
    let home = Home::create(root, &Environment::system()).unwrap();
    let v = Vault::create(
        &home,
        "olga",
        Passphrase::new(PASS.into()),
        Profile::Mws2020,
        true,
        t0,
    )
    .unwrap();
    let s = v
        .unlock(
            "olga",
            &Credential::Passphrase(Passphrase::new(PASS.into())),
            t0,
        )
        .unwrap();
    let mut sealer = s.sealer(t0).unwrap();
    let mut countries = Vec::with_capacity(n);
    v.write(|tx| {
        for i in 0..n {
            let id = format!("111-{i:07}-0000000");
            let (country, pii) = of(i);
            countries.push((id.clone(), country));
            s.store_order_pii(&id, "Unshipped", Some(&pii), t0)?;
            let items: Vec<OrderItem> = (0..2)
                .map(|k| OrderItem {
                    info: OrderItemInfo {
                        asin: format!("B0{i:06}{k}"),
                        seller_sku: Some(format!("SKU-{}", (i + k) % 37)),
                        order_item_id: format!("{i:07}{k}"),
                        title: Some("Ceramic Mug & Saucer, Deluxe".into()),
                        quantity_ordered: 1 + k as u32,
                        ..Default::default()
                    },
                    gift_message_text: (k == 0 && i % 5 == 0)
                        .then(|| Pii::new(format!("Happy birthday, dear friend number {i}!"))),
                })
                .collect();
            fulfill::vault::ingest::store_items(tx, &mut sealer, &id, &items)?;
        }
        Ok(())
    })
    .unwrap();
    // The orders as a fetch would leave them, set the way an operator with sqlite3 could.
    let db = rusqlite::Connection::open(v.home().vault_path()).unwrap();
    db.execute_batch(
        "UPDATE orders SET lifecycle = 'unshipped', ship_country = 'US',
            ship_service_level = 'Std', items_fetched = 1, pii_missing = 0",
    )
    .unwrap();
    for (id, country) in &countries {
        db.execute(
            "UPDATE orders SET ship_country = ?2 WHERE amazon_order_id = ?1",
            [id.as_str(), *country],
        )
        .unwrap();
    }
    drop(s);
    v
}

/// Olga's passphrase in a 0600 file in `dir`, for the binary's `--passphrase-file`.
fn pass_file(dir: &Path) -> std::path::PathBuf {
    let pass = dir.join("olga.pass");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&pass)
        .unwrap();
    std::io::Write::write_all(&mut f, PASS.as_bytes()).unwrap();
    pass
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

/// Runs `fulfill ARGS` as olga on `home`; returns wall time and peak RSS (KiB).
fn measure(home: &Path, pass: &Path, args: &[&str]) -> (Duration, u64) {
    let t = Instant::now();
    let mut child = Command::new(BIN)
        .env("FULFILL_HOME", home)
        .args(["--operator", "olga", "--passphrase-file"])
        .arg(pass)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0;
    loop {
        if let Some(k) = vm_hwm_kib(pid) {
            peak = peak.max(k);
        }
        if let Some(status) = child.try_wait().unwrap() {
            let wall = t.elapsed();
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            assert!(status.success(), "fulfill {args:?}: {err}");
            return (wall, peak);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn batches(scripts: Scripts) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("home");
    let t0 = Utc::now();
    drop(vault_with_orders(&root, BATCH, t0, scripts));
    let pass = pass_file(dir.path());
    let out = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    // The same orders are printed each run (a reprint of the whole wave): `--status open`.
    let mut runs: Vec<(&str, Vec<String>)> = vec![
        (
            "200 labels, ZPL, one job",
            vec!["label".into(), "--all-unshipped".into()],
        ),
        (
            "200 labels, PDF, one job",
            vec![
                "label".into(),
                "--status".into(),
                "open".into(),
                "--format".into(),
                "pdf".into(),
                "--out".into(),
                out("labels.pdf"),
            ],
        ),
        (
            "200 slips, Letter PDF, one job",
            vec![
                "slip".into(),
                "--status".into(),
                "open".into(),
                "--out".into(),
                out("slips.pdf"),
            ],
        ),
        (
            "200 slips, 4x6 PDF, one job",
            vec![
                "slip".into(),
                "--status".into(),
                "open".into(),
                "--size".into(),
                "4x6".into(),
            ],
        ),
    ];
    if let Scripts::Mixed = scripts {
        // Nine scripts: only the PDF runs (ZPL draws Latin only).
        runs = vec![
            ("200 labels, PDF, 9 scripts, one job", runs[1].1.clone()),
            ("200 slips, Letter PDF, 9 scripts", runs[2].1.clone()),
        ];
    }
    for (name, args) in &runs {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut walls = Vec::new();
        let mut peaks = Vec::new();
        for _ in 0..3 {
            let (w, p) = measure(&root, &pass, &args);
            walls.push(w);
            peaks.push(p);
        }
        walls.sort();
        peaks.sort();
        println!(
            "{name:<40} wall {:>7.1} ms (best {:.1}, worst {:.1})   peak RSS {:>5.1} MiB",
            walls[1].as_secs_f64() * 1e3,
            walls[0].as_secs_f64() * 1e3,
            walls[2].as_secs_f64() * 1e3,
            peaks[2] as f64 / 1024.0
        );
    }
    let (w, p) = measure(&root, &pass, &["orders"]);
    println!(
        "{:<40} wall {:>7.1} ms   peak RSS {:>5.1} MiB",
        "for scale: `orders` (unlock, list)",
        w.as_secs_f64() * 1e3,
        p as f64 / 1024.0
    );
}

/// 200 ZPL labels in one job, half of them rasterised (`half_rasterised`), at 203 and 300 dpi:
/// wall time and peak RSS (goal: under 2 s and under 150 MiB).
fn mixed_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("home");
    let t0 = Utc::now();
    drop(vault_with(&root, BATCH, t0, half_rasterised));
    let pass = pass_file(dir.path());
    for dpi in ["203", "300"] {
        let out = dir.path().join(format!("mixed-{dpi}.zpl"));
        let out = out.to_string_lossy();
        let args = ["label", "--status", "open", "--dpi", dpi, "--out", &out];
        let mut walls = Vec::new();
        let mut peaks = Vec::new();
        for _ in 0..3 {
            let (w, p) = measure(&root, &pass, &args);
            walls.push(w);
            peaks.push(p);
        }
        let zpl = std::fs::read_to_string(&*out).unwrap();
        let images = zpl.matches("^GFA,").count();
        assert!(images >= BATCH / 2, "half the labels rasterised: {images}");
        walls.sort();
        peaks.sort();
        println!(
            "{:<40} wall {:>7.1} ms (best {:.1}, worst {:.1})   peak RSS {:>5.1} MiB   {} KiB, {images} images",
            format!("200 ZPL, half rasterised, {dpi} dpi"),
            walls[1].as_secs_f64() * 1e3,
            walls[0].as_secs_f64() * 1e3,
            walls[2].as_secs_f64() * 1e3,
            peaks[2] as f64 / 1024.0,
            zpl.len() / 1024
        );
    }
}

/// A raw "printer" on loopback that reads every job and throws it away (the printer is not
/// what is measured).
fn discarding_printer() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let _ = std::io::copy(&mut c, &mut std::io::sink());
        }
    });
    addr
}

fn station(destination: Destination, what: &str, scripts: Scripts) {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Utc::now();
    let v = vault_with_orders(&dir.path().join("home"), SCANS, t0, scripts);
    let format = match scripts {
        Scripts::Japanese => Format::Pdf,
        _ => Format::Zpl,
    };
    let s = v
        .unlock(
            "olga",
            &Credential::Passphrase(Passphrase::new(PASS.into())),
            t0,
        )
        .unwrap();
    let cfg = StationConfig {
        carrier: fulfill::model::tracking::Carrier::Code("UPS"),
        no_verify: false,
        method: None,
        label: LabelRequest {
            orders: Vec::new(),
            format,
            dpi: Dpi::D203,
            destination,
            return_address: None,
        },
        idle: chrono::Duration::minutes(15),
        verify: false,
    };
    let env = Environment::system();
    let mut st = Station::new(cfg, t0);
    let mut lat = Vec::with_capacity(SCANS);
    let mut ship = Vec::with_capacity(SCANS);
    for i in 0..SCANS {
        let now = t0 + chrono::Duration::seconds(2 * i as i64);
        let t = Instant::now();
        let a = st.scan(&s, &env, &format!("111-{i:07}-0000000"), now);
        lat.push(t.elapsed());
        assert!(matches!(a, Scan::Labelled { .. }), "{a:?}");
        let t = Instant::now();
        // A UPS number with its check digit (the station checks it).
        let body = format!("999AA101{i:07}");
        let check = fulfill::model::tracking::ups_check_digit(&body).unwrap();
        let b = st.scan(
            &s,
            &env,
            &format!("1Z{body}{check}"),
            now + chrono::Duration::seconds(1),
        );
        ship.push(t.elapsed());
        assert!(matches!(b, Scan::Shipped { .. }), "{b:?}");
    }
    let pct = |v: &mut Vec<Duration>, p: f64| {
        v.sort();
        v[((v.len() as f64 * p) as usize).min(v.len() - 1)].as_secs_f64() * 1e3
    };
    println!(
        "{:<40} p50 {:>6.2} ms   p99 {:>6.2} ms   max {:>6.2} ms",
        format!("station: order scan -> label {what}"),
        pct(&mut lat, 0.50),
        pct(&mut lat, 0.99),
        pct(&mut lat, 1.0)
    );
    println!(
        "{:<40} p50 {:>6.2} ms   p99 {:>6.2} ms   max {:>6.2} ms",
        format!("station: tracking scan -> shipment ({what})"),
        pct(&mut ship, 0.50),
        pct(&mut ship, 0.99),
        pct(&mut ship, 1.0)
    );
}

fn main() {
    println!("fulfill label benchmarks (release build)");
    batches(Scripts::Latin);
    batches(Scripts::Mixed);
    mixed_scripts();
    station(Destination::Spool, "in spool/", Scripts::Latin);
    station(
        Destination::Printer(discarding_printer()),
        "to a raw TCP printer",
        Scripts::Latin,
    );
    station(
        Destination::Spool,
        "Japanese, PDF, in spool/",
        Scripts::Japanese,
    );
}
