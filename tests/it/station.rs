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
        verify: false,
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

/// A fetched sandbox home with a packer `pat`; `n` orders ready to label (their ids).
fn packing_floor(n: usize) -> (CliEnv, std::path::PathBuf, Vec<String>) {
    let e = CliEnv::new(40, 51, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    let (r, pat) = e.dir.add_operator("olga", &e.pass, "pat", "packer");
    assert_eq!(r.code, 0);
    let ids: Vec<String> = {
        let db = e.db();
        let mut st = db
            .prepare(
                "SELECT amazon_order_id FROM orders o WHERE lifecycle = 'unshipped'
                 AND pii_state = 'sealed' AND pii_missing = 0 AND items_fetched = 1
                 AND (SELECT count(*) FROM order_items i WHERE i.amazon_order_id = o.amazon_order_id) >= 1
                 ORDER BY amazon_order_id LIMIT ?1",
            )
            .unwrap();
        st.query_map([n as i64], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(ids.len(), n);
    (e, pat, ids)
}

/// A station shift as `pat`, its stdin and stdout piped.
fn station(e: &CliEnv, pat: &std::path::Path, extra: &[&str]) -> std::process::Child {
    e.dir
        .fulfill()
        .args([
            "--operator",
            "pat",
            "--passphrase-file",
            pat.to_str().unwrap(),
        ])
        .args(["station", "--carrier", "UPS"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The shift's output for these scans.
fn shift(e: &CliEnv, pat: &std::path::Path, extra: &[&str], scans: &str) -> (i32, String, String) {
    let mut child = station(e, pat, extra);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(scans.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn verify_asks_for_every_item_and_names_wrong_extra_and_misread_ones() {
    let (e, pat, ids) = packing_floor(2);
    let (a, b) = (&ids[0], &ids[1]);
    // The items of `a`, as the vault holds them: SKU, ASIN, item id, quantity.
    let items: Vec<(String, String, String, u32)> = {
        let db = e.db();
        let mut st = db
            .prepare(
                "SELECT seller_sku, asin, order_item_id, quantity_ordered FROM order_items
                 WHERE amazon_order_id = ?1 ORDER BY order_item_id",
            )
            .unwrap();
        st.query_map([a], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let wanted: u32 = items.iter().map(|i| i.3).sum();
    // Every unit: by SKU for the first item, by ASIN (lower case) and item id for the others.
    let mut good = Vec::new();
    for (n, (sku, asin, id, q)) in items.iter().enumerate() {
        for k in 0..*q {
            good.push(match (n + k as usize) % 3 {
                0 => sku.clone(),
                1 => asin.to_lowercase(),
                _ => id.clone(),
            });
        }
    }
    let ta = support::ups(61);
    let mut scans = vec![a.clone(), String::new()];
    // Before the first item: a tracking number is not an item, a misread EAN, a wrong item.
    scans.push(ta.clone());
    scans.push("4006381333932".into());
    scans.push("SKU-NOT-IN-THIS-ORDER".into());
    scans.extend(good.iter().cloned());
    // Every unit is in: the order is complete, so the next scan is its tracking number.
    scans.push(ta.clone());
    scans.push("done".into());
    let (code, out, err) = shift(&e, &pat, &["--verify"], &(scans.join("\n") + "\n"));
    assert_eq!(code, 1, "three scans were mistakes:\n{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains("then its items, then its tracking number"),
        "{out}"
    );
    assert!(
        lines[1].starts_with(&format!("label printed for {a}; scan its items: ")),
        "{out}"
    );
    // The empty line got no answer: the next line answers the tracking number, as an item.
    assert!(
        lines[2].starts_with(&format!(
            "wrong item: not in {a}; put it back; still to scan: "
        )),
        "{out}"
    );
    assert!(
        lines[3].starts_with("misread: a UPC/EAN with a wrong check digit"),
        "{out}"
    );
    assert!(lines[4].starts_with("wrong item: "), "{out}");
    let packed = &lines[5..5 + good.len()];
    for l in &packed[..packed.len() - 1] {
        assert!(l.starts_with("ok "), "{out}");
    }
    assert!(
        packed[packed.len() - 1].ends_with(&format!("{a} is complete: scan its tracking number")),
        "{out}"
    );
    assert!(
        lines[5 + good.len()].starts_with(&format!("shipped {a} (tracking {ta})")),
        "{out}"
    );
    assert_eq!(
        lines[6 + good.len()],
        "Shift over: 1 shipped, 3 failed scan(s)."
    );
    assert_eq!(good.len() as u32, wanted);

    // An extra unit of a complete item, on the second order: one line, nothing packed.
    let (sku_b, q_b): (String, u32) = e
        .db()
        .query_row(
            "SELECT seller_sku, quantity_ordered FROM order_items WHERE amazon_order_id = ?1
             ORDER BY order_item_id LIMIT 1",
            [b],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let mut scans = vec![b.clone()];
    scans.extend((0..=q_b).map(|_| sku_b.clone()));
    scans.push("done".into());
    let (_, out, _) = shift(&e, &pat, &["--verify"], &(scans.join("\n") + "\n"));
    let extra = out
        .lines()
        .find(|l| l.starts_with("extra item: "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        extra.contains(&format!(
            "{b} takes {q_b} of {sku_b}, all scanned; put it back"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("{b} was labelled but not shipped.")),
        "{out}"
    );
}

#[test]
fn a_second_order_names_the_one_left_and_a_repeated_scan_reprints_only_when_asked() {
    let (e, pat, ids) = packing_floor(2);
    let (a, b) = (&ids[0], &ids[1]);
    let tb = support::ups(71);
    let scans = format!("{a}\n{a}\n\n   \n{b}\n{a}\nreprint\n{b}\n{tb}\n{b}\ndone\n");
    let (code, out, err) = shift(&e, &pat, &[], &scans);
    assert_eq!(code, 0, "no scan was a mistake:\n{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    let again =
        "is labelled already (not printed again; `reprint` prints it); scan its tracking number";
    assert_eq!(
        lines[1..9],
        [
            format!("label printed for {a}; scan its tracking number"),
            format!("{a} {again}"),
            // The empty and blank lines got no answer.
            format!(
                "label printed for {b}; scan its tracking number ({a} is left waiting for its tracking number)"
            ),
            format!("{a} {again} ({b} is left waiting for its tracking number)"),
            format!("label printed again for {a}"),
            format!("{b} {again} ({a} is left waiting for its tracking number)"),
            format!("shipped {b} (tracking {tb}); scan the next order"),
            format!("{b} was shipped this shift; nothing printed; scan the next order"),
        ],
        "{out}"
    );
    assert_eq!(
        lines[9..],
        [
            format!("{a} was labelled but not shipped."),
            "Shift over: 1 shipped, 0 failed scan(s).".to_string(),
        ],
        "{out}"
    );
    // Printed three times in all: a, b, and a once more when asked.
    let log = e.dir.audit_text();
    let printed = |o: &str| {
        log.lines()
            .filter(|l| {
                l.contains("\"event\":\"label.printed\"")
                    && l.contains(&format!("\"order\":\"{o}\""))
            })
            .count()
    };
    assert_eq!((printed(a), printed(b)), (2, 1), "{log}");
}

#[test]
fn a_refused_printer_is_one_line_and_the_shift_goes_on() {
    let (e, pat, ids) = packing_floor(1);
    // A port nobody listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let to = format!("tcp://127.0.0.1:{port}");
    let scans = format!("{}\n{}\ndone\n", ids[0], support::ups(81));
    let (code, out, err) = shift(&e, &pat, &["--to", &to], &scans);
    assert_eq!(code, 1, "{out}{err}");
    let all = format!("{out}{err}");
    let refused: Vec<&str> = all.lines().filter(|l| l.contains("refused")).collect();
    assert_eq!(refused.len(), 1, "one line, once:\n{all}");
    assert!(
        refused[0].starts_with(&format!("error: printer 127.0.0.1:{port}: ")),
        "{all}"
    );
    // The order did not become current: the tracking number has no order.
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[2].starts_with("scan an order first"), "{out}");
    assert_eq!(lines[3], "Shift over: 0 shipped, 2 failed scan(s).");
}

#[test]
fn ctrl_c_ends_the_shift_with_its_summary() {
    use std::io::{BufRead, BufReader};
    let (e, pat, ids) = packing_floor(1);
    let mut child = station(&e, &pat, &[]);
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with("Station open for pat"), "{line}");
    writeln!(stdin, "{}", ids[0]).unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with("label printed for"), "{line}");
    // The label is printed and answered: now Ctrl-C, with stdin still open.
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let rest: Vec<String> = out.lines().map(Result::unwrap).collect();
    let status = child.wait().unwrap();
    drop(stdin);
    assert_eq!(status.code(), Some(130), "{rest:?}");
    assert_eq!(
        rest,
        [
            "Shift ended by Ctrl-C.".to_string(),
            format!("{} was labelled but not shipped.", ids[0]),
            "Shift over: 0 shipped, 0 failed scan(s).".to_string(),
        ]
    );
}
