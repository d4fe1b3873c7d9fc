//! SKU data and the pick-list query: bin locations (plain seller data) and what to pick.
//!
//! Nothing here reads a PII column: the pick list is built from `order_items` (SKU, ASIN,
//! quantities) and the order's lifecycle only, so any operator, the picker included, may run it.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::store::Tx;
use crate::store::sql::{OptionalExtension, params};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::lifecycle::Lifecycle;

/// The longest bin code accepted.
pub const MAX_BIN_CHARS: usize = 32;
/// The longest seller SKU Amazon allows.
pub const MAX_SKU_CHARS: usize = 40;

/// Checks a SKU and a bin given on the command line: not empty, not too long, no control
/// characters, no leading or trailing blanks.
pub fn check_location(sku: &str, bin: &str) -> Result<()> {
    for (what, v, max) in [("SKU", sku, MAX_SKU_CHARS), ("bin", bin, MAX_BIN_CHARS)] {
        if v.is_empty() || v.trim() != v {
            return Err(Error::usage(format!(
                "the {what} must not be empty or start or end with a blank"
            )));
        }
        if v.chars().count() > max {
            return Err(Error::usage(format!(
                "the {what} is longer than {max} characters"
            )));
        }
        if v.chars().any(char::is_control) {
            return Err(Error::usage(format!(
                "the {what} must not contain control characters"
            )));
        }
    }
    Ok(())
}

/// The bin of `sku`, if one is set.
pub fn location(conn: &Tx<'_>, sku: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT bin FROM sku_locations WHERE sku = ?1", [sku], |r| {
            r.get(0)
        })
        .optional()?)
}

/// Sets (or moves) the bin of `sku` (in the caller's transaction, with its audit record).
pub fn set_location(
    conn: &Tx<'_>,
    sku: &str,
    bin: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "INSERT INTO sku_locations (sku, bin, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(sku) DO UPDATE SET bin = excluded.bin, updated_at = excluded.updated_at,
            updated_by = excluded.updated_by",
        params![
            sku,
            bin,
            now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            by
        ],
    )?;
    Ok(())
}

/// One line of a pick list: a SKU, where it is, how many to pick and for which orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PickLine {
    /// The bin location, when the seller set one.
    pub bin: Option<String>,
    /// The seller SKU (the ASIN for an item listed without one).
    pub sku: String,
    /// Units to pick: ordered minus already shipped, over every order.
    pub quantity: u64,
    /// The orders the units go to, by id.
    pub orders: Vec<String>,
    /// Each order's marketplace (Amazon's id), in the order of `orders`; `None` when the
    /// order came without one.
    pub marketplaces: Vec<Option<String>>,
}

