//! Label files in the store: what a label shows besides the address, and every file written,
//! tracked per order (the flow is in [`crate::label`]; destruction in [`crate::flow::retention`]).
//!
//! A row also says which bought label it holds (`amazon_shipment_id`), so cancelling that
//! label finds its own file, and whether the order was cancelled out of a file that holds other
//! orders too (`cancelled_at`), so it is never printed into that batch again.

use std::path::PathBuf;

use crate::home::FileIdentity;

use super::store::Tx;
use crate::store::sql::{OptionalExtension, params};
use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::label::LabelFacts;
use crate::label::slip::{SlipFacts, SlipItem};
use crate::model::lifecycle::Lifecycle;

/// An order's lifecycle, purge time, missing-address flag, service level, country and
/// marketplace.
type LabelRow = (
    String,
    Option<String>,
    bool,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The non-PII facts of a label, after checking the order can be labelled now.
pub fn facts(conn: &Tx<'_>, order_id: &str) -> Result<LabelFacts> {
    facts_for(conn, order_id, "labelled")
}

/// The non-PII facts of a packing slip (its label facts, the purchase date and every item),
/// after the same checks as a label's.
pub fn slip_facts(conn: &Tx<'_>, order_id: &str) -> Result<SlipFacts> {
    let label = facts_for(conn, order_id, "packed with a slip")?;
    let purchase_date: Option<String> = conn
        .query_row(
            "SELECT purchase_date FROM orders WHERE amazon_order_id = ?1",
            [order_id],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    let mut st = conn.prepare(
        "SELECT order_item_id, asin, seller_sku, title, quantity_ordered FROM order_items
         WHERE amazon_order_id = ?1 ORDER BY order_item_id",
    )?;
    let items = st
        .query_map([order_id], |r| {
            Ok(SlipItem {
                order_item_id: r.get(0)?,
                asin: r.get(1)?,
                sku: r.get(2)?,
                title: r.get(3)?,
                quantity: r.get(4)?,
            })
        })?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    Ok(SlipFacts {
        label,
        purchase_date: purchase_date.map(|d| d.chars().take(10).collect()),
        items,
    })
}

/// `facts`, with what the refusals say cannot be done (`labelled`, `packed with a slip`).
fn facts_for(conn: &Tx<'_>, order_id: &str, doing: &str) -> Result<LabelFacts> {
    let row: Option<LabelRow> = conn
        .query_row(
            "SELECT lifecycle, purged_at, pii_missing, ship_service_level, ship_country,
                    marketplace_id
             FROM orders WHERE amazon_order_id = ?1",
            [order_id],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .optional()?;
    let Some((lifecycle, purged, pii_missing, service_level, country, marketplace)) = row else {
        return Err(Error::usage(format!(
            "order {order_id} is not in the vault; run `fulfill fetch` first"
        )));
    };
    if purged.is_some() {
        return Err(Error::usage(format!(
            "order {order_id} was purged: its address is gone"
        )));
    }
    if pii_missing {
        return Err(Error::usage(format!(
            "order {order_id} came without an address from Amazon; it cannot be {doing}"
        )));
    }
    if !matches!(
        lifecycle.as_str(),
        "unshipped" | "labelled" | "partially_shipped" | "shipped"
    ) {
        return Err(Error::usage(format!(
            "order {order_id} is {lifecycle} and cannot be {doing}"
        )));
    }
    let mut st = conn.prepare(
        "SELECT COALESCE(seller_sku, asin), quantity_ordered FROM order_items
         WHERE amazon_order_id = ?1 ORDER BY order_item_id",
    )?;
    let items = st
        .query_map([order_id], |r| {
            Ok(format!(
                "{} x{}",
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?
            ))
        })?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    Ok(LabelFacts {
        order_id: order_id.to_string(),
        service_level,
        country,
        items,
        marketplace,
    })
}

/// Whether a label the tool wrote is tracked at `path` with identity `id` (under any row).
pub fn is_tracked_as(conn: &Tx<'_>, path: &std::path::Path, id: FileIdentity) -> Result<bool> {
    let mut st = conn.prepare(
        "SELECT 1 FROM label_files WHERE path = ?1 AND file_dev = ?2 AND file_ino = ?3
         AND file_size = ?4",
    )?;
    Ok(st.exists(params![
        path.to_string_lossy(),
        id.dev as i64,
        id.ino as i64,
        id.size as i64
    ])?)
}

/// Records that `path` holds the label of `order_id` (with the identity of the file written
/// there, and the Amazon shipment id of a bought label), and moves an unshipped order to
/// `labelled`.
pub fn track(
    conn: &Tx<'_>,
    file: Option<(&str, FileIdentity)>,
    order_id: &str,
    bought: Option<&str>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    track_file_of(conn, file, order_id, bought, by, now)?;
    conn.execute(
        "UPDATE orders SET lifecycle = 'labelled', updated_at = ?2
         WHERE amazon_order_id = ?1 AND lifecycle = 'unshipped'",
        params![order_id, crate::audit::format_ts(now)],
    )?;
    Ok(())
}

/// Records that `path` holds PII of `order_id` (a packing slip: tracked and destroyed like a
/// label, without moving the order's lifecycle).
pub fn track_file(
    conn: &Tx<'_>,
    file: Option<(&str, FileIdentity)>,
    order_id: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    track_file_of(conn, file, order_id, None, by, now)
}

/// [`track_file`], with the shipment id of the bought label the file holds. The file written
/// now holds the order as printed now: a cancellation marked on an earlier file at the path
/// goes.
fn track_file_of(
    conn: &Tx<'_>,
    file: Option<(&str, FileIdentity)>,
    order_id: &str,
    bought: Option<&str>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let ts = crate::audit::format_ts(now);
    if let Some((p, id)) = file {
        // SQLite integers are signed: the u64s are stored bit for bit.
        conn.execute(
            "INSERT INTO label_files (path, amazon_order_id, written_at, written_by, file_dev,
                file_ino, file_size, amazon_shipment_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(path, amazon_order_id) DO UPDATE SET written_at = excluded.written_at,
                written_by = excluded.written_by, file_dev = excluded.file_dev,
                file_ino = excluded.file_ino, file_size = excluded.file_size,
                amazon_shipment_id = excluded.amazon_shipment_id, cancelled_at = NULL",
            params![
                p,
                order_id,
                ts,
                by,
                id.dev as i64,
                id.ino as i64,
                id.size as i64,
                bought
            ],
        )?;
    }
    Ok(())
}

/// The other orders written in the same file as `order_id`'s row at `path` (the rows of that
/// path with the same file identity; every other row of the path when the row has none, as
/// rows tracked before identities were recorded).
pub fn batch_mates(conn: &Tx<'_>, path: &std::path::Path, order_id: &str) -> Result<Vec<String>> {
    let mut st = conn.prepare(
        "SELECT o.amazon_order_id FROM label_files l JOIN label_files o ON o.path = l.path
         WHERE l.path = ?1 AND l.amazon_order_id = ?2 AND o.amazon_order_id <> ?2
           AND (l.file_ino IS NULL OR (o.file_dev IS NOT DISTINCT FROM l.file_dev
                AND o.file_ino IS NOT DISTINCT FROM l.file_ino
                AND o.file_size IS NOT DISTINCT FROM l.file_size))
         ORDER BY o.amazon_order_id",
    )?;
    let rows = st
        .query_map(params![path.to_string_lossy(), order_id], |r| r.get(0))?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The Amazon shipment id of the bought label `order_id`'s row at `path` holds, if any.
pub fn bought_label_of(
    conn: &Tx<'_>,
    path: &std::path::Path,
    order_id: &str,
) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT amazon_shipment_id FROM label_files WHERE path = ?1 AND amazon_order_id = ?2",
            params![path.to_string_lossy(), order_id],
            |r| r.get::<_, Option<String>>(0),
        )
        .optional()?
        .flatten())
}

/// Marks `order_id` cancelled in the file at `path` (kept because it holds other orders): it is
/// not printed into that file again ([`cancelled_in`]). The row stays, so `purge` still
/// destroys the file with the order's PII.
pub fn mark_cancelled(
    conn: &Tx<'_>,
    path: &std::path::Path,
    order_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "UPDATE label_files SET cancelled_at = ?3 WHERE path = ?1 AND amazon_order_id = ?2",
        params![
            path.to_string_lossy(),
            order_id,
            crate::audit::format_ts(now)
        ],
    )?;
    Ok(())
}

