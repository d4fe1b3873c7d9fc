//! The audit log: chain verification under mutation, concurrent appenders, fail-closed writes,
//! crash recovery, retention, and no PII.

use crate::fetch_support::Sqlite;
use crate::support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::Duration;
use fulfill::audit::log::AuditLog;
use fulfill::audit::verify::{FindingKind, Sealing, verify_sealed};
use fulfill::audit::{Event, GENESIS, Head, Outcome, Record, day_file_name};
use fulfill::config::Profile;
use fulfill::error::Error;
use fulfill::pii::{BuyerPii, Pii};
use fulfill::vault::{Purpose, Vault};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use support::*;

/// Records `n` assorted events spread over `days` days.
fn populate(v: &Vault, n: usize, days: i64) {
    let step = Duration::minutes(days * 24 * 60 / n as i64);
    for i in 0..n {
        let ev = match i % 4 {
            0 => Event::new("unlock.ok")
                .operator("olga")
                .field("role", "owner"),
            1 => Event::new("unlock.failed")
                .operator("pat")
                .outcome(Outcome::Failed)
                .field("failures", i as u64),
            2 => Event::new("pii.opened")
                .operator("olga")
                .field("order_id", format!("111-{i:07}-0000001"))
                .field("purpose", "label"),
            _ => Event::new("mws.call")
                .operator("cron")
                .field("action", "ListOrders")
                .field("status", 200u32)
                .field("latency_ms", 120u64 + i as u64),
        };
        v.record(&[ev], t0() + step * i as i32).unwrap();
    }
}

fn head_of(v: &Vault) -> Head {
    v.chain_head().unwrap()
}

fn load(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("audit-"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

fn write_all(dir: &Path, files: &[(String, Vec<u8>)]) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        fs::remove_file(e.path()).unwrap();
    }
    for (n, b) in files {
        fs::write(dir.join(n), b).unwrap();
    }
}

