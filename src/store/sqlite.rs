//! The SQLite backend: one vault file on one bench.
//!
//! Settings: WAL, `secure_delete=ON` (deleted PII is overwritten, not left in free pages),
//! foreign keys, a busy timeout for concurrent processes, `synchronous=NORMAL` (WAL-safe).
//! Migrations in `migrations/` are embedded and only ever added; `PRAGMA user_version`
//! records how many have run. Every statement goes through the connection's
//! prepared-statement cache. `clippy.toml` keeps `rusqlite::Connection` here (and in the
//! SQLite-file commands `backup`/`restore`).
#![allow(clippy::disallowed_types)] // the one place that holds the SQLite connection

use std::ops::ControlFlow;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::{Backend, TxMode};
use crate::error::{Error, Result as CrateResult};

use rusqlite::types::{ToSqlOutput, ValueRef as SqliteValue};

use super::sql::{Columns, Dialect, Result, Row, Sql, SqlError, ToValue, ValueRef};

/// The migrations, in order. Append only.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_vault.sql"),
    include_str!("../../migrations/0002_fetch.sql"),
    include_str!("../../migrations/0003_ship.sql"),
    include_str!("../../migrations/0004_labels.sql"),
    include_str!("../../migrations/0005_sku_locations.sql"),
    include_str!("../../migrations/0006_label_identity.sql"),
    include_str!("../../migrations/0007_recovery.sql"),
    include_str!("../../migrations/0008_rekey.sql"),
    include_str!("../../migrations/0009_packages.sql"),
    include_str!("../../migrations/0010_retention_anchor.sql"),
    include_str!("../../migrations/0011_bought_service.sql"),
    include_str!("../../migrations/0012_epoch_keys.sql"),
    include_str!("../../migrations/0013_cancelled_labels.sql"),
    include_str!("../../migrations/0014_totp_step_mac.sql"),
    include_str!("../../migrations/0015_regions.sql"),
    include_str!("../../migrations/0016_claims.sql"),
];

/// The schema version this build writes (the number of migrations).
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// How long a statement waits for another connection's lock before it fails.
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Opens (creating if asked) the vault database with the required settings.
pub fn open(path: &Path, create: bool) -> CrateResult<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(crate::store::sqlite::STATEMENT_CACHE);
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

/// Runs the migrations not yet applied; refuses a vault newer than this build.
pub fn migrate(conn: &mut Connection) -> CrateResult<()> {
    let have: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if have > SCHEMA_VERSION {
        return Err(Error::Integrity(format!(
            "the vault has schema version {have}, newer than this build's {SCHEMA_VERSION}; upgrade fulfill"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(have as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as u32)?;
        tx.commit()?;
    }
    Ok(())
}

/// How long the checkpoint after a purge waits for other connections' transactions to end
/// before it gives up (a listing or a label run reads for well under this).
pub const CHECKPOINT_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// A vault file, open.
pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    /// Opens the vault file at `path` (which must exist) and brings its schema up to date.
    pub fn open(path: &Path) -> CrateResult<SqliteStore> {
        let mut conn = open(path, false)?;
        migrate(&mut conn)?;
        Ok(SqliteStore { conn })
    }
}

impl Backend for SqliteStore {
    fn sql(&self) -> &dyn Sql {
        &self.conn
    }

    fn in_transaction(&self) -> bool {
        !self.conn.is_autocommit()
    }

    fn begin(&self, mode: TxMode) -> CrateResult<()> {
        self.conn.execute_batch(match mode {
            TxMode::Read => "BEGIN DEFERRED",
            TxMode::Write => "BEGIN IMMEDIATE",
        })?;
        Ok(())
    }

    fn commit(&self) -> CrateResult<()> {
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }

    fn rollback(&self) -> CrateResult<()> {
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("ROLLBACK")?;
        }
        Ok(())
    }

    /// `wal_checkpoint(TRUNCATE)`, waiting at most [`CHECKPOINT_WAIT`] for other connections:
    /// true when the WAL was fully checkpointed and emptied (false: another connection's read
    /// transaction, or a writer, held it, so pages the purge overwrote may still hold their old
    /// contents in `vault.db`).
    fn settle_deletions(&self) -> CrateResult<bool> {
        self.conn.busy_timeout(CHECKPOINT_WAIT)?;
        let busy = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            });
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(busy? == 0)
    }

    fn shared(&self) -> bool {
        false
    }

    fn name(&self) -> String {
        "vault.db".to_string()
    }

    fn integrity_check(&self) -> CrateResult<Vec<String>> {
        let mut st = self.conn.prepare("PRAGMA quick_check")?;
        let rows = st
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows.into_iter().filter(|r| r != "ok").collect())
    }

    fn copy_to_file(&self, dst: &Path) -> CrateResult<()> {
        let mut dst = Connection::open(dst)?;
        let b = rusqlite::backup::Backup::new(&self.conn, &mut dst)?;
        b.run_to_completion(4096, std::time::Duration::ZERO, None)?;
        Ok(())
    }
}

/// Statements a connection keeps prepared (the store has about two hundred).
pub const STATEMENT_CACHE: usize = 256;

fn backend(e: rusqlite::Error) -> SqlError {
    SqlError::Backend(e.into())
}

fn bind<'a>(params: &'a [&'a dyn ToValue]) -> Result<Vec<ToSqlOutput<'a>>> {
    params
        .iter()
        .map(|p| {
            Ok(ToSqlOutput::Borrowed(match p.to_value()? {
                ValueRef::Null => SqliteValue::Null,
                ValueRef::Integer(i) => SqliteValue::Integer(i),
                ValueRef::Real(r) => SqliteValue::Real(r),
                ValueRef::Text(s) => SqliteValue::Text(s.as_bytes()),
                ValueRef::Blob(b) => SqliteValue::Blob(b),
            }))
        })
        .collect()
}

struct SqliteRow<'r, 's>(&'r rusqlite::Row<'s>);

impl Columns for SqliteRow<'_, '_> {
    fn count(&self) -> usize {
        self.0.as_ref().column_count()
    }

    fn value(&self, idx: usize) -> Result<ValueRef<'_>> {
        Ok(match self.0.get_ref(idx).map_err(backend)? {
            SqliteValue::Null => ValueRef::Null,
            SqliteValue::Integer(i) => ValueRef::Integer(i),
            SqliteValue::Real(r) => ValueRef::Real(r),
            SqliteValue::Text(t) => ValueRef::Text(std::str::from_utf8(t).map_err(|_| {
                SqlError::Value(format!("column {idx} holds text that is not UTF-8"))
            })?),
            SqliteValue::Blob(b) => ValueRef::Blob(b),
        })
    }
}

impl Sql for rusqlite::Connection {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&self, sql: &str, params: &[&dyn ToValue]) -> Result<usize> {
        let values = bind(params)?;
        let mut st = self.prepare_cached(sql).map_err(backend)?;
        st.execute(rusqlite::params_from_iter(values))
            .map_err(backend)
    }

    fn execute_batch(&self, sql: &str) -> Result<()> {
        rusqlite::Connection::execute_batch(self, sql).map_err(backend)
    }

    fn query(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        each: &mut dyn FnMut(&Row<'_>) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        let values = bind(params)?;
        let mut st = self.prepare_cached(sql).map_err(backend)?;
        let mut rows = st
            .query(rusqlite::params_from_iter(values))
            .map_err(backend)?;
        while let Some(r) = rows.next().map_err(backend)? {
            if each(&Row::new(&SqliteRow(r)))?.is_break() {
                break;
            }
        }
        Ok(())
    }
}