/// Whether `order_id` was cancelled out of the file at `path` (a batch it must not be printed
/// into again).
pub fn cancelled_in(conn: &Tx<'_>, path: &std::path::Path, order_id: &str) -> Result<bool> {
    Ok(conn
        .prepare(
            "SELECT 1 FROM label_files WHERE path = ?1 AND amazon_order_id = ?2
             AND cancelled_at IS NOT NULL",
        )?
        .exists(params![path.to_string_lossy(), order_id])?)
}

/// The orders in any of these lifecycle states, by id (`label --status`, `--all-unshipped`).
pub fn orders_in(conn: &Tx<'_>, lifecycles: &[Lifecycle]) -> Result<Vec<String>> {
    let mut st = conn.prepare(
        "SELECT amazon_order_id FROM orders WHERE lifecycle = ?1 ORDER BY amazon_order_id",
    )?;
    let mut out = Vec::new();
    for l in lifecycles {
        for id in st.query_map([l.as_str()], |r| r.get::<_, String>(0))? {
            out.push(id?);
        }
    }
    out.sort();
    Ok(out)
}

/// Every order a tracked path belongs to (a batch file holds several).
pub fn orders_of_path(conn: &Tx<'_>, path: &std::path::Path) -> Result<Vec<String>> {
    let mut st = conn.prepare(
        "SELECT amazon_order_id FROM label_files WHERE path = ?1 ORDER BY amazon_order_id",
    )?;
    let rows = st
        .query_map([path.to_string_lossy()], |r| r.get(0))?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    Ok(rows)
}

