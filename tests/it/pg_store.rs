//! The PostgreSQL store (`fulfill::store::postgres`) against a real throwaway cluster
//! (`tests/support/pg.rs`): connecting over a unix socket and loopback TCP, the schema's
//! migrations, values of every kind through the store's portable SQL, transactions and
//! their conflicts, and the errors a station sees (a lost server exit 4, a wrong password
//! exit 3, an untrusted certificate exit 5), each one line without the password.

use std::ops::ControlFlow;

use fulfill::error::{Error, Exit};
use fulfill::store::postgres::migrate::SCHEMA_VERSION;
use fulfill::store::postgres::{ConnectOptions, PgConn, Transport};
use fulfill::store::sql::{Row, Sql, SqlError, ToValue};
use fulfill::store::uri::StoreUri;
use fulfill::vault::key::Passphrase;

use crate::support::pg::{Options, Pg};

const PASSWORD: &str = "correct-horse-7781";

/// Database `db` on `pg` through its unix socket, as the superuser.
fn socket_uri(pg: &Pg, db: &str) -> StoreUri {
    StoreUri::parse(&pg.socket_url(db), "postgres").unwrap()
}

/// A fresh database `db` on `pg` and a connection to it through the socket.
fn socket_conn(pg: &Pg, db: &str) -> PgConn {
    pg.psql("postgres", &format!("CREATE DATABASE {db}"));
    PgConn::connect(&socket_uri(pg, db), None).unwrap()
}

/// Every row of a query, as (kind, rendering) pairs per column.
fn rows(conn: &PgConn, sql: &str, params: &[&dyn ToValue]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    conn.query(sql, params, &mut |r: &Row<'_>| {
        let mut cols = Vec::new();
        for i in 0.. {
            match r.get::<_, Option<String>>(i) {
                Ok(Some(s)) => cols.push(format!("text:{s}")),
                Ok(None) => cols.push("null".into()),
                Err(SqlError::Type { found, .. }) => {
                    let v = match found {
                        "an integer" => format!("int:{}", r.get::<_, i64>(i)?),
                        "a real" => format!("real:{}", r.get::<_, f64>(i)?),
                        "bytes" => format!("bytes:{}", hex::encode(r.get::<_, Vec<u8>>(i)?)),
                        other => other.to_string(),
                    };
                    cols.push(v);
                }
                Err(_) => break,
            }
        }
        out.push(cols);
        Ok(ControlFlow::Continue(()))
    })
    .unwrap();
    out
}

fn assert_one_line_without(e: &Error, secret: &str) {
    let m = e.to_string();
    assert!(!m.contains('\n'), "{m}");
    assert!(!m.contains(secret), "{m}");
}

#[test]
fn a_store_over_the_socket_migrates_once_and_twice_is_a_no_op() {
    let pg = Pg::start();
    let conn = socket_conn(&pg, "vault");
    assert_eq!(conn.schema_version().unwrap(), 0);
    conn.migrate().unwrap();
    assert_eq!(conn.schema_version().unwrap(), SCHEMA_VERSION);
    conn.migrate().unwrap();
    assert_eq!(conn.schema_version().unwrap(), SCHEMA_VERSION);
    let tables = pg.psql(
        "vault",
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables \
         WHERE schemaname = 'public'",
    );
    assert_eq!(
        tables.trim(),
        "claims,credentials,feed_batches,key_deliveries,label_files,meta,operators,order_items,\
         orders,owner_recovery,region_credentials,schema_version,shipment_items,shipments,\
         sku_locations"
    );
    // The schema holds the store's rows: an identity id comes back from RETURNING, the
    // checks and foreign keys are there.
    conn.execute(
        "INSERT INTO orders (amazon_order_id, status, created_at, updated_at) \
         VALUES (?1, 'Unshipped', ?2, ?2)",
        &[&"111-0000001-0000001", &"2026-12-01T00:00:00Z"],
    )
    .unwrap();
    let id = rows(
        &conn,
        "INSERT INTO shipments (amazon_order_id, package_no, carrier_code, tracking, \
         shipped_at, shipped_by, state, updated_at) \
         VALUES (?1, 1, 'UPS', '1Z', 't', 'olga', 'queued', 't') RETURNING id",
        &[&"111-0000001-0000001"],
    );
    assert_eq!(id, vec![vec!["int:1".to_string()]]);
    let e = conn
        .execute(
            "INSERT INTO shipments (amazon_order_id, package_no, carrier_code, carrier_name, \
             tracking, shipped_at, shipped_by, state, updated_at) \
             VALUES (?1, 2, 'UPS', 'Other', '1Z', 't', 'olga', 'queued', 't')",
            &[&"111-0000001-0000001"],
        )
        .unwrap_err();
    assert!(e.to_string().contains("23514"), "a check constraint: {e}");
    let e = conn
        .execute(
            "INSERT INTO label_files (path, amazon_order_id, written_at, written_by) \
             VALUES ('a.pdf', ?1, 't', 'olga')",
            &[&"no-such-order"],
        )
        .unwrap_err();
    assert!(e.to_string().contains("23503"), "a foreign key: {e}");
    assert!(!e.to_string().contains("no-such-order"), "{e}");
}

