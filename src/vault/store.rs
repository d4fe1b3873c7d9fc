//! The vault's rows: meta, operators, sealed PII and the audit anchor, in the portable SQL of
//! [`crate::store::sql`], over whichever backend holds them ([`crate::store::Backend`];
//! connection settings and migrations are the backend's: [`crate::store::sqlite`]).
//!
//! **Transactions.** The crate outside `vault` reaches rows only through a [`Tx`]:
//! `Vault::read` (one snapshot for every read in it), `Vault::write` (the write lock at once,
//! committed when the closure returns `Ok`) and `Vault::record_with`/`record_after` (the
//! same, with the audit records appended and the chain head moved before the commit). A
//! `read` or `write` inside another joins it. No transaction is held across a call to Amazon,
//! a print or a prompt: each closure is a unit of work. `clippy.toml` keeps
//! `rusqlite::Connection` and `Transaction` inside the backends and `backup`.

use std::str::FromStr;

use crate::store::sql::{OptionalExtension, Sql, Statement, params};
use chrono::{DateTime, NaiveDate, Utc};

use crate::audit::log::Anchor;
use crate::audit::{Checkpoint, Head};
use crate::error::{Error, Result};
use crate::role::Role;

use super::key::KdfParams;

/// One transaction on the vault's rows: the only handle through which the rest of the crate
/// reads and writes them. [`super::Vault::read`] and [`super::Vault::write`] make one (and so do
/// the `record_*` functions, whose records commit with it); the store's query functions take it.
/// The SQL connection under it is visible inside `crate::vault` only, so no workflow runs SQL
/// or holds a connection.
pub struct Tx<'c> {
    sql: &'c dyn Sql,
}

impl<'c> Tx<'c> {
    /// Statements on `sql` in the transaction it is in (the caller began it), or each in
    /// its own when it is in none (the vault's own reads while it unlocks).
    pub(in crate::vault) fn over(sql: &'c dyn Sql) -> Tx<'c> {
        Tx { sql }
    }

    /// The SQL the backend speaks, for the few statements that differ.
    pub(in crate::vault) fn dialect(&self) -> crate::store::sql::Dialect {
        self.sql.dialect()
    }

    pub(in crate::vault) fn execute(
        &self,
        sql: &str,
        params: impl crate::store::sql::Params,
    ) -> crate::store::sql::Result<usize> {
        params.with(|p| self.sql.execute(sql, p))
    }

    pub(in crate::vault) fn execute_batch(&self, sql: &str) -> crate::store::sql::Result<()> {
        self.sql.execute_batch(sql)
    }

    /// A statement (every backend keeps what it prepares, so preparing again is cheap).
    pub(in crate::vault) fn prepare(&self, sql: &str) -> crate::store::sql::Result<Statement<'c>> {
        Ok(Statement::new(self.sql, sql))
    }

