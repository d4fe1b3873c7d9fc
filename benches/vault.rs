//! Vault benchmarks: unlock time at the stored Argon2id parameters; sealing and opening
//! throughput next to a plain rusqlite insert of the same rows without crypto, in one run.

// A plain rusqlite baseline, or setup as an operator with sqlite3 would do it: a connection
// of the bench's own (clippy.toml keeps connections out of the crate outside `vault`).
#![allow(clippy::disallowed_types)]

#[path = "common.rs"]
mod common;

use chrono::Utc;
use common::{median, report};
use fulfill::config::Profile;
use fulfill::home::Home;
use fulfill::pii::BuyerPii;
use fulfill::safety::Environment;
use fulfill::vault::key::{Credential, Passphrase};
use fulfill::vault::{Purpose, Vault, seal};

const N: usize = 2_000;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::create(&dir.path().join("home"), &Environment::system()).unwrap();
    let pass = "benchmark passphrase, long";
    let v = Vault::create(
        &home,
        "olga",
        Passphrase::new(pass.into()),
        Profile::Mws2020,
        true,
        Utc::now(),
    )
    .unwrap();
    let now = Utc::now();

    println!("fulfill vault benchmarks (release build, medians)");
    let d = median(5, || {
        v.unlock(
            "olga",
            &Credential::Passphrase(Passphrase::new(pass.into())),
            now,
        )
        .unwrap();
    });
    let owner = v
        .unlock(
            "olga",
            &Credential::Passphrase(Passphrase::new(pass.into())),
            now,
        )
        .unwrap();
    report("unlock (Argon2id m=64 MiB t=3 p=1)", d, None);

    // Plain rusqlite: the same rows, the PII as plaintext, no crypto.
    let plain = rusqlite::Connection::open(dir.path().join("plain.db")).unwrap();
    plain.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE o (id TEXT PRIMARY KEY, status TEXT, pii BLOB)").unwrap();
    let encoded: Vec<_> = (0..N).map(|i| common::sample_pii(i).encode()).collect();
    let mut round = 0;
    let d = median(5, || {
        round += 1;
        let tx = plain.unchecked_transaction().unwrap();
        for (i, e) in encoded.iter().enumerate() {
            tx.execute(
                "INSERT OR REPLACE INTO o VALUES (?1, 'Unshipped', ?2)",
                rusqlite::params![format!("{round}-{i}"), e.as_slice()],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    });
    report(
        "plain rusqlite insert, no crypto",
        d,
        Some((N as f64, "orders")),
    );

    let rows: Vec<BuyerPii> = (0..N).map(common::sample_pii).collect();
    let pk = owner.pii_public_key();
    let d = median(5, || {
        for (i, p) in rows.iter().enumerate() {
            std::hint::black_box(
                seal::seal_pii(&pk, v.id(), &format!("111-{i:07}-0000000"), 1, p).unwrap(),
            );
        }
    });
    report(
        "HPKE seal only (v1: X25519 + AES-256-GCM)",
        d,
        Some((N as f64, "orders")),
    );

    let mut round = 0;
    let d = median(5, || {
        round += 1;
        v.write(|_| {
            for (i, p) in rows.iter().enumerate() {
                owner.store_order_pii(&format!("{round}-{i:07}"), "Unshipped", Some(p), now)?;
            }
            Ok(())
        })
        .unwrap();
    });
    report("seal + store in the vault", d, Some((N as f64, "orders")));

    let s = v
        .unlock(
            "olga",
            &Credential::Passphrase(Passphrase::new(pass.into())),
            now,
        )
        .unwrap();
    let sk = s.keys().pii_private.as_ref().unwrap();
    let sealed: Vec<Vec<u8>> = rows
        .iter()
        .enumerate()
        .map(|(i, p)| seal::seal_pii(&pk, v.id(), &format!("o{i}"), 1, p).unwrap())
        .collect();
    let d = median(5, || {
        for (i, b) in sealed.iter().enumerate() {
            std::hint::black_box(seal::open_pii(sk, v.id(), &format!("o{i}"), 1, b).unwrap());
        }
    });
    report("HPKE open only (v1)", d, Some((N as f64, "orders")));

    // Sealing v2: AES-256-GCM under an epoch data key (made and wrapped once per epoch).
    let key = fulfill::vault::key::SecretKey::generate();
    let name = seal::KeyName::fresh(seal::Epoch::of(now));
    let d = median(5, || {
        for (i, p) in rows.iter().enumerate() {
            std::hint::black_box(seal::seal_record(
                &key,
                name,
                v.id(),
                &format!("111-{i:07}-0000000"),
                1,
                p,
            ));
        }
    });
    report(
        "v2 seal only (AES-256-GCM, epoch key)",
        d,
        Some((N as f64, "orders")),
    );
    let sealed2: Vec<Vec<u8>> = rows
        .iter()
        .enumerate()
        .map(|(i, p)| seal::seal_record(&key, name, v.id(), &format!("o{i}"), 1, p))
        .collect();
    let d = median(5, || {
        for (i, b) in sealed2.iter().enumerate() {
            std::hint::black_box(
                seal::open_record(&key, v.id(), &format!("o{i}"), 1, b)
                    .unwrap()
                    .unwrap(),
            );
        }
    });
    report("v2 open only", d, Some((N as f64, "orders")));

    let n_open = 300;
    let d = median(3, || {
        for i in 0..n_open {
            std::hint::black_box(
                s.open_pii(&format!("1-{i:07}"), Purpose::Label, now)
                    .unwrap(),
            );
        }
    });
    report(
        "open via session (read + open + pii.opened record)",
        d,
        Some((n_open as f64, "orders")),
    );
}
