//! The vault through its library API: keys by role, sealing, tampering, passphrases, lockout.

use crate::fetch_support::Sqlite;
use crate::support;

use std::collections::HashMap;
use std::fs;

use chrono::Duration;
use fulfill::config::Profile;
use fulfill::error::Error;
use fulfill::pii::{BuyerPii, Pii};
use fulfill::role::Role;
use fulfill::vault::key::{
    KdfParams, Passphrase, SecretKey, aead_open, aead_seal_with_nonce, argon2id,
};
use fulfill::vault::{NewCredential, Purpose, Vault, seal};
use proptest::test_runner::{Config as PropConfig, TestRunner};
use support::*;

fn marked_pii(marker: &str, i: usize) -> BuyerPii {
    BuyerPii {
        buyer_name: Some(Pii::new(format!("Buyer {marker} {i}"))),
        buyer_email: Some(Pii::new(format!("{marker}{i}@marketplace.amazon.com"))),
        recipient_name: Some(Pii::new(format!("Zoë {marker} Ñúñez {i}"))),
        address_line1: Some(Pii::new(format!("{i} Rue {marker} & <Co>"))),
        city: Some(Pii::new(format!("東京{marker}"))),
        postal_code: Some(Pii::new(format!("{marker}-{i:05}"))),
        phone: Some(Pii::new(format!("+1 555 {marker} {i}"))),
        ..Default::default()
    }
}

fn order_id(i: usize) -> String {
    format!("111-{:07}-{:07}", i, i * 7 % 10_000_000)
}

/// Adds one operator of every role (as the owner) and returns their passphrases.
fn add_everyone(v: &Vault) -> HashMap<Role, String> {
    let owner = v.unlock("olga", &pass(OWNER_PASS), t0()).unwrap();
    let mut out = HashMap::new();
    out.insert(Role::Owner, OWNER_PASS.to_string());
    for role in [
        Role::Picker,
        Role::Packer,
        Role::Fetcher,
        Role::Admin,
        Role::Auditor,
    ] {
        let p = format!("{role} passphrase long enough");
        owner
            .add_operator(
                role.as_str(),
                role,
                NewCredential::Passphrase(Passphrase::new(p.clone())),
                t0(),
            )
            .unwrap();
        out.insert(role, p);
    }
    out
}

#[test]
fn roles_that_must_not_open_pii_hold_no_key_to_open_it() {
    let dir = TestDir::new();
    let v = new_vault(&dir, Profile::Mws2020, false);
    let passes = add_everyone(&v);
    let sealer = v.unlock("olga", &pass(OWNER_PASS), t0()).unwrap();
    sealer
        .store_order_pii(
            &order_id(1),
            "Unshipped",
            Some(&marked_pii("ZQXROLE", 1)),
            t0(),
        )
        .unwrap();
    let (blob, version) = {
        let (s, _) = v
            .read(|tx| fulfill::vault::store::order_pii(tx, &order_id(1)))
            .unwrap()
            .unwrap();
        let s = s.unwrap();
        (s.blob, s.version)
    };
    for role in Role::ALL {
        let name = if role == Role::Owner {
            "olga"
        } else {
            role.as_str()
        };
        let s = v.unlock(name, &pass(&passes[&role]), t0()).unwrap();
        assert_eq!(
            s.keys().pii_private.is_some(),
            role.holds_pii_key(),
            "{role}: PII key"
        );
        assert_eq!(
            s.keys().secrets.is_some(),
            role.holds_secrets_key(),
            "{role}: secrets key"
        );
        if !role.holds_pii_key() {
            // Not only refused by a check: whatever key material the role has cannot open it.
            let (fake, _) = seal::generate_keypair();
            let candidates: Vec<&SecretKey> = [s.keys().secrets.as_ref(), Some(&fake)]
                .into_iter()
                .flatten()
                .collect();
            for k in candidates {
                let e = seal::open_pii(k, v.id(), &order_id(1), version, &blob).unwrap_err();
                assert!(matches!(e, Error::Integrity(_)), "{role}: {e}");
            }
            let e = s.open_pii(&order_id(1), Purpose::Label, t0()).unwrap_err();
            assert!(matches!(e, Error::Denied(_)), "{role}: {e}");
        }
        if !role.holds_secrets_key() {
            assert!(
                matches!(
                    s.secrets_key("credentials.show", t0()),
                    Err(Error::Denied(_))
                ),
                "{role}"
            );
        }
    }
    // The roles that hold the key open it, each for its own purposes only.
    let packer = v
        .unlock("packer", &pass(&passes[&Role::Packer]), t0())
        .unwrap();
    let opened = packer.open_pii(&order_id(1), Purpose::Label, t0()).unwrap();
    assert!(opened == marked_pii("ZQXROLE", 1));
    assert!(matches!(
        packer.open_pii(&order_id(1), Purpose::LeakScan, t0()),
        Err(Error::Denied(_))
    ));
    let auditor = v
        .unlock("auditor", &pass(&passes[&Role::Auditor]), t0())
        .unwrap();
    assert!(
        auditor
            .open_pii(&order_id(1), Purpose::LeakScan, t0())
            .is_ok()
    );
    assert!(matches!(
        auditor.open_pii(&order_id(1), Purpose::Label, t0()),
        Err(Error::Denied(_))
    ));
}

