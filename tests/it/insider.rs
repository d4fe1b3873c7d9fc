//! Attacks by an insider: an operator with a shell as the shared OS user, the binary and
//! sqlite3 (here: rusqlite on the same file, which is what sqlite3 does). Each test is an attack
//! from the outside review (issue 9) and fails without the defence it names.

use crate::fetch_support;
use crate::support;

use fetch_support::CliEnv;
use fulfill::vault::seal;

fn meta(e: &CliEnv, key: &str) -> String {
    e.db()
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .unwrap()
}

fn set_meta(e: &CliEnv, key: &str, value: &str) {
    e.db()
        .execute(
            "UPDATE meta SET value = ?2 WHERE key = ?1",
            rusqlite::params![key, value],
        )
        .unwrap();
}

fn sealed_orders(e: &CliEnv) -> i64 {
    e.db()
        .query_row(
            "SELECT count(*) FROM orders WHERE pii IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

/// The critical finding: a picker swaps `meta.pii_public_key` for its own key and waits for
/// the next `fetch`, which sealed every new buyer to the picker. Now `fetch` seals to the copy
/// its key set authenticates, and the swap is refused (exit 5) and recorded.
#[test]
fn a_swapped_pii_public_key_is_refused_by_fetch_and_recorded() {
    let e = CliEnv::new(40, 11, 3000.0, "");
    let (attacker_sk, attacker_pk) = seal::generate_keypair();
    let real = meta(&e, "pii_public_key");
    set_meta(&e, "pii_public_key", &hex::encode(attacker_pk.as_bytes()));

    let r = e.fetch();
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("pii_public_key"), "{}", r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert_eq!(
        sealed_orders(&e),
        0,
        "nothing was fetched under the swapped key"
    );
    let log = e.dir.audit_text();
    assert!(
        log.contains(r#""event":"vault.tampered""#) && log.contains(r#""facts":"pii_public_key""#),
        "{log}"
    );
    // Every other operator is refused too, not only the fetcher.
    let r = e.run_as("olga", &e.pass, &["orders"]);
    assert_eq!(r.code, 5, "{}", r.stderr);

    // Positive control: with the real key back, the same fetch seals every order, and none of
    // them opens with the attacker's key.
    set_meta(&e, "pii_public_key", &real);
    let r = e.fetch();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(sealed_orders(&e) > 10);
    let db = e.db();
    let mut st = db
        .prepare("SELECT amazon_order_id, pii, pii_version FROM orders WHERE pii IS NOT NULL")
        .unwrap();
    let vault_id = meta(&e, "vault_id");
    let rows: Vec<(String, Vec<u8>, i64)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (id, blob, v) in rows {
        assert!(seal::open_pii(&attacker_sk, &vault_id, &id, v as u64, &blob).is_err());
    }
}

/// The other facts the keys depend on: the vault id, the profile and the sandbox flag. Each
/// edit is refused with exit 5, naming the fact, and the unedited vault works.
#[test]
fn edited_vault_facts_are_refused_naming_the_fact() {
    let e = CliEnv::new(5, 12, 3000.0, "");
    for (key, forged) in [
        ("profile", "dpp-2025"),
        ("vault_id", "00000000000000000000000000000000"),
        ("secrets_public_key", &"11".repeat(32)),
    ] {
        let real = meta(&e, key);
        set_meta(&e, key, forged);
        let r = e.run_as("olga", &e.pass, &["orders"]);
        assert_eq!(r.code, 5, "{key}: {}", r.stderr);
        let fact = if key == "vault_id" || key == "profile" {
            key
        } else {
            "secrets_public_key"
        };
        assert!(r.stderr.contains(fact), "{key}: {}", r.stderr);
        set_meta(&e, key, &real);
        let r = e.run_as("olga", &e.pass, &["orders"]);
        assert_eq!(r.code, 0, "{key} restored: {}", r.stderr);
    }
    // A real home flipped to a sandbox one would accept `--now` and plain HTTP: refused too
    // (here the other way round, which is the same check).
    set_meta(&e, "sandbox", "false");
    let r = e.run_as("olga", &e.pass, &["orders"]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("sandbox"), "{}", r.stderr);
}

/// "No PII" roles reached PII through the credentials: the admin's key set opened the MWS
/// secret. Now an admin seals credentials to the secrets public key and cannot read them back,
/// while the fetcher, which calls Amazon, can.
#[test]
fn an_admin_sets_credentials_it_cannot_read() {
    let e = CliEnv::new(5, 13, 3000.0, "");
    let (r, adam) = e.dir.add_operator("olga", &e.pass, "adam", "admin");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let c = e.sb.credentials();
    let r = e.set_credentials("adam", &adam, 3000.0);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = e.run_as("adam", &adam, &["credentials", "show"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(!r.stdout.contains(&c.secret_key) && !r.stderr.contains(&c.secret_key));
    // The admin holds no key that opens them, not merely a refusal: its key set has no
    // secrets key, so it cannot add a fetcher (who would need one) either.
    let kf = e.dir.path().join("cron2.key");
    let r = e.run_as(
        "adam",
        &adam,
        &[
            "operator",
            "add",
            "cron2",
            "--role",
            "fetcher",
            "--key-file",
            kf.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    // Positive control: the fetcher opens what the admin sealed and fetches with it.
    let r = e.fetch();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

// ---- The audit log against an insider: every tamper case as data ----------------------------

use std::path::Path;

use fulfill::audit::Record;
use support::{TestDir, run};

/// A sandbox home with records on three days (2026-03-01..03): three unlocks as the owner a day.
struct LogHome {
    dir: TestDir,
    pass: std::path::PathBuf,
    /// The writer's key file as it was after day 2 (an insider's copy).
    key_after_day2: Vec<u8>,
}

const DAYS: [&str; 3] = [
    "2026-03-01T09:00:00Z",
    "2026-03-02T09:00:00Z",
    "2026-03-03T09:00:00Z",
];
const AUDIT_AT: &str = "2026-03-04T09:00:00Z";

fn log_home() -> LogHome {
    let dir = TestDir::new();
    let pass = dir.init_sandbox_at(DAYS[0]);
    let mut key_after_day2 = Vec::new();
    for (i, day) in DAYS.iter().enumerate() {
        for _ in 0..3 {
            let r = run(dir
                .as_op("olga", &pass)
                .args(["--now", day, "operator", "list"]));
            assert_eq!(r.code, 0, "{}", r.stderr);
        }
        if i == 1 {
            key_after_day2 = std::fs::read(dir.home().join("logs/audit.key")).unwrap();
        }
    }
    LogHome {
        dir,
        pass,
        key_after_day2,
    }
}

fn day_file(h: &LogHome, i: usize) -> std::path::PathBuf {
    h.dir
        .home()
        .join(format!("logs/audit-{}.jsonl", &DAYS[i][..10]))
}

use support::records;

fn write_records(path: &Path, recs: &[Record]) {
    let text: String = recs.iter().map(|r| r.to_line() + "\n").collect();
    std::fs::write(path, text).unwrap();
}

fn vault_db(h: &LogHome) -> rusqlite::Connection {
    rusqlite::Connection::open(h.dir.home().join("vault.db")).unwrap()
}

fn set_head(h: &LogHome, r: &Record) {
    support::set_head(&h.dir.home(), r);
}

/// What an insider does after an edit: re-number and re-chain every record of every day file,
/// re-hash, "seal" each with the only key there is on disk (the key file's), move the head.
fn rechain(h: &LogHome) {
    let key: [u8; 32] = std::fs::read(h.dir.home().join("logs/audit.key")).unwrap()[12..]
        .try_into()
        .unwrap();
    let mut prev = fulfill::audit::GENESIS.to_string();
    let mut seq = 0;
    let mut last = None;
    for i in 0..DAYS.len() {
        let p = day_file(h, i);
        if !p.exists() {
            continue;
        }
        let mut recs = records(&p);
        for r in &mut recs {
            seq += 1;
            r.seq = seq;
            r.prev = prev.clone();
            r.hash = None;
            r.mac = None;
            let hash = r.compute_hash();
            r.mac = Some(fulfill::audit::fss::mac(&key, &hash));
            r.hash = Some(hash.clone());
            prev = hash;
            last = Some(r.clone());
        }
        write_records(&p, &recs);
    }
    set_head(h, &last.unwrap());
}

type Mutation = fn(&LogHome);

/// Deletes the first two day files and writes a checkpoint past them, dated `day`.
fn prune_by_hand(h: &LogHome, day: &str) {
    let last = records(&day_file(h, 1)).pop().unwrap();
    std::fs::remove_file(day_file(h, 0)).unwrap();
    std::fs::remove_file(day_file(h, 1)).unwrap();
    let db = vault_db(h);
    for (k, v) in [
        ("audit_checkpoint_seq", last.seq.to_string()),
        ("audit_checkpoint_hash", last.hash.clone().unwrap()),
        ("audit_checkpoint_day", day.to_string()),
    ] {
        db.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)",
            rusqlite::params![k, v],
        )
        .unwrap();
    }
}

/// Each tamper case of the review (and a few more), with what `audit` must say about it.
const CASES: &[(&str, Mutation, &[&str])] = &[
    (
        "delete every unlock.ok of day 2 and re-chain",
        |h| {
            let p = day_file(h, 1);
            let recs: Vec<Record> = records(&p)
                .into_iter()
                .filter(|r| r.event != "unlock.ok")
                .collect();
            write_records(&p, &recs);
            rechain(h);
        },
        &["forward-secure MAC"],
    ),
    (
        "rewrite a record of day 1 and re-chain from it",
        |h| {
            let p = day_file(h, 0);
            let mut recs = records(&p);
            recs[1].operator = Some("somebody-else".into());
            write_records(&p, &recs);
            rechain(h);
        },
        &["forward-secure MAC"],
    ),
    (
        "cut the tail and roll the head back",
        |h| {
            let p = day_file(h, 2);
            let mut recs = records(&p);
            recs.truncate(recs.len() - 2);
            write_records(&p, &recs);
            set_head(h, recs.last().unwrap());
        },
        &["moved on", "no MAC in a sealed log"],
    ),
    (
        "delete two day files behind a checkpoint dated 2020",
        |h| prune_by_hand(h, "2020-01-01"),
        &["the checkpoint says days up to 2020-01-01 were pruned"],
    ),
    (
        "delete two day files behind a checkpoint that tells their day",
        |h| prune_by_hand(h, &DAYS[1][..10]),
        &["inside the 90-day window"],
    ),
    (
        "strip every MAC",
        |h| {
            for i in 0..DAYS.len() {
                let p = day_file(h, i);
                let mut recs = records(&p);
                for r in &mut recs {
                    r.mac = None;
                }
                write_records(&p, &recs);
            }
        },
        &["no MAC in a sealed log", "key file"],
    ),
    (
        "put back an older copy of the key file",
        |h| std::fs::write(h.dir.home().join("logs/audit.key"), &h.key_after_day2).unwrap(),
        &["older copy"],
    ),
    (
        "delete the key file",
        |h| std::fs::remove_file(h.dir.home().join("logs/audit.key")).unwrap(),
        &["key file is missing"],
    ),
];

fn audit(h: &LogHome) -> support::Run {
    run(h
        .dir
        .as_op("olga", &h.pass)
        .args(["--now", AUDIT_AT, "audit", "--window", "30"]))
}

#[test]
fn every_log_tamper_case_is_reported_by_audit_with_exit_5() {
    let base = log_home();
    // Control: the untouched log passes, so each case below fails for its mutation alone.
    let r = audit(&base);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    for (what, mutate, says) in CASES {
        let h = log_home();
        mutate(&h);
        let r = audit(&h);
        assert_eq!(r.code, 5, "{what}: {}{}", r.stdout, r.stderr);
        assert!(
            says.iter().any(|s| r.stdout.contains(s)),
            "{what}: expected one of {says:?} in\n{}",
            r.stdout
        );
        // Once `audit` has found the break, its own records are left unsealed, and every
        // other command refuses to write to the log (exit 5) until it is dealt with.
        let r = run(h
            .dir
            .as_op("olga", &h.pass)
            .args(["--now", AUDIT_AT, "operator", "list"]));
        assert_eq!(r.code, 5, "{what}: a normal command went on: {}", r.stderr);
    }
}

/// A record slipped into the file (sealed with the key on disk, so its MAC is valid) and
/// adopted by the next command as if a crash had left it: `audit` reports it as a finding.
#[test]
fn an_adopted_record_is_a_finding_not_a_note() {
    let h = log_home();
    let p = day_file(&h, 2);
    let mut recs = records(&p);
    let last = recs.last().unwrap().clone();
    let key_file = std::fs::read(h.dir.home().join("logs/audit.key")).unwrap();
    let key: [u8; 32] = key_file[12..].try_into().unwrap();
    let mut forged = last.clone();
    forged.seq = last.seq + 1;
    forged.prev = last.hash.clone().unwrap();
    forged.event = "operator.disabled".into();
    forged.hash = None;
    forged.mac = None;
    let hash = forged.compute_hash();
    forged.mac = Some(fulfill::audit::fss::mac(&key, &hash));
    forged.hash = Some(hash);
    recs.push(forged);
    write_records(&p, &recs);
    let r = run(h
        .dir
        .as_op("olga", &h.pass)
        .args(["--now", AUDIT_AT, "operator", "list"]));
    assert_eq!(r.code, 0, "a crash-like leftover is adopted: {}", r.stderr);
    let r = audit(&h);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("adopted records"), "{}", r.stdout);
}

// ---- Recovery and lockout ---------------------------------------------------------------

fn recovery_key_from(init_stdout: &str) -> String {
    init_stdout
        .lines()
        .skip_while(|l| !l.starts_with("Recovery key for"))
        .nth(1)
        .expect("init shows the recovery key")
        .trim()
        .to_string()
}

/// Someone typing wrong passphrases locks the only owner; the recovery key shown once at
/// `init` gets her back in with a new passphrase, and a wrong recovery key does nothing.
#[test]
fn the_only_owner_locked_by_wrong_passphrases_recovers_with_the_recovery_key() {
    let dir = TestDir::new();
    let pass = dir.secret_file("owner.pass", support::OWNER_PASS);
    let r = run(dir
        .fulfill()
        .args([
            "init",
            "--profile",
            "mws-2020",
            "--sandbox",
            "--owner",
            "olga",
            "--passphrase-file",
        ])
        .arg(&pass));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let key = recovery_key_from(&r.stdout);
    assert_eq!(key.len(), 71, "{key}");
    let wrong = dir.secret_file("wrong.pass", "not the passphrase at all");
    let mut last = run(dir.as_op("olga", &wrong).args(["operator", "list"]));
    for _ in 0..12 {
        last = run(dir.as_op("olga", &wrong).args(["operator", "list"]));
    }
    assert_eq!(last.code, 3);
    assert!(last.stderr.contains("locked"), "{}", last.stderr);
    let r = run(dir.as_op("olga", &pass).args(["operator", "list"]));
    assert_eq!(
        r.code, 3,
        "locked even with the right passphrase: {}",
        r.stderr
    );

    let new_pass = dir.secret_file("new.pass", "a brand new owner passphrase");
    let bad_key = dir.secret_file("bad.key", &"00".repeat(32));
    let recover = |k: &std::path::Path| {
        run(dir
            .fulfill()
            .args(["operator", "recover", "olga", "--recovery-key-file"])
            .arg(k)
            .arg("--new-passphrase-file")
            .arg(&new_pass))
    };
    let r = recover(&bad_key);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(!r.stderr.contains(&key[..8]));
    let good_key = dir.secret_file("recovery.key", &key);
    let r = recover(&good_key);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(dir.as_op("olga", &new_pass).args(["operator", "list"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(dir.as_op("olga", &pass).args(["operator", "list"]));
    assert_eq!(r.code, 3, "the old passphrase no longer opens anything");
    let log = dir.audit_text();
    assert!(log.contains(r#""event":"operator.recovered""#), "{log}");
    assert!(log.contains(r#""reason":"wrong_recovery_key""#), "{log}");
    assert!(
        !log.contains(&key[..17]),
        "the recovery key is never logged"
    );
}

/// Random key files cannot lock the fetcher out (a 32-byte key cannot be guessed): every
/// failure is logged, the fetcher is never locked, and the right key file still works.
#[test]
fn random_key_files_never_lock_the_fetcher() {
    let e = CliEnv::new(5, 14, 3000.0, "");
    let bogus = e.dir.path().join("bogus.key");
    std::fs::write(&bogus, [7u8; 32]).unwrap();
    std::fs::set_permissions(&bogus, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    for _ in 0..12 {
        let r = e.run(&[
            "--operator",
            "cron",
            "--operator-key-file",
            bogus.to_str().unwrap(),
            "orders",
        ]);
        assert_eq!(r.code, 3, "{}", r.stderr);
        assert!(!r.stderr.contains("is locked"), "{}", r.stderr);
    }
    let log = e.dir.audit_text();
    assert_eq!(
        log.matches(r#""event":"unlock.failed","operator":"cron""#)
            .count(),
        12,
        "every failure is logged"
    );
    assert!(!log.contains(r#""event":"operator.locked","operator":"cron""#));
    let r = e.fetch();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

// ---- Second factor ------------------------------------------------------------------------

/// Under dpp-2025 a person cannot work without a second factor; enrolment shows a QR code and
/// an otpauth link, a code from the "authenticator" confirms it, and from then on each unlock
/// needs a fresh code: a wrong one and a reused one are refused and logged.
#[test]
fn dpp_2025_people_need_a_totp_code_and_each_code_works_once() {
    use std::io::{BufRead, Write};
    let dir = TestDir::new();
    let t0 = "2026-03-01T10:00:00Z";
    let pass = dir.secret_file("owner.pass", support::OWNER_PASS);
    let r = run(dir
        .fulfill()
        .args(["--now", t0, "init", "--sandbox", "--profile", "dpp-2025"])
        .args(["--owner", "olga", "--passphrase-file"])
        .arg(&pass));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let at = |t: &str| {
        run(dir
            .as_op("olga", &pass)
            .args(["--now", t, "operator", "list"]))
    };
    let r = at(t0);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("second factor"), "{}", r.stderr);

    // Enrol, answering the prompt the way a person with an authenticator app would.
    let mut child = dir
        .as_op("olga", &pass)
        .args(["--now", t0, "operator", "totp-enroll"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut shown = String::new();
    let url = loop {
        let mut l = String::new();
        assert!(
            out.read_line(&mut l).unwrap() > 0,
            "no otpauth link in {shown}"
        );
        shown.push_str(&l);
        if l.starts_with("otpauth://") {
            break l.trim().to_string();
        }
    };
    assert!(
        shown.contains('█') || shown.contains('▀'),
        "a QR code is drawn"
    );
    let app = totp_rs::Totp::from_url(&url).unwrap();
    let code_at = |t: &str| {
        app.generate(fulfill::clock::parse_time(t).unwrap().timestamp() as u64)
            .to_string()
    };
    writeln!(child.stdin.take().unwrap(), "{}", code_at(t0)).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());

    let t1 = "2026-03-01T10:01:00Z";
    let code_file = |c: &str| dir.secret_file("code", c);
    let with_code = |t: &str, c: &str| {
        let f = code_file(c);
        run(dir
            .as_op("olga", &pass)
            .args(["--now", t, "--totp-file"])
            .arg(&f)
            .arg("operator")
            .arg("list"))
    };
    let r = at(t1);
    assert_eq!(r.code, 3, "no code, no unlock: {}", r.stderr);
    let r = with_code(t1, "000000");
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("one-time code"), "{}", r.stderr);
    let r = with_code(t1, &code_at(t1));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = with_code(t1, &code_at(t1));
    assert_eq!(r.code, 3, "a code works once: {}", r.stderr);
    let log = dir.audit_text();
    for ev in [
        r#""event":"operator.totp_enrolled""#,
        r#""reason":"wrong_totp""#,
        r#""reason":"totp_reused""#,
    ] {
        assert!(log.contains(ev), "{ev}");
    }
    assert!(
        !log.contains(
            url.split("secret=")
                .nth(1)
                .unwrap()
                .split('&')
                .next()
                .unwrap()
        )
    );
}

/// `init --profile dpp-2025` at `t0` and a TOTP enrolment answered as an authenticator app
/// would: the app.
fn dpp_home_with_totp(dir: &TestDir, pass: &std::path::Path, t0: &str) -> totp_rs::Totp {
    use std::io::{BufRead, Write};
    let r = run(dir
        .fulfill()
        .args(["--now", t0, "init", "--sandbox", "--profile", "dpp-2025"])
        .args(["--owner", "olga", "--passphrase-file"])
        .arg(pass));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut child = dir
        .as_op("olga", pass)
        .args(["--now", t0, "operator", "totp-enroll"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let url = loop {
        let mut l = String::new();
        assert!(out.read_line(&mut l).unwrap() > 0, "no otpauth link");
        if l.starts_with("otpauth://") {
            break l.trim().to_string();
        }
    };
    let app = totp_rs::Totp::from_url(&url).unwrap();
    let t = fulfill::clock::parse_time(t0).unwrap().timestamp() as u64;
    writeln!(child.stdin.take().unwrap(), "{}", app.generate(t)).unwrap();
    assert!(child.wait().unwrap().success());
    app
}

/// The TOTP replay counter edited with sqlite3: set far ahead, it does not turn the owner's
/// fresh code into a counted failure (no lockout), and that code still works once; set back
/// (or its MAC cleared), a code already used is still refused. `audit` reports the edit.
#[test]
fn a_totp_counter_moved_with_sqlite3_neither_locks_the_owner_out_nor_replays_a_code() {
    let dir = TestDir::new();
    let pass = dir.secret_file("owner.pass", support::OWNER_PASS);
    let t0 = "2026-03-01T10:00:00Z";
    let app = dpp_home_with_totp(&dir, &pass, t0);
    let code_at = |t: &str| {
        app.generate(fulfill::clock::parse_time(t).unwrap().timestamp() as u64)
            .to_string()
    };
    let with_code = |t: &str, c: &str, cmd: &[&str]| {
        let f = dir.secret_file("code", c);
        run(dir
            .as_op("olga", &pass)
            .args(["--now", t, "--totp-file"])
            .arg(&f)
            .args(cmd))
    };
    let list = ["operator", "list"];
    let db = || rusqlite::Connection::open(dir.home().join("vault.db")).unwrap();
    let t1 = "2026-03-01T10:01:00Z";
    assert_eq!(with_code(t1, &code_at(t1), &list).code, 0);
    // Positive control: an untouched counter draws no finding.
    assert!(!dir.audit_text().contains("totp.counter_unverified"));

    // Far ahead: the owner's fresh code works, once.
    db().execute(
        "UPDATE operators SET totp_last_step = 9000000000 WHERE name = 'olga'",
        [],
    )
    .unwrap();
    let t2 = "2026-03-01T10:05:00Z";
    for _ in 0..3 {
        let r = with_code(t2, &code_at("2026-03-01T09:00:00Z"), &list);
        assert_eq!(r.code, 3, "an old code is still wrong: {}", r.stderr);
    }
    let r = with_code(t2, &code_at(t2), &list);
    assert_eq!(r.code, 0, "the fresh code works: {}", r.stderr);
    let r = with_code(t2, &code_at(t2), &list);
    assert_eq!(r.code, 3, "and only once: {}", r.stderr);
    let failed: i64 = db()
        .query_row(
            "SELECT failed_unlocks FROM operators WHERE name = 'olga'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(failed, 1, "only the replay counted");

    // Set back (and with its MAC cleared): the code just used is still refused.
    let t3 = "2026-03-01T10:05:20Z";
    for sql in [
        "UPDATE operators SET totp_last_step = 0 WHERE name = 'olga'",
        "UPDATE operators SET totp_last_step = 0, totp_step_mac = NULL WHERE name = 'olga'",
    ] {
        db().execute(sql, []).unwrap();
        let r = with_code(t3, &code_at(t2), &list);
        assert_eq!(r.code, 3, "{sql}: {}", r.stderr);
        assert!(r.stderr.contains("one-time code"), "{}", r.stderr);
    }
    let log = dir.audit_text();
    assert!(log.contains(r#""reason":"totp_reused""#));

    // The next fresh code works; the edit is recorded and audit reports it.
    let t4 = "2026-03-01T10:07:00Z";
    let r = with_code(t4, &code_at(t4), &["audit", "--json"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("replay counter was changed outside fulfill"),
        "{}",
        r.stdout
    );
    assert!(
        dir.audit_text()
            .contains(r#""event":"totp.counter_unverified""#)
    );
}

/// The one rewrite forward-secure sealing cannot catch: an insider who kept a copy of the
/// whole home (log, key file, vault) puts it back, erasing what came after. The heads sent to
/// the system log (here: an export as `journalctl -t fulfill -o cat` gives it) still say how
/// far the chain had come, and `audit --anchors` reports the roll-back (exit 5).
#[test]
fn a_home_rolled_back_to_a_copy_disagrees_with_the_system_log() {
    let h = log_home();
    let vault_id: String = vault_db(&h)
        .query_row("SELECT value FROM meta WHERE key = 'vault_id'", [], |r| {
            r.get(0)
        })
        .unwrap();
    // What the insider does: day 3 erased, the head and the key file put back as they were
    // after day 2 (from the copy kept then). The system log saw day 3's heads meanwhile.
    let day2_last = records(&day_file(&h, 1)).pop().unwrap();
    let export: String = (0..3)
        .flat_map(|i| records(&day_file(&h, i)))
        .map(|r| {
            format!(
                "Mar 03 09:00:00 bench fulfill[42]: audit-head vault={vault_id} seq={} hash={}\n",
                r.seq,
                r.hash.unwrap()
            )
        })
        .collect();
    std::fs::remove_file(day_file(&h, 2)).unwrap();
    set_head(&h, &day2_last);
    std::fs::write(h.dir.home().join("logs/audit.key"), &h.key_after_day2).unwrap();
    let anchors = h.dir.path().join("anchors.txt");
    std::fs::write(&anchors, export).unwrap();
    let rolled_back = h.dir.path().join("rolled-back");
    let cp = |from: &Path, to: &Path| {
        let st = std::process::Command::new("cp")
            .arg("-a")
            .arg(from)
            .arg(to)
            .status()
            .unwrap();
        assert!(st.success());
    };
    cp(&h.dir.home(), &rolled_back);

    // Without the anchors the rolled-back home looks whole ...
    let r = audit(&h);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // ... with them it does not (the same rolled-back state, before that audit's own records).
    std::fs::remove_dir_all(h.dir.home()).unwrap();
    cp(&rolled_back, &h.dir.home());
    let r = run(h
        .dir
        .as_op("olga", &h.pass)
        .args(["--now", AUDIT_AT, "audit", "--window", "30", "--anchors"])
        .arg(&anchors));
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("the anchor saw the chain at seq"),
        "{}",
        r.stdout
    );
}

// ---- Rotation (`fulfill rekey`, `operator disable`) against an insider ------------------------

fn box_public(e: &CliEnv, name: &str) -> [u8; 32] {
    let b: Vec<u8> = e
        .db()
        .query_row(
            "SELECT box_public FROM operators WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .unwrap();
    b.try_into().unwrap()
}

/// The insider forges a rotation: its own PII key pair, delivered to the fetcher's delivery
/// key (anyone can seal to a public key) with the epoch and `meta` moved on, so that the next
/// `fetch` would seal every new buyer to the insider. Deliveries open only from the owner's
/// authority key: refused (exit 5, `vault.tampered`), nothing fetched.
#[test]
fn a_forged_key_delivery_is_refused_and_nothing_is_sealed_to_it() {
    use fulfill::vault::key::{KeySet, SecretKey, VaultFacts};
    let e = CliEnv::new(20, 21, 3000.0, "");
    let (attacker_sk, attacker_pk) = seal::generate_keypair();
    let (secrets_sk, secrets_pk) = seal::generate_keypair();
    let (forger, _) = seal::generate_keypair();
    let hex32 = |k: &str| -> [u8; 32] { hex::decode(meta(&e, k)).unwrap().try_into().unwrap() };
    let facts = VaultFacts {
        vault_id: meta(&e, "vault_id"),
        profile: meta(&e, "profile"),
        sandbox: true,
        pii_public: *attacker_pk.as_bytes(),
        secrets_public: *secrets_pk.as_bytes(),
        authority_public: hex32("authority_public_key"),
        sealer_public: hex32("sealer_public_key"),
        cred_sealer_public: hex32("credentials_sealer_public_key"),
    };
    let delivery = KeySet {
        secrets: Some(SecretKey::from_bytes(*secrets_sk.expose_secret())),
        facts: Some(facts),
        epoch: 1,
        ..KeySet::default()
    };
    let aad = format!(
        "fulfill/delivery/v1\0{}\0cron\0fetcher\01",
        meta(&e, "vault_id")
    );
    let pk = box_public(&e, "cron");
    // Both ways a forger can seal: with a key of its own in auth mode, and in base mode.
    let forged_auth = seal::seal_authenticated(
        &forger,
        &pk,
        b"fulfill/delivery/v1",
        aad.as_bytes(),
        &delivery.encode_delivery(),
    )
    .unwrap();
    let forged_base = seal::seal_to(
        &pk,
        b"fulfill/delivery/v1",
        aad.as_bytes(),
        &delivery.encode_delivery(),
    )
    .unwrap();
    for forged in [forged_auth, forged_base] {
        let db = e.db();
        db.execute("DELETE FROM key_deliveries", []).unwrap();
        db.execute(
            "INSERT INTO key_deliveries (name, epoch, sealed, created_at) VALUES ('cron', 1, ?1, '2026-01-01T00:00:00Z')",
            [forged],
        )
        .unwrap();
        set_meta(&e, "pii_public_key", &hex::encode(attacker_pk.as_bytes()));
        set_meta(
            &e,
            "secrets_public_key",
            &hex::encode(secrets_pk.as_bytes()),
        );
        set_meta(&e, "key_epoch", "1");
        drop(db);
        let r = e.fetch();
        assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("not made by the owner"), "{}", r.stderr);
        assert_eq!(sealed_orders(&e), 0);
    }
    let log = e.dir.audit_text();
    assert!(log.contains(r#""facts":"key_delivery""#), "{log}");
    drop(attacker_sk);
}

/// The insider swaps a packer's delivery key for its own before the owner rotates: the swapped
/// key carries no valid endorsement, so the rotation delivers nothing to it (and says so), and
/// the packer is refused until added again. Everyone else goes on: the fetcher adopts its
/// delivery and fetches with the re-sealed credentials.
#[test]
fn a_swapped_delivery_key_receives_nothing_from_a_rekey() {
    let e = CliEnv::new(10, 22, 3000.0, "");
    let (r, pia) = e.dir.add_operator("olga", &e.pass, "pia", "packer");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (_, attacker_pk) = seal::generate_keypair();
    e.db()
        .execute(
            "UPDATE operators SET box_public = ?1 WHERE name = 'pia'",
            [attacker_pk.as_bytes().to_vec()],
        )
        .unwrap();
    let r = e.owner(&["rekey"]);
    assert!(r.stdout.contains("epoch 1"), "{}", r.stdout);
    assert!(
        r.stdout.contains("Not delivered") && r.stdout.contains("pia"),
        "{}",
        r.stdout
    );
    let n: i64 = e
        .db()
        .query_row(
            "SELECT count(*) FROM key_deliveries WHERE name = 'pia'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0, "nothing was sealed to the swapped key");
    let r = e.run_as("pia", &pia, &["orders"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("without a delivery"), "{}", r.stderr);
    let r = e.fetch();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(sealed_orders(&e) > 5);
    let log = e.dir.audit_text();
    assert!(log.contains(r#""event":"vault.rekeyed""#), "{log}");
    assert!(log.contains(r#""event":"keyset.rotated""#), "{log}");
}

fn sealed_blobs(e: &CliEnv) -> Vec<Vec<u8>> {
    let db = e.db();
    let mut st = db
        .prepare("SELECT pii FROM orders WHERE pii IS NOT NULL ORDER BY amazon_order_id")
        .unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// `operator disable` of a key holder rotates in the same command (the CLI says so), and the
/// packer's copy of the old PII key opens none of the re-sealed orders.
#[test]
fn disabling_a_packer_through_the_cli_rotates_the_keys() {
    let e = CliEnv::new(15, 23, 3000.0, "");
    let r = e.fetch();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (r, _) = e.dir.add_operator("olga", &e.pass, "pia", "packer");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let before = sealed_blobs(&e);
    let r = e.owner(&["operator", "disable", "pia"]);
    assert!(r.stdout.contains("Keys rotated to epoch 1"), "{}", r.stdout);
    let after = sealed_blobs(&e);
    assert_eq!(before.len(), after.len());
    assert!(
        before.iter().zip(&after).all(|(a, b)| a != b),
        "every blob re-sealed"
    );
    // The owner still prints a label from the re-sealed PII.
    let id = e
        .order_ids("pii IS NOT NULL AND status = 'Unshipped'", 1)
        .remove(0);
    let out = e.dir.path().join("l.zpl");
    let r = e.run_as(
        "olga",
        &e.pass,
        &["label", &id, "--out", out.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}