    pub(in crate::vault) fn query_row<T>(
        &self,
        sql: &str,
        params: impl crate::store::sql::Params,
        f: impl FnOnce(&crate::store::sql::Row<'_>) -> crate::store::sql::Result<T>,
    ) -> crate::store::sql::Result<T> {
        Statement::new(self.sql, sql).query_row(params, f)
    }
}

/// Reads a meta value.
pub fn meta_get(conn: &Tx<'_>, key: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

/// Writes a meta value.
pub fn meta_set(conn: &Tx<'_>, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// Every meta entry whose key starts with `prefix`, as (key, value), by key.
pub fn meta_with_prefix(conn: &Tx<'_>, prefix: &str) -> Result<Vec<(String, String)>> {
    let mut st = conn.prepare(
        "SELECT key, value FROM meta WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
    )?;
    let rows = st.query_map([prefix], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<crate::store::sql::Result<_>>()?)
}

/// Removes a meta value (absent is fine).
pub fn meta_delete(conn: &Tx<'_>, key: &str) -> Result<()> {
    conn.execute("DELETE FROM meta WHERE key = ?1", [key])?;
    Ok(())
}

/// Reads a required meta value.
pub fn meta_required(conn: &Tx<'_>, key: &str) -> Result<String> {
    meta_get(conn, key)?.ok_or_else(|| {
        Error::Integrity(format!(
            "the vault has no {key:?}; it is damaged or not a fulfill vault"
        ))
    })
}

fn parse_day(s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| Error::Integrity(format!("bad date {s:?} in the vault")))
}

/// The audit chain anchor over a connection (or an open transaction).
pub struct MetaAnchor<'a>(pub &'a Tx<'a>);

impl Anchor for MetaAnchor<'_> {
    fn head(&self) -> Result<Head> {
        let Some(seq) = meta_get(self.0, "audit_head_seq")? else {
            return Ok(Head::genesis());
        };
        Ok(Head {
            seq: seq
                .parse()
                .map_err(|_| Error::Integrity("bad audit head in the vault".into()))?,
            hash: meta_required(self.0, "audit_head_hash")?,
            day: meta_get(self.0, "audit_head_day")?
                .map(|d| parse_day(&d))
                .transpose()?,
        })
    }

    fn set_head(&self, h: &Head) -> Result<()> {
        meta_set(self.0, "audit_head_seq", &h.seq.to_string())?;
        meta_set(self.0, "audit_head_hash", &h.hash)?;
        if let Some(d) = h.day {
            meta_set(self.0, "audit_head_day", &d.format("%Y-%m-%d").to_string())?;
        }
        Ok(())
    }

    fn checkpoint(&self) -> Result<Option<Checkpoint>> {
        let Some(seq) = meta_get(self.0, "audit_checkpoint_seq")? else {
            return Ok(None);
        };
        Ok(Some(Checkpoint {
            seq: seq
                .parse()
                .map_err(|_| Error::Integrity("bad audit checkpoint in the vault".into()))?,
            hash: meta_required(self.0, "audit_checkpoint_hash")?,
            day: parse_day(&meta_required(self.0, "audit_checkpoint_day")?)?,
        }))
    }

    fn set_checkpoint(&self, cp: &Checkpoint) -> Result<()> {
        meta_set(self.0, "audit_checkpoint_seq", &cp.seq.to_string())?;
        meta_set(self.0, "audit_checkpoint_hash", &cp.hash)?;
        meta_set(
            self.0,
            "audit_checkpoint_day",
            &cp.day.format("%Y-%m-%d").to_string(),
        )
    }
}

/// How an operator authenticates, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredCredential {
    /// Argon2id over a passphrase.
    Passphrase {
        /// Salt.
        salt: Vec<u8>,
        /// Parameters.
        params: KdfParams,
    },
    /// A 32-byte key file.
    KeyFile,
}

/// An operator row.
#[derive(Debug, Clone)]
pub struct OperatorRow {
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Credential kind and KDF parameters.
    pub credential: StoredCredential,
    /// The wrapped key set (`None` once disabled).
    pub wrapped_keys: Option<Vec<u8>>,
    /// When added.
    pub created_at: DateTime<Utc>,
    /// Who added it.
    pub created_by: Option<String>,
    /// Last successful unlock.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Consecutive failed unlocks.
    pub failed_unlocks: u32,
    /// When it was locked.
    pub locked_at: Option<DateTime<Utc>>,
    /// When it was disabled.
    pub disabled_at: Option<DateTime<Utc>>,
    /// dpp-2025 passphrase history salt.
    pub history_salt: Option<Vec<u8>>,
    /// dpp-2025 passphrase history digests (32 bytes each, newest first).
    pub history: Vec<[u8; 32]>,
}

/// A time as the store spells it (RFC 3339, milliseconds, `Z`).
pub(in crate::vault) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse_ts(s: Option<String>) -> crate::store::sql::Result<Option<DateTime<Utc>>> {
    s.map(|s| {
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                crate::store::sql::SqlError::Value("a time in the vault is not RFC 3339".into())
            })
    })
    .transpose()
}

const OPERATOR_COLS: &str = "name, role, credential, kdf_salt, kdf_m_kib, kdf_t, kdf_p, wrapped_keys, created_at, created_by, last_used_at, failed_unlocks, locked_at, disabled_at, history_salt, history";

