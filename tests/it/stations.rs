//! A vault whose rows are on a real PostgreSQL server (issue 20), through the binary: `init
//! --store`, the whole demo flow on the server, and what the server's files hold afterwards.

use std::os::unix::fs::PermissionsExt;

use crate::fetch_support::CliEnv;
use crate::support::pg::{Options, Pg};
use crate::support::*;

/// The first order (by id) whose PII is sealed in database `vault` on `pg`, read with psql.
fn first_sealed_order(pg: &Pg) -> String {
    pg.psql(
        "vault",
        "SELECT min(amazon_order_id) FROM orders WHERE pii IS NOT NULL",
    )
    .trim()
    .to_string()
}

/// `init --store URL` of a sandbox home in `d` with owner olga.
fn init_on(d: &TestDir, store: &str) -> Run {
    init_with_password(d, store, None)
}

/// [`init_on`], with the store's password in `password_file` when given.
fn init_with_password(d: &TestDir, store: &str, password_file: Option<&std::path::Path>) -> Run {
    let owner = d.secret_file("owner.pass", &format!("{OWNER_PASS}\n"));
    let mut c = d.fulfill();
    c.args([
        "init",
        "--profile",
        "mws-2020",
        "--sandbox",
        "--anchor-syslog",
    ])
    .arg(d.syslog().path())
    .args(["--owner", "olga", "--store", store]);
    if let Some(f) = password_file {
        c.arg("--store-password-file").arg(f);
    }
    run(c.arg("--passphrase-file").arg(owner))
}