#[test]
fn a_key_is_handed_on_only_by_someone_who_holds_it() {
    let dir = TestDir::new();
    let v = new_vault(&dir, Profile::Mws2020, false);
    let passes = add_everyone(&v);
    let admin = v
        .unlock("admin", &pass(&passes[&Role::Admin]), t0())
        .unwrap();
    // A fetcher needs the secrets key, which an admin does not hold: admins seal credentials
    // to its public half and cannot open them.
    for (role, ok) in [
        (Role::Picker, true),
        (Role::Fetcher, false),
        (Role::Admin, true),
        (Role::Packer, false),
        (Role::Auditor, false),
    ] {
        let name = format!("new-{role}");
        let r = admin.add_operator(
            &name,
            role,
            NewCredential::Passphrase(Passphrase::new("another long passphrase".into())),
            t0(),
        );
        assert_eq!(r.is_ok(), ok, "admin adding a {role}: {r:?}");
        if !ok {
            assert!(matches!(r, Err(Error::Denied(_))));
        }
    }
    let picker = v
        .unlock("picker", &pass(&passes[&Role::Picker]), t0())
        .unwrap();
    let r = picker.add_operator(
        "x",
        Role::Picker,
        NewCredential::Passphrase(Passphrase::new("another long passphrase".into())),
        t0(),
    );
    assert!(matches!(r, Err(Error::Denied(_))));
}