fn operator_from_row(
    r: &crate::store::sql::Row<'_>,
) -> crate::store::sql::Result<(OperatorRow, String, String)> {
    let role: String = r.get(1)?;
    let cred: String = r.get(2)?;
    let credential = if cred == "keyfile" {
        StoredCredential::KeyFile
    } else {
        StoredCredential::Passphrase {
            salt: r.get::<_, Option<Vec<u8>>>(3)?.unwrap_or_default(),
            params: KdfParams {
                m_kib: r.get::<_, Option<u32>>(4)?.unwrap_or(0),
                t: r.get::<_, Option<u32>>(5)?.unwrap_or(0),
                p: r.get::<_, Option<u32>>(6)?.unwrap_or(0),
            },
        }
    };
    let history: Option<Vec<u8>> = r.get(15)?;
    Ok((
        OperatorRow {
            name: r.get(0)?,
            role: Role::Owner, // replaced by the caller after validation
            credential,
            wrapped_keys: r.get(7)?,
            created_at: parse_ts(r.get(8)?)?.unwrap_or_default(),
            created_by: r.get(9)?,
            last_used_at: parse_ts(r.get(10)?)?,
            failed_unlocks: r.get(11)?,
            locked_at: parse_ts(r.get(12)?)?,
            disabled_at: parse_ts(r.get(13)?)?,
            history_salt: r.get(14)?,
            history: history
                .unwrap_or_default()
                .chunks_exact(32)
                .map(|c| c.try_into().expect("32-byte chunk"))
                .collect(),
        },
        role,
        cred,
    ))
}

fn finish_operator((mut op, role, cred): (OperatorRow, String, String)) -> Result<OperatorRow> {
    op.role = Role::from_str(&role)?;
    if cred != "keyfile" && cred != "passphrase" {
        return Err(Error::Integrity(format!(
            "operator {:?} has an unknown credential kind",
            op.name
        )));
    }
    Ok(op)
}

/// One operator by name.
pub fn operator(conn: &Tx<'_>, name: &str) -> Result<Option<OperatorRow>> {
    conn.query_row(
        &format!("SELECT {OPERATOR_COLS} FROM operators WHERE name = ?1"),
        [name],
        operator_from_row,
    )
    .optional()?
    .map(finish_operator)
    .transpose()
}

/// Every operator, by name.
pub fn operators(conn: &Tx<'_>) -> Result<Vec<OperatorRow>> {
    let mut st = conn.prepare(&format!(
        "SELECT {OPERATOR_COLS} FROM operators ORDER BY name"
    ))?;
    let rows = st
        .query_map([], operator_from_row)?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    rows.into_iter().map(finish_operator).collect()
}

/// Inserts a new operator.
pub fn insert_operator(conn: &Tx<'_>, op: &OperatorRow) -> Result<()> {
    let (cred, salt, m, t, p) = match &op.credential {
        StoredCredential::Passphrase { salt, params } => (
            "passphrase",
            Some(salt.clone()),
            Some(params.m_kib),
            Some(params.t),
            Some(params.p),
        ),
        StoredCredential::KeyFile => ("keyfile", None, None, None, None),
    };
    let history: Vec<u8> = op.history.concat();
    conn.execute(
        &format!("INSERT INTO operators ({OPERATOR_COLS}, passphrase_set_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?9)"),
        params![
            op.name,
            op.role.as_str(),
            cred,
            salt,
            m,
            t,
            p,
            op.wrapped_keys,
            ts(op.created_at),
            op.created_by,
            op.last_used_at.map(ts),
            op.failed_unlocks,
            op.locked_at.map(ts),
            op.disabled_at.map(ts),
            op.history_salt,
            (!history.is_empty()).then_some(history),
        ],
    )?;
    Ok(())
}

/// Replaces an operator's credential and wrapped keys (passphrase change).
pub fn update_credential(
    conn: &Tx<'_>,
    name: &str,
    salt: &[u8],
    params: KdfParams,
    wrapped: &[u8],
    history: &[[u8; 32]],
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "UPDATE operators SET kdf_salt = ?2, kdf_m_kib = ?3, kdf_t = ?4, kdf_p = ?5, wrapped_keys = ?6, history = ?7, passphrase_set_at = ?8 WHERE name = ?1",
        params![name, salt, params.m_kib, params.t, params.p, wrapped, history.concat(), ts(now)],
    )?;
    Ok(())
}

/// Replaces an operator's wrapped keys under the same credential (a key set upgrade).
pub fn set_wrapped_keys(conn: &Tx<'_>, name: &str, wrapped: &[u8]) -> Result<()> {
    conn.execute(
        "UPDATE operators SET wrapped_keys = ?2 WHERE name = ?1",
        params![name, wrapped],
    )?;
    Ok(())
}

