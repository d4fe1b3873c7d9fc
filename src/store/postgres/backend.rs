//! The PostgreSQL [`Backend`]: a vault shared by packing stations.
//!
//! **Units of work.** A read is `REPEATABLE READ READ ONLY`: one snapshot, no writes. A write
//! is `READ COMMITTED` under one transaction-scoped advisory lock ([`WRITE_LOCK`]) that every
//! station's writer takes first: writers take turns exactly as they do on the SQLite file
//! (`BEGIN IMMEDIATE`), each sees everything committed before it got the lock, and so no two
//! writers ever conflict (no serialization failure, no deadlock between them). Units of work
//! are short (no transaction is held across a call to Amazon, a print or a prompt), so the
//! turn is short too.
//!
//! **Deletions** do not settle in a client's reach: the server keeps dead tuples, WAL,
//! archives, replicas and backups. What it keeps is ciphertext whose keys live only in the
//! stations' keyrings (docs/security.md), so [`Backend::settle_deletions`] has nothing to do.

use std::cell::Cell;

use super::PgConn;
use crate::error::{Error, Result};
use crate::store::location::Location;
use crate::store::sql::Sql;
use crate::store::{Backend, TxMode};

/// The advisory lock every writer takes first (`fulfillw` as ASCII).
pub const WRITE_LOCK: i64 = 0x66_75_6c_66_69_6c_6c_77;

/// How long a unit of work waits for a lock another station holds (the write turn, a row)
/// before it gives up with one line (as long as SQLite's busy timeout on one bench).
pub const LOCK_WAIT: std::time::Duration = crate::store::sqlite::BUSY_TIMEOUT;

/// How long the server lets a station sit in an open transaction doing nothing before it ends
/// the session (a station frozen or killed mid-work gives the write turn back).
pub const IDLE_IN_TRANSACTION: std::time::Duration = std::time::Duration::from_secs(120);

/// A station's connection to the shared store.
pub struct PgStore {
    conn: PgConn,
    open: Cell<bool>,
}

impl PgStore {
    /// Connects to the store `location` names and brings its schema up to date.
    pub fn open(location: &Location) -> Result<PgStore> {
        let Location::Postgres { uri, .. } = location else {
            return Err(Error::Failed("not a PostgreSQL store".into()));
        };
        let password = location.password()?;
        let conn = PgConn::connect(uri, password.as_ref())?;
        conn.execute_batch(&format!(
            "SET lock_timeout = '{}s'; SET idle_in_transaction_session_timeout = '{}s'",
            LOCK_WAIT.as_secs(),
            IDLE_IN_TRANSACTION.as_secs()
        ))?;
        conn.migrate()?;
        Ok(PgStore {
            conn,
            open: Cell::new(false),
        })
    }
}

impl Backend for PgStore {
    fn sql(&self) -> &dyn Sql {
        &self.conn
    }

    fn in_transaction(&self) -> bool {
        self.open.get()
    }

    fn begin(&self, mode: TxMode) -> Result<()> {
        match mode {
            TxMode::Read => self.conn.begin(true)?,
            TxMode::Write => {
                self.conn
                    .execute_batch("BEGIN ISOLATION LEVEL READ COMMITTED")?;
                let turn = self
                    .conn
                    .execute(&format!("SELECT pg_advisory_xact_lock({WRITE_LOCK})"), &[]);
                if let Err(e) = turn {
                    // No turn, no unit of work: the connection is left out of any transaction.
                    let _ = self.conn.rollback();
                    return Err(e.into());
                }
            }
        }
        self.open.set(true);
        Ok(())
    }

    fn commit(&self) -> Result<()> {
        self.open.set(false);
        Ok(self.conn.commit()?)
    }

    fn rollback(&self) -> Result<()> {
        if self.open.replace(false) {
            self.conn.rollback()?;
        }
        Ok(())
    }

    fn settle_deletions(&self) -> Result<bool> {
        Ok(true)
    }

    fn shared(&self) -> bool {
        true
    }

    fn name(&self) -> String {
        self.conn.store_name().to_string()
    }

    fn integrity_check(&self) -> Result<Vec<String>> {
        // The server checks its own pages; a station checks that the schema is the one it
        // reads (a newer one was refused at open).
        let have = self.conn.schema_version()?;
        Ok(if have == super::migrate::SCHEMA_VERSION {
            Vec::new()
        } else {
            vec![format!(
                "schema version {have}, not {}",
                super::migrate::SCHEMA_VERSION
            )]
        })
    }

    fn copy_to_file(&self, _dst: &std::path::Path) -> Result<()> {
        Err(Error::usage(
            "a shared PostgreSQL store is backed up on the server (pg_dump or \
             pg_basebackup): it holds no key, so its copies open nothing without a station's keyring",
        ))
    }
}