#[test]
fn any_flipped_byte_or_moved_row_fails_to_open_naming_the_order() {
    let dir = TestDir::new();
    let v = new_vault(&dir, Profile::Mws2020, false);
    let (a, b) = (order_id(1), order_id(2));
    let sealer = v.unlock("olga", &pass(OWNER_PASS), t0()).unwrap();
    sealer
        .store_order_pii(&a, "Unshipped", Some(&marked_pii("ZQXTAMPER", 1)), t0())
        .unwrap();
    sealer
        .store_order_pii(&b, "Unshipped", Some(&marked_pii("ZQXTAMPER", 2)), t0())
        .unwrap();
    let owner = v.unlock("olga", &pass(OWNER_PASS), t0()).unwrap();
    let blob: Vec<u8> = v
        .sqlite()
        .query_row(
            "SELECT pii FROM orders WHERE amazon_order_id = ?1",
            [&a],
            |r| r.get(0),
        )
        .unwrap();
    let set = |bytes: &[u8]| {
        v.sqlite()
            .execute(
                "UPDATE orders SET pii = ?2 WHERE amazon_order_id = ?1",
                rusqlite::params![a, bytes],
            )
            .unwrap();
    };
    let mut runner = TestRunner::new(PropConfig::with_cases(300));
    runner
        .run(&(0..blob.len(), 1u8..=255), |(pos, xor)| {
            let mut t = blob.clone();
            t[pos] ^= xor;
            set(&t);
            let e = owner.open_pii(&a, Purpose::Label, t0()).unwrap_err();
            let msg = e.to_string();
            assert!(matches!(e, Error::Integrity(_)), "byte {pos}: {msg}");
            assert!(
                msg.contains(&a) && !msg.contains("ZQXTAMPER"),
                "byte {pos}: {msg}"
            );
            Ok(())
        })
        .unwrap();
    set(&blob);
    assert!(owner.open_pii(&a, Purpose::Label, t0()).is_ok());
    // Move a's sealed row (blob and version) onto b.
    v.sqlite()
        .execute(
            "UPDATE orders SET pii = (SELECT pii FROM orders WHERE amazon_order_id = ?1), pii_version = (SELECT pii_version FROM orders WHERE amazon_order_id = ?1) WHERE amazon_order_id = ?2",
            [&a, &b],
        )
        .unwrap();
    let e = owner.open_pii(&b, Purpose::Label, t0()).unwrap_err();
    assert!(e.to_string().contains(&b), "{e}");
    // Truncated blob, and an older version number.
    set(&blob[..blob.len() - 1]);
    assert!(
        owner
            .open_pii(&a, Purpose::Label, t0())
            .unwrap_err()
            .to_string()
            .contains(&a)
    );
    set(&blob);
    v.sqlite()
        .execute(
            "UPDATE orders SET pii_version = pii_version + 1 WHERE amazon_order_id = ?1",
            [&a],
        )
        .unwrap();
    assert!(owner.open_pii(&a, Purpose::Label, t0()).is_err());
}

/// Reads a `key: value` vector file (rage testkit style): comments start with `#`.
fn vector(name: &str) -> HashMap<String, String> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(':'))
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect()
}

fn hexv(v: &HashMap<String, String>, k: &str) -> Vec<u8> {
    hex::decode(&v[k]).unwrap()
}

#[test]
fn argon2id_rfc9106_known_answer() {
    let v = vector("argon2id-rfc9106.txt");
    let mut out = vec![0u8; 32];
    let n = |k: &str| v[k].parse::<u32>().unwrap();
    argon2id(
        &hexv(&v, "password"),
        &hexv(&v, "salt"),
        &hexv(&v, "secret"),
        &hexv(&v, "ad"),
        KdfParams {
            m_kib: n("m_kib"),
            t: n("t"),
            p: n("p"),
        },
        &mut out,
    )
    .unwrap();
    assert_eq!(hex::encode(out), v["tag"]);
}

#[test]
fn aes256gcm_nist_known_answers_and_failing_vectors() {
    for name in [
        "aes256gcm-nist-tc16.txt",
        "aes256gcm-nist-tc16-tampered-tag.txt",
        "aes256gcm-nist-tc16-wrong-aad.txt",
    ] {
        let v = vector(name);
        let key = SecretKey::from_bytes(hexv(&v, "key").try_into().unwrap());
        let iv: [u8; 12] = hexv(&v, "iv").try_into().unwrap();
        let mut sealed = iv.to_vec();
        sealed.extend(hexv(&v, "ciphertext"));
        sealed.extend(hexv(&v, "tag"));
        let opened = aead_open(&key, &hexv(&v, "aad"), &sealed);
        match v["expect"].as_str() {
            "ok" => {
                assert_eq!(
                    opened.as_deref().map(Vec::as_slice),
                    Some(hexv(&v, "plaintext").as_slice()),
                    "{name}"
                );
                let ours =
                    aead_seal_with_nonce(&key, &iv, &hexv(&v, "aad"), &hexv(&v, "plaintext"));
                assert_eq!(ours, sealed, "{name}: our sealing matches the vector");
            }
            "reject" => assert!(opened.is_none(), "{name}"),
            other => panic!("{name}: unknown expect {other}"),
        }
    }
}