fn lines_of(b: &[u8]) -> Vec<Vec<u8>> {
    b.split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn join_lines(ls: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in ls {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    out
}

#[test]
fn ten_thousand_random_mutations_are_all_detected_and_located() {
    let d = TestDir::new();
    let v = new_vault(&d, Profile::Mws2020, true);
    let owner = v.unlock("olga", &pass(OWNER_PASS), t0()).unwrap();
    populate(&v, 60, 4);
    let head = head_of(&v);
    let original = load(&d.home().join("logs"));
    assert!(original.len() >= 4, "several day files");
    let scratch_root = if Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let scratch = scratch_root.path();
    // Verified as the owner does: with the log's first key, the forward-secure MACs too, and
    // the writer's key file beside the day files.
    let key_file = fs::read(d.home().join("logs/audit.key")).unwrap();
    let check = |files: &[(String, Vec<u8>)], h: &Head| {
        write_all(scratch, files);
        fs::write(scratch.join("audit.key"), &key_file).unwrap();
        let sealing = Sealing {
            first_key: owner.keys().log_key.as_ref().unwrap(),
            now: t0() + Duration::days(5),
            window_days: 90,
        };
        verify_sealed(&AuditLog::new(scratch), h, None, Some(sealing)).unwrap()
    };
    // The unmutated copy verifies clean: the detector is not just always-on.
    let clean = check(&original, &head);
    assert!(clean.findings.is_empty(), "{:?}", clean.findings);
    assert_eq!(clean.records, head.seq);

    let all_records: Vec<Record> = original
        .iter()
        .flat_map(|(_, b)| lines_of(b))
        .map(|l| serde_json::from_slice(&l).unwrap())
        .collect();
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut counts = [0usize; 7];
    for i in 0..10_000 {
        let mut files = original.clone();
        let mut h = head.clone();
        let kind = rng.random_range(0..7usize);
        counts[kind] += 1;
        let f = rng.random_range(0..files.len());
        let what = match kind {
            0 => {
                let b = &mut files[f].1;
                let pos = rng.random_range(0..b.len());
                b[pos] ^= rng.random_range(1..=255u8);
                format!("edit byte {pos} of {}", files[f].0)
            }
            1 => {
                let mut ls = lines_of(&files[f].1);
                let at = rng.random_range(0..ls.len());
                ls.remove(at);
                files[f].1 = join_lines(&ls);
                format!("delete line {} of {}", at + 1, files[f].0)
            }
            2 => {
                // Swap two different lines, possibly across files.
                let g = rng.random_range(0..files.len());
                let mut a = lines_of(&files[f].1);
                let mut b = lines_of(&files[g].1);
                let (x, y) = (rng.random_range(0..a.len()), rng.random_range(0..b.len()));
                if f == g {
                    let y = (x + 1 + rng.random_range(0..a.len() - 1)) % a.len();
                    a.swap(x, y);
                    files[f].1 = join_lines(&a);
                } else {
                    std::mem::swap(&mut a[x], &mut b[y]);
                    files[f].1 = join_lines(&a);
                    files[g].1 = join_lines(&b);
                }
                format!(
                    "swap lines {} of {} and {} of {}",
                    x + 1,
                    files[f].0,
                    y + 1,
                    files[g].0
                )
            }
            3 => {
                // A forged record with a correctly recomputed hash, linked to its predecessor.
                let mut ls = lines_of(&files[f].1);
                let at = rng.random_range(0..=ls.len());
                let before: usize = files[..f]
                    .iter()
                    .map(|(_, b)| lines_of(b).len())
                    .sum::<usize>()
                    + at;
                let mut forged = all_records[rng.random_range(0..all_records.len())].clone();
                forged.seq = before as u64 + 1;
                forged.prev = if before == 0 {
                    GENESIS.to_string()
                } else {
                    all_records[before - 1].hash.clone().unwrap()
                };
                forged
                    .fields
                    .insert("forged".into(), serde_json::Value::from(true));
                forged.hash = None;
                forged.hash = Some(forged.compute_hash());
                ls.insert(at, forged.to_line().into_bytes());
                files[f].1 = join_lines(&ls);
                format!(
                    "insert forged seq {} at line {} of {}",
                    forged.seq,
                    at + 1,
                    files[f].0
                )
            }
            4 => {
                let last = files.len() - 1;
                let b = &mut files[last].1;
                let cut = rng.random_range(0..b.len());
                b.truncate(cut);
                format!("truncate {} to {cut} bytes", files[last].0)
            }
            5 => {
                let (n, _) = files.remove(f);
                format!("delete day file {n}")
            }
            _ => {
                let k = rng.random_range(0..head.seq as usize);
                h = if k == 0 {
                    Head::genesis()
                } else {
                    let r = &all_records[k - 1];
                    Head {
                        seq: r.seq,
                        hash: r.hash.clone().unwrap(),
                        day: head.day,
                    }
                };
                format!("roll the vault's head back to seq {k}")
            }
        };
        let res = check(&files, &h);
        assert!(
            !res.findings.is_empty(),
            "mutation {i} ({what}) went undetected"
        );
        assert!(
            res.findings
                .iter()
                .any(|f| !f.file.is_empty() && (f.line.is_some() || f.seq.is_some())),
            "mutation {i} ({what}): findings do not say where: {:?}",
            res.findings
        );
    }
    assert!(
        counts.iter().all(|&c| c > 1000),
        "every kind was exercised: {counts:?}"
    );
}

#[test]
fn torn_last_line_is_reported_and_the_chain_goes_on() {
    let d = TestDir::new();
    let v = new_vault(&d, Profile::Mws2020, true);
    populate(&v, 10, 1);
    let head = head_of(&v);
    let day = head.day.unwrap();
    let path = d.home().join("logs").join(day_file_name(day));
    let torn_line = fs::read_to_string(&path).unwrap().lines().count() + 1;
    // A crash mid-write: half a record, no newline, head not advanced.
    let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut f, br#"{"seq":11,"ts":"2026-03-01T10:00:00.000Z","ev"#).unwrap();
    let res = v.verify_log().unwrap();
    assert!(
        res.findings
            .iter()
            .any(|f| f.kind == FindingKind::Unreadable && f.line == Some(torn_line)),
        "{:?}",
        res.findings
    );
    // The next append neither glues onto the fragment nor drops it; it says what it found.
    v.record(
        &[Event::new("unlock.ok").operator("olga")],
        t0() + Duration::hours(2),
    )
    .unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"ev\n"), "fragment kept on its own line");
    assert!(
        text.contains(r#""event":"audit.recovered""#)
            && text.contains(r#""torn_line_terminated":true"#)
    );
    let res = v.verify_log().unwrap();
    assert_eq!(
        res.findings.len(),
        1,
        "only the torn line: {:?}",
        res.findings
    );
    assert_eq!(res.findings[0].kind, FindingKind::Unreadable);
}

#[test]
fn records_written_before_a_crash_are_adopted_and_the_adoption_recorded() {
    let d = TestDir::new();
    let v = new_vault(&d, Profile::Mws2020, true);
    populate(&v, 5, 1);
    let head = head_of(&v);
    // A crash after the record's fsync, before the vault's commit.
    let log = AuditLog::new(d.home().join("logs"));
    let lock = log.lock().unwrap();
    log.append(
        &lock,
        &head,
        &Event::new("operator.added")
            .operator("olga")
            .field("name", "x"),
        t0() + Duration::hours(1),
    )
    .unwrap();
    drop(lock);
    let res = v.verify_log().unwrap();
    assert_eq!(
        res.findings.iter().map(|f| f.kind).collect::<Vec<_>>(),
        [FindingKind::BeyondHead]
    );
    v.record(
        &[Event::new("unlock.ok").operator("olga")],
        t0() + Duration::hours(2),
    )
    .unwrap();
    let res = v.verify_log().unwrap();
    assert!(res.findings.is_empty(), "{:?}", res.findings);
    assert_eq!(
        head_of(&v).seq,
        head.seq + 3,
        "orphan + audit.recovered + unlock.ok"
    );
    // `fulfill audit` tells whoever counts events which records were adopted: the orphan's
    // seq and event, and nothing else.
    let owner = v
        .unlock("olga", &pass(OWNER_PASS), t0() + Duration::hours(3))
        .unwrap();
    let opts = fulfill::audit::report::checks::AuditOptions {
        window_days: 30,
        pii_days: 30,
        scan: Vec::new(),
        anchors: None,
    };
    let report = fulfill::audit::report::checks::audit(
        &v,
        &owner,
        &fulfill::safety::Environment::system(),
        &opts,
        t0() + Duration::hours(3),
    )
    .unwrap();
    let r2 = serde_json::to_value(&report).unwrap()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "R2/R24")
        .unwrap()["details"]
        .to_string();
    let orphan = head.seq + 1;
    assert!(
        r2.contains(&format!(
            "seq {orphan} to {orphan} adopted after a crash at "
        )),
        "{r2}"
    );
    assert!(r2.contains("(operator.added 1)"), "{r2}");
    assert_eq!(r2.matches("adopted after a crash at").count(), 1, "{r2}");
    // The per-event counts leave the adopted record out and say so: the command that ran
    // again may have recorded the same event a second time.
    assert!(
        r2.contains("; 1 adopted after a crash, counted apart"),
        "{r2}"
    );
}

#[test]
fn a_crash_between_a_multi_record_write_and_its_key_fsync_is_told_from_an_old_key_file() {
    let d = TestDir::new();
    let v = new_vault(&d, Profile::Mws2020, true);
    let owner = v.unlock("olga", &pass(OWNER_PASS), t0()).unwrap();
    populate(&v, 5, 1);
    let logs = d.home().join("logs");
    let sealed = |h: &Head| {
        let sealing = Sealing {
            first_key: owner.keys().log_key.as_ref().unwrap(),
            now: t0() + Duration::days(1),
            window_days: 90,
        };
        let kinds: Vec<FindingKind> = verify_sealed(&AuditLog::new(&logs), h, None, Some(sealing))
            .unwrap()
            .findings
            .iter()
            .map(|f| f.kind)
            .collect();
        kinds
    };
    let head = head_of(&v);
    let key_before = fs::read(logs.join("audit.key")).unwrap();
    // One write of three records (a print job's records), then the crash: the day file has
    // them, the key file has not moved on yet and the vault's head has not either.
    let log = AuditLog::new(&logs);
    let lock = log.lock().unwrap();
    let events = [
        Event::new("pii.opened")
            .operator("olga")
            .field("purpose", "label"),
        Event::new("label.printed").operator("olga"),
        Event::new("unlock.ok").operator("olga"),
    ];
    let after = log
        .append_all(&lock, &head, &events, t0() + Duration::hours(1))
        .unwrap();
    drop(lock);
    assert_eq!(after.seq, head.seq + 3, "one call, three records");
    fs::write(logs.join("audit.key"), &key_before).unwrap();
    assert_eq!(
        sealed(&head),
        [FindingKind::BeyondHead],
        "a crash, reported as records beyond the head, not as a key file put back"
    );
    // The next append adopts them and moves the key on: clean again.
    v.record(
        &[Event::new("unlock.ok").operator("olga")],
        t0() + Duration::hours(2),
    )
    .unwrap();
    let head = head_of(&v);
    assert_eq!(
        head.seq,
        after.seq + 2,
        "adopted + audit.recovered + unlock.ok"
    );
    assert!(sealed(&head).is_empty());
    // The same old key file put back now, with every record committed, is an old copy.
    fs::write(logs.join("audit.key"), &key_before).unwrap();
    assert_eq!(sealed(&head), [FindingKind::KeyFile]);
}

#[test]
fn prune_keeps_the_window_and_the_chain_still_verifies() {
    let d = TestDir::new();
    let v = new_vault(&d, Profile::Mws2020, true);
    populate(&v, 200, 200);
    let before = load(&d.home().join("logs")).len();
    let now = t0() + Duration::days(200);
    // Asking for 30 days keeps the profile's 90 anyway.
    let report = v.prune_log(now, 30).unwrap();
    assert!(report.files_removed > 0);
    let left = load(&d.home().join("logs"));
    assert_eq!(left.len() + report.files_removed, before);
    let oldest_allowed = (now - Duration::days(90)).date_naive();
    for (name, _) in &left {
        let day = fulfill::audit::parse_day_file_name(name).unwrap();
        assert!(
            day >= oldest_allowed,
            "{name} is older than the window yet {} files were kept",
            left.len()
        );
    }
    let files_in_window = (0..200)
        .filter(|i| (t0() + Duration::days(*i)).date_naive() >= oldest_allowed)
        .count();
    assert!(
        left.len() >= files_in_window - 1,
        "nothing younger than 90 days was deleted"
    );
    let res = v.verify_log().unwrap();
    assert!(res.findings.is_empty(), "{:?}", res.findings);
    // Deleting the first remaining file is still caught against the checkpoint.
    fs::remove_file(d.home().join("logs").join(&left[0].0)).unwrap();
    let res = v.verify_log().unwrap();
    assert!(
        res.findings.iter().any(|f| f.kind == FindingKind::Gap),
        "{:?}",
        res.findings
    );
}

/// Points today's day file at /dev/full: every write fails with ENOSPC, as on a full disk,
/// and also for root (who ignores permission bits).
fn make_log_unwritable(home: &Path, day: chrono::NaiveDate) -> PathBuf {
    let p = home.join("logs").join(day_file_name(day));
    let _ = fs::remove_file(&p);
    std::os::unix::fs::symlink("/dev/full", &p).unwrap();
    p
}

#[test]
fn when_the_log_cannot_be_written_nothing_happens() {
    let d = TestDir::new();
    let v = new_vault(&d, Profile::Mws2020, true);
    let owner = v.unlock("olga", &pass(OWNER_PASS), t0()).unwrap();
    owner
        .store_order_pii(
            "111-0000001-0000001",
            "Unshipped",
            Some(&BuyerPii {
                recipient_name: Some(Pii::new("ZQXFAIL")),
                ..Default::default()
            }),
            t0(),
        )
        .unwrap();
    let later = t0() + Duration::days(1);
    make_log_unwritable(&d.home(), later.date_naive());
    let head = head_of(&v);
    // No unlock without its record.
    assert!(matches!(
        v.unlock("olga", &pass(OWNER_PASS), later),
        Err(Error::AuditLog(_))
    ));
    // No PII opened without its record.
    let e = owner
        .open_pii("111-0000001-0000001", Purpose::Label, later)
        .unwrap_err();
    assert!(matches!(e, Error::AuditLog(_)), "{e}");
    assert_eq!(e.exit() as u8, 5);
    // No operator added without its record.
    let r = owner.add_operator(
        "pat",
        fulfill::role::Role::Picker,
        fulfill::vault::NewCredential::Passphrase(fulfill::vault::key::Passphrase::new(
            "picker passphrase long".into(),
        )),
        later,
    );
    assert!(matches!(r, Err(Error::AuditLog(_))));
    assert!(v.operators().unwrap().iter().all(|o| o.name != "pat"));
    // A failed unlock's counter does not move without its record either.
    assert!(matches!(
        v.unlock("olga", &pass("wrong wrong wrong"), later),
        Err(Error::AuditLog(_))
    ));
    assert_eq!(
        v.operators()
            .unwrap()
            .iter()
            .find(|o| o.name == "olga")
            .unwrap()
            .failed_unlocks,
        0
    );
    assert_eq!(head_of(&v), head);
}

#[test]
fn cli_exits_5_when_the_log_cannot_be_written() {
    let d = TestDir::new();
    let pf = d.init_sandbox_at("2026-05-01T00:00:00Z");
    // A folder where the day file goes (the home refuses a link, such as one to /dev/full,
    // before any command runs).
    let day = chrono::NaiveDate::from_ymd_opt(2026, 5, 5).unwrap();
    fs::create_dir(d.home().join("logs").join(day_file_name(day))).unwrap();
    let r = run(d
        .fulfill()
        .args([
            "--now",
            "2026-05-05T12:00:00Z",
            "--operator",
            "olga",
            "--passphrase-file",
        ])
        .arg(&pf)
        .args(["operator", "list"]));
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr.contains("audit log") && r.stderr.contains("not carried out"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty(), "nothing listed: {}", r.stdout);
}

/// Child half of `two_processes_appending_concurrently_leave_one_chain`: spawned by it with
/// FULFILL_APPEND_CHILD set; appends records as fast as it can.
#[test]
#[ignore = "child process of two_processes_appending_concurrently_leave_one_chain; it runs this itself"]
fn append_child() {
    let home = std::env::var("FULFILL_APPEND_CHILD").expect("spawned by the parent test");
    let who = std::env::var("FULFILL_APPEND_WHO").unwrap();
    let n: usize = std::env::var("FULFILL_APPEND_N").unwrap().parse().unwrap();
    let h = fulfill::home::Home::open(Path::new(&home), &fulfill::safety::Environment::system())
        .unwrap();
    let v = Vault::open(&h).unwrap();
    for i in 0..n {
        v.record(
            &[Event::new("mws.call").operator(&who).field("i", i)],
            t0() + Duration::milliseconds(i as i64),
        )
        .unwrap();
    }
}

#[test]
fn two_processes_appending_concurrently_leave_one_chain() {
    let d = TestDir::new();
    let v = new_vault(&d, Profile::Mws2020, true);
    let start = head_of(&v).seq;
    let n = 1500;
    let children: Vec<_> = ["a", "b"]
        .iter()
        .map(|who| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "audit_log::append_child",
                    "--ignored",
                    "--nocapture",
                ])
                .env("FULFILL_APPEND_CHILD", d.home())
                .env("FULFILL_APPEND_WHO", who)
                .env("FULFILL_APPEND_N", n.to_string())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let res = v.verify_log().unwrap();
    assert!(
        res.findings.is_empty(),
        "{:?}",
        &res.findings[..res.findings.len().min(5)]
    );
    assert_eq!(head_of(&v).seq, start + 2 * n as u64);
    assert_eq!(res.records, start + 2 * n as u64);
    // Both really ran at once: their records interleave.
    let text: String = load(&d.home().join("logs"))
        .into_iter()
        .map(|(_, b)| String::from_utf8(b).unwrap())
        .collect();
    let whos: Vec<char> = text
        .lines()
        .filter_map(|l| {
            l.find(r#""operator":""#)
                .map(|i| l.as_bytes()[i + 12] as char)
        })
        .filter(|c| *c == 'a' || *c == 'b')
        .collect();
    let switches = whos.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        switches > 10,
        "appenders did not overlap (switches: {switches})"
    );
}