#[test]
fn stations_migrating_at_once_all_succeed_and_apply_each_migration_once() {
    let pg = Pg::start();
    pg.psql("postgres", "CREATE DATABASE vault");
    let uri = socket_uri(&pg, "vault");
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let uri = uri.clone();
            std::thread::spawn(move || {
                let conn = PgConn::connect(&uri, None).unwrap();
                conn.migrate().map(|()| conn.schema_version().unwrap())
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap().unwrap(), SCHEMA_VERSION);
    }
}

#[test]
fn a_schema_newer_than_this_build_is_refused() {
    let pg = Pg::start();
    let conn = socket_conn(&pg, "vault");
    conn.migrate().unwrap();
    pg.psql("vault", "UPDATE schema_version SET version = 99");
    let e = conn.migrate().unwrap_err();
    assert!(matches!(e, Error::Integrity(_)), "{e}");
    assert_eq!(e.exit(), Exit::Unsafe);
    assert!(
        e.to_string().ends_with(&format!(
            "the store has schema version 99, newer than this build's {SCHEMA_VERSION}; \
             upgrade fulfill"
        )),
        "{e}"
    );
    // Nothing was left half done: the version and the connection are as they were.
    assert_eq!(conn.schema_version().unwrap(), 99);
}

#[test]
fn every_kind_of_value_round_trips_by_the_columns_types() {
    let pg = Pg::start();
    let conn = socket_conn(&pg, "vault");
    conn.execute_batch(
        "CREATE TABLE v (i8 BIGINT, i4 INTEGER, i2 SMALLINT, b BOOLEAN, f8 DOUBLE PRECISION, \
         f4 REAL, t TEXT, vc VARCHAR(20), by BYTEA, n NUMERIC)",
    )
    .unwrap();
    let blob: Vec<u8> = (0..=255).collect();
    let n = conn
        .execute(
            "INSERT INTO v (i8, i4, i2, b, f8, f4, t, vc, by) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            &[
                &i64::MIN,
                &-7i64,
                &300i64,
                &true,
                &-0.125f64,
                &2.5f64,
                &"Zoë — 東京 'quoted' ?1",
                &"short",
                &blob,
            ],
        )
        .unwrap();
    assert_eq!(n, 1);
    let none: Option<i64> = None;
    conn.execute(
        "INSERT INTO v (i8, t, by) VALUES (?1, ?2, ?3)",
        &[&none, &None::<String>, &None::<Vec<u8>>],
    )
    .unwrap();
    let got = rows(
        &conn,
        "SELECT i8, i4, i2, b, f8, f4, t, vc, by FROM v ORDER BY i8 NULLS LAST",
        &[],
    );
    assert_eq!(
        got[0],
        [
            format!("int:{}", i64::MIN),
            "int:-7".into(),
            "int:300".into(),
            "int:1".into(),
            "real:-0.125".into(),
            "real:2.5".into(),
            "text:Zoë — 東京 'quoted' ?1".into(),
            "text:short".into(),
            format!("bytes:{}", hex::encode(&blob)),
        ]
    );
    assert_eq!(got[1], vec!["null".to_string(); 9]);

    // A value of the wrong kind names the parameter and both types, never the value.
    let e = conn
        .execute("INSERT INTO v (i8) VALUES (?1)", &[&"Jane Buyer"])
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "parameter ?1 is text, but the statement wants int8"
    );
    let e = conn
        .execute("INSERT INTO v (i2) VALUES (?1)", &[&70000i64])
        .unwrap_err();
    assert_eq!(e.to_string(), "parameter ?1 is out of the range of int2");
    // NUMERIC (what sum() of BIGINTs gives) is refused by name; a CAST reads it.
    let mut seen = None;
    conn.query("SELECT sum(i8) FROM v", &[], &mut |r| {
        seen = r.get::<_, Option<i64>>(0).err().map(|e| e.to_string());
        Ok(ControlFlow::Break(()))
    })
    .unwrap();
    let e = seen.expect("a NUMERIC column is not read as an integer");
    assert!(e.contains("numeric") && e.contains("CAST"), "{e}");
    assert_eq!(
        rows(
            &conn,
            "SELECT CAST(sum(i8 + 1) AS BIGINT) FROM v WHERE i4 = ?1",
            &[&-7i64]
        ),
        vec![vec![format!("int:{}", i64::MIN + 1)]]
    );
    // A bare `?` is refused before the server sees it.
    let e = conn.execute("UPDATE v SET t = ?", &[&"x"]).unwrap_err();
    assert!(matches!(e, SqlError::Value(_)), "{e}");
}