/// Sets an operator's delivery key (public half) and the owner's endorsement of it, if any.
pub fn set_box_key(
    conn: &Tx<'_>,
    name: &str,
    public: &[u8; 32],
    endorsement: Option<&[u8]>,
) -> Result<()> {
    conn.execute(
        "UPDATE operators SET box_public = ?2, box_endorsement = ?3 WHERE name = ?1",
        params![name, public.as_slice(), endorsement],
    )?;
    Ok(())
}

/// An operator's delivery key (public half) and the owner's endorsement of it, as stored:
/// unauthenticated until the endorsement is checked.
pub type BoxKeyRow = (Vec<u8>, Option<Vec<u8>>);

/// An operator's delivery key and its endorsement, if it has one.
pub fn box_key(conn: &Tx<'_>, name: &str) -> Result<Option<BoxKeyRow>> {
    type Stored = (Option<Vec<u8>>, Option<Vec<u8>>);
    let row: Option<Stored> = conn
        .query_row(
            "SELECT box_public, box_endorsement FROM operators WHERE name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(row.and_then(|(p, e)| p.map(|p| (p, e))))
}

/// Stores a key delivery for `name` at `epoch`.
pub fn put_delivery(
    conn: &Tx<'_>,
    name: &str,
    epoch: u64,
    sealed: &[u8],
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "INSERT INTO key_deliveries (name, epoch, sealed, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![name, epoch as i64, sealed, ts(now)],
    )?;
    Ok(())
}

/// The deliveries for `name` after `epoch`, oldest first.
pub fn deliveries_after(conn: &Tx<'_>, name: &str, epoch: u64) -> Result<Vec<(u64, Vec<u8>)>> {
    let mut st = conn.prepare(
        "SELECT epoch, sealed FROM key_deliveries WHERE name = ?1 AND epoch > ?2 ORDER BY epoch",
    )?;
    let rows = st
        .query_map(params![name, epoch as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    Ok(rows
        .into_iter()
        .map(|(e, b)| (u64::try_from(e).unwrap_or(0), b))
        .collect())
}

/// Deletes `name`'s deliveries up to and including `epoch` (adopted).
pub fn delete_deliveries(conn: &Tx<'_>, name: &str, epoch: u64) -> Result<()> {
    conn.execute(
        "DELETE FROM key_deliveries WHERE name = ?1 AND epoch <= ?2",
        params![name, epoch as i64],
    )?;
    Ok(())
}

/// Every sealed order PII blob: (order id, version, blob), for re-sealing at a `rekey`.
pub fn sealed_pii_all(conn: &Tx<'_>) -> Result<Vec<(String, u64, Vec<u8>)>> {
    let mut st = conn.prepare(
        "SELECT amazon_order_id, pii_version, pii FROM orders WHERE pii_state = 'sealed' AND pii IS NOT NULL ORDER BY amazon_order_id",
    )?;
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    Ok(rows
        .into_iter()
        .map(|(o, v, b)| (o, u64::try_from(v).unwrap_or(0), b))
        .collect())
}

/// Replaces one order's sealed PII blob in place (same version: a `rekey`), with its epoch.
pub fn replace_sealed_pii(
    conn: &Tx<'_>,
    order_id: &str,
    blob: &[u8],
    epoch: Option<u32>,
) -> Result<()> {
    conn.execute(
        "UPDATE orders SET pii = ?2, pii_epoch = ?3 WHERE amazon_order_id = ?1 AND pii_state = 'sealed'",
        params![order_id, blob, epoch],
    )?;
    Ok(())
}

/// Every sealed record's order and epoch (plain copies) for epochs before `before`: which of
/// those epochs' keys still have records.
pub fn record_epochs(conn: &Tx<'_>, before: u32) -> Result<Vec<(String, u32)>> {
    let mut st = conn.prepare(
        "SELECT amazon_order_id, pii_epoch FROM orders
           WHERE pii IS NOT NULL AND pii_epoch IS NOT NULL AND pii_epoch < ?1
         UNION ALL SELECT amazon_order_id, gift_epoch FROM order_items
           WHERE gift_message IS NOT NULL AND gift_epoch IS NOT NULL AND gift_epoch < ?1",
    )?;
    let rows = st
        .query_map([before], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(o, e)| Some((o, u32::try_from(e).ok()?)))
        .collect())
}

/// Removes every sealed PII record and gift message from a backup copy (`secure_delete` on,
/// so the freed pages are zeroed; the caller vacuums). Orders whose PII is removed go back to
/// `none`, waiting for it. Returns (orders, records removed).
pub fn backup_scrub(conn: &Tx<'_>) -> Result<(u64, u64)> {
    conn.execute_batch("PRAGMA secure_delete = ON")?;
    let orders: i64 = conn.query_row("SELECT count(*) FROM orders", [], |r| r.get(0))?;
    let a = conn.execute(
        "UPDATE orders SET pii = NULL, pii_epoch = NULL,
           pii_state = CASE WHEN pii_state = 'sealed' THEN 'none' ELSE pii_state END
         WHERE pii IS NOT NULL",
        [],
    )?;
    let b = conn.execute(
        "UPDATE order_items SET gift_message = NULL, gift_epoch = NULL WHERE gift_message IS NOT NULL",
        [],
    )?;
    Ok((orders as u64, (a + b) as u64))
}

/// After a restore: clears the fetch watermark (the next `fetch` lists the last 30 days and
/// brings back the PII of orders still open) and counts (orders, orders still to ship that
/// wait for their PII).
pub fn restored_counts(conn: &Tx<'_>) -> Result<(u64, u64)> {
    conn.execute("DELETE FROM meta WHERE key = 'fetch_watermark'", [])?;
    let orders: i64 = conn.query_row("SELECT count(*) FROM orders", [], |r| r.get(0))?;
    let waiting = pii_waiting_count(conn)?;
    Ok((orders as u64, waiting))
}

/// Orders still to ship whose PII the vault does not hold (after a restore, or not yet sent).
pub fn pii_waiting_count(conn: &Tx<'_>) -> Result<u64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM orders WHERE pii IS NULL AND purged_at IS NULL
           AND lifecycle IN ('unshipped', 'labelled', 'partially_shipped')",
        [],
        |r| r.get::<_, i64>(0),
    )? as u64)
}

