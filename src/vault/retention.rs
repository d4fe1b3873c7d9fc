//! Store functions of retention ([`crate::flow::retention`] holds the rule): the facts an
//! order's deadline is computed from, destroying an order's sealed PII, and emptying the WAL
//! after it.

use super::store::Tx;
use crate::store::sql::{Dialect, OptionalExtension};

use crate::error::Result;

/// SQL for "order `o` still holds sealed PII or a sealed gift message".
const HOLDS_PII: &str = "(o.pii IS NOT NULL OR EXISTS (SELECT 1 FROM order_items i
    WHERE i.amazon_order_id = o.amazon_order_id AND i.gift_message IS NOT NULL))";

/// What an unpurged order's retention deadline is computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionFacts {
    /// `AmazonOrderId`.
    pub order_id: String,
    /// When its clock started (shipment, delivery, cancellation), if it has.
    pub retention_start: Option<String>,
    /// Its latest ship date.
    pub latest_ship_date: Option<String>,
    /// Its purchase date.
    pub purchase_date: Option<String>,
    /// When the vault first saw it.
    pub created_at: String,
    /// Whether sealed PII or gift messages are still stored.
    pub holds_pii: bool,
}

/// The retention facts of every order not purged yet.
pub fn unpurged(conn: &Tx<'_>) -> Result<Vec<RetentionFacts>> {
    let mut out = Vec::new();
    for_each_unpurged(conn, |f| {
        out.push(f);
        Ok(())
    })?;
    Ok(out)
}

/// Each unpurged order's retention facts, one at a time (a large vault's facts are never all
/// in memory at once).
pub fn for_each_unpurged(
    conn: &Tx<'_>,
    mut f: impl FnMut(RetentionFacts) -> Result<()>,
) -> Result<()> {
    let mut st = conn.prepare(&format!(
        "SELECT o.amazon_order_id, o.retention_start, o.latest_ship_date, o.purchase_date, o.created_at,
                {HOLDS_PII} FROM orders o WHERE o.purged_at IS NULL"
    ))?;
    st.for_each([], |r| {
        f(RetentionFacts {
            order_id: r.get(0)?,
            retention_start: r.get(1)?,
            latest_ship_date: r.get(2)?,
            purchase_date: r.get(3)?,
            created_at: r.get(4)?,
            holds_pii: r.get(5)?,
        })
    })
}

/// One order's lifecycle, whether it was purged, and whether it holds sealed PII; `None` if it
/// is not in the vault.
pub fn order_state(conn: &Tx<'_>, order_id: &str) -> Result<Option<(String, bool, bool)>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT o.lifecycle, o.purged_at IS NOT NULL, {HOLDS_PII} FROM orders o
                 WHERE o.amazon_order_id = ?1"
            ),
            [order_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?)
}

/// Whether `order_id` is in the vault and purged.
pub fn is_purged(conn: &Tx<'_>, order_id: &str) -> Result<bool> {
    let mut st =
        conn.prepare("SELECT 1 FROM orders WHERE amazon_order_id = ?1 AND purged_at IS NOT NULL")?;
    Ok(st.exists([order_id])?)
}

/// How many orders were purged so far.
pub fn purged_count(conn: &Tx<'_>) -> Result<u64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM orders WHERE purged_at IS NOT NULL",
        [],
        |r| r.get::<_, i64>(0),
    )? as u64)
}

/// How many order ids one statement of [`destroy_pii`] carries (well under SQLite's and
/// PostgreSQL's limits on parameters).
const PURGE_BATCH: usize = 500;

