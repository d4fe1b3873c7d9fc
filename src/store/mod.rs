//! Where a vault's rows live: the seam a second backend (PostgreSQL, for many packing
//! stations) goes behind (issue 20). Today the rows are in SQLite, through the store functions
//! of [`crate::vault`] over a [`crate::vault::store::Tx`]; this module holds what does not
//! depend on a backend, beginning with where a store is ([`uri::StoreUri`]).
//!
//! # The contract every backend keeps (written before the second one exists)
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

pub mod postgres;
pub mod sql;
pub mod sqlite;
pub mod uri;