/// Compares shelf codes and SKUs as people read them: runs of digits by their value, so
/// `A-2` comes before `A-10`; otherwise character by character.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    fn runs(s: &str) -> impl Iterator<Item = (bool, &str)> {
        let mut rest = s;
        std::iter::from_fn(move || {
            let first = rest.chars().next()?;
            let digit = first.is_ascii_digit();
            let end = rest
                .find(|c: char| c.is_ascii_digit() != digit)
                .unwrap_or(rest.len());
            let (run, tail) = rest.split_at(end);
            rest = tail;
            Some((digit, run))
        })
    }
    let (mut x, mut y) = (runs(a), runs(b));
    loop {
        match (x.next(), y.next()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some((true, p)), Some((true, q))) => {
                let (p, q) = (p.trim_start_matches('0'), q.trim_start_matches('0'));
                let o = p.len().cmp(&q.len()).then_with(|| p.cmp(q));
                if o != Ordering::Equal {
                    return o;
                }
            }
            (Some((_, p)), Some((_, q))) => {
                let o = p.cmp(q);
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

/// A pick list: its lines sorted by bin (SKUs without one last), then SKU, both in
/// [`natural_cmp`] order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PickList {
    /// The lines.
    pub lines: Vec<PickLine>,
    /// Orders with something to pick.
    pub orders: usize,
    /// Orders in the chosen states whose items are not fetched yet (not on the list).
    pub orders_without_items: usize,
}

/// The pick list for orders in the given lifecycle states.
pub fn pick_list(conn: &Tx<'_>, lifecycles: &[Lifecycle]) -> Result<PickList> {
    let names: Vec<&str> = lifecycles.iter().map(|l| l.as_str()).collect();
    let states = crate::store::sql::placeholders(1, names.len());
    let mut st = conn.prepare(&format!(
        "SELECT sku, bin, amazon_order_id, todo, marketplace_id FROM (
            SELECT COALESCE(i.seller_sku, i.asin) AS sku, l.bin, i.amazon_order_id,
                i.quantity_ordered - COALESCE(i.quantity_shipped, 0)
                    - COALESCE((SELECT CAST(sum(p.quantity) AS BIGINT) FROM shipment_items p
                        JOIN shipments s ON s.id = p.shipment_id
                        WHERE s.amazon_order_id = i.amazon_order_id AND s.state <> 'cancelled'
                        AND p.order_item_id = i.order_item_id), 0) AS todo,
                o.marketplace_id
            FROM order_items i
            JOIN orders o ON o.amazon_order_id = i.amazon_order_id
            LEFT JOIN sku_locations l ON l.sku = COALESCE(i.seller_sku, i.asin)
            WHERE o.lifecycle IN ({states})) AS wanted
         WHERE todo > 0
         ORDER BY sku, amazon_order_id"
    ))?;
    let rows = st.query_map(&names[..], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, Option<String>>(4)?,
        ))
    })?;
    let mut lines: Vec<PickLine> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut orders = std::collections::HashSet::new();
    for row in rows {
        let (sku, bin, order, todo, marketplace) = row?;
        let at = *index.entry(sku.clone()).or_insert_with(|| {
            lines.push(PickLine {
                bin,
                sku,
                quantity: 0,
                orders: Vec::new(),
                marketplaces: Vec::new(),
            });
            lines.len() - 1
        });
        let line = &mut lines[at];
        line.quantity += todo as u64;
        if line.orders.last() != Some(&order) {
            line.orders.push(order.clone());
            line.marketplaces.push(marketplace);
        }
        orders.insert(order);
    }
    lines.sort_by(|a, b| match (&a.bin, &b.bin) {
        (Some(x), Some(y)) => natural_cmp(x, y).then_with(|| natural_cmp(&a.sku, &b.sku)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => natural_cmp(&a.sku, &b.sku),
    });
    let orders_without_items = conn.query_row(
        &format!("SELECT count(*) FROM orders WHERE items_fetched = 0 AND lifecycle IN ({states})"),
        &names[..],
        |r| r.get::<_, i64>(0),
    )? as usize;
    Ok(PickList {
        lines,
        orders: orders.len(),
        orders_without_items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_reads_numbers_as_numbers() {
        let mut v = vec!["A-10", "A-2", "B-1", "A-02b", "a-1", "A-2", "A10", "A-01"];
        v.sort_by(|a, b| natural_cmp(a, b));
        // "A10" before "A-…": the text runs "A" and "A-" differ first.
        assert_eq!(
            v,
            ["A10", "A-01", "A-2", "A-2", "A-02b", "A-10", "B-1", "a-1"]
        );
        assert_eq!(natural_cmp("SKU-9-1", "SKU-10-0"), Ordering::Less);
        // Leading zeros tie on value, then fall back to the text so the order is total.
        assert_eq!(natural_cmp("A-02", "A-2"), "A-02".cmp("A-2"));
    }

    #[test]
    fn locations_are_checked() {
        assert!(check_location("SKU-1", "A-01").is_ok());
        for (sku, bin) in [
            ("", "A"),
            ("S", ""),
            ("S", " A"),
            ("S", "A\tB"),
            ("S\u{1b}", "A"),
        ] {
            assert!(check_location(sku, bin).is_err(), "{sku:?} {bin:?}");
        }
        assert!(check_location(&"x".repeat(41), "A").is_err());
        assert!(check_location(&"x".repeat(40), &"b".repeat(32)).is_ok());
    }
}