/// The audit chain head's sequence number as the vault states it.
pub fn head_seq(conn: &Tx<'_>) -> Result<Option<u64>> {
    Ok(meta_get(conn, "audit_head_seq")?.and_then(|s| s.parse().ok()))
}

/// Every table of the vault's rows, in the order of the schema: what the leak scan of a shared
/// store reads (`vault::store::tests::tables_are_every_table_of_the_schema` keeps it whole).
pub const TABLES: &[&str] = &[
    "meta",
    "operators",
    "orders",
    "order_items",
    "credentials",
    "shipments",
    "feed_batches",
    "label_files",
    "sku_locations",
    "owner_recovery",
    "key_deliveries",
    "shipment_items",
    "region_credentials",
    "claims",
];

/// Each text or byte value of every row of every table, with its table, the row's number in
/// it (1-based, in the order read) and the column's number, one at a time: what a shared
/// store's leak scan reads, since its files are the server's.
pub fn for_each_value(
    conn: &Tx<'_>,
    mut f: impl FnMut(&str, u64, usize, &[u8]) -> Result<()>,
) -> Result<()> {
    for table in TABLES {
        let mut n = 0;
        conn.prepare(&format!("SELECT * FROM {table}"))?
            .for_each([], |r| {
                n += 1;
                for c in 0..r.column_count() {
                    match r.value(c)? {
                        crate::store::sql::ValueRef::Text(t) => f(table, n, c, t.as_bytes())?,
                        crate::store::sql::ValueRef::Blob(b) => f(table, n, c, b)?,
                        _ => {}
                    }
                }
                Ok(())
            })?;
    }
    Ok(())
}

/// Every order holding a sealed record (its PII or a gift message), whatever its columns say.
pub fn orders_with_sealed_records(conn: &Tx<'_>) -> Result<Vec<String>> {
    let mut st = conn.prepare(
        "SELECT amazon_order_id FROM orders WHERE pii IS NOT NULL
         UNION SELECT amazon_order_id FROM order_items WHERE gift_message IS NOT NULL",
    )?;
    let rows = st
        .query_map([], |r| r.get(0))?
        .collect::<crate::store::sql::Result<Vec<String>>>()?;
    Ok(rows)
}

