//! Attacks by an insider: an operator with a shell as the shared OS user, the binary and
//! sqlite3 (here: rusqlite on the same file, which is what sqlite3 does). Each test is an attack
//! from the outside review (issue 9) and fails without the defence it names.

#[path = "fetch_support/mod.rs"]
mod fetch_support;
mod support;

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
    let sk = e.dir.secret_file("mws2.secret", &c.secret_key);
    let r = e.run_as(
        "adam",
        &adam,
        &[
            "credentials",
            "set",
            "--seller-id",
            &c.seller_id,
            "--access-key-id",
            &c.access_key_id,
            "--secret-key-file",
            sk.to_str().unwrap(),
            "--marketplace",
            &c.marketplace_id,
            "--endpoint",
            &e.sb.base_url(),
            "--time-scale",
            "3000",
        ],
    );
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
