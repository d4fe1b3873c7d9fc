//! `fulfill station`: one unlock, then scan an order (label), scan its tracking number
//! (shipment); bad scans are answered and the shift goes on; a scan that is not a tracking
//! number of the station's carrier is refused and the order still waits; an idle station
//! locks.

use crate::fetch_support;
use crate::support;

use std::io::Write;
use std::process::Stdio;

use chrono::Duration;
use fetch_support::CliEnv;
use fulfill::config::Profile;
use fulfill::flow::station::{Scan, Station, StationConfig, unlock_again};
use fulfill::label::{Destination, Dpi, Format, LabelRequest};
use fulfill::model::tracking::Carrier;
use fulfill::safety::Environment;
use fulfill::vault::key::Passphrase;
use support::{OWNER_PASS, TestDir, new_vault, pass, t0};

#[test]
fn a_shift_labels_and_ships_scan_by_scan() {
    let e = CliEnv::new(40, 51, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    let (r, pat) = e.dir.add_operator("olga", &e.pass, "pat", "packer");
    assert_eq!(r.code, 0);
    let ids: Vec<String> = {
        let db = e.db();
        let mut st = db
            .prepare(
                "SELECT amazon_order_id FROM orders WHERE lifecycle = 'unshipped' AND pii_state = 'sealed'
                 AND pii_missing = 0 ORDER BY amazon_order_id LIMIT 2",
            )
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    // After the first order: a mistyped order id, a junk string and a UPS number with a wrong
    // check digit are refused (the order still waits), then its real tracking number ships it.
    let (ta, tb) = (support::ups(41), support::ups(42));
    let scans = format!(
        "{a}\n112-9672024-964525\nJUNK SCAN\n1Z999AA10123456785\n{ta}\nLONE-TRACKING\n\
         000-0000000-0000000\n{b}\n{tb}\ndone\nnot read\n",
        a = ids[0],
        b = ids[1]
    );
    let mut child = e
        .dir
        .fulfill()
        .args([
            "--operator",
            "pat",
            "--passphrase-file",
            pat.to_str().unwrap(),
        ])
        .args(["station", "--carrier", "UPS", "--method", "Ground"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(scans.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "five scans failed:\n{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[1].starts_with(&format!("label printed for {}", ids[0])),
        "{stdout}"
    );
    let waits = format!("; {} still waits for its tracking number", ids[0]);
    for (line, why) in lines[2..5].iter().zip([
        "looks like an Amazon order id",
        "not in any UPS",
        "check digit",
    ]) {
        assert!(
            line.starts_with("refused: ") && line.contains(why) && line.ends_with(&waits),
            "{stdout}"
        );
    }
    assert!(
        lines[5].starts_with(&format!("shipped {} (tracking {ta})", ids[0])),
        "{stdout}"
    );
    assert!(lines[6].starts_with("scan an order first"));
    assert!(lines[7].starts_with("error: order 000-0000000-0000000 is not in the vault"));
    assert!(lines[8].starts_with(&format!("label printed for {}", ids[1])));
    assert!(lines[9].starts_with(&format!("shipped {}", ids[1])));
    assert_eq!(lines[10], "Shift over: 2 shipped, 5 failed scan(s).");

    let db = e.db();
    for (id, t) in ids.iter().zip([&ta, &tb]) {
        let (lifecycle, tracking, method): (String, String, String) = db
            .query_row(
                "SELECT o.lifecycle, s.tracking, s.method FROM orders o JOIN shipments s USING (amazon_order_id)
                 WHERE amazon_order_id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(
            (lifecycle.as_str(), tracking.as_str(), method.as_str()),
            ("shipped", t.as_str(), "Ground")
        );
        let tracked: i64 = db
            .query_row(
                "SELECT count(*) FROM label_files WHERE amazon_order_id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tracked, 1, "its label is in spool/, tracked");
    }
    // The refused scans recorded nothing: one package each, one record each.
    let log = e.dir.audit_text();
    assert_eq!(log.matches("\"event\":\"ship.recorded\"").count(), 2);
    assert!(log.contains("\"tracking_check\":\"check_digit\""));
    // One unlock for the whole shift.
    let pat_unlocks = log
        .lines()
        .filter(|l| l.contains("\"event\":\"unlock.ok\"") && l.contains("\"operator\":\"pat\""))
        .count();
    assert_eq!(pat_unlocks, 1);
}

#[test]
fn an_idle_station_locks_before_the_next_scan() {
    let d = TestDir::new();
    let v = new_vault(&d, Profile::Mws2020, true);
    let s = v.unlock("olga", &pass(OWNER_PASS), t0()).unwrap();
    let cfg = StationConfig {
        carrier: Carrier::Code("UPS"),
        no_verify: false,
        method: None,
        label: LabelRequest {
            orders: Vec::new(),
            format: Format::Zpl,
            dpi: Dpi::D203,
            destination: Destination::Spool,
            return_address: None,
        },
        idle: Duration::minutes(15),
    };
    let env = Environment::system();
    let mut st = Station::new(cfg, t0());
    // A scan 10 minutes in is served (no order yet: a tracking number alone).
    assert!(matches!(
        st.scan(&s, &env, "1Z1", t0() + Duration::minutes(10)),
        Scan::NoOrder
    ));
    // 16 minutes after the last scan: locked, until unlocked again.
    let late = t0() + Duration::minutes(26);
    assert!(matches!(st.scan(&s, &env, "1Z2", late), Scan::Locked));
    assert!(matches!(st.scan(&s, &env, "1Z2", late), Scan::Locked));
    st.unlocked(late);
    assert!(matches!(st.scan(&s, &env, "1Z2", late), Scan::NoOrder));
    assert!(matches!(
        st.scan(&s, &env, "done", late + Duration::hours(5)),
        Scan::Done
    ));
}

#[test]
fn after_an_idle_lock_only_the_person_at_a_terminal_unlocks_again() {
    let d = TestDir::new();
    let v = new_vault(&d, Profile::Mws2020, true);
    // No terminal: the shift ends (exit 3), though the passphrase file is still there.
    let e = unlock_again(&v, "olga", None, t0()).unwrap_err();
    assert_eq!(e.exit(), fulfill::Exit::Denied, "{e}");
    assert!(
        e.to_string().contains("terminal") && e.to_string().contains("not read a second time"),
        "{e}"
    );
    // On a terminal: what the person types (the control), and a wrong one is refused.
    let mut typed = || Ok(Passphrase::new(OWNER_PASS.into()));
    let s = unlock_again(&v, "olga", Some(&mut typed), t0()).unwrap();
    assert_eq!(s.name(), "olga");
    drop(s);
    let mut wrong = || Ok(Passphrase::new("somebody guessing at it".into()));
    let e = unlock_again(&v, "olga", Some(&mut wrong), t0()).unwrap_err();
    assert_eq!(e.exit(), fulfill::Exit::Denied, "{e}");
}