#[test]
fn placeholders_inside_string_literals_identifiers_and_comments_stay_as_written() {
    let pg = Pg::start();
    let conn = socket_conn(&pg, "vault");
    let got = rows(
        &conn,
        "SELECT '?1' AS \"?2\", ?1 -- ?3\n, 'it''s ?2'",
        &[&"bound"],
    );
    assert_eq!(
        got,
        vec![vec![
            "text:?1".to_string(),
            "text:bound".into(),
            "text:it's ?2".into()
        ]]
    );
}

#[test]
fn rows_stream_until_the_callback_stops_and_the_connection_goes_on() {
    let pg = Pg::start();
    let conn = socket_conn(&pg, "vault");
    let mut seen = Vec::new();
    conn.query(
        "SELECT CAST(g AS BIGINT) FROM generate_series(1, 1000000) g",
        &[],
        &mut |r| {
            seen.push(r.get::<_, i64>(0)?);
            Ok(if seen.len() == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        },
    )
    .unwrap();
    assert_eq!(seen, [1, 2, 3]);
    assert_eq!(
        rows(&conn, "SELECT CAST(?1 AS BIGINT) * 2", &[&21i64]),
        vec![vec!["int:42".to_string()]]
    );
}

#[test]
fn a_read_only_transaction_refuses_a_write_and_a_rollback_keeps_nothing() {
    let pg = Pg::start();
    let conn = socket_conn(&pg, "vault");
    conn.migrate().unwrap();
    conn.begin(true).unwrap();
    let e = conn
        .execute("INSERT INTO meta (key, value) VALUES ('k', 'v')", &[])
        .unwrap_err();
    assert!(
        e.to_string().contains("25006"),
        "read-only transaction: {e}"
    );
    conn.rollback().unwrap();
    conn.begin(false).unwrap();
    conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')", &[])
        .unwrap();
    conn.rollback().unwrap();
    assert!(rows(&conn, "SELECT key FROM meta", &[]).is_empty());
    conn.begin(false).unwrap();
    conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')", &[])
        .unwrap();
    conn.commit().unwrap();
    assert_eq!(
        rows(&conn, "SELECT value FROM meta", &[]),
        vec![vec!["text:v".to_string()]]
    );
}

#[test]
fn two_stations_updating_one_row_in_repeatable_read_give_the_second_a_conflict() {
    let pg = Pg::start();
    let a = socket_conn(&pg, "vault");
    a.migrate().unwrap();
    let b = PgConn::connect(&socket_uri(&pg, "vault"), None).unwrap();
    a.execute("INSERT INTO meta (key, value) VALUES ('head', '0')", &[])
        .unwrap();
    a.begin(false).unwrap();
    b.begin(false).unwrap();
    // b's snapshot is taken by its first statement, before a's change commits.
    assert_eq!(
        rows(&b, "SELECT value FROM meta WHERE key = 'head'", &[]),
        vec![vec!["text:0".to_string()]]
    );
    assert_eq!(
        a.execute("UPDATE meta SET value = '1' WHERE key = 'head'", &[])
            .unwrap(),
        1
    );
    a.commit().unwrap();
    let e = b
        .execute("UPDATE meta SET value = '2' WHERE key = 'head'", &[])
        .unwrap_err();
    assert!(matches!(e, SqlError::Conflict), "{e}");
    b.rollback().unwrap();
    // Run again, the unit of work sees the first station's change and goes through.
    b.begin(false).unwrap();
    b.execute("UPDATE meta SET value = '2' WHERE key = 'head'", &[])
        .unwrap();
    b.commit().unwrap();
    assert_eq!(
        rows(&a, "SELECT value FROM meta", &[]),
        vec![vec!["text:2".to_string()]]
    );
}

/// A cluster on loopback TCP with role `station` (password [`PASSWORD`]) owning `vault`.
fn tcp_cluster() -> Pg {
    let pg = Pg::start_with(Options {
        tcp: true,
        ..Options::default()
    });
    pg.psql(
        "postgres",
        &format!("CREATE ROLE station LOGIN PASSWORD '{PASSWORD}'"),
    );
    pg.psql("postgres", "CREATE DATABASE vault OWNER station");
    pg
}

#[test]
fn a_wrong_password_over_loopback_tcp_is_denied_with_exit_3() {
    let pg = tcp_cluster();
    let uri = StoreUri::parse(&pg.tcp_url("station", "vault"), "nobody").unwrap();
    assert_eq!(Transport::for_store(&uri), Transport::Plain, "loopback");
    let wrong = Passphrase::new("wrong-horse-1234".into());
    let e = PgConn::connect(&uri, Some(&wrong)).err().unwrap();
    assert!(matches!(e, Error::Denied(_)), "{e}");
    assert_eq!(e.exit(), Exit::Denied);
    assert_one_line_without(&e, "wrong-horse");
    assert!(e.to_string().contains(&uri.to_string()), "{e}");
    let e = PgConn::connect(&uri, None).err().unwrap();
    assert_eq!(e.exit(), Exit::Denied, "{e}");
    let right = Passphrase::new(PASSWORD.into());
    let conn = PgConn::connect(&uri, Some(&right)).unwrap();
    conn.migrate().unwrap();
    assert_eq!(
        rows(&conn, "SELECT current_user::text", &[]),
        vec![vec!["text:station".to_string()]]
    );
}

#[test]
fn a_server_gone_mid_session_is_one_line_exit_4_without_the_password() {
    let mut pg = tcp_cluster();
    let uri = StoreUri::parse(&pg.tcp_url("station", "vault"), "nobody").unwrap();
    let password = Passphrase::new(PASSWORD.into());
    let conn = PgConn::connect(&uri, Some(&password)).unwrap();
    conn.migrate().unwrap();
    pg.stop();
    let e = conn.execute("DELETE FROM meta", &[]).unwrap_err();
    let SqlError::Backend(e) = e else {
        panic!("not a backend error: {e}");
    };
    assert!(matches!(e, Error::Remote(_)), "{e}");
    assert_eq!(e.exit(), Exit::Remote);
    assert_one_line_without(&e, PASSWORD);
    assert!(e.to_string().contains(&uri.to_string()), "{e}");
    // And a station starting now cannot reach it: the same exit.
    let e = PgConn::connect(&uri, Some(&password)).err().unwrap();
    assert!(matches!(e, Error::Remote(_)), "{e}");
    assert_one_line_without(&e, PASSWORD);
}

#[test]
fn a_store_beyond_loopback_is_reached_only_over_tls() {
    for url in [
        "postgres://station@db.example.com/vault",
        "postgres://station@10.0.0.7:5433/vault",
        "postgres://station@[2001:db8::1]/vault",
    ] {
        let uri = StoreUri::parse(url, "nobody").unwrap();
        assert_eq!(Transport::for_store(&uri), Transport::Tls, "{url}");
        // Asking for plain text there is refused before any packet is sent.
        let plain = ConnectOptions {
            transport: Some(Transport::Plain),
            ..ConnectOptions::default()
        };
        let e = PgConn::connect_with(&uri, None, &plain).err().unwrap();
        assert_eq!(e.exit(), Exit::Unsafe, "{e}");
        assert!(e.to_string().contains("only over TLS"), "{e}");
    }
    for url in [
        "postgres://station@127.0.0.1/vault",
        "postgres://station@localhost/vault",
        "postgres:///vault?host=/run/postgresql",
    ] {
        let uri = StoreUri::parse(url, "nobody").unwrap();
        assert_eq!(Transport::for_store(&uri), Transport::Plain, "{url}");
    }
}

/// A CA of its own and a leaf it signed for `names` (`CA:FALSE`, with SANs): the leaf's
/// chain and key in PEM, and the CA's certificate in PEM.
fn ca_and_leaf(names: &[&str]) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "fulfill test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut leaf = rcgen::CertificateParams::new(names).unwrap();
    leaf.is_ca = rcgen::IsCa::ExplicitNoCa;
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    (
        format!("{}{}", leaf_cert.pem(), ca_cert.pem()),
        leaf_key.serialize_pem(),
        ca_cert.pem(),
    )
}

