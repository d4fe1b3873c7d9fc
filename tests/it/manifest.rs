//! `fulfill manifest` through the binary: a day's parcels per carrier in the operator's local
//! day (TZ set for the process, times from the sandbox home's `--now`), as exact CSV and as a
//! PDF whose text (pdftotext) and barcodes name every parcel; no buyer data in either; one
//! `manifest.written` record; `--carrier`; an empty day; who may run it.

use crate::fetch_support;
use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use fetch_support::CliEnv;
use support::{Run, count, ups, usps};

/// UTC+1 all year (a POSIX TZ string: no time zone database needed).
const TZ: &str = "CET-1";

struct Env {
    e: CliEnv,
    pat: PathBuf,
    pia: PathBuf,
}

impl Env {
    fn new(seed: u64) -> Env {
        let e = CliEnv::new(30, seed, 3000.0, "");
        assert_eq!(e.fetch().code, 0);
        let (r, pat) = e.dir.add_operator("olga", &e.pass, "pat", "packer");
        assert_eq!(r.code, 0, "{}", r.stderr);
        let (r, pia) = e.dir.add_operator("olga", &e.pass, "pia", "picker");
        assert_eq!(r.code, 0, "{}", r.stderr);
        Env { e, pat, pia }
    }

    /// The binary as `name` in time zone [`TZ`] at `now`.
    fn run_at(&self, name: &str, pass: &Path, now: DateTime<Utc>, args: &[&str]) -> Run {
        let mut c = self.e.dir.fulfill();
        c.env("TZ", TZ)
            .args(["--now", &now.to_rfc3339_opts(SecondsFormat::Secs, true)])
            .args(["--operator", name, "--passphrase-file"])
            .arg(pass)
            .args(args);
        support::run(&mut c)
    }

    fn pat(&self, now: DateTime<Utc>, args: &[&str]) -> Run {
        self.run_at("pat", &self.pat, now, args)
    }

    fn ship(&self, at: DateTime<Utc>, order: &str, carrier: &str, tracking: &str) {
        let r = self.pat(
            at,
            &["ship", order, "--carrier", carrier, "--tracking", tracking],
        );
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    }
}

fn pdf_text(pdf: &Path) -> String {
    let r = support::run(
        Command::new(support::system_tool("pdftotext", "poppler-utils"))
            .arg("-layout")
            .arg(pdf)
            .arg("-"),
    );
    assert_eq!(r.code, 0, "pdftotext: {}", r.stderr);
    r.stdout
}