/// The epochs that still have sealed records (orders' PII and gift messages), from the
/// rows' plain copies: which epoch keys `purge` must keep.
pub fn epochs_in_use(conn: &Tx<'_>) -> Result<Vec<u32>> {
    let mut st = conn.prepare(
        "SELECT pii_epoch FROM orders WHERE pii IS NOT NULL AND pii_epoch IS NOT NULL
         UNION SELECT gift_epoch FROM order_items WHERE gift_message IS NOT NULL AND gift_epoch IS NOT NULL",
    )?;
    let rows = st
        .query_map([], |r| r.get::<_, i64>(0))?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|e| u32::try_from(e).ok())
        .collect())
}

/// Every sealed gift message: (order id, order item id, blob), for re-sealing at a `rekey`.
pub fn sealed_gifts_all(conn: &Tx<'_>) -> Result<Vec<(String, String, Vec<u8>)>> {
    let mut st = conn.prepare(
        "SELECT amazon_order_id, order_item_id, gift_message FROM order_items WHERE gift_message IS NOT NULL ORDER BY amazon_order_id, order_item_id",
    )?;
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Replaces one sealed gift message in place (a `rekey`), with its epoch.
pub fn replace_sealed_gift(
    conn: &Tx<'_>,
    order_id: &str,
    item_id: &str,
    blob: &[u8],
    epoch: Option<u32>,
) -> Result<()> {
    conn.execute(
        "UPDATE order_items SET gift_message = ?3, gift_epoch = ?4 WHERE amazon_order_id = ?1 AND order_item_id = ?2",
        params![order_id, item_id, blob, epoch],
    )?;
    Ok(())
}

/// Every sealed credentials row: (id, blob), for re-sealing at a `rekey`.
pub fn sealed_credentials_all(conn: &Tx<'_>) -> Result<Vec<(i64, Vec<u8>)>> {
    let mut st = conn.prepare("SELECT id, sealed FROM credentials ORDER BY id")?;
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Replaces one sealed credentials row in place (a `rekey`).
pub fn replace_sealed_credentials(conn: &Tx<'_>, id: i64, blob: &[u8]) -> Result<()> {
    conn.execute(
        "UPDATE credentials SET sealed = ?2 WHERE id = ?1",
        params![id, blob],
    )?;
    Ok(())
}

/// Replaces one region's sealed SP-API credentials in place (a `rekey`).
pub fn replace_sealed_region_credentials(conn: &Tx<'_>, region: &str, blob: &[u8]) -> Result<()> {
    conn.execute(
        "UPDATE region_credentials SET sealed = ?2 WHERE region = ?1",
        params![region, blob],
    )?;
    Ok(())
}

/// Records a failed unlock; locks the operator when `lock` is set. Returns the new count.
pub fn record_failure(conn: &Tx<'_>, name: &str, lock: bool, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "UPDATE operators SET failed_unlocks = failed_unlocks + 1, last_failed_at = ?3, locked_at = CASE WHEN ?2 THEN ?3 ELSE locked_at END WHERE name = ?1",
        params![name, lock, ts(now)],
    )?;
    Ok(())
}

/// Stores the owner's recovery wrapping.
pub fn put_recovery(conn: &Tx<'_>, name: &str, wrapped: &[u8], now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "INSERT INTO owner_recovery (name, wrapped, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(name) DO UPDATE SET wrapped = excluded.wrapped, created_at = excluded.created_at",
        params![name, wrapped, ts(now)],
    )?;
    Ok(())
}

/// The owner's recovery wrapping, if one was made.
pub fn recovery(conn: &Tx<'_>, name: &str) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .query_row(
            "SELECT wrapped FROM owner_recovery WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?)
}