#[test]
fn wrong_passphrase_counts_and_locks_at_ten_until_an_admin_unlocks() {
    let dir = TestDir::new();
    let v = new_vault(&dir, Profile::Mws2020, false);
    let passes = add_everyone(&v);
    for i in 1..10u32 {
        match v.unlock("packer", &pass("not the passphrase"), t0()) {
            Err(Error::WrongPassphrase {
                failures, limit, ..
            }) => assert_eq!((failures, limit), (i, 10)),
            other => panic!("attempt {i}: {other:?}"),
        }
    }
    assert!(matches!(
        v.unlock("packer", &pass("not the passphrase"), t0()),
        Err(Error::Locked(_))
    ));
    // Locked: even the right passphrase is refused now.
    assert!(matches!(
        v.unlock("packer", &pass(&passes[&Role::Packer]), t0()),
        Err(Error::Locked(_))
    ));
    let admin = v
        .unlock("admin", &pass(&passes[&Role::Admin]), t0())
        .unwrap();
    admin.unlock_operator("packer", t0()).unwrap();
    v.unlock("packer", &pass(&passes[&Role::Packer]), t0())
        .unwrap();
    // A success resets the counter.
    let row = v
        .operators()
        .unwrap()
        .into_iter()
        .find(|o| o.name == "packer")
        .unwrap();
    assert_eq!(row.failed_unlocks, 0);
    assert!(row.locked_at.is_none());
}

#[test]
fn disabled_operator_keys_are_destroyed() {
    let dir = TestDir::new();
    let v = new_vault(&dir, Profile::Mws2020, false);
    let passes = add_everyone(&v);
    let mut owner = v.unlock("olga", &pass(OWNER_PASS), t0()).unwrap();
    owner.disable_operator("packer", t0()).unwrap();
    assert!(matches!(
        v.unlock("packer", &pass(&passes[&Role::Packer]), t0()),
        Err(Error::Denied(_))
    ));
    let row = v
        .operators()
        .unwrap()
        .into_iter()
        .find(|o| o.name == "packer")
        .unwrap();
    assert!(row.wrapped_keys.is_none());
    let mut admin = v
        .unlock("admin", &pass(&passes[&Role::Admin]), t0())
        .unwrap();
    assert!(matches!(
        admin.disable_operator("olga", t0()),
        Err(Error::Denied(_))
    ));
}

#[test]
fn an_edited_role_or_weakened_kdf_does_not_unlock() {
    let dir = TestDir::new();
    let v = new_vault(&dir, Profile::Mws2020, false);
    let passes = add_everyone(&v);
    // Escalation attempt: picker -> owner in the database. The role is bound into the wrapped
    // key set, so the unwrap fails and no keys come out.
    v.sqlite()
        .execute(
            "UPDATE operators SET role = 'owner' WHERE name = 'picker'",
            [],
        )
        .unwrap();
    assert!(
        v.unlock("picker", &pass(&passes[&Role::Picker]), t0())
            .is_err()
    );
    // Parameters below the minimum are refused before any key is derived.
    v.sqlite()
        .execute(
            "UPDATE operators SET kdf_m_kib = 1024 WHERE name = 'packer'",
            [],
        )
        .unwrap();
    let e = v
        .unlock("packer", &pass(&passes[&Role::Packer]), t0())
        .unwrap_err();
    assert!(matches!(e, Error::Integrity(_)), "{e}");
    v.sqlite()
        .execute(
            "UPDATE operators SET kdf_t = 100000 WHERE name = 'admin'",
            [],
        )
        .unwrap();
    assert!(matches!(
        v.unlock("admin", &pass(&passes[&Role::Admin]), t0()),
        Err(Error::Integrity(_))
    ));
}