#[test]
fn a_days_parcels_per_carrier_in_csv_and_pdf_without_buyer_data() {
    let t = Env::new(81);
    let ids = t.e.order_ids(
        "lifecycle = 'unshipped' AND pii_state = 'sealed' AND pii_missing = 0 AND items_fetched = 1",
        5,
    );
    // Day D in UTC+1, a few days after the orders were bought.
    let day: NaiveDate = (Utc::now() + Duration::days(3)).date_naive();
    let at = |h: i64, m: i64| {
        day.and_hms_opt(0, 0, 0).unwrap().and_utc() + Duration::minutes(h * 60 + m)
    };
    // 00:30 local on D (23:30 UTC the day before): D's, by the local day.
    t.ship(at(-1, 30), &ids[2], "UPS", &ups(3));
    // 09:00 local on D.
    t.ship(at(8, 0), &ids[0], "UPS", &ups(1));
    t.ship(at(9, 15), &ids[1], "usps", &usps(2));
    // 00:30 local on D + 1 (23:30 UTC on D): the next day's.
    t.ship(at(23, 30), &ids[3], "UPS", &ups(4));
    let d = day.to_string();
    let dir = t.e.dir.path();
    let evening = at(19, 0);

    // CSV, exact; the day is the local day of the command's clock when not given.
    let csv = dir.join("m.csv");
    let r = t.pat(evening, &["manifest", "--out", csv.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "Manifest for {d}: 3 parcel(s) of 3 order(s) (UPS 2, USPS 1) -> "
        )),
        "{}",
        r.stdout
    );
    let want = format!(
        "date,carrier,order_id,parcel,tracking\n\
         {d},UPS,{},1,{}\n\
         {d},UPS,{},1,{}\n\
         {d},USPS,{},1,{}\n",
        ids[2],
        ups(3),
        ids[0],
        ups(1),
        ids[1],
        usps(2)
    );
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), want);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&csv).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // The next day holds only the parcel shipped after local midnight.
    let next = dir.join("next.csv");
    let r = t.pat(
        evening,
        &[
            "manifest",
            "--date",
            &day.succ_opt().unwrap().to_string(),
            "--out",
            next.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let next_csv = std::fs::read_to_string(&next).unwrap();
    assert_eq!(next_csv.lines().count(), 2, "{next_csv}");
    assert!(next_csv.contains(&ups(4)) && !next_csv.contains(&ups(1)));

    // --carrier, in any spelling ship takes.
    let only = dir.join("ups.csv");
    let r = t.pat(
        evening,
        &[
            "manifest",
            "--carrier",
            "ups",
            "--out",
            only.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let only_csv = std::fs::read_to_string(&only).unwrap();
    assert_eq!(
        only_csv,
        want.lines()
            .filter(|l| !l.contains(",USPS,"))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    );

    // PDF: each carrier's count, every order and tracking number as text and as a barcode.
    let pdf = dir.join("m.pdf");
    let r = t.pat(
        evening,
        &["manifest", "--date", &d, "--out", pdf.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = pdf_text(&pdf);
    assert!(text.contains(&format!("Pickup manifest {d}")), "{text}");
    assert!(text.contains("UPS: 2 parcel(s)"), "{text}");
    assert!(text.contains("USPS: 1 parcel(s)"), "{text}");
    assert!(text.contains("Total: 3 parcel(s)"), "{text}");
    for (id, tracking) in [(&ids[0], ups(1)), (&ids[1], usps(2)), (&ids[2], ups(3))] {
        assert!(
            text.contains(id.as_str()) && text.contains(&tracking),
            "{text}"
        );
    }
    assert!(!text.contains(&ids[3]), "another day's parcel: {text}");
    let bytes = std::fs::read(&pdf).unwrap();
    let mut scanned: Vec<String> = support::pdf_streams(&bytes)
        .into_iter()
        .flat_map(support::pdf_barcodes)
        .map(|b| b.unwrap())
        .collect();
    scanned.sort();
    let mut want_bars = vec![ups(1), ups(3), usps(2)];
    want_bars.sort();
    assert_eq!(scanned, want_bars, "one barcode per tracking number");

    // No buyer data anywhere: the sandbox's PII marker is in none of the files...
    let marker = t.e.sb.pii_marker();
    for f in [&csv, &pdf, &next, &only] {
        assert_eq!(
            count(&std::fs::read(f).unwrap(), marker.as_bytes()),
            0,
            "{f:?}"
        );
    }
    assert_eq!(count(text.as_bytes(), marker.as_bytes()), 0);
    // ... while a label of the same order (positive control) carries it.
    let label = dir.join("label.zpl");
    let r = t.pat(
        evening,
        &["label", &ids[4], "--out", label.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(count(&std::fs::read(&label).unwrap(), marker.as_bytes()) > 0);

    // Recorded: one record per manifest written, with its day, counts and carriers.
    let log = t.e.dir.audit_text();
    let recs: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "manifest.written")
        .collect();
    assert_eq!(recs.len(), 4, "{recs:?}");
    assert_eq!(recs[0]["date"], d.as_str());
    assert_eq!(recs[0]["parcels"], 3);
    assert_eq!(recs[0]["orders"], 3);
    assert_eq!(recs[0]["format"], "csv");
    assert_eq!(recs[0]["operator"], "pat");
    assert_eq!(recs[0]["carriers"], serde_json::json!(["UPS 2", "USPS 1"]));
    assert_eq!(recs[2]["carrier"], "ups");
    assert_eq!(recs[3]["format"], "pdf");
    assert_eq!(count(log.as_bytes(), marker.as_bytes()), 0);
}

#[test]
fn an_empty_day_says_so_and_only_packers_and_owners_run_it() {
    let t = Env::new(82);
    let id = t.e.order_ids(
        "lifecycle = 'unshipped' AND pii_state = 'sealed' AND pii_missing = 0 AND items_fetched = 1",
        1,
    );
    let now = Utc::now() + Duration::days(3);
    t.ship(now, &id[0], "UPS", &ups(7));
    let out = t.e.dir.path().join("empty.pdf");
    let o = out.to_str().unwrap();
    let later = (now + Duration::days(5)).date_naive().to_string();

    let r = t.pat(now, &["manifest", "--date", &later, "--out", o]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout.trim(),
        format!("No parcels shipped on {later}: no manifest written.")
    );
    assert!(!out.exists());
    // A carrier with nothing that day: the same.
    let r = t.pat(now, &["manifest", "--carrier", "DHL", "--out", o]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("for carrier DHL: no manifest written"),
        "{}",
        r.stdout
    );
    assert!(!out.exists());

    // A picker may not (DESIGN.md: packer, owner); a file that is neither PDF nor CSV is a
    // usage error.
    let r = t.run_at("pia", &t.pia, now, &["manifest", "--out", o]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(!out.exists());
    let r = t.pat(now, &["manifest", "--out", "m.txt"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = t.pat(now, &["manifest", "--date", "2026-13-01", "--out", o]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    // Positive control: the owner may, and the day's parcel is on it.
    let r = t.run_at("olga", &t.e.pass, now, &["manifest", "--out", o]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(out.exists());
    assert!(pdf_text(&out).contains(&ups(7)));
}
