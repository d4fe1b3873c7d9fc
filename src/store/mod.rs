//! Where a vault's rows live: the seam a second backend (PostgreSQL, for many packing
//! stations) goes behind (issue 20).
//!
//! # Two layers
//!
//! - [`Backend`] (object-safe, synchronous; the vault holds a `Box<dyn Backend>`): what each
//!   backend does its own way. Opening and migrating (its own `migrations/`), units of work
//!   ([`Transaction`]: begun in a [`TxMode`], rolled back unless committed), making deletions
//!   settle in its files, checking its files, copying its rows for a backup. [`sqlite`] is the
//!   one-bench vault file.
//! - The rows: the store functions of [`crate::vault`] (`orders`, `shipments`, `labels`,
//!   `skus`, `retention`, `store`), in domain words over a [`crate::vault::store::Tx`], say
//!   their SQL once, in the portable subset of [`sql`], for every backend. One set of row
//!   functions, not one per backend: the same statement cannot mean two things on two
//!   backends, and the contract suite runs that one set against each. The few statements
//!   that differ ask [`sql::Dialect`].
//!
//! [`uri::StoreUri`] says where a shared store is.
//!
//! # The contract every backend keeps
//!
//! - **Rows only, no policy.** A backend stores and returns typed rows: enums of
//!   [`crate::model::lifecycle`], sealed bytes, times. It never seals, opens or decides: the
//!   decisions are made once, above it ([`crate::vault::ingest`], [`crate::vault::progress`],
//!   [`crate::flow`]), so two backends cannot decide differently.
//! - **Transactions.** Every unit of work is one transaction: `read` (one snapshot, no
//!   writes) or `write` (serialised against other writers to the rows it touches), and an audit
//!   record commits with the change it records or neither does. SQLite: `BEGIN DEFERRED` /
//!   `BEGIN IMMEDIATE` on the vault file. PostgreSQL: `REPEATABLE READ`, with serialization
//!   failures (40001, 40P01) retried whole, never shown.
//! - **Claims, not locks, make work exactly-once across stations**: a durable row with a lease
//!   (`UPDATE ... WHERE claimed_by IS NULL OR lease expired`, one row changed or the order is
//!   "being handled at station S"); a lock alone lets a second station in after the first
//!   commits (`../shared/docs/STATIONS.md` §2, measured).
//! - **Destroyed means unopenable in every copy, not deleted.** A deleted row stays in SQLite's
//!   free pages and WAL until they are overwritten and checkpointed, and in PostgreSQL's heap,
//!   WAL, archives, replicas, base backups and dumps for as long as each is kept (STATIONS.md
//!   §4). So no backend ever holds a key: PII is sealed under epoch data keys kept in each
//!   station's keyring ([`crate::vault::keyring`]), and purging an epoch destroys its key
//!   there. A backend's "purge" only drops ciphertext that nothing can open any more.
//! - **Migrations per backend**, only ever added, and a schema newer than the binary is
//!   refused.

pub mod location;
pub mod postgres;
pub mod sql;
pub mod sqlite;
pub mod uri;

use crate::error::Result;
use crate::home::Home;
use location::Location;

/// Opens the store a home names ([`Location::of_home`]), its schema brought up to date (a
/// schema newer than this build is refused).
pub fn open(home: &Home) -> Result<Box<dyn Backend>> {
    match Location::of_home(home)? {
        Location::File(path) => Ok(Box::new(sqlite::SqliteStore::open(&path)?)),
        pg @ Location::Postgres { .. } => open_postgres(&pg),
    }
}

/// Makes the store a new home names: a new `vault.db` (0600, created exclusively), or the
/// schema on a PostgreSQL database (whether it already holds a vault is the vault's question).
pub fn create(home: &Home) -> Result<Box<dyn Backend>> {
    match Location::of_home(home)? {
        Location::File(path) => {
            // Created 0600 here; SQLite gives -wal and -shm the same mode.
            crate::home::create_new_private(&path, b"")?;
            Ok(Box::new(sqlite::SqliteStore::open(&path)?))
        }
        pg @ Location::Postgres { .. } => open_postgres(&pg),
    }
}

fn open_postgres(pg: &Location) -> Result<Box<dyn Backend>> {
    Ok(Box::new(postgres::PgStore::open(pg)?))
}

/// How a unit of work begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxMode {
    /// One snapshot for every read in it, no writes (SQLite `BEGIN DEFERRED`).
    Read,
    /// Writes, serialised against other writers from the start, so a read-then-write inside
    /// it cannot be interleaved with another process's write (SQLite `BEGIN IMMEDIATE`).
    Write,
}

/// Where a vault's rows live, in the words of the contract above: one connection that runs
/// units of work. Object-safe and synchronous; the vault holds a `Box<dyn Backend>`. The rows
/// themselves are read and written by the store functions of [`crate::vault`], in the portable
/// SQL of [`sql`], over [`Backend::sql`]; a backend adds only what it does its own way.
pub trait Backend: Send {
    /// The connection's statements, inside the transaction it is in (or, in none, each its own).
    fn sql(&self) -> &dyn sql::Sql;

    /// Whether a transaction is open on the connection.
    fn in_transaction(&self) -> bool;

    /// Begins a unit of work (none may be open).
    fn begin(&self, mode: TxMode) -> Result<()>;

    /// Commits the open unit of work.
    fn commit(&self) -> Result<()>;

    /// Rolls the open unit of work back (nothing to do when none is open).
    fn rollback(&self) -> Result<()>;

    /// Makes what purges deleted unreachable in the backend's own files where a client can:
    /// SQLite empties its WAL into the vault file (whose deleted pages `secure_delete` zeroed).
    /// False when it could not finish (another connection held it). A backend that cannot
    /// (PostgreSQL keeps dead tuples, WAL and backups) says true: what it keeps is
    /// ciphertext whose keys are destroyed on the stations.
    fn settle_deletions(&self) -> Result<bool>;

    /// Whether stations share it (a server), so its files are out of this station's reach.
    fn shared(&self) -> bool;

    /// What it is, for a person: `vault.db`, or the store's URL (never a password).
    fn name(&self) -> String;

    /// The backend's own check of its files: complaints, none when sound (SQLite
    /// `PRAGMA quick_check`, which names tables and pages, never values).
    fn integrity_check(&self) -> Result<Vec<String>>;

    /// Writes a consistent copy of every row into the empty vault file at `dst` (what
    /// `backup` then strips of sealed records and keys).
    fn copy_to_file(&self, dst: &std::path::Path) -> Result<()>;
}

/// A unit of work on a backend: rolled back when dropped without [`Transaction::commit`]
/// (an error, a panic), so nothing is ever half written.
pub struct Transaction<'b> {
    backend: &'b dyn Backend,
    open: bool,
}

impl<'b> Transaction<'b> {
    /// Begins one.
    pub fn begin(backend: &'b dyn Backend, mode: TxMode) -> Result<Transaction<'b>> {
        backend.begin(mode)?;
        Ok(Transaction {
            backend,
            open: true,
        })
    }

    /// The statements inside it.
    pub fn sql(&self) -> &'b dyn sql::Sql {
        self.backend.sql()
    }

    /// Commits it.
    pub fn commit(mut self) -> Result<()> {
        self.open = false;
        self.backend.commit()
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if self.open {
            // Nothing to report to: the error that dropped it is on its way up, and a
            // connection whose rollback failed is closed with the process.
            let _ = self.backend.rollback();
        }
    }
}