#[test]
fn no_pii_reaches_the_logs_or_stderr() {
    let d = TestDir::new();
    let marker = "ZQXLEAKMARK";
    let pf = d.init_sandbox_at("2026-03-01T09:00:00Z");
    let mut stderr = String::new();
    {
        let h =
            fulfill::home::Home::open(&d.home(), &fulfill::safety::Environment::system()).unwrap();
        let v = Vault::open(&h).unwrap();
        let sealer = v.unlock("olga", &pass(OWNER_PASS), t0()).unwrap();
        for i in 0..20 {
            let pii = BuyerPii {
                buyer_name: Some(Pii::new(format!("{marker} buyer {i}"))),
                recipient_name: Some(Pii::new(format!("{marker} Ζωή {i}"))),
                address_line1: Some(Pii::new(format!("{i} {marker} street"))),
                phone: Some(Pii::new(format!("{marker}-555-{i}"))),
                buyer_email: Some(Pii::new(format!("{marker}{i}@example.invalid"))),
                ..Default::default()
            };
            sealer
                .store_order_pii(
                    &format!("111-{i:07}-0000000"),
                    "Unshipped",
                    Some(&pii),
                    t0(),
                )
                .unwrap();
        }
        let s = v.unlock("olga", &pass(OWNER_PASS), t0()).unwrap();
        for i in 0..20 {
            let p = s
                .open_pii(&format!("111-{i:07}-0000000"), Purpose::Label, t0())
                .unwrap();
            // Formatting PII the way a careless log line would still prints no value.
            let careless = format!("{p:?} {:?} {}", p.recipient_name, p.phone.as_ref().unwrap());
            assert!(!careless.contains(marker));
            stderr.push_str(&careless);
        }
        // Tamper one row so the integrity error path runs too.
        v.sqlite().execute("UPDATE orders SET pii = substr(pii, 1, 40) WHERE amazon_order_id = '111-0000003-0000000'", []).unwrap();
        let e = s
            .open_pii("111-0000003-0000000", Purpose::Label, t0())
            .unwrap_err();
        stderr.push_str(&e.to_string());
    }
    let bad = d.secret_file("bad", "wrong passphrase here\n");
    for args in [
        vec![
            "--now",
            "2026-03-01T10:00:00Z",
            "-vv",
            "--operator",
            "olga",
            "operator",
            "list",
        ],
        vec!["--operator", "olga", "operator", "list", "--json"],
        vec!["--operator", "nobody", "operator", "list"],
    ] {
        let r = run(d.fulfill().arg("--passphrase-file").arg(&pf).args(&args));
        stderr.push_str(&r.stderr);
        stderr.push_str(&r.stdout);
    }
    stderr.push_str(
        &run(d.fulfill().arg("--passphrase-file").arg(&bad).args([
            "--operator",
            "olga",
            "operator",
            "list",
        ]))
        .stderr,
    );
    let logs = d.home().join("logs");
    assert!(
        fs::read_dir(&logs).unwrap().count() >= 2,
        "audit and diagnostic logs exist"
    );
    assert_eq!(
        scan_dir(&logs, marker.as_bytes()),
        vec![],
        "PII in the logs"
    );
    assert_eq!(
        count(stderr.as_bytes(), marker.as_bytes()),
        0,
        "PII on stderr: {stderr}"
    );
    assert!(
        fs::read_to_string(logs.join(day_file_name(t0().date_naive())))
            .unwrap()
            .contains("pii.opened")
    );
    // Positive control: a planted marker in a copy of the logs is found.
    let copy = d.path().join("logs-copy");
    fs::create_dir(&copy).unwrap();
    for e in fs::read_dir(&logs).unwrap().flatten() {
        fs::copy(e.path(), copy.join(e.file_name())).unwrap();
    }
    let target = copy.join(day_file_name(t0().date_naive()));
    let mut t = fs::read(&target).unwrap();
    t.extend_from_slice(format!("{{\"planted\":\"{marker}\"}}\n").as_bytes());
    fs::write(&target, t).unwrap();
    assert_eq!(scan_dir(&copy, marker.as_bytes()).len(), 1);
}

