//! A vault made by an earlier build (`tests/fixtures/v1-home`, sealing version 1: HPKE base
//! mode to the PII public key) moves to sealing v2 at its owner's first unlock: one rotation,
//! recorded, after which every record is sealed under an epoch data key in the keyring, every
//! operator adopts the new keys, and a version 1 record is refused as forged.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use support::{Run, TestDir};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v1-home");
/// The fixture's day (a sandbox home: every command runs at this time).
const NOW: &str = "2026-12-07T21:00:00Z";

/// Copies the fixture home into `dir` with the modes a home must have.
fn copy_home(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_home(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
}

struct Home {
    dir: TestDir,
    owner: PathBuf,
    pat: PathBuf,
}

impl Home {
    fn new() -> Home {
        let dir = TestDir::new();
        copy_home(Path::new(FIXTURE), &dir.home());
        std::fs::create_dir_all(dir.home().join("spool")).unwrap();
        std::fs::set_permissions(
            dir.home().join("spool"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        // The earlier build's config.toml has no [anchor] table: heads go to /dev/log, which
        // the test's stand-in system logger replaces.
        let config = dir.home().join("config.toml");
        let mut text = std::fs::read_to_string(&config).unwrap();
        assert!(!text.contains("[anchor]"), "{text}");
        text.push_str(&format!(
            "\n[anchor]\nsyslog = {:?}\n",
            dir.syslog().path().display().to_string()
        ));
        std::fs::write(&config, text).unwrap();
        let owner = dir.secret_file("owner.pass", support::OWNER_PASS);
        let pat = dir.secret_file("pat.pass", "pat passphrase long enough\n");
        Home { dir, owner, pat }
    }

    fn as_op(&self, name: &str, pass: &Path, args: &[&str]) -> Run {
        support::run(
            self.dir
                .fulfill()
                .args(["--now", NOW, "--operator", name, "--passphrase-file"])
                .arg(pass)
                .args(args),
        )
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.home().join("vault.db")).unwrap()
    }

    /// (records sealed in v1, records sealed in v2), orders and gift messages together.
    fn formats(&self) -> (i64, i64) {
        self.db()
            .query_row(
                "SELECT sum(f = '01'), sum(f = '02') FROM (
                   SELECT substr(hex(pii), 1, 2) AS f FROM orders WHERE pii IS NOT NULL
                   UNION ALL SELECT substr(hex(gift_message), 1, 2) FROM order_items
                     WHERE gift_message IS NOT NULL)",
                [],
                |r| {
                    Ok((
                        r.get::<_, Option<i64>>(0)?.unwrap_or(0),
                        r.get::<_, Option<i64>>(1)?.unwrap_or(0),
                    ))
                },
            )
            .unwrap()
    }

    fn label(&self, id: &str) -> Run {
        let out = self.dir.path().join(format!("{id}.zpl"));
        let _ = std::fs::remove_file(&out);
        self.as_op(
            "pat",
            &self.pat,
            &[
                "label",
                id,
                "--format",
                "zpl",
                "--out",
                out.to_str().unwrap(),
            ],
        )
    }

    fn log(&self) -> String {
        self.dir.audit_text()
    }
}

fn an_order(h: &Home) -> String {
    h.db()
        .query_row(
            "SELECT amazon_order_id FROM orders WHERE lifecycle = 'unshipped' AND pii IS NOT NULL
             AND pii_missing = 0 ORDER BY 1 LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn an_earlier_builds_vault_moves_to_sealing_v2_at_the_owners_first_unlock() {
    let h = Home::new();
    let (v1, v2) = h.formats();
    assert!(
        v1 > 40 && v2 == 0,
        "the fixture is sealed in version 1: {v1} {v2}"
    );
    let id = an_order(&h);
    // Before the owner comes: a packer prints from the version 1 record, nothing migrates.
    let r = h.label(&id);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(h.formats().1, 0);
    assert!(!h.log().contains(r#""event":"vault.migrated""#));

    // The owner's first unlock migrates: one rotation, recorded.
    let r = h.as_op("olga", &h.owner, &["orders"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let (v1_after, v2_after) = h.formats();
    assert_eq!(v1_after, 0, "no version 1 record is left");
    assert_eq!(v2_after, v1);
    let log = h.log();
    assert!(log.contains(r#""event":"vault.migrated""#), "{log}");
    assert!(
        log.contains(r#""reason":"migration_to_sealing_v2""#),
        "{log}"
    );
    let ring = fulfill::vault::keyring::Keyring::of_home(&h.dir.home());
    assert!(!ring.entries().unwrap().is_empty());
    // Only once.
    let r = h.as_op("olga", &h.owner, &["orders"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(h.log().matches(r#""event":"vault.migrated""#).count(), 1);

    // Every operator adopts the new keys: the packer prints, the admin and the fetcher unlock.
    let r = h.label(&id);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = h.as_op("ada", &h.pat, &["orders"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let key = Path::new(FIXTURE).with_file_name("v1-home.cron.key");
    let cron_key = h.dir.path().join("cron.key");
    std::fs::copy(&key, &cron_key).unwrap();
    std::fs::set_permissions(&cron_key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = support::run(
        h.dir
            .fulfill()
            .args(["--now", NOW, "--operator", "cron", "--operator-key-file"])
            .arg(&cron_key)
            .args(["orders"]),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The migrated vault audits clean on sealing (R13) and its chain verifies (R25).
    let r = h.as_op("olga", &h.owner, &["audit", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_default();
    for id in ["R13", "R25"] {
        let c = v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap();
        assert_eq!(c["status"], "pass", "{c}");
    }

    // After the migration a version 1 record, which anyone with the public key can make, is
    // refused: the record taken from the fixture, put back.
    let old: Vec<u8> = rusqlite::Connection::open(Path::new(FIXTURE).join("vault.db"))
        .unwrap()
        .query_row(
            "SELECT pii FROM orders WHERE amazon_order_id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    h.db()
        .execute(
            "UPDATE orders SET pii = ?2 WHERE amazon_order_id = ?1",
            rusqlite::params![id, old],
        )
        .unwrap();
    let r = h.label(&id);
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("old format"), "{}", r.stderr);
}

/// A migration killed part way. Its keys go to the keyring before its one transaction
/// commits, so a kill leaves either the rows untouched (version 1) with keys in the keyring
/// that no record names, or the whole migration committed. Here the first state, made with
/// the keys another copy of the same vault made when it migrated (keys no record of this
/// copy names). Nothing is lost, the owner's next unlock migrates whole, once, and the stray
/// keys die with it, so nothing is left that opens anything.
#[test]
fn a_migration_killed_before_its_commit_runs_again_whole_and_leaves_no_stray_key() {
    let crashed = Home::new();
    let (v1, _) = crashed.formats();
    let other = Home::new();
    let r = other.as_op("olga", &other.owner, &["orders"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    std::fs::copy(
        other.dir.home().join(fulfill::vault::keyring::FILE),
        crashed.dir.home().join(fulfill::vault::keyring::FILE),
    )
    .unwrap();
    let ring = fulfill::vault::keyring::Keyring::of_home(&crashed.dir.home());
    let stray: Vec<_> = ring
        .entries()
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(!stray.is_empty());
    assert_eq!(
        crashed.formats(),
        (v1, 0),
        "the rows are as before the kill"
    );

    // Until the owner comes back, the packer prints from the version 1 records.
    let id = an_order(&crashed);
    let r = crashed.label(&id);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    // The owner's next unlock migrates every record, once, and destroys the stray keys.
    let r = crashed.as_op("olga", &crashed.owner, &["orders"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(crashed.formats(), (0, v1));
    assert_eq!(
        crashed.log().matches(r#""event":"vault.migrated""#).count(),
        1
    );
    let left: Vec<_> = ring
        .entries()
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(!left.is_empty());
    assert!(
        stray.iter().all(|n| !left.contains(n)),
        "a key the killed run made is still in the keyring"
    );
    let r = crashed.label(&id);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    // A kill after the commit leaves the migrated vault: the next unlock has nothing to redo.
    let r = crashed.as_op("olga", &crashed.owner, &["orders"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        crashed.log().matches(r#""event":"vault.migrated""#).count(),
        1
    );
}