/// A tracked label file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    /// Where it was written.
    pub path: PathBuf,
    /// Whose label it is.
    pub order_id: String,
    /// The file written there (None: tracked before identities were recorded).
    pub identity: Option<FileIdentity>,
}

const TRACKED_COLUMNS: &str = "l.path, l.amazon_order_id, l.file_dev, l.file_ino, l.file_size";

fn tracked_row(r: &crate::store::sql::Row<'_>) -> crate::store::sql::Result<Tracked> {
    let dev: Option<i64> = r.get(2)?;
    let ino: Option<i64> = r.get(3)?;
    let size: Option<i64> = r.get(4)?;
    Ok(Tracked {
        path: PathBuf::from(r.get::<_, String>(0)?),
        order_id: r.get(1)?,
        identity: match (dev, ino, size) {
            (Some(dev), Some(ino), Some(size)) => Some(FileIdentity {
                dev: dev as u64,
                ino: ino as u64,
                size: size as u64,
            }),
            _ => None,
        },
    })
}

/// Tracked label files of purged orders (to destroy).
pub fn files_of_purged(conn: &Tx<'_>) -> Result<Vec<Tracked>> {
    let mut st = conn.prepare(&format!(
        "SELECT {TRACKED_COLUMNS} FROM label_files l JOIN orders o USING (amazon_order_id)
         WHERE o.purged_at IS NOT NULL ORDER BY l.path"
    ))?;
    let rows = st
        .query_map([], tracked_row)?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Every tracked label file.
pub fn all_files(conn: &Tx<'_>) -> Result<Vec<Tracked>> {
    let mut st = conn.prepare(&format!(
        "SELECT {TRACKED_COLUMNS} FROM label_files l ORDER BY l.path, l.amazon_order_id"
    ))?;
    let rows = st
        .query_map([], tracked_row)?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Tracked label files of these orders.
pub fn files_of(conn: &Tx<'_>, orders: &[String]) -> Result<Vec<Tracked>> {
    if orders.is_empty() {
        return Ok(Vec::new());
    }
    // One pass over the (small) tracking table, not one query per order: a large purge names
    // hundreds of thousands of orders.
    let wanted: std::collections::HashSet<&str> = orders.iter().map(String::as_str).collect();
    let mut st = conn.prepare(&format!(
        "SELECT {TRACKED_COLUMNS} FROM label_files l ORDER BY l.amazon_order_id, l.path"
    ))?;
    let mut out = Vec::new();
    for t in st.query_map([], tracked_row)? {
        let t = t?;
        if wanted.contains(t.order_id.as_str()) {
            out.push(t);
        }
    }
    // In the order the orders were asked for, then by path, as before.
    let rank: std::collections::HashMap<&str, usize> = orders
        .iter()
        .enumerate()
        .map(|(i, o)| (o.as_str(), i))
        .collect();
    out.sort_by(|a, b| {
        (rank[a.order_id.as_str()], &a.path).cmp(&(rank[b.order_id.as_str()], &b.path))
    });
    Ok(out)
}

/// The order a tracked path belongs to (the first, for a file holding several labels).
pub fn order_of_path(conn: &Tx<'_>, path: &std::path::Path) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT amazon_order_id FROM label_files WHERE path = ?1 ORDER BY amazon_order_id",
            [path.to_string_lossy()],
            |r| r.get(0),
        )
        .optional()?)
}

/// Forgets a destroyed file.
pub fn untrack(conn: &Tx<'_>, path: &std::path::Path, order_id: &str) -> Result<()> {
    conn.execute(
        "DELETE FROM label_files WHERE path = ?1 AND amazon_order_id = ?2",
        params![path.to_string_lossy(), order_id],
    )?;
    Ok(())
}