/// What a home must still do after something long reached its log (issue 18): a packer's
/// command, the key-file fetcher's cron fetch, a station shift, and `audit`, which finds the
/// log intact; the owner's keyed verification agrees.
fn the_home_still_works(e: &crate::fetch_support::CliEnv, pat: &Path) {
    let packer = |args: &[&str]| {
        let mut a = vec![
            "--operator",
            "pat",
            "--passphrase-file",
            pat.to_str().unwrap(),
        ];
        a.extend_from_slice(args);
        e.run(&a)
    };
    let r = packer(&["orders", "--json"]);
    assert_eq!(r.code, 0, "packer: {}", r.stderr);
    let r = e.fetch();
    assert_eq!(r.code, 0, "cron fetch: {}", r.stderr);
    let id: String = e
        .db()
        .query_row(
            "SELECT amazon_order_id FROM orders WHERE lifecycle = 'unshipped' AND pii_state = 'sealed'
             AND pii_missing = 0 ORDER BY amazon_order_id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut child = e
        .dir
        .fulfill()
        .args([
            "--operator",
            "pat",
            "--passphrase-file",
            pat.to_str().unwrap(),
        ])
        .args(["station", "--carrier", "UPS"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        format!("{id}\n1Z999AA10123456784\ndone\n").as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "station: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("shipped {id}")), "{stdout}");
    let r = e.owner(&["audit", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["chain_intact"], true, "{v}");
    assert_eq!(v["findings"], 0, "{v}");
    let home =
        fulfill::home::Home::open(&e.dir.home(), &fulfill::safety::Environment::system()).unwrap();
    let vault = Vault::open(&home).unwrap();
    let now = chrono::Utc::now();
    let s = vault.unlock("olga", &pass(OWNER_PASS), now).unwrap();
    let check = s.verify_log(now).unwrap();
    assert!(check.findings.is_empty(), "{:?}", check.findings);
    assert!(check.records > 20);
}

/// Issue 18: an unknown `--operator` of 70 KB went whole into its `unlock.failed` record; log
/// recovery read only the last 64 KB, found no complete record and concluded that records
/// were removed, so every later command exited 5. The name is now recorded by a short
/// stand-in (prefix and digest), and the refusal names it by that stand-in too.
#[test]
fn a_70_kb_operator_name_is_recorded_short_and_the_home_goes_on() {
    let e = crate::fetch_support::CliEnv::new(30, 61, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    let (r, pat) = e.dir.add_operator("olga", &e.pass, "pat", "packer");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let huge = "A".repeat(70 * 1024);
    let r = e.run(&[
        "--operator",
        &huge,
        "--passphrase-file",
        pat.to_str().unwrap(),
        "orders",
    ]);
    assert_eq!(r.code, 3, "unknown operator");
    the_home_still_works(&e, &pat);
    assert!(r.stderr.len() < 400, "{} bytes on stderr", r.stderr.len());
    let log = e.dir.audit_text();
    let failed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(r#""reason":"unknown_operator""#))
        .collect();
    assert_eq!(failed.len(), 1, "the attempt is recorded");
    let rec: Record = serde_json::from_str(failed[0]).unwrap();
    let op = rec.operator.unwrap();
    assert_eq!(op, fulfill::audit::unknown_operator(&huge));
    assert!(op.starts_with("AAAAAAAAAAAAAAAA#") && op.len() < 40, "{op}");
    assert!(failed[0].len() < 600, "{} bytes", failed[0].len());
    assert!(log.lines().all(|l| l.len() < 4096));
}

/// The other half: a head record longer than the old 64 KB window (here a batch record
/// listing 6,000 orders, as a print job of that size writes) is found by recovery however
/// long it is; every command goes on.
#[test]
fn a_head_record_longer_than_64_kb_does_not_stop_the_vault() {
    let e = crate::fetch_support::CliEnv::new(30, 62, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    let (r, pat) = e.dir.add_operator("olga", &e.pass, "pat", "packer");
    assert_eq!(r.code, 0, "{}", r.stderr);
    {
        let home =
            fulfill::home::Home::open(&e.dir.home(), &fulfill::safety::Environment::system())
                .unwrap();
        let vault = Vault::open(&home).unwrap();
        let orders: Vec<String> = (0..6000).map(|i| format!("111-{i:07}-0000000")).collect();
        vault
            .record(
                &[Event::new("label.printed")
                    .operator("olga")
                    .field("orders", orders)
                    .field("count", 6000u64)],
                chrono::Utc::now(),
            )
            .unwrap();
    }
    let last = e.dir.audit_text().lines().last().unwrap().len();
    assert!(last > 100 * 1024, "the head record is {last} bytes");
    the_home_still_works(&e, &pat);
}