/// The last TOTP step operator `name` used as stored (0: none) and its MAC, if any (see
/// [`crate::vault::totp`]: neither is trusted until the MAC checks).
pub fn totp_counter(conn: &Tx<'_>, name: &str) -> Result<(u64, Option<Vec<u8>>)> {
    let (v, mac): (i64, Option<Vec<u8>>) = conn.query_row(
        "SELECT totp_last_step, totp_step_mac FROM operators WHERE name = ?1",
        [name],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((u64::try_from(v).unwrap_or(0), mac))
}

/// Remembers the TOTP step just used, with its MAC, so its code is not accepted again.
pub fn set_totp_last_step(conn: &Tx<'_>, name: &str, step: u64, mac: &[u8]) -> Result<()> {
    conn.execute(
        "UPDATE operators SET totp_last_step = ?2, totp_step_mac = ?3 WHERE name = ?1",
        params![name, i64::try_from(step).unwrap_or(i64::MAX), mac],
    )?;
    Ok(())
}

/// Records a successful unlock.
pub fn record_success(conn: &Tx<'_>, name: &str, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "UPDATE operators SET failed_unlocks = 0, last_used_at = ?2 WHERE name = ?1",
        params![name, ts(now)],
    )?;
    Ok(())
}

/// Clears a lock.
pub fn unlock_operator(conn: &Tx<'_>, name: &str) -> Result<()> {
    conn.execute(
        "UPDATE operators SET failed_unlocks = 0, locked_at = NULL WHERE name = ?1",
        [name],
    )?;
    Ok(())
}

/// Disables an operator and destroys its wrapped keys.
pub fn disable_operator(conn: &Tx<'_>, name: &str, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "UPDATE operators SET wrapped_keys = NULL, disabled_at = ?2 WHERE name = ?1",
        params![name, ts(now)],
    )?;
    Ok(())
}

/// An order's sealed PII.
#[derive(Debug, Clone)]
pub struct SealedPii {
    /// The HPKE blob.
    pub blob: Vec<u8>,
    /// The record version bound into its associated data.
    pub version: u64,
    /// The record's epoch (version 2 records).
    pub epoch: Option<u32>,
}

/// Inserts or updates an order's status and sealed PII (the minimal order row; `fetch`
/// fills in the rest).
pub fn put_order_pii(
    conn: &Tx<'_>,
    order_id: &str,
    status: &str,
    sealed: Option<&SealedPii>,
    now: DateTime<Utc>,
) -> Result<()> {
    let state = if sealed.is_some() { "sealed" } else { "empty" };
    conn.execute(
        "INSERT INTO orders (amazon_order_id, status, pii, pii_version, pii_state, created_at, updated_at, pii_epoch)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)
         ON CONFLICT(amazon_order_id) DO UPDATE SET status = excluded.status, pii = excluded.pii,
           pii_version = excluded.pii_version, pii_state = excluded.pii_state, updated_at = excluded.updated_at,
           pii_epoch = excluded.pii_epoch",
        params![order_id, status, sealed.map(|s| &s.blob), sealed.map_or(0, |s| s.version as i64), state, ts(now), sealed.and_then(|s| s.epoch)],
    )?;
    Ok(())
}

/// An order's sealed PII and its state.
pub fn order_pii(conn: &Tx<'_>, order_id: &str) -> Result<Option<(Option<SealedPii>, String)>> {
    Ok(conn
        .query_row(
            "SELECT pii, pii_version, pii_state FROM orders WHERE amazon_order_id = ?1",
            [order_id],
            |r| {
                let blob: Option<Vec<u8>> = r.get(0)?;
                let version: i64 = r.get(1)?;
                Ok((
                    blob.map(|blob| SealedPii {
                        blob,
                        version: version as u64,
                        epoch: None,
                    }),
                    r.get(2)?,
                ))
            },
        )
        .optional()?)
}