#[test]
fn init_on_postgres_keeps_the_rows_on_the_server_and_the_keys_in_the_home() {
    let pg = Pg::start();
    pg.psql("postgres", "CREATE DATABASE fulfill");
    let d = TestDir::new();
    let r = init_on(&d, &pg.socket_url("fulfill"));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("Its rows are in the PostgreSQL store postgres://postgres@"),
        "{}",
        r.stdout
    );
    let home = d.home();
    assert!(
        !home.join("vault.db").exists(),
        "no vault file beside a shared store"
    );
    let mode = std::fs::metadata(home.join("store.toml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The vault is on the server: its id and its owner.
    let id = pg.psql("fulfill", "SELECT value FROM meta WHERE key = 'vault_id'");
    assert_eq!(id.trim().len(), 32, "{id}");
    assert_eq!(
        pg.psql("fulfill", "SELECT name, role FROM operators")
            .trim(),
        "olga|owner"
    );
    // And the home works against it.
    let r = run(d
        .as_op("olga", &d.path().join("owner.pass"))
        .args(["operator", "list"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("olga"), "{}", r.stdout);

    // A second vault in the same database is refused, and its home is not left half made.
    let other = TestDir::new();
    let r = init_on(&other, &pg.socket_url("fulfill"));
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("already holds vault"), "{}", r.stderr);
    assert!(!other.home().join("store.toml").exists());
    assert_eq!(
        pg.psql("fulfill", "SELECT count(*) FROM operators").trim(),
        "1"
    );
}

#[test]
fn a_store_url_with_a_password_is_refused_before_anything_is_made_and_never_repeated() {
    let d = TestDir::new();
    let r = init_on(&d, "postgres://olga:hunter2@db.example.com/fulfill");
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
    assert!(
        r.stderr.contains("never on the command line"),
        "{}",
        r.stderr
    );
    assert!(!d.home().exists());
}

#[test]
fn a_store_that_is_not_running_is_one_line_and_exit_4_and_leaves_no_home() {
    let pg = Pg::start();
    let gone = pg.socket_url("fulfill");
    drop(pg);
    let d = TestDir::new();
    let r = init_on(&d, &gone);
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(!d.home().exists());
}

#[test]
fn the_demo_runs_on_postgres_and_no_file_of_the_server_holds_a_pii_marker() {
    let pg = Pg::start();
    pg.psql("postgres", "CREATE DATABASE demo");
    let d = TestDir::new();
    let r = run(d.fulfill().env("TMPDIR", d.path()).args([
        "demo",
        "--orders",
        "60",
        "--time-scale",
        "2000",
        "--store",
        &pg.socket_url("demo"),
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for step in [
        "its rows in the PostgreSQL store postgres://postgres@",
        "label (its format checked) in spool/; confirmed by Amazon",
        "2 confirmed, 1 refused",
        "the server keeps only ciphertext whose epoch key is destroyed",
        "findings: 0",
    ] {
        assert!(r.stdout.contains(step), "{step}:\n{}", r.stdout);
    }
    // The server held the orders (positive control)...
    let orders: u32 = pg
        .psql("demo", "SELECT count(*) FROM orders")
        .trim()
        .parse()
        .unwrap();
    assert!(orders > 0, "{orders}");
    // ...and never a PII value: not in its tables, dead tuples or WAL. The control is a
    // marked value written in the clear, which the scan must find.
    pg.psql(
        "demo",
        "CREATE TABLE control (v text); INSERT INTO control VALUES ('ZQXCONTROL'); CHECKPOINT",
    );
    let data = pg.psql("postgres", "SHOW data_directory");
    let data = std::path::Path::new(data.trim());
    let control = scan_dir(data, b"ZQXCONTROL");
    assert!(!control.is_empty(), "the scan finds a value in the clear");
    let leaks: Vec<_> = scan_dir(data, b"ZQX")
        .into_iter()
        .filter(|(p, n)| control.iter().find(|(c, _)| c == p).map(|(_, m)| m) != Some(n))
        .collect();
    assert!(leaks.is_empty(), "PII markers in {leaks:?}");
}

#[test]
fn audit_of_a_shared_store_reads_its_rows_and_finds_a_pii_value_written_there_in_the_clear() {
    let e = CliEnv::in_dir(TestDir::on_postgres(), 20, 33, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    let (r, aud) = e.dir.add_operator("olga", &e.pass, "aud", "auditor");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let audit = || {
        let r = e.run_as("aud", &aud, &["audit", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_default();
        (r, v)
    };
    let r26 = |v: &serde_json::Value| {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "R26")
            .unwrap()
            .clone()
    };
    // Positive control: the rows are read, and hold no PII in the clear.
    let (r, v) = audit();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let clean = r26(&v);
    assert_eq!(clean["status"], "pass", "{clean}");
    assert!(
        clean["details"]
            .to_string()
            .contains("of the store's rows read"),
        "{clean}"
    );
    // An insider with psql writes a buyer's name into a plain column on the server.
    let pg = e.dir.pg();
    let id = first_sealed_order(pg);
    let truth = e.sb.orders();
    let name_of = |id: &str| {
        let o = truth
            .iter()
            .find(|o| o.order.info.amazon_order_id == id)
            .unwrap();
        let p = &o.order.pii;
        [&p.recipient_name, &p.buyer_name]
            .into_iter()
            .flatten()
            .map(|v| v.expose_pii().to_string())
            .collect::<Vec<_>>()
    };
    let name = name_of(&id)[0].clone();
    pg.psql(
        "vault",
        &format!(
            "UPDATE orders SET ship_service_level = '{}' WHERE amazon_order_id = '{id}'",
            name.replace('\'', "''")
        ),
    );
    let (r, v) = audit();
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let found = r26(&v);
    assert_eq!(found["status"], "fail", "{found}");
    // Found in the row it was written to, as a name of an order that has it (the sandbox's
    // buyers may share a name).
    let leaks = v["leaks"].as_array().unwrap();
    assert!(
        !leaks.is_empty()
            && leaks
                .iter()
                .all(|l| l["file"].as_str().unwrap().contains("table orders")
                    && name_of(l["order_id"].as_str().unwrap()).contains(&name)),
        "{leaks:?}"
    );
    // Where, never what.
    assert!(
        !r.stdout.contains(&name),
        "the report never shows the value"
    );
}

#[test]
fn a_store_gone_after_init_is_one_line_naming_it_and_exit_4() {
    let mut pg = Pg::start();
    pg.psql("postgres", "CREATE DATABASE fulfill");
    let d = TestDir::new();
    assert_eq!(init_on(&d, &pg.socket_url("fulfill")).code, 0);
    let pass = d.path().join("owner.pass");
    let list = || run(d.as_op("olga", &pass).args(["operator", "list"]));
    assert_eq!(list().code, 0);
    pg.stop();
    let r = list();
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("postgres://postgres@"), "{}", r.stderr);
}

#[test]
fn a_dump_of_the_server_taken_before_a_purge_and_put_back_after_it_opens_nothing_purged() {
    let e = CliEnv::in_dir(TestDir::on_postgres(), 40, 176, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    let (r, pat) = e.dir.add_operator("olga", &e.pass, "pat", "packer");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let pg = e.dir.pg();
    let id = first_sealed_order(pg);
    let out = e.dir.path().join("label.zpl");
    let label = || {
        let _ = std::fs::remove_file(&out);
        e.run_as(
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
        )
    };
    // Positive control: the order opens, and the dump holds its sealed record.
    let r = label();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let dump = e.dir.path().join("vault.sql");
    pg.dump("vault", &dump);
    let sealed = pg.psql(
        "vault",
        &format!("SELECT encode(pii, 'hex') FROM orders WHERE amazon_order_id = '{id}'"),
    );
    let sealed = sealed.trim();
    assert!(sealed.len() > 64);
    let text = std::fs::read_to_string(&dump).unwrap();
    assert!(text.contains(sealed), "the dump holds the sealed record");

    // Past retention, the purge destroys the rows' PII and the epoch's key in the keyring.
    let later = (e.sb.now() + chrono::Duration::days(100))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let r = e.run(&["--now", &later, "--operator", "cron", "purge"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    // The dump put back: the sealed record is on the server again, and opens nothing.
    pg.restore("vault", &dump);
    let back = pg.psql(
        "vault",
        &format!("SELECT encode(pii, 'hex') FROM orders WHERE amazon_order_id = '{id}'"),
    );
    assert_eq!(back.trim(), sealed);
    let r = label();
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("is not in this home's keyring: destroyed by a purge"),
        "refused for its key, not for anything else: {}",
        r.stderr
    );
    assert!(!out.exists());
}

/// `init --store` over loopback TCP with a password: from a 0600 file (never argv), a wrong
/// one is exit 3 and leaves no home, a file others can read is refused, and the right one
/// makes the vault; the home's later commands read the same file.
#[test]
fn a_store_password_comes_from_a_private_file_and_a_wrong_one_is_exit_3() {
    let pg = Pg::start_with(Options {
        tcp: true,
        ..Options::default()
    });
    pg.psql(
        "postgres",
        "CREATE ROLE station LOGIN PASSWORD 'correct-horse-7781'",
    );
    pg.psql("postgres", "CREATE DATABASE fulfill OWNER station");
    let url = pg.tcp_url("station", "fulfill");
    let with_password =
        |d: &TestDir, file: &std::path::Path| init_with_password(d, &url, Some(file));

    let d = TestDir::new();
    let wrong = d.secret_file("db.pass", "wrong-horse-1234\n");
    let r = with_password(&d, &wrong);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(!r.stderr.contains("wrong-horse"), "{}", r.stderr);
    assert!(!d.home().exists());

    let readable = d.path().join("open.pass");
    std::fs::write(&readable, "correct-horse-7781\n").unwrap();
    std::fs::set_permissions(&readable, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = with_password(&d, &readable);
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("chmod 600"), "{}", r.stderr);
    assert!(!d.home().exists());

    let right = d.secret_file("right.pass", "correct-horse-7781\n");
    let r = with_password(&d, &right);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = run(d
        .as_op("olga", &d.path().join("owner.pass"))
        .args(["operator", "list"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        pg.psql("fulfill", "SELECT count(*) FROM operators").trim(),
        "1"
    );
}