/// A cluster serving TLS on loopback TCP with a leaf for `names`, role `station` (password
/// [`PASSWORD`]), and a file holding its CA's certificate.
fn tls_cluster(names: &[&str]) -> (Pg, tempfile::NamedTempFile) {
    let (chain, key, ca) = ca_and_leaf(names);
    let pg = Pg::start_with(Options {
        tcp: true,
        tls: Some((chain, key)),
    });
    pg.psql(
        "postgres",
        &format!("CREATE ROLE station LOGIN PASSWORD '{PASSWORD}'"),
    );
    assert_eq!(pg.psql("postgres", "SHOW ssl").trim(), "on");
    let ca_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca_file.path(), ca).unwrap();
    (pg, ca_file)
}

fn tls(ca_file: Option<&std::path::Path>) -> ConnectOptions {
    ConnectOptions {
        transport: Some(Transport::Tls),
        ca_file: ca_file.map(std::path::Path::to_path_buf),
        ..ConnectOptions::default()
    }
}

#[test]
fn a_certificate_from_an_unknown_ca_is_refused_with_exit_5() {
    let (pg, _ca) = tls_cluster(&["localhost", "127.0.0.1"]);
    let uri = StoreUri::parse(&pg.tcp_url("station", "postgres"), "nobody").unwrap();
    let password = Passphrase::new(PASSWORD.into());
    let e = PgConn::connect_with(&uri, Some(&password), &tls(None))
        .err()
        .unwrap();
    assert!(matches!(e, Error::Unsafe(_)), "{e}");
    assert_eq!(e.exit(), Exit::Unsafe);
    assert!(e.to_string().contains("not trusted"), "{e}");
    assert_one_line_without(&e, PASSWORD);
    // The same server over plain loopback is fine: it was the certificate.
    PgConn::connect(&uri, Some(&password)).unwrap();
}