#[test]
fn dpp_2025_passphrases_refuse_the_name_and_the_last_ten() {
    let dir = TestDir::new();
    let v = new_vault(&dir, Profile::Dpp2025, false);
    let owner = v.unlock("olga", &pass(OWNER_PASS), t0()).unwrap();
    let r = owner.add_operator(
        "bob",
        Role::Packer,
        NewCredential::Passphrase(Passphrase::new("my name is BOB ok".into())),
        t0(),
    );
    assert!(matches!(r, Err(Error::Usage(_))), "{r:?}");
    assert!(matches!(
        owner.add_operator(
            "bob",
            Role::Packer,
            NewCredential::Passphrase(Passphrase::new("too short".into())),
            t0()
        ),
        Err(Error::Usage(_))
    ));
    // The current passphrase is the most recent in the history.
    assert!(matches!(
        owner.change_passphrase(Passphrase::new(OWNER_PASS.into()), t0()),
        Err(Error::Usage(_))
    ));
    let mut current = OWNER_PASS.to_string();
    for i in 0..10 {
        let next = format!("rotation number {i} passphrase");
        let s = v.unlock("olga", &pass(&current), t0()).unwrap();
        s.change_passphrase(Passphrase::new(next.clone()), t0())
            .unwrap();
        current = next;
    }
    let s = v.unlock("olga", &pass(&current), t0()).unwrap();
    // Ten back is still remembered; eleven back (the original) is not.
    assert!(
        s.change_passphrase(Passphrase::new("rotation number 0 passphrase".into()), t0())
            .is_err()
    );
    s.change_passphrase(Passphrase::new(OWNER_PASS.into()), t0())
        .unwrap();
    v.unlock("olga", &pass(OWNER_PASS), t0()).unwrap();
}

#[test]
fn key_file_operator_unlocks_with_its_file_only() {
    let dir = TestDir::new();
    let v = new_vault(&dir, Profile::Mws2020, false);
    let owner = v.unlock("olga", &pass(OWNER_PASS), t0()).unwrap();
    let kf = dir.path().join("cron.key");
    owner
        .add_operator("cron", Role::Fetcher, NewCredential::KeyFile(&kf), t0())
        .unwrap();
    let md = fs::metadata(&kf).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&md.permissions()) & 0o777,
        0o600
    );
    assert_eq!(md.len(), 32);
    let key = fulfill::vault::read_key_file(&kf).unwrap();
    let s = v
        .unlock("cron", &fulfill::vault::key::Credential::KeyFile(key), t0())
        .unwrap();
    assert!(s.keys().pii_private.is_none() && s.keys().secrets.is_some());
    assert!(
        v.unlock("cron", &pass("a passphrase is not the key"), t0())
            .is_err()
    );
    // An existing file is never overwritten.
    assert!(
        owner
            .add_operator("cron2", Role::Fetcher, NewCredential::KeyFile(&kf), t0())
            .is_err()
    );
}

#[test]
fn raw_vault_files_hold_no_pii_markers() {
    let dir = TestDir::new();
    let v = new_vault(&dir, Profile::Mws2020, false);
    let marker = "ZQXRAWSCAN";
    let sealer = v.unlock("olga", &pass(OWNER_PASS), t0()).unwrap();
    for i in 0..300 {
        sealer
            .store_order_pii(
                &order_id(i),
                "Unshipped",
                Some(&marked_pii(marker, i)),
                t0() + Duration::seconds(i as i64),
            )
            .unwrap();
    }
    // Re-seal some (new versions) so old pages get rewritten too.
    for i in 0..50 {
        sealer
            .store_order_pii(
                &order_id(i),
                "Unshipped",
                Some(&marked_pii(marker, i + 1000)),
                t0(),
            )
            .unwrap();
    }
    let owner = v.unlock("olga", &pass(OWNER_PASS), t0()).unwrap();
    assert!(
        owner
            .open_pii(&order_id(3), Purpose::Label, t0())
            .unwrap()
            .recipient_name
            .unwrap()
            .expose_pii()
            .contains(marker)
    );
    let wal = dir.home().join("vault.db-wal");
    assert!(
        wal.exists(),
        "the WAL should hold recent pages while the vault is open"
    );
    for f in [dir.home().join("vault.db"), wal] {
        let bytes = fs::read(&f).unwrap();
        for needle in [marker.as_bytes(), "Ñúñez".as_bytes(), "東京".as_bytes()] {
            assert_eq!(
                count(&bytes, needle),
                0,
                "{} contains {:?}",
                f.display(),
                String::from_utf8_lossy(needle)
            );
        }
    }
    // Positive control: the same scan finds a marker that is there.
    let mut planted = fs::read(dir.home().join("vault.db")).unwrap();
    planted.extend_from_slice(marker.as_bytes());
    assert_eq!(count(&planted, marker.as_bytes()), 1);
}