/// Destroys the sealed PII and gift messages of `order_ids` and marks them purged at `stamp`
/// (inside the caller's transaction; `secure_delete` overwrites the freed pages).
pub fn destroy_pii<'a>(
    conn: &Tx<'_>,
    order_ids: impl IntoIterator<Item = &'a str>,
    stamp: &str,
) -> Result<()> {
    // The ids go into a temporary table, then two set-wise updates: far fewer statement
    // executions than two per order on a large purge.
    conn.execute_batch(match conn.dialect() {
        Dialect::Sqlite => {
            "CREATE TEMP TABLE IF NOT EXISTS purge_ids (id TEXT PRIMARY KEY) WITHOUT ROWID;
             DELETE FROM purge_ids;"
        }
        Dialect::Postgres => {
            "CREATE TEMP TABLE IF NOT EXISTS purge_ids (id TEXT PRIMARY KEY) ON COMMIT DELETE ROWS;
             DELETE FROM purge_ids;"
        }
    })?;
    // In batches of [`PURGE_BATCH`] rows a statement: one round trip each on a server.
    let insert = |ids: &[&str]| -> Result<()> {
        let rows = (1..=ids.len())
            .map(|i| format!("(?{i})"))
            .collect::<Vec<_>>()
            .join(", ");
        conn.prepare(&format!(
            "INSERT INTO purge_ids (id) VALUES {rows} ON CONFLICT DO NOTHING"
        ))?
        .execute(ids)?;
        Ok(())
    };
    let mut batch = Vec::with_capacity(PURGE_BATCH);
    for id in order_ids {
        batch.push(id);
        if batch.len() == PURGE_BATCH {
            insert(&batch)?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        insert(&batch)?;
    }
    conn.execute(
        "UPDATE orders SET pii = NULL, pii_epoch = NULL, pii_state = 'purged', purged_at = ?1,
           updated_at = ?1
         WHERE amazon_order_id IN (SELECT id FROM purge_ids)",
        [stamp],
    )?;
    conn.execute(
        "UPDATE order_items SET gift_message = NULL, gift_epoch = NULL
         WHERE amazon_order_id IN (SELECT id FROM purge_ids) AND gift_message IS NOT NULL",
        [],
    )?;
    conn.execute("DELETE FROM purge_ids", [])?;
    Ok(())
}

/// The `meta` row listing the epochs whose keys must be replaced (an order purged early from
/// them by `purge --order`): comma-separated epoch numbers.
const REKEY_META: &str = "epochs_to_rekey";

/// Epochs waiting for a re-key.
pub fn epochs_to_rekey(conn: &Tx<'_>) -> Result<Vec<u32>> {
    Ok(super::store::meta_get(conn, REKEY_META)?
        .unwrap_or_default()
        .split(',')
        .filter_map(|e| e.trim().parse().ok())
        .collect())
}

/// Adds epochs to re-key (the caller's transaction).
pub fn add_epochs_to_rekey(conn: &Tx<'_>, epochs: &[u32]) -> Result<()> {
    let mut all = epochs_to_rekey(conn)?;
    all.extend_from_slice(epochs);
    all.sort_unstable();
    all.dedup();
    let text = all.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    super::store::meta_set(conn, REKEY_META, &text)
}

/// Removes epochs from the list once re-keyed (the caller's transaction).
pub fn clear_epochs_to_rekey(conn: &Tx<'_>, done: &[u32]) -> Result<()> {
    let left: Vec<String> = epochs_to_rekey(conn)?
        .into_iter()
        .filter(|e| !done.contains(e))
        .map(|e| e.to_string())
        .collect();
    super::store::meta_set(conn, REKEY_META, &left.join(","))
}

/// A sealed record of an epoch.
#[derive(Debug, Clone)]
pub struct EpochRecord {
    /// The order.
    pub order: String,
    /// The order item, for a gift message.
    pub item: Option<String>,
    /// The record version.
    pub version: u64,
    /// The sealed bytes.
    pub blob: Vec<u8>,
}

/// Every sealed record of `epoch` (orders' PII and gift messages).
pub fn records_of_epoch(conn: &Tx<'_>, epoch: u32) -> Result<Vec<EpochRecord>> {
    records_where(conn, "pii_epoch = ?1", "gift_epoch = ?1", &epoch)
}

/// The sealed records (PII, gift messages) that two conditions pick, one on `orders`, one on
/// `order_items`, both over the parameter `p`.
fn records_where(
    conn: &Tx<'_>,
    on_orders: &str,
    on_items: &str,
    p: &dyn crate::store::sql::ToValue,
) -> Result<Vec<EpochRecord>> {
    let mut out = Vec::new();
    let mut st = conn.prepare(&format!(
        "SELECT amazon_order_id, pii_version, pii FROM orders WHERE pii IS NOT NULL AND {on_orders}"
    ))?;
    let rows = st.query_map([p], |r| {
        Ok(EpochRecord {
            order: r.get(0)?,
            item: None,
            version: r.get::<_, i64>(1)?.max(0) as u64,
            blob: r.get(2)?,
        })
    })?;
    for r in rows {
        out.push(r?);
    }
    let mut st = conn.prepare(&format!(
        "SELECT amazon_order_id, order_item_id, gift_message FROM order_items
         WHERE gift_message IS NOT NULL AND {on_items}"
    ))?;
    let rows = st.query_map([p], |r| {
        Ok(EpochRecord {
            order: r.get(0)?,
            item: Some(r.get(1)?),
            version: 1,
            blob: r.get(2)?,
        })
    })?;
    for r in rows {
        out.push(r?);
    }
    Ok(out)
}

/// Orders whose sealed PII may no longer be in the epoch of their deadline (the anchor moved
/// after sealing: shipped late, delivered, canceled), found with the backend's date arithmetic
/// as a prefilter (the caller decides with the tool's own deadline): their retention facts and
/// the epoch their PII record states.
pub fn epoch_moved_candidates(conn: &Tx<'_>, pii_days: u32) -> Result<Vec<(RetentionFacts, u32)>> {
    const START: &str =
        "COALESCE(o.retention_start, o.latest_ship_date, o.purchase_date, o.created_at)";
    // The day number (days since 1970-01-01) of the start plus the retention days.
    let moved = match conn.dialect() {
        Dialect::Sqlite => {
            format!("o.pii_epoch IS NOT CAST(julianday({START}) + ?1 - 2440587.5 AS INTEGER)")
        }
        Dialect::Postgres => format!(
            "o.pii_epoch IS DISTINCT FROM CAST(floor(extract(epoch FROM CAST({START} AS timestamptz))
                / 86400) AS BIGINT) + CAST(?1 AS BIGINT)"
        ),
    };
    let mut st = conn.prepare(&format!(
        "SELECT o.amazon_order_id, o.retention_start, o.latest_ship_date, o.purchase_date,
                o.created_at, {HOLDS_PII}, o.pii_epoch
         FROM orders o
         WHERE o.pii IS NOT NULL AND o.purged_at IS NULL AND o.pii_epoch IS NOT NULL AND {moved}"
    ))?;
    let rows = st.query_map([pii_days], |r| {
        Ok((
            RetentionFacts {
                order_id: r.get(0)?,
                retention_start: r.get(1)?,
                latest_ship_date: r.get(2)?,
                purchase_date: r.get(3)?,
                created_at: r.get(4)?,
                holds_pii: r.get(5)?,
            },
            r.get::<_, i64>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for r in rows {
        let (f, e) = r?;
        if let Ok(e) = u32::try_from(e) {
            out.push((f, e));
        }
    }
    Ok(out)
}

/// Every sealed record of one order (its PII and gift messages).
pub fn records_of_order(conn: &Tx<'_>, order_id: &str) -> Result<Vec<EpochRecord>> {
    records_where(
        conn,
        "amazon_order_id = ?1",
        "amazon_order_id = ?1",
        &order_id,
    )
}

/// The other processes of this machine that have `db` (or its `-wal` or `-shm` file) open, as
/// `pid N (name)`, from `/proc` (only the processes this user may inspect; empty where there
/// is no `/proc`). Names who may hold a read transaction that kept a checkpoint from finishing.
pub fn holders(db: &std::path::Path) -> Vec<String> {
    let me = std::process::id();
    let db = std::fs::canonicalize(db).unwrap_or_else(|_| db.to_path_buf());
    let names: Vec<std::path::PathBuf> = ["", "-wal", "-shm"]
        .iter()
        .map(|x| {
            let mut n = db.clone().into_os_string();
            n.push(x);
            n.into()
        })
        .collect();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        let open = fds
            .flatten()
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .any(|t| names.contains(&t));
        if open {
            let comm = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
            let comm = crate::audit::bounded(comm.trim(), 32).into_owned();
            out.push(format!("pid {pid} ({comm})"));
        }
        if out.len() >= 8 {
            break;
        }
    }
    out
}