#[test]
fn tls_with_a_trusted_ca_connects_and_a_certificate_for_another_name_is_refused() {
    let (pg, ca) = tls_cluster(&["127.0.0.1"]);
    let password = Passphrase::new(PASSWORD.into());
    let uri = StoreUri::parse(&pg.tcp_url("station", "postgres"), "nobody").unwrap();
    let conn = PgConn::connect_with(&uri, Some(&password), &tls(Some(ca.path()))).unwrap();
    assert_eq!(
        rows(
            &conn,
            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[]
        ),
        vec![vec!["int:1".to_string(), "text:TLSv1.3".into()]]
    );
    // The certificate names 127.0.0.1, not localhost: refused though its CA is trusted.
    let by_name = StoreUri::parse(
        &format!("postgres://station@localhost:{}/postgres", pg.port),
        "nobody",
    )
    .unwrap();
    let e = PgConn::connect_with(&by_name, Some(&password), &tls(Some(ca.path())))
        .err()
        .unwrap();
    assert_eq!(e.exit(), Exit::Unsafe, "{e}");
    assert!(e.to_string().contains("not trusted"), "{e}");
    assert_one_line_without(&e, PASSWORD);
    // A CA file that holds nothing is the operator's mistake, said as such.
    let empty = tempfile::NamedTempFile::new().unwrap();
    let e = PgConn::connect_with(&uri, Some(&password), &tls(Some(empty.path())))
        .err()
        .unwrap();
    assert_eq!(e.exit(), Exit::Usage, "{e}");
}