/// The next PII record version for an order (1 for a new one).
pub fn next_pii_version(conn: &Tx<'_>, order_id: &str) -> Result<u64> {
    let v: Option<i64> = conn
        .query_row(
            "SELECT pii_version FROM orders WHERE amazon_order_id = ?1",
            [order_id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(v.map_or(1, |v| v as u64 + 1))
}

#[cfg(test)]
#[allow(clippy::disallowed_types)] // tests open the file as an operator with sqlite3 would
mod tests {
    use super::*;
    use crate::store::sqlite::{SCHEMA_VERSION, migrate};
    use rusqlite::Connection;

    #[test]
    fn tables_are_every_table_of_the_schema() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c).unwrap();
        let mut st = c
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        let have: Vec<String> = st
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let mut listed: Vec<String> = TABLES.iter().map(|t| t.to_string()).collect();
        listed.sort();
        assert_eq!(have, listed);
    }

    #[test]
    fn schema_version_is_pinned() {
        // Changing this number means a migration was added: bump it deliberately, and never
        // edit a migration that has landed.
        assert_eq!(SCHEMA_VERSION, 16);
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c).unwrap();
        let v: u32 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        migrate(&mut c).unwrap(); // idempotent
    }

    /// 0009: a whole-order shipment recorded before packages becomes package 1 holding every
    /// item left to ship when it shipped; its feed ties and verdict stay.
    #[test]
    fn shipments_before_packages_become_package_one_with_their_items() {
        let mut c = Connection::open_in_memory().unwrap();
        c.pragma_update(None, "foreign_keys", "ON").unwrap();
        for (i, sql) in crate::store::sqlite::MIGRATIONS.iter().take(8).enumerate() {
            c.execute_batch(sql).unwrap();
            c.pragma_update(None, "user_version", (i + 1) as u32)
                .unwrap();
        }
        c.execute_batch(
            "INSERT INTO orders (amazon_order_id, status, created_at, updated_at, lifecycle)
                VALUES ('111-0000001-0000001', 'Unshipped', 't', 't', 'confirmed');
             INSERT INTO order_items (amazon_order_id, order_item_id, asin, quantity_ordered, quantity_shipped)
                VALUES ('111-0000001-0000001', '10000000000001', 'B0', 3, 1),
                       ('111-0000001-0000001', '10000000000002', 'B0', 1, 1);
             INSERT INTO feed_batches (id, created_at, body, content_md5, state) VALUES (4, 't', x'00', 'm', 'done');
             INSERT INTO shipments (amazon_order_id, carrier_code, tracking, shipped_at, shipped_by, state,
                batch_id, message_id, updated_at)
                VALUES ('111-0000001-0000001', 'UPS', '1Z', 't', 'pat', 'confirmed', 4, 1, 't');",
        )
        .unwrap();
        migrate(&mut c).unwrap();
        let (no, tracking, batch): (u32, String, i64) = c
            .query_row(
                "SELECT package_no, tracking, batch_id FROM shipments",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((no, tracking.as_str(), batch), (1, "1Z", 4));
        let items: Vec<(String, u32)> = c
            .prepare("SELECT order_item_id, quantity FROM shipment_items ORDER BY order_item_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(items, [("10000000000001".to_string(), 2)]);
        let fk: i64 = c
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(fk, 0);
    }

    /// 0013: a bought label's file recorded before label files named their shipment is the
    /// file written when it was bought (same time); other files name none, and none is
    /// marked cancelled.
    #[test]
    fn bought_label_files_learn_their_shipment() {
        let mut c = Connection::open_in_memory().unwrap();
        c.pragma_update(None, "foreign_keys", "ON").unwrap();
        for (i, sql) in crate::store::sqlite::MIGRATIONS.iter().take(12).enumerate() {
            c.execute_batch(sql).unwrap();
            c.pragma_update(None, "user_version", (i + 1) as u32)
                .unwrap();
        }
        c.execute_batch(
            "INSERT INTO orders (amazon_order_id, status, created_at, updated_at, lifecycle)
                VALUES ('111-0000001-0000001', 'Shipped', 't', 't', 'confirmed');
             INSERT INTO shipments (amazon_order_id, package_no, carrier_code, tracking, shipped_at,
                shipped_by, state, amazon_shipment_id, updated_at)
                VALUES ('111-0000001-0000001', 1, 'UPS', '1Z', 'T2', 'pat', 'confirmed', 'S-1', 'T2');
             INSERT INTO label_files (path, amazon_order_id, written_at, written_by)
                VALUES ('/spool/a.zpl', '111-0000001-0000001', 'T1', 'pat'),
                       ('/spool/b.zpl', '111-0000001-0000001', 'T2', 'pat');",
        )
        .unwrap();
        migrate(&mut c).unwrap();
        let rows: Vec<(String, Option<String>, Option<String>)> = c
            .prepare("SELECT path, amazon_shipment_id, cancelled_at FROM label_files ORDER BY path")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(
            rows,
            [
                ("/spool/a.zpl".to_string(), None, None),
                ("/spool/b.zpl".to_string(), Some("S-1".to_string()), None)
            ]
        );
    }

    #[test]
    fn newer_vault_is_refused() {
        let mut c = Connection::open_in_memory().unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        assert!(matches!(migrate(&mut c), Err(Error::Integrity(_))));
    }
}