#[test]
fn kdf_minimum_is_what_new_operators_get() {
    let dir = TestDir::new();
    let v = new_vault(&dir, Profile::Mws2020, false);
    let (m, t, p): (u32, u32, u32) = v
        .sqlite()
        .query_row(
            "SELECT kdf_m_kib, kdf_t, kdf_p FROM operators WHERE name = 'olga'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(KdfParams { m_kib: m, t, p }, KdfParams::MIN);
    assert_eq!((m, t, p), (65536, 3, 1));
}

/// Rotation (issue 9, item 4): a disabled packer kept a copy of its keys; after the disable
/// (which rotates), that copy opens no stored blob, and every remaining holder adopts the new
/// keys at its next unlock and opens them.
#[test]
fn disabling_a_key_holder_rotates_and_its_copy_opens_nothing() {
    let dir = TestDir::new();
    let v = new_vault(&dir, Profile::Mws2020, false);
    let passes = add_everyone(&v);
    let mut owner = v.unlock("olga", &pass(OWNER_PASS), t0()).unwrap();
    for i in 1..=3 {
        owner
            .store_order_pii(
                &order_id(i),
                "Unshipped",
                Some(&marked_pii("ZQXROT", i)),
                t0(),
            )
            .unwrap();
    }
    // The insider's copy, taken while it still held the key (its passphrase and the file).
    let copied = {
        let s = v
            .unlock("packer", &pass(&passes[&Role::Packer]), t0())
            .unwrap();
        SecretKey::from_bytes(*s.keys().pii_private.as_ref().unwrap().expose_secret())
    };
    // The sealer's public key too, as it was then (the facts are no secret).
    let sealer_public: [u8; 32] = owner.facts().sealer_public;
    // Opening as sealing v2 does: the record names its data key, which the live keyring
    // holds wrapped to the PII public key.
    let opens_with_copy = |i: usize| {
        let (s, _) = v
            .read(|tx| fulfill::vault::store::order_pii(tx, &order_id(i)))
            .unwrap()
            .unwrap();
        let s = s.unwrap();
        let Some(name) = seal::record_key_name(&s.blob) else {
            return false;
        };
        let ring = fulfill::vault::keyring::Keyring::of_home(v.home().root());
        let Some(wrapped) = ring.get(name).unwrap() else {
            return false;
        };
        seal::unwrap_data_key(&copied, &sealer_public, v.id(), name, &wrapped)
            .and_then(|k| seal::open_record(&k, v.id(), &order_id(i), s.version, &s.blob))
            .is_some_and(|p| p.is_ok())
    };
    assert!(
        opens_with_copy(1),
        "positive control: the copy opens before the rotation"
    );
    let report = owner
        .disable_operator("packer", t0())
        .unwrap()
        .expect("a packer holds the PII key: disabling it rotates");
    assert_eq!((report.epoch, report.orders), (1, 3));
    assert!(report.not_delivered.is_empty(), "{report:?}");
    for i in 1..=3 {
        assert!(
            !opens_with_copy(i),
            "order {i} still opens with the disabled packer's copy"
        );
    }
    // Stored after the rotation: sealed to the new key, which the copy does not open either.
    let owner = v.unlock("olga", &pass(OWNER_PASS), t0()).unwrap();
    owner
        .store_order_pii(
            &order_id(4),
            "Unshipped",
            Some(&marked_pii("ZQXROT", 4)),
            t0(),
        )
        .unwrap();
    assert!(!opens_with_copy(4));
    assert!(owner.open_pii(&order_id(4), Purpose::Label, t0()).unwrap() == marked_pii("ZQXROT", 4));
    // Every other role adopts its delivery and works; the auditor (PII key) opens for its scan.
    for role in [Role::Picker, Role::Fetcher, Role::Admin, Role::Auditor] {
        let s = v
            .unlock(role.as_str(), &pass(&passes[&role]), t0())
            .unwrap();
        assert_eq!(s.keys().epoch, 1, "{role}");
        assert_eq!(
            s.keys().pii_private.is_some(),
            role.holds_pii_key(),
            "{role}"
        );
    }
    let auditor = v
        .unlock("auditor", &pass(&passes[&Role::Auditor]), t0())
        .unwrap();
    assert!(
        auditor
            .open_pii(&order_id(2), Purpose::LeakScan, t0())
            .unwrap()
            == marked_pii("ZQXROT", 2)
    );
    // Adopted once: the second unlock has nothing left to adopt.
    let auditor = v
        .unlock("auditor", &pass(&passes[&Role::Auditor]), t0())
        .unwrap();
    assert_eq!(auditor.keys().epoch, 1);
    assert!(matches!(
        v.unlock("packer", &pass(&passes[&Role::Packer]), t0()),
        Err(Error::Denied(_))
    ));
}

/// A session that unlocked before a rotation would seal to the old key: refused, nothing stored.
#[test]
fn a_session_from_before_a_rotation_seals_nothing() {
    let dir = TestDir::new();
    let v = new_vault(&dir, Profile::Mws2020, false);
    let passes = add_everyone(&v);
    let fetcher = v
        .unlock("fetcher", &pass(&passes[&Role::Fetcher]), t0())
        .unwrap();
    let other = Vault::open(
        &fulfill::home::Home::open(&dir.home(), &fulfill::safety::Environment::system()).unwrap(),
    )
    .unwrap();
    let mut owner = other.unlock("olga", &pass(OWNER_PASS), t0()).unwrap();
    owner.rekey("test", t0()).unwrap();
    let e = fetcher
        .store_order_pii(
            &order_id(1),
            "Unshipped",
            Some(&marked_pii("ZQXSTALE", 1)),
            t0(),
        )
        .unwrap_err();
    assert!(matches!(e, Error::Denied(_)), "{e}");
    assert!(
        v.read(|tx| fulfill::vault::store::order_pii(tx, &order_id(1)))
            .unwrap()
            .is_none()
    );
}

/// Only the owner rotates; an admin cannot disable a key holder (that would need a rotation);
/// the last owner cannot be disabled.
#[test]
fn only_the_owner_rotates_and_the_last_owner_stays() {
    let dir = TestDir::new();
    let v = new_vault(&dir, Profile::Mws2020, false);
    let passes = add_everyone(&v);
    let mut admin = v
        .unlock("admin", &pass(&passes[&Role::Admin]), t0())
        .unwrap();
    assert!(matches!(admin.rekey("test", t0()), Err(Error::Denied(_))));
    assert!(matches!(
        admin.disable_operator("packer", t0()),
        Err(Error::Denied(_))
    ));
    // A picker holds no vault key: an admin disables it without a rotation.
    assert!(admin.disable_operator("picker", t0()).unwrap().is_none());
    let mut owner = v.unlock("olga", &pass(OWNER_PASS), t0()).unwrap();
    assert!(matches!(
        owner.disable_operator("olga", t0()),
        Err(Error::Usage(_))
    ));
    assert_eq!(owner.keys().epoch, 0);
}

/// The owner's recovery copy (wrapped at `init` under the recovery key) is brought up to date
/// through the owner's own deliveries, so recovery still opens PII after rotations.
#[test]
fn recovery_after_two_rotations_opens_new_pii() {
    let dir = TestDir::new();
    let home =
        fulfill::home::Home::create(&dir.home(), &fulfill::safety::Environment::system()).unwrap();
    let (v, recovery) = Vault::create_with_recovery(
        &home,
        "olga",
        Passphrase::new(OWNER_PASS.into()),
        Profile::Mws2020,
        false,
        t0(),
    )
    .unwrap();
    let mut owner = v.unlock("olga", &pass(OWNER_PASS), t0()).unwrap();
    owner.rekey("test", t0()).unwrap();
    let mut owner = v.unlock("olga", &pass(OWNER_PASS), t0()).unwrap();
    owner.rekey("test", t0()).unwrap();
    let owner = v.unlock("olga", &pass(OWNER_PASS), t0()).unwrap();
    owner
        .store_order_pii(
            &order_id(9),
            "Unshipped",
            Some(&marked_pii("ZQXREC", 9)),
            t0(),
        )
        .unwrap();
    let new = "a new owner passphrase, long enough";
    v.recover_owner("olga", &recovery, Passphrase::new(new.into()), t0())
        .unwrap();
    let owner = v.unlock("olga", &pass(new), t0()).unwrap();
    assert_eq!(owner.keys().epoch, 2);
    assert!(owner.open_pii(&order_id(9), Purpose::Label, t0()).unwrap() == marked_pii("ZQXREC", 9));
}

/// Sealing v2's record format as data: a record computed with an independent AES-GCM (Python's
/// `cryptography`) opens to its plaintext and our sealing gives the same bytes; a record moved
/// to another epoch or order, truncated or with a flipped tag does not open.
#[test]
fn pii_record_v2_known_answer_and_failing_vectors() {
    use fulfill::vault::seal::{Epoch, KeyName};
    for name in [
        "pii-record-v2.txt",
        "pii-record-v2-wrong-epoch.txt",
        "pii-record-v2-other-order.txt",
        "pii-record-v2-truncated.txt",
        "pii-record-v2-tampered-tag.txt",
    ] {
        let v = vector(name);
        let key = SecretKey::from_bytes(hexv(&v, "key").try_into().unwrap());
        let sealed = hexv(&v, "sealed");
        let version: u64 = v["version"].parse().unwrap();
        let opened =
            seal::open_record_plain(&key, &v["vault_id"], &v["record_id"], version, &sealed);
        match v["expect"].as_str() {
            "ok" => {
                assert_eq!(
                    opened.as_deref().map(Vec::as_slice),
                    Some(hexv(&v, "plaintext").as_slice()),
                    "{name}"
                );
                let name_ = seal::record_key_name(&sealed).unwrap();
                assert_eq!(name_.epoch, Epoch(0x5140));
                let ours = seal::seal_record_with_nonce(
                    &key,
                    KeyName {
                        epoch: name_.epoch,
                        id: name_.id,
                    },
                    &sealed[13..25].try_into().unwrap(),
                    &v["vault_id"],
                    &v["record_id"],
                    version,
                    &hexv(&v, "plaintext"),
                );
                assert_eq!(ours, sealed, "{name}: our sealing matches the vector");
            }
            "reject" => assert!(opened.is_none(), "{name}"),
            other => panic!("{name}: unknown expect {other}"),
        }
    }
}

/// The data-key wrap as data: HPKE auth mode from the sealer to the PII public key, bound to
/// the vault and the key's name. It opens for the sealer it names; another sealer's public
/// key, another epoch, another vault or a truncated wrap is rejected.
#[test]
fn datakey_wrap_v2_known_answer_and_failing_vectors() {
    use fulfill::vault::seal::{Epoch, KeyName};
    for name in [
        "datakey-wrap-v2.txt",
        "datakey-wrap-v2-wrong-sealer.txt",
        "datakey-wrap-v2-wrong-epoch.txt",
        "datakey-wrap-v2-other-vault.txt",
        "datakey-wrap-v2-truncated.txt",
    ] {
        let v = vector(name);
        let pii = SecretKey::from_bytes(hexv(&v, "pii_private").try_into().unwrap());
        let sealer: [u8; 32] = hexv(&v, "sealer_public").try_into().unwrap();
        let key_name = KeyName {
            epoch: Epoch(v["epoch"].parse().unwrap()),
            id: hexv(&v, "key_id").try_into().unwrap(),
        };
        let opened = seal::unwrap_data_key(
            &pii,
            &sealer,
            &v["vault_id"],
            key_name,
            &hexv(&v, "wrapped"),
        );
        match v["expect"].as_str() {
            "ok" => assert_eq!(
                opened.map(|k| hex::encode(k.expose_secret())),
                Some(v["data_key"].clone()),
                "{name}"
            ),
            "reject" => assert!(opened.is_none(), "{name}"),
            other => panic!("{name}: unknown expect {other}"),
        }
    }
}