/// A schema as both backends can describe it: one line per fact, sorted.
fn sqlite_schema() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "{files:?}");
    let db = rusqlite::Connection::open_in_memory().unwrap();
    for f in &files {
        db.execute_batch(&std::fs::read_to_string(f).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
    let strings = |sql: &str| -> Vec<Vec<String>> {
        let mut st = db.prepare(sql).unwrap();
        let n = st.column_count();
        st.query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => String::new(),
                        rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                        v => v.as_str().unwrap().to_string(),
                    })
                })
                .collect()
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    let mut facts = Vec::new();
    for t in strings(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    ) {
        let (table, sql) = (&t[0], &t[1]);
        facts.push(format!("table {table}"));
        facts.push(format!(
            "{table} checks {}",
            sql.to_uppercase().matches("CHECK (").count()
        ));
        let columns = strings(&format!("PRAGMA table_info({table})"));
        // cid, name, type, notnull, dflt_value, pk
        let mut pk: Vec<(u32, String)> = columns
            .iter()
            .filter(|c| c[5] != "0")
            .map(|c| (c[5].parse().unwrap(), c[1].clone()))
            .collect();
        for c in &columns {
            let ty = match c[2].as_str() {
                "INTEGER" => "bigint",
                "TEXT" => "text",
                "BLOB" => "bytea",
                "REAL" => "double precision",
                other => panic!("{table}.{}: type {other}", c[1]),
            };
            let pk_col = c[5] != "0";
            let not_null = c[3] == "1" || pk_col;
            // A rowid alias (a lone INTEGER PRIMARY KEY) is an identity column, except the
            // one-row table's fixed key.
            let identity =
                pk_col && pk.len() == 1 && c[2] == "INTEGER" && !sql.contains("CHECK (id = 1)");
            facts.push(format!(
                "{table} column {} {} {ty} not_null={not_null} default={} identity={identity}",
                c[0], c[1], c[4]
            ));
        }
        pk.sort();
        let pk: Vec<_> = pk.into_iter().map(|(_, c)| c).collect();
        facts.push(format!("{table} primary key ({})", pk.join(", ")));
        for fk in strings(&format!("PRAGMA foreign_key_list({table})")) {
            // id, seq, table, from, to, on_update, on_delete, match
            facts.push(format!(
                "{table} foreign key ({}) -> {}({}) on delete {}",
                fk[3], fk[2], fk[4], fk[6]
            ));
        }
        for ix in strings(&format!("PRAGMA index_list({table})")) {
            // seq, name, unique, origin, partial
            if ix[3] == "pk" {
                continue;
            }
            let cols: Vec<String> = strings(&format!("PRAGMA index_info({})", ix[1]))
                .into_iter()
                .map(|c| c[2].clone())
                .collect();
            facts.push(match ix[3].as_str() {
                "u" => format!("{table} unique ({})", cols.join(", ")),
                _ => format!(
                    "{table} index {} ({}) unique={} partial={}",
                    ix[1],
                    cols.join(", "),
                    ix[2] == "1",
                    ix[4] == "1"
                ),
            });
        }
    }
    facts.sort();
    facts
}

/// The same facts of the PostgreSQL store's schema (without its `schema_version`).
fn postgres_schema(pg: &Pg, db: &str) -> Vec<String> {
    let q = |sql: &str| -> Vec<Vec<String>> {
        pg.psql(db, sql)
            .lines()
            .map(|l| l.split('|').map(str::to_string).collect())
            .collect()
    };
    let mut facts = Vec::new();
    let tables = "c.relnamespace = 'public'::regnamespace AND c.relname <> 'schema_version'";
    for t in q(&format!(
        "SELECT relname, (SELECT count(*) FROM pg_constraint WHERE conrelid = c.oid AND \
         contype = 'c') FROM pg_class c WHERE relkind = 'r' AND {tables}"
    )) {
        facts.push(format!("table {}", t[0]));
        facts.push(format!("{} checks {}", t[0], t[1]));
    }
    for c in q(
        "SELECT table_name, ordinal_position - 1, column_name, data_type, \
                is_nullable = 'NO', coalesce(regexp_replace(column_default, '::text$', ''), ''), \
                is_identity = 'YES' FROM information_schema.columns \
                WHERE table_schema = 'public' AND table_name <> 'schema_version'",
    ) {
        facts.push(format!(
            "{} column {} {} {} not_null={} default={} identity={}",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4] == "t",
            c[5],
            c[6] == "t"
        ));
    }
    let cols = "(SELECT string_agg(a.attname, ', ' ORDER BY k.n) FROM unnest(i.indkey) \
                WITH ORDINALITY k(attnum, n) JOIN pg_attribute a ON a.attrelid = i.indrelid \
                AND a.attnum = k.attnum)";
    for ix in q(&format!(
        "SELECT c.relname, x.relname, {cols}, i.indisprimary, i.indisunique, \
         i.indpred IS NOT NULL, EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = i.indexrelid) \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid \
         JOIN pg_class x ON x.oid = i.indexrelid WHERE {tables}"
    )) {
        facts.push(if ix[3] == "t" {
            format!("{} primary key ({})", ix[0], ix[2])
        } else if ix[6] == "t" {
            format!("{} unique ({})", ix[0], ix[2])
        } else {
            format!(
                "{} index {} ({}) unique={} partial={}",
                ix[0],
                ix[1],
                ix[2],
                ix[4] == "t",
                ix[5] == "t"
            )
        });
    }
    for fk in q(&format!(
        "SELECT c.relname, a.attname, f.relname, b.attname, CASE k.confdeltype \
         WHEN 'c' THEN 'CASCADE' WHEN 'a' THEN 'NO ACTION' ELSE k.confdeltype::text END \
         FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid \
         JOIN pg_class f ON f.oid = k.confrelid \
         JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1] \
         JOIN pg_attribute b ON b.attrelid = k.confrelid AND b.attnum = k.confkey[1] \
         WHERE k.contype = 'f' AND {tables}"
    )) {
        facts.push(format!(
            "{} foreign key ({}) -> {}({}) on delete {}",
            fk[0], fk[1], fk[2], fk[3], fk[4]
        ));
    }
    facts.sort();
    facts
}

