//! Sealing v2 (issue 17) through the binary: records prove their sealer, die with their epoch
//! key, and the keys live in the home's keyring, apart from the rows. Each attack is the
//! second outside review's, made as an insider with a shell, sqlite3 (rusqlite on the same
//! file) and no key; each test fails without the defence it names.

use crate::fetch_support;
use crate::support;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use fetch_support::CliEnv;
use fulfill::pii::{BuyerPii, Pii};
use fulfill::vault::key::SecretKey;
use fulfill::vault::keyring::{Entry, Keyring};
use fulfill::vault::seal::{self, Epoch, KeyName};
use support::Run;

struct Env {
    e: CliEnv,
    pat: std::path::PathBuf,
    aud: std::path::PathBuf,
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Env {
    fn new(seed: u64) -> Env {
        let e = CliEnv::new(40, seed, 3000.0, "");
        assert_eq!(e.fetch().code, 0);
        let (r, pat) = e.dir.add_operator("olga", &e.pass, "pat", "packer");
        assert_eq!(r.code, 0, "{}", r.stderr);
        let (r, aud) = e.dir.add_operator("olga", &e.pass, "aud", "auditor");
        assert_eq!(r.code, 0, "{}", r.stderr);
        Env { e, pat, aud }
    }

    fn as_pat(&self, args: &[&str]) -> Run {
        self.e.run_as("pat", &self.pat, args)
    }

    fn label(&self, id: &str) -> Run {
        let out = self.e.dir.path().join(format!("label-{}.zpl", rand_tag()));
        self.as_pat(&[
            "label",
            id,
            "--format",
            "zpl",
            "--out",
            out.to_str().unwrap(),
        ])
    }

    /// `audit --json` as the auditor (global flags first); the R13 check's failures.
    fn audit_r13(&self, global: &[&str]) -> (Run, Vec<String>) {
        let mut a = global.to_vec();
        a.extend_from_slice(&["--operator", "aud", "--passphrase-file"]);
        a.push(self.aud.to_str().unwrap());
        a.extend_from_slice(&["audit", "--json"]);
        let r = self.e.run(&a);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_default();
        let fails = v["checks"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .filter(|c| c["id"] == "R13" && c["status"] == "fail")
                    .flat_map(|c| c["details"].as_array().cloned().unwrap_or_default())
                    .filter_map(|d| d.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        (r, fails)
    }

    /// Addressable unshipped orders with items.
    fn orders(&self, n: usize) -> Vec<String> {
        self.e.order_ids(
            "lifecycle = 'unshipped' AND pii_state = 'sealed' AND pii_missing = 0 AND items_fetched = 1",
            n,
        )
    }

    fn meta(&self, key: &str) -> String {
        self.e
            .db()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .unwrap()
    }

    fn row(&self, id: &str) -> (Vec<u8>, i64) {
        self.e
            .db()
            .query_row(
                "SELECT pii, pii_version FROM orders WHERE amazon_order_id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    }

    fn set_pii(&self, id: &str, blob: &[u8]) {
        self.e
            .db()
            .execute(
                "UPDATE orders SET pii = ?2, pii_state = 'sealed', purged_at = NULL WHERE amazon_order_id = ?1",
                rusqlite::params![id, blob],
            )
            .unwrap();
    }

    fn keyring(&self) -> Keyring {
        Keyring::of_home(&self.e.dir.home())
    }

    fn log_has(&self, needle: &str) -> bool {
        self.e.dir.audit_text().contains(needle)
    }
}

fn rand_tag() -> String {
    hex::encode(fulfill::vault::key::random_bytes::<6>())
}

fn mallory() -> BuyerPii {
    BuyerPii {
        recipient_name: Some(Pii::new("Mallory ZQXFORGED")),
        address_line1: Some(Pii::new("1 Drop Street")),
        city: Some(Pii::new("Springfield")),
        postal_code: Some(Pii::new("12345")),
        ..Default::default()
    }
}

/// The high finding: a picker wrote a new ship-to sealed with the public key (the old format:
/// HPKE base mode, which anyone can make) into an unshipped order, and the label carried it.
/// Now a record opens only under a data key a sealer made: the label is refused (exit 5,
/// `vault.tampered`, naming the order) and `audit` names it.
#[test]
fn a_ship_to_forged_with_the_public_key_is_refused_and_reported() {
    let t = Env::new(171);
    let ids = t.orders(2);
    let (victim, control) = (&ids[0], &ids[1]);
    // Positive control first: the real record prints.
    let r = t.label(victim);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    let vault_id = t.meta("vault_id");
    let pk =
        seal::PiiPublicKey::from_bytes(&hex::decode(t.meta("pii_public_key")).unwrap()).unwrap();
    let (_, version) = t.row(victim);
    // The old attack: a blob sealed to the public key.
    let v1 = seal::seal_pii(&pk, &vault_id, victim, version as u64, &mallory()).unwrap();
    t.set_pii(victim, &v1);
    let r = t.label(victim);
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(victim.as_str()), "{}", r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(!r.stdout.contains("ZQXFORGED") && !r.stderr.contains("ZQXFORGED"));
    assert!(t.log_has(r#""event":"vault.tampered""#));

    // The v2 attack: the picker makes a data key of its own, wraps it from a sealer key pair
    // of its own to the PII public key, adds it to the keyring and seals the ship-to under it.
    let (forger, _) = seal::generate_keypair();
    let key = SecretKey::generate();
    let (_, lsd_blob_version) = t.row(victim);
    let name = KeyName::fresh(Epoch::of(Utc::now() + Duration::days(40)));
    let wrapped = seal::wrap_data_key(&forger, pk.as_bytes(), &vault_id, name, &key).unwrap();
    t.keyring().add(&[Entry { name, wrapped }]).unwrap();
    let blob = seal::seal_record(
        &key,
        name,
        &vault_id,
        victim,
        lsd_blob_version as u64,
        &mallory(),
    );
    t.set_pii(victim, &blob);
    let r = t.label(victim);
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("not made by a role allowed to seal"),
        "{}",
        r.stderr
    );

    // A real key moved to another epoch (its slot relabelled) with a record made for it there:
    // the wrap binds its epoch, so it does not open.
    let real = t
        .keyring()
        .entries()
        .unwrap()
        .into_iter()
        .find(|e| e.name != name)
        .unwrap();
    let moved = KeyName {
        epoch: Epoch(real.name.epoch.0 + 1),
        id: real.name.id,
    };
    t.keyring()
        .add(&[Entry {
            name: moved,
            wrapped: real.wrapped.clone(),
        }])
        .unwrap();
    let blob = seal::seal_record(
        &key,
        moved,
        &vault_id,
        victim,
        lsd_blob_version as u64,
        &mallory(),
    );
    t.set_pii(victim, &blob);
    let r = t.label(victim);
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("moved from another epoch"),
        "{}",
        r.stderr
    );

    // The owner's audit names the order and the forged key, and still audits the rest.
    let (r, fails) = t.audit_r13(&[]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        fails.iter().any(|f| f.contains(victim.as_str())),
        "{fails:?}"
    );
    assert!(
        fails
            .iter()
            .any(|f| f.starts_with("keyring:") && f.contains("not made by a role")),
        "{fails:?}"
    );
    assert!(
        !fails.iter().any(|f| f.contains(control.as_str())),
        "{fails:?}"
    );
    // The untouched order still prints.
    assert_eq!(t.label(control).code, 0);
}

/// Gift messages print on slips: forged the same way, the slip is refused.
#[test]
fn a_forged_gift_message_is_refused_by_slip() {
    let t = Env::new(172);
    let db = t.e.db();
    let (order, item): (String, String) = db
        .query_row(
            "SELECT i.amazon_order_id, i.order_item_id FROM order_items i JOIN orders o
             ON o.amazon_order_id = i.amazon_order_id
             WHERE i.gift_message IS NOT NULL AND o.lifecycle = 'unshipped' AND o.pii_missing = 0
             ORDER BY 1 LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let vault_id = t.meta("vault_id");
    let pk = hex::decode(t.meta("pii_public_key")).unwrap();
    let pk = seal::PiiPublicKey::from_bytes(&pk).unwrap();
    let gift = BuyerPii {
        gift_message: Some(Pii::new("Call ZQXFORGED now")),
        ..Default::default()
    };
    let forged = seal::seal_pii(&pk, &vault_id, &format!("{order}#{item}"), 1, &gift).unwrap();
    db.execute(
        "UPDATE order_items SET gift_message = ?3 WHERE amazon_order_id = ?1 AND order_item_id = ?2",
        rusqlite::params![order, item, forged],
    )
    .unwrap();
    let out = t.e.dir.path().join("slip.pdf");
    let r = t.as_pat(&["slip", &order, "--out", out.to_str().unwrap()]);
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(&order), "{}", r.stderr);
    assert!(!out.exists());
}

/// The medium finding: a sealed blob saved before `purge` and written back afterwards opened
/// again. Now its epoch key is gone from the keyring, and even with the old keyring put back
/// too, an ended epoch is refused by label, slip and buy, and reported by audit.
#[test]
fn purged_pii_put_back_does_not_open_even_with_the_old_keyring() {
    let t = Env::new(173);
    let id = t.orders(1).remove(0);
    let (saved, _) = t.row(&id);
    let saved_ring = std::fs::read(t.keyring().path()).unwrap();
    assert!(!t.keyring().entries().unwrap().is_empty());
    let later = at(t.e.sb.now() + Duration::days(100));
    let r =
        t.e.run(&["--now", &later, "--operator", "cron", "purge", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(v["epoch_keys_destroyed"].as_u64().unwrap() >= 1, "{v}");
    assert!(
        t.keyring().entries().unwrap().is_empty(),
        "every epoch ended"
    );
    assert!(t.log_has(r#""epochs_destroyed":[""#));
    assert!(t.log_has(&id), "the purge records name the order");

    // The blob put back: its key is gone.
    t.set_pii(&id, &saved);
    let r = t.label(&id);
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("not in this home's keyring"),
        "{}",
        r.stderr
    );
    // And with the old keyring put back as well: the epoch has ended.
    std::fs::write(t.keyring().path(), &saved_ring).unwrap();
    for args in [
        vec!["label", id.as_str(), "--format", "zpl"],
        vec!["slip", id.as_str()],
    ] {
        let mut a = vec!["--now", later.as_str()];
        a.extend(args.iter().copied());
        let r = t.as_pat(&a);
        assert_eq!(r.code, 5, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("which ended"), "{args:?}: {}", r.stderr);
    }
    let (r, fails) = t.audit_r13(&["--now", &later]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        fails
            .iter()
            .any(|f| f.contains(id.as_str()) && f.contains("after the epoch ended")),
        "{fails:?}"
    );
    assert!(
        fails
            .iter()
            .any(|f| f.starts_with("keyring:") && f.contains("outlives")),
        "{fails:?}"
    );
}

/// A copy of the whole home taken before a purge holds the keyring of that day: with its own
/// keyring it opens (the positive control); with the live keyring after the purge in its
/// place, nothing purged opens. And `vault.db` with its WAL alone opens nothing.
#[test]
fn a_home_copied_before_a_purge_opens_nothing_with_the_live_keyring() {
    let t = Env::new(174);
    let id = t.orders(1).remove(0);
    let copy = t.e.dir.path().join("copy");
    let status = std::process::Command::new("cp")
        .args(["-a"])
        .arg(t.e.dir.home())
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let in_copy = |args: &[&str]| -> Run {
        let mut c = t.e.dir.fulfill();
        c.env("FULFILL_HOME", &copy)
            .args(["--operator", "pat", "--passphrase-file"])
            .arg(&t.pat)
            .args(args);
        support::run(&mut c)
    };
    let out = t.e.dir.path().join("copy.zpl");
    let label = [
        "label",
        id.as_str(),
        "--format",
        "zpl",
        "--out",
        out.to_str().unwrap(),
    ];
    // Positive control: the copy with its own keyring opens.
    let r = in_copy(&label);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    std::fs::remove_file(&out).unwrap();

    let later = at(t.e.sb.now() + Duration::days(100));
    let r = t.e.run(&["--now", &later, "--operator", "cron", "purge"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    std::fs::copy(t.keyring().path(), copy.join("keyring")).unwrap();
    let r = in_copy(&label);
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    assert!(!out.exists());

    // The rows alone: a copy without any keyring opens nothing, and the wrapped keys are not
    // in vault.db or its WAL.
    std::fs::remove_file(copy.join("keyring")).unwrap();
    let r = in_copy(&label);
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
}

/// The keys are apart from the rows: no wrapped key of the keyring is in `vault.db` or its
/// WAL (positive control: the keyring holds them).
#[test]
fn no_data_key_is_in_the_database_files() {
    let t = Env::new(175);
    let entries = t.keyring().entries().unwrap();
    assert!(!entries.is_empty());
    let ring = std::fs::read(t.keyring().path()).unwrap();
    for f in ["vault.db", "vault.db-wal"] {
        let bytes = std::fs::read(t.e.dir.home().join(f)).unwrap_or_default();
        for e in &entries {
            assert_eq!(support::count(&ring, &e.wrapped[1..33]), 1, "control");
            assert_eq!(support::count(&bytes, &e.wrapped[1..33]), 0, "{f}");
        }
    }
}

/// Every row of every table, as text, without the columns a backup leaves out or a restore
/// moves on (PII, the unlock bookkeeping, the log head and the fetch watermark).
fn rows_without_pii(db: &rusqlite::Connection) -> Vec<(String, Vec<String>)> {
    const SKIP: &[&str] = &[
        "pii",
        "pii_epoch",
        "pii_state",
        "gift_message",
        "gift_epoch",
        "last_used_at",
        "failed_unlocks",
        "last_failed_at",
    ];
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = Vec::new();
    for t in tables {
        let cols: Vec<String> = db
            .prepare(&format!("SELECT name FROM pragma_table_info('{t}')"))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .filter(|c: &String| !SKIP.contains(&c.as_str()))
            .collect();
        let list = cols
            .iter()
            .map(|c| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let filter = if t == "meta" {
            " WHERE key NOT LIKE 'audit_head_%' AND key <> 'fetch_watermark'"
        } else {
            ""
        };
        let mut rows: Vec<String> = db
            .prepare(&format!("SELECT {list} FROM \"{t}\"{filter}"))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.sort();
        out.push((t, rows));
    }
    out
}

/// `fulfill backup` holds every non-PII row and the log, and nothing that opens a buyer's
/// details: no PII value, no data key (searched byte by byte, with positive controls). It
/// restores into a new home whose rows are equal, whose chain verifies, whose audit lists the
/// orders waiting for their PII, and whose next fetch brings that PII back.
#[test]
fn a_backup_holds_no_key_or_pii_and_restores_a_home_that_audits_and_fetches() {
    let t = Env::new(176);
    let id = t.orders(1).remove(0);
    assert_eq!(t.label(&id).code, 0);
    let file = t.e.dir.path().join("fulfill.backup");
    let r =
        t.e.owner(&["backup", "--out", file.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(v["sealed_records_left_out"].as_u64().unwrap() > 10, "{v}");
    use std::os::unix::fs::PermissionsExt;
    let md = std::fs::metadata(&file).unwrap();
    assert_eq!(md.permissions().mode() & 0o777, 0o600);
    let bytes = std::fs::read(&file).unwrap();

    // Every data key, unwrapped by the owner in-process, and every PII value of the sandbox.
    let home = fulfill::home::Home::unchecked(&t.e.dir.home());
    let vault = fulfill::vault::Vault::open(&home).unwrap();
    let owner = vault
        .unlock("olga", &support::pass(support::OWNER_PASS), Utc::now())
        .unwrap();
    let pii_sk = owner.keys().pii_private.as_ref().unwrap();
    let entries = t.keyring().entries().unwrap();
    assert!(!entries.is_empty());
    let mut keys = 0;
    for e in &entries {
        let k = seal::unwrap_data_key(
            pii_sk,
            &owner.facts().sealer_public,
            vault.id(),
            e.name,
            &e.wrapped,
        )
        .unwrap();
        assert_eq!(support::count(&bytes, k.expose_secret()), 0, "a data key");
        assert_eq!(
            support::count(&bytes, &e.wrapped[1..33]),
            0,
            "a wrapped key"
        );
        keys += 1;
    }
    assert!(keys > 0);
    let mut values = 0;
    for o in t.e.sb.orders() {
        for (_, val) in o.order.pii.fields() {
            let val = val.expose_pii();
            if val.len() >= 6 {
                assert_eq!(support::count(&bytes, val.as_bytes()), 0, "a PII value");
                values += 1;
            }
        }
    }
    assert!(values > 20);
    // Positive controls: the backup holds the orders and the log.
    assert!(support::count(&bytes, id.as_bytes()) > 0);
    assert!(support::count(&bytes, b"\"event\":\"label.printed\"") > 0);
    drop(owner);
    drop(vault);

    // Restore into a new home.
    let new_home = t.e.dir.path().join("restored");
    let mut c = t.e.dir.fulfill();
    c.env("FULFILL_HOME", &new_home)
        .args(["--operator", "olga", "--passphrase-file"])
        .arg(&t.e.pass)
        .args(["restore", "--json"])
        .arg(&file);
    let r = support::run(&mut c);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let waiting = v["orders_waiting_for_pii"].as_u64().unwrap();
    assert!(waiting > 0, "{v}");
    let restored = rusqlite::Connection::open(new_home.join("vault.db")).unwrap();
    assert_eq!(rows_without_pii(&restored), rows_without_pii(&t.e.db()));
    let sealed: i64 = restored
        .query_row(
            "SELECT count(*) FROM orders WHERE pii IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(sealed, 0);
    drop(restored);
    let in_new = |name: &str, cred: &[&str], args: &[&str]| -> Run {
        let mut c = t.e.dir.fulfill();
        c.env("FULFILL_HOME", &new_home)
            .args(["--operator", name])
            .args(cred)
            .args(args);
        support::run(&mut c)
    };
    let olga = ["--passphrase-file", t.e.pass.to_str().unwrap()];
    // The chain is intact and the restore recorded; the audit lists the waiting orders.
    let r = in_new("olga", &olga, &["audit", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_default();
    let check = |id: &str| {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(check("R25")["status"], "pass", "{v}");
    assert_eq!(check("R13")["status"], "pass", "{v}");
    assert!(
        check("R13")["details"]
            .to_string()
            .contains("wait for their PII"),
        "{v}"
    );
    let log = std::fs::read_dir(new_home.join("logs"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("audit-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect::<String>();
    assert!(log.contains(r#""event":"vault.restored""#));
    // The next fetch brings the PII of the orders still open back, and the label prints.
    let key = ["--operator-key-file", t.e.key.to_str().unwrap()];
    let r = in_new("cron", &key, &["fetch"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let restored = rusqlite::Connection::open(new_home.join("vault.db")).unwrap();
    let sealed: i64 = restored
        .query_row(
            "SELECT count(*) FROM orders WHERE pii IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(sealed > 0);
    let out = t.e.dir.path().join("restored.zpl");
    let pat = ["--passphrase-file", t.pat.to_str().unwrap()];
    let r = in_new(
        "pat",
        &pat,
        &[
            "label",
            &id,
            "--format",
            "zpl",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

/// Deletion on request: `purge --order` (no key) removes the order's rows and leaves its epoch
/// to be re-keyed; the next unlock of a packer seals the epoch's other records under a fresh
/// key and destroys the old one. The purged record put back then opens nowhere; put back with
/// the old keyring too, `audit` names it from the log's purge records.
#[test]
fn purge_of_one_order_rekeys_its_epoch_without_it() {
    let t = Env::new(177);
    let ids = t.orders(2);
    let (gone, kept) = (&ids[0], &ids[1]);
    let r = t.as_pat(&[
        "ship",
        gone,
        "--carrier",
        "USPS",
        "--tracking",
        "9400100000000000000006",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (saved, _) = t.row(gone);
    let saved_ring = std::fs::read(t.keyring().path()).unwrap();
    let old_key = seal::record_key_name(&saved).unwrap();
    let r = t.e.run(&["--operator", "cron", "purge", "--order", gone]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Not yet re-keyed: purge holds no key.
    assert!(t.keyring().get(old_key).unwrap().is_some());
    // A packer's next unlock re-keys; the other orders still print.
    assert_eq!(t.label(kept).code, 0);
    assert!(t.log_has(r#""event":"epoch.rekeyed""#));
    assert!(
        t.keyring().get(old_key).unwrap().is_none(),
        "the old key is destroyed"
    );
    // The purged record put back: its key is gone.
    t.set_pii(gone, &saved);
    let r = t.label(gone);
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    // With the old keyring put back as well, the audit names the order from the log.
    std::fs::write(t.keyring().path(), &saved_ring).unwrap();
    let (r, fails) = t.audit_r13(&[]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        fails
            .iter()
            .any(|f| f.contains(gone.as_str()) && f.contains("was purged")),
        "{fails:?}"
    );
}

/// An order whose retention anchor moves after its PII was sealed (here: shipped 10 days after
/// its latest ship date) moves to the epoch of its new deadline at the next unlock of a role
/// that opens and seals, so its key dies with its retention and not before.
#[test]
fn a_record_moves_to_the_epoch_of_its_new_deadline() {
    let t = Env::new(178);
    let id = t.orders(1).remove(0);
    let lsd: String =
        t.e.db()
            .query_row(
                "SELECT latest_ship_date FROM orders WHERE amazon_order_id = ?1",
                [&id],
                |r| r.get(0),
            )
            .unwrap();
    let lsd = fulfill::mws::model::parse_mws_time(&lsd).unwrap();
    let (blob, _) = t.row(&id);
    assert_eq!(
        seal::record_key_name(&blob).unwrap().epoch,
        Epoch::of(lsd + Duration::days(30)),
        "sealed into the epoch of its ship-by date"
    );
    let shipped = lsd + Duration::days(10);
    let r = t.as_pat(&[
        "--now",
        &at(shipped),
        "ship",
        &id,
        "--carrier",
        "UPS",
        "--tracking",
        "1Z999AA10123456784",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The packer's next unlock moves it.
    assert_eq!(t.as_pat(&["--now", &at(shipped), "orders"]).code, 0);
    let (blob, _) = t.row(&id);
    let start: String =
        t.e.db()
            .query_row(
                "SELECT retention_start FROM orders WHERE amazon_order_id = ?1",
                [&id],
                |r| r.get(0),
            )
            .unwrap();
    let start = fulfill::mws::model::parse_mws_time(&start).unwrap();
    assert_eq!(
        seal::record_key_name(&blob).unwrap().epoch,
        Epoch::of(start + Duration::days(30))
    );
    assert!(t.log_has(r#""event":"pii.moved_epoch""#));
    // A purge after the old epoch ended keeps it, and it still opens (audit R13 passes).
    let after_old = at(lsd + Duration::days(32));
    let r =
        t.e.run(&["--now", &after_old, "--operator", "cron", "purge"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(t.row(&id).0.len() > 30, "not purged");
    let (_, fails) = t.audit_r13(&["--now", &after_old]);
    assert!(!fails.iter().any(|f| f.contains(id.as_str())), "{fails:?}");
}

/// A purge killed between committing its deletions and destroying the keys (the state it
/// leaves: rows gone, keys still in the keyring) is finished by the next run: the keys
/// qualify again and die then; nothing that was kept is lost.
#[test]
fn a_purge_killed_before_it_destroyed_the_keys_is_finished_by_the_next_run() {
    let t = Env::new(179);
    let kept = t.orders(1).remove(0);
    let later = at(t.e.sb.now() + Duration::days(100));
    let ring_before = std::fs::read(t.keyring().path()).unwrap();
    let r = t.e.run(&["--now", &later, "--operator", "cron", "purge"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The state a kill right after the commit leaves: the keys not yet overwritten.
    std::fs::write(t.keyring().path(), &ring_before).unwrap();
    assert!(!t.keyring().entries().unwrap().is_empty());
    let r =
        t.e.run(&["--now", &later, "--operator", "cron", "purge", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["orders_purged"], 0, "{v}");
    assert!(v["epoch_keys_destroyed"].as_u64().unwrap() >= 1, "{v}");
    assert!(t.keyring().entries().unwrap().is_empty());
    // The facts were kept.
    let n: i64 =
        t.e.db()
            .query_row(
                "SELECT count(*) FROM orders WHERE amazon_order_id = ?1 AND purged_at IS NOT NULL",
                [&kept],
                |r| r.get(0),
            )
            .unwrap();
    assert_eq!(n, 1);
}
