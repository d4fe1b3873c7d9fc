//! The PostgreSQL store's schema, made and upgraded by [`PgConn::migrate`]: the files of
//! `migrations/postgres/`, applied in order, each in a transaction of its own that records its
//! number in `schema_version`. Migrations are only ever added (per backend: SQLite's are
//! `migrations/0*.sql`), so a store's number says which of them it has. Several stations may
//! start at once: each migration is applied under a transaction-scoped advisory lock, and a
//! station that waited finds it applied. A store newer than this build is refused.

use super::PgConn;
use crate::error::{Error, Result};
use crate::store::sql::{Row, Sql};

/// The migrations, in order: the schema version is how many of them a store has.
pub const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/postgres/0001_vault.sql"),
    include_str!("../../../migrations/postgres/0002_claims.sql"),
];

/// The schema version this build makes and reads.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The advisory lock every migrator takes (`fulfill` as ASCII, so it is recognisable in
/// `pg_locks`).
pub const MIGRATION_LOCK: i64 = 0x66_75_6c_66_69_6c_6c;

impl PgConn {
    /// Brings the store's schema to this build's version; refuses a store whose schema is
    /// newer ([`Error::Integrity`]).
    pub fn migrate(&self) -> Result<()> {
        loop {
            // READ COMMITTED: the version is read after the lock is held, in a snapshot that
            // sees the migration another station committed while this one waited.
            self.execute_batch("BEGIN ISOLATION LEVEL READ COMMITTED")?;
            let applied = self.migrate_one();
            match applied {
                Ok(true) => {
                    self.execute_batch("COMMIT")?;
                    self.forget_prepared();
                }
                Ok(false) => {
                    self.execute_batch("COMMIT")?;
                    return Ok(());
                }
                Err(e) => {
                    // The transaction is over either way; the first error is the one to show.
                    let _ = self.execute_batch("ROLLBACK");
                    return Err(e);
                }
            }
        }
    }

    /// The store's schema version (0 for an empty database).
    pub fn schema_version(&self) -> Result<i64> {
        let mut made = false;
        self.query(
            "SELECT to_regclass('schema_version') IS NOT NULL",
            &[],
            &mut |r: &Row<'_>| {
                made = r.get(0)?;
                Ok(std::ops::ControlFlow::Break(()))
            },
        )?;
        let mut version = 0;
        if made {
            self.query(
                "SELECT version FROM schema_version WHERE id = 1",
                &[],
                &mut |r: &Row<'_>| {
                    version = r.get(0)?;
                    Ok(std::ops::ControlFlow::Break(()))
                },
            )?;
        }
        Ok(version)
    }

    /// Applies the next migration inside the caller's transaction: whether there was one.
    fn migrate_one(&self) -> Result<bool> {
        self.execute("SELECT pg_advisory_xact_lock(?1)", &[&MIGRATION_LOCK])?;
        self.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_version (
                 id      BIGINT PRIMARY KEY CHECK (id = 1),
                 version BIGINT NOT NULL CHECK (version >= 0)
             );
             INSERT INTO schema_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING",
        )?;
        let have = self.schema_version()?;
        if have > SCHEMA_VERSION {
            return Err(Error::Integrity(format!(
                "the store has schema version {have}, newer than this build's \
                 {SCHEMA_VERSION}; upgrade fulfill"
            )));
        }
        let Some(sql) = usize::try_from(have).ok().and_then(|i| MIGRATIONS.get(i)) else {
            return Ok(false);
        };
        self.execute_batch(sql)?;
        self.execute(
            "UPDATE schema_version SET version = ?1 WHERE id = 1",
            &[&(have + 1)],
        )?;
        Ok(true)
    }
}