#[test]
fn the_postgres_schema_is_the_sqlite_schema_after_every_migration() {
    let pg = Pg::start();
    let conn = socket_conn(&pg, "vault");
    conn.migrate().unwrap();
    let (want, got) = (sqlite_schema(), postgres_schema(&pg, "vault"));
    let missing: Vec<_> = want.iter().filter(|f| !got.contains(f)).collect();
    let extra: Vec<_> = got.iter().filter(|f| !want.contains(f)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "SQLite has, PostgreSQL lacks:\n{missing:#?}\nPostgreSQL has, SQLite lacks:\n{extra:#?}"
    );
    assert!(want.len() > 150, "{}", want.len());
}

#[test]
fn a_deadlock_between_two_stations_is_a_conflict_for_one_and_the_other_goes_through() {
    let pg = Pg::start();
    let a = socket_conn(&pg, "vault");
    a.migrate().unwrap();
    let b = PgConn::connect(&socket_uri(&pg, "vault"), None).unwrap();
    a.execute(
        "INSERT INTO meta (key, value) VALUES ('r1', '0'), ('r2', '0')",
        &[],
    )
    .unwrap();
    let update = |c: &PgConn, key: &str| {
        c.execute("UPDATE meta SET value = 'x' WHERE key = ?1", &[&key])
            .map(drop)
    };
    a.begin(false).unwrap();
    update(&a, "r1").unwrap();
    b.begin(false).unwrap();
    update(&b, "r2").unwrap();
    // Each now wants the other's row: whichever order the server sees them in, a cycle.
    let finish = move |c: PgConn, key: &'static str| {
        let r = update(&c, key);
        match &r {
            Ok(()) => c.commit().unwrap(),
            Err(_) => c.rollback().unwrap(),
        }
        r
    };
    let other = std::thread::spawn(move || finish(a, "r2"));
    let mine = finish(b, "r1");
    let theirs = other.join().unwrap();
    let conflicts = [&mine, &theirs]
        .iter()
        .filter(|r| matches!(r, Err(SqlError::Conflict)))
        .count();
    assert_eq!(conflicts, 1, "{mine:?} {theirs:?}");
    assert!(mine.is_ok() || theirs.is_ok(), "{mine:?} {theirs:?}");
}

#[test]
fn a_server_that_accepts_and_never_answers_is_given_up_with_exit_4() {
    // A loopback listener that takes the connection and says nothing.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let uri = StoreUri::parse(&format!("postgres://station@127.0.0.1:{port}/vault"), "x").unwrap();
    let options = ConnectOptions {
        timeout: Some(std::time::Duration::from_millis(500)),
        ..ConnectOptions::default()
    };
    let started = std::time::Instant::now();
    let password = Passphrase::new(PASSWORD.into());
    let e = PgConn::connect_with(&uri, Some(&password), &options)
        .err()
        .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(matches!(e, Error::Remote(_)), "{e}");
    assert!(
        e.to_string().contains("did not answer within 500 ms"),
        "{e}"
    );
    assert_one_line_without(&e, PASSWORD);
    // It was connected to, and left waiting.
    let (_held, _) = silent.accept().unwrap();
}

#[test]
fn the_store_functions_statement_api_reads_the_same_over_postgres() {
    use fulfill::store::sql::{OptionalExtension, Statement};
    let pg = Pg::start();
    let conn = socket_conn(&pg, "vault");
    conn.migrate().unwrap();
    let mut insert = Statement::new(
        &conn,
        "INSERT INTO sku_locations (sku, bin, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4)",
    );
    for (sku, bin) in [("B-2", "A1"), ("a-1", "A2"), ("C-3", "A1")] {
        assert_eq!(insert.execute([sku, bin, "t", "olga"]).unwrap(), 1);
    }
    // Byte order, as SQLite sorts text: upper case before lower case.
    let skus: Vec<String> = Statement::new(&conn, "SELECT sku FROM sku_locations ORDER BY sku")
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(skus, ["B-2", "C-3", "a-1"]);
    let mut by_sku = Statement::new(&conn, "SELECT bin FROM sku_locations WHERE sku = ?1");
    assert_eq!(
        by_sku
            .query_row(["a-1"], |r| r.get::<_, String>(0))
            .unwrap(),
        "A2"
    );
    assert_eq!(
        by_sku
            .query_row(["none"], |r| r.get::<_, String>(0))
            .optional()
            .unwrap(),
        None
    );
    assert!(
        Statement::new(&conn, "SELECT 1 FROM sku_locations WHERE bin = ?1")
            .exists(["A1"])
            .unwrap()
    );
    let n: i64 = Statement::new(
        &conn,
        "SELECT CAST(count(*) AS BIGINT) FROM sku_locations WHERE bin = ?1",
    )
    .query_row(["A1"], |r| r.get(0))
    .unwrap();
    assert_eq!(n, 2);
    // ON CONFLICT and RETURNING, as the store writes them.
    let bin: String = Statement::new(
        &conn,
        "INSERT INTO sku_locations (sku, bin, updated_at, updated_by) VALUES (?1, ?2, 't', 'olga') \
         ON CONFLICT (sku) DO UPDATE SET bin = excluded.bin RETURNING bin",
    )
    .query_row(["a-1", "Z9"], |r| r.get(0))
    .unwrap();
    assert_eq!(bin, "Z9");
}

#[test]
fn a_server_without_tls_where_tls_is_required_is_refused_with_exit_5() {
    let pg = tcp_cluster();
    assert_eq!(pg.psql("postgres", "SHOW ssl").trim(), "off");
    let uri = StoreUri::parse(&pg.tcp_url("station", "vault"), "nobody").unwrap();
    let password = Passphrase::new(PASSWORD.into());
    let e = PgConn::connect_with(&uri, Some(&password), &tls(None))
        .err()
        .unwrap();
    assert!(matches!(e, Error::Unsafe(_)), "{e}");
    assert!(e.to_string().contains("does not offer TLS"), "{e}");
    assert_one_line_without(&e, PASSWORD);
}

/// Writers on the shared store take turns: a station's write unit waits for another's, and a
/// turn held past the wait is one line, not a hang; a reader is never held up by a writer.
#[test]
fn a_write_waits_for_another_stations_write_and_a_turn_held_too_long_is_one_line() {
    use fulfill::store::location::Location;
    use fulfill::store::postgres::PgStore;
    use fulfill::store::{Backend, TxMode};
    let pg = Pg::start();
    pg.psql("postgres", "CREATE DATABASE shared");
    let location = Location::Postgres {
        uri: socket_uri(&pg, "shared"),
        password_file: None,
    };
    let a = PgStore::open(&location).unwrap();
    let b = PgStore::open(&location).unwrap();
    a.begin(TxMode::Write).unwrap();
    a.sql()
        .execute("INSERT INTO meta (key, value) VALUES ('k', 'a')", &[])
        .unwrap();
    // A reader goes on, and sees what was committed before (nothing yet).
    b.begin(TxMode::Read).unwrap();
    let mut seen = 0;
    b.sql()
        .query("SELECT value FROM meta WHERE key = 'k'", &[], &mut |_| {
            seen += 1;
            Ok(std::ops::ControlFlow::Continue(()))
        })
        .unwrap();
    assert_eq!(seen, 0);
    b.commit().unwrap();
    // A writer waits for the turn (shortened here from the store's 30 s).
    b.sql().execute_batch("SET lock_timeout = '200ms'").unwrap();
    let e = b.begin(TxMode::Write).unwrap_err();
    assert_eq!(e.exit() as u8, 1, "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("stayed locked by another station's unit of work")
            && msg.contains("postgres://postgres@")
            && !msg.contains('\n'),
        "{msg}"
    );
    b.rollback().unwrap();
    // Once the first commits, the turn is free and the second sees its change.
    a.commit().unwrap();
    b.begin(TxMode::Write).unwrap();
    let mut value = String::new();
    b.sql()
        .query("SELECT value FROM meta WHERE key = 'k'", &[], &mut |r| {
            value = r.get(0)?;
            Ok(std::ops::ControlFlow::Break(()))
        })
        .unwrap();
    assert_eq!(value, "a");
    b.commit().unwrap();
}
