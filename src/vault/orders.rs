//! Orders and items in the store: rows by `AmazonOrderId`, their lifecycle and sealed PII as
//! [`crate::vault::ingest`] decided them.
//!
//! Everything here is idempotent: storing the same order or items twice leaves one row, so a
//! fetch killed at any point and run again loses and duplicates nothing.

use super::store::{Tx, ts};
use crate::store::sql::{OptionalExtension, params};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::datakeys::Sealed;
use super::retention::RetentionFacts;
use crate::error::{Error, Result};
use crate::model::lifecycle::{Lifecycle, PiiState};
use crate::model::order::{OrderInfo, OrderItemInfo};

/// Where an order stood before a fetch stored it again: what [`crate::vault::ingest`] decides
/// from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorOrder {
    /// Its local lifecycle (`None`: a spelling this build does not know).
    pub lifecycle: Option<Lifecycle>,
    /// What is held of its PII (`None`: a spelling this build does not know).
    pub pii_state: Option<PiiState>,
    /// The version of its sealed PII record (0: never sealed).
    pub pii_version: u64,
    /// When its retention clock started, as stored.
    pub retention_start: Option<String>,
}

/// The stored state of order `order_id`, if it is in the vault.
pub fn prior_order(conn: &Tx<'_>, order_id: &str) -> Result<Option<PriorOrder>> {
    Ok(conn
        .prepare(
            "SELECT lifecycle, pii_state, pii_version, retention_start FROM orders WHERE amazon_order_id = ?1",
        )?
        .query_row([order_id], |r| {
            Ok(PriorOrder {
                lifecycle: Lifecycle::parse(&r.get::<_, String>(0)?),
                pii_state: PiiState::parse(&r.get::<_, String>(1)?),
                pii_version: r.get::<_, i64>(2)?.max(0) as u64,
                retention_start: r.get(3)?,
            })
        })
        .optional()?)
}

/// What [`put_order`] stores beside Amazon's plain columns: the decisions
/// [`crate::vault::ingest::upsert_order`] made.
#[derive(Debug)]
pub struct OrderState {
    /// Its local lifecycle.
    pub lifecycle: Lifecycle,
    /// Newly sealed PII (`None` keeps the record stored, if any).
    pub sealed: Option<Sealed>,
    /// The version of its PII record.
    pub pii_version: u64,
    /// What is held of its PII.
    pub pii_state: PiiState,
    /// It needs an address Amazon has not given.
    pub pii_missing: bool,
    /// Starts its retention clock at this time unless it has started already.
    pub start_retention: Option<DateTime<Utc>>,
}

/// Inserts or updates order `info` with `state`; `now` is when this copy was stored.
pub fn put_order(
    conn: &Tx<'_>,
    info: &OrderInfo,
    state: &OrderState,
    now: DateTime<Utc>,
) -> Result<()> {
    let i = info;
    let total = i.order_total.as_ref();
    let (sealed, epoch) = match &state.sealed {
        Some(s) => (Some(s.blob.as_slice()), s.epoch),
        None => (None, None),
    };
    conn.prepare(
        "INSERT INTO orders (amazon_order_id, status, pii, pii_version, pii_state, created_at, updated_at,
            purchase_date, last_update_date, fulfillment_channel, sales_channel, marketplace_id, ship_service_level,
            service_level_category, order_type, ship_country, earliest_ship_date, latest_ship_date,
            earliest_delivery_date, latest_delivery_date, is_prime, is_business, order_total, order_currency,
            items_shipped, items_unshipped, lifecycle, pii_missing, retention_start, pii_epoch)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29)
         ON CONFLICT(amazon_order_id) DO UPDATE SET
            status = excluded.status, pii = COALESCE(excluded.pii, orders.pii), pii_version = excluded.pii_version,
            pii_epoch = CASE WHEN excluded.pii IS NULL THEN orders.pii_epoch ELSE excluded.pii_epoch END,
            pii_state = excluded.pii_state, updated_at = excluded.updated_at, purchase_date = excluded.purchase_date,
            last_update_date = excluded.last_update_date, fulfillment_channel = excluded.fulfillment_channel,
            sales_channel = excluded.sales_channel, marketplace_id = excluded.marketplace_id,
            ship_service_level = excluded.ship_service_level, service_level_category = excluded.service_level_category,
            order_type = excluded.order_type, ship_country = excluded.ship_country,
            earliest_ship_date = excluded.earliest_ship_date, latest_ship_date = excluded.latest_ship_date,
            earliest_delivery_date = excluded.earliest_delivery_date, latest_delivery_date = excluded.latest_delivery_date,
            is_prime = excluded.is_prime, is_business = excluded.is_business, order_total = excluded.order_total,
            order_currency = excluded.order_currency, items_shipped = excluded.items_shipped,
            items_unshipped = excluded.items_unshipped, lifecycle = excluded.lifecycle,
            pii_missing = excluded.pii_missing,
            retention_start = COALESCE(orders.retention_start, excluded.retention_start)",
    )?
    .execute(params![
            i.amazon_order_id,
            i.order_status,
            sealed,
            state.pii_version as i64,
            state.pii_state.as_str(),
            ts(now),
            i.purchase_date,
            i.last_update_date,
            i.fulfillment_channel,
            i.sales_channel,
            i.marketplace_id,
            i.ship_service_level,
            i.shipment_service_level_category,
            i.order_type,
            i.ship_country_code,
            i.earliest_ship_date,
            i.latest_ship_date,
            i.earliest_delivery_date,
            i.latest_delivery_date,
            i.is_prime,
            i.is_business_order,
            total.map(|m| m.amount.as_str()),
            total.map(|m| m.currency_code.as_str()),
            i.number_of_items_shipped,
            i.number_of_items_unshipped,
            state.lifecycle.as_str(),
            state.pii_missing,
            state.start_retention.map(ts),
            epoch,
        ])?;
    Ok(())
}

/// The id gift messages are sealed under: binds the order and the item.
pub(crate) fn item_seal_id(order_id: &str, item_id: &str) -> String {
    format!("{order_id}#{item_id}")
}

/// What an order's items are stored against: whether it was purged, and the facts of its
/// retention deadline; `None` when the order is not in the vault.
pub fn item_facts(conn: &Tx<'_>, order_id: &str) -> Result<Option<(bool, RetentionFacts)>> {
    Ok(conn
        .query_row(
            "SELECT purged_at IS NOT NULL, retention_start, latest_ship_date, purchase_date, created_at,
                    pii IS NOT NULL
             FROM orders WHERE amazon_order_id = ?1",
            [order_id],
            |r| {
                Ok((
                    r.get(0)?,
                    RetentionFacts {
                        order_id: order_id.to_string(),
                        retention_start: r.get(1)?,
                        latest_ship_date: r.get(2)?,
                        purchase_date: r.get(3)?,
                        created_at: r.get(4)?,
                        holds_pii: r.get(5)?,
                    },
                ))
            },
        )
        .optional()?)
}

/// Stores an order's items, each with its sealed gift message if it has one, replacing any
/// earlier copy, and marks the order's items fetched.
pub fn put_items(
    conn: &Tx<'_>,
    order_id: &str,
    items: &[(&OrderItemInfo, Option<Sealed>)],
) -> Result<()> {
    conn.execute(
        "DELETE FROM order_items WHERE amazon_order_id = ?1",
        [order_id],
    )?;
    let mut st = conn.prepare(
        "INSERT INTO order_items (amazon_order_id, order_item_id, asin, seller_sku, title, quantity_ordered,
            quantity_shipped, is_gift, gift_message, gift_epoch) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for (i, gift) in items {
        let (gift, gift_epoch) = match gift {
            Some(s) => (Some(s.blob.as_slice()), s.epoch),
            None => (None, None),
        };
        st.execute(params![
            order_id,
            i.order_item_id,
            i.asin,
            i.seller_sku,
            i.title,
            i.quantity_ordered,
            i.quantity_shipped,
            i.is_gift,
            gift,
            gift_epoch
        ])?;
    }
    conn.execute(
        "UPDATE orders SET items_fetched = 1 WHERE amazon_order_id = ?1",
        [order_id],
    )?;
    Ok(())
}

/// An order's sealed gift messages: (`OrderItemId`, sealed blob).
pub fn sealed_gift_messages(conn: &Tx<'_>, order_id: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let mut st = conn.prepare(
        "SELECT order_item_id, gift_message FROM order_items
         WHERE amazon_order_id = ?1 AND gift_message IS NOT NULL ORDER BY order_item_id",
    )?;
    let rows = st
        .query_map([order_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    Ok(rows)
}

/// How many orders Amazon withheld the address of.
pub fn pii_missing_count(conn: &Tx<'_>) -> Result<u64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM orders WHERE pii_missing = 1",
        [],
        |r| r.get::<_, i64>(0),
    )? as u64)
}

/// An order's lifecycle and whether its PII was purged; `None` if it is not in the vault.
pub fn lifecycle_of(conn: &Tx<'_>, order_id: &str) -> Result<Option<(Lifecycle, bool)>> {
    let row: Option<(String, bool)> = conn
        .query_row(
            "SELECT lifecycle, purged_at IS NOT NULL FROM orders WHERE amazon_order_id = ?1",
            [order_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    row.map(|(l, purged)| {
        Lifecycle::parse(&l).map(|l| (l, purged)).ok_or_else(|| {
            Error::Integrity(format!(
                "order {order_id} has a lifecycle this build does not know; the vault was \
                 changed outside fulfill or by a newer build"
            ))
        })
    })
    .transpose()
}

/// The order's items with units still to ship, as `(OrderItemId, units)`, by item id.
pub fn items_to_ship(conn: &Tx<'_>, order_id: &str) -> Result<Vec<(String, u32)>> {
    let mut st = conn.prepare(
        "SELECT order_item_id, quantity_ordered - COALESCE(quantity_shipped, 0) FROM order_items
         WHERE amazon_order_id = ?1 ORDER BY order_item_id",
    )?;
    let items = st
        .query_map([order_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?))
        })?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    Ok(items.into_iter().filter(|(_, q)| *q > 0).collect())
}

/// Up to `limit` orders whose items have not been fetched yet, oldest first.
pub fn orders_missing_items(conn: &Tx<'_>, limit: usize) -> Result<Vec<String>> {
    let mut st = conn.prepare(
        "SELECT amazon_order_id FROM orders WHERE items_fetched = 0 ORDER BY purchase_date, amazon_order_id LIMIT ?1",
    )?;
    let ids = st
        .query_map([limit as i64], |r| r.get(0))?
        .collect::<crate::store::sql::Result<Vec<String>>>()?;
    Ok(ids)
}

/// The meta key of the home's fetch watermark (MWS; SP-API before regions).
pub const WATERMARK_KEY: &str = "fetch_watermark";

/// The fetch watermark: Amazon's `LastUpdatedBefore` of the last complete listing.
pub fn watermark(conn: &Tx<'_>) -> Result<Option<String>> {
    super::store::meta_get(conn, WATERMARK_KEY)
}

/// Moves the watermark (in the caller's transaction, with the orders it covers).
pub fn set_watermark(conn: &Tx<'_>, w: &str) -> Result<()> {
    super::store::meta_set(conn, WATERMARK_KEY, w)
}

/// An item as listed (no PII: the gift message stays sealed).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ItemView {
    /// `OrderItemId`.
    pub order_item_id: String,
    /// `ASIN`.
    pub asin: String,
    /// `SellerSKU`.
    pub sku: Option<String>,
    /// `Title`.
    pub title: Option<String>,
    /// `QuantityOrdered`.
    pub quantity: u32,
    /// `QuantityShipped`.
    pub quantity_shipped: Option<u32>,
    /// What is left to ship: ordered, less what Amazon had shipped and what our packages hold.
    pub quantity_left: u32,
    /// A gift (the message itself is PII and not shown).
    pub is_gift: bool,
}

/// An order as listed by `fulfill orders` (no PII; field names pinned by a test).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OrderView {
    /// `AmazonOrderId`.
    pub order_id: String,
    /// The local lifecycle state.
    pub status: String,
    /// Amazon's `OrderStatus`.
    pub amazon_status: String,
    /// `PurchaseDate`.
    pub purchase_date: Option<String>,
    /// `LatestShipDate`: ship by.
    pub ship_by: Option<String>,
    /// `ShipServiceLevel`.
    pub service_level: Option<String>,
    /// `ShipmentServiceLevelCategory`.
    pub service_category: Option<String>,
    /// `IsPrime`.
    pub prime: bool,
    /// `IsBusinessOrder`.
    pub business: bool,
    /// Destination country (not PII on its own).
    pub ship_country: Option<String>,
    /// The marketplace it was sold in (Amazon's id).
    pub marketplace_id: Option<String>,
    /// Its marketplace is not one the home configured (Amazon returned it anyway).
    pub marketplace_unlisted: bool,
    /// Amazon sent no address a label could use (PII withheld without approval).
    pub pii_missing: bool,
    /// PII state: none, sealed, empty, purged.
    pub pii: String,
    /// The items.
    pub items: Vec<ItemView>,
    /// The shipment, once recorded: the latest package's carrier, tracking, confirmation state
    /// and Amazon's error, and every package with its items.
    pub shipment: Option<super::shipments::ShipmentView>,
    /// How soon it must ship (`late`, `today`), as the listing command judged it at its `now`
    /// ([`crate::model::urgency::due`]); None here.
    pub due: Option<&'static str>,
}

/// Orders (optionally one lifecycle state or Amazon status), newest purchase first (`orders`
/// sorts them by urgency itself).
pub fn list_orders(conn: &Tx<'_>, status: Option<&str>) -> Result<Vec<OrderView>> {
    views(conn, status, None)
}

/// The orders of one marketplace and where their buyers' details stand (`audit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketplaceRows {
    /// The marketplace id (`-` for orders stored without one).
    pub marketplace_id: String,
    /// Orders stored.
    pub orders: u64,
    /// Orders whose sealed details are held.
    pub with_pii: u64,
    /// Open orders that still wait for their details (a fetch brings them).
    pub waiting_for_pii: u64,
    /// Orders purged (their details destroyed).
    pub purged: u64,
}

/// Every marketplace the vault holds orders of, with its counts, most orders first.
pub fn marketplace_rows(conn: &Tx<'_>) -> Result<Vec<MarketplaceRows>> {
    let mut st = conn.prepare(
        "SELECT coalesce(marketplace_id, '-'), count(*),
            count(*) FILTER (WHERE pii IS NOT NULL AND purged_at IS NULL),
            count(*) FILTER (WHERE pii IS NULL AND purged_at IS NULL
                AND lifecycle IN ('unshipped', 'labelled', 'partially_shipped')),
            count(*) FILTER (WHERE purged_at IS NOT NULL)
         FROM orders GROUP BY 1 ORDER BY 2 DESC, 1",
    )?;
    let n = |r: &crate::store::sql::Row<'_>, i: usize| -> crate::store::sql::Result<u64> {
        Ok(r.get::<_, Option<i64>>(i)?.unwrap_or(0).unsigned_abs())
    };
    let rows = st
        .query_map([], |r| {
            Ok(MarketplaceRows {
                marketplace_id: r.get(0)?,
                orders: n(r, 1)?,
                with_pii: n(r, 2)?,
                waiting_for_pii: n(r, 3)?,
                purged: n(r, 4)?,
            })
        })?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The marketplace of each of `orders` the vault knows (`-` when stored without one).
pub fn marketplaces_of<'a>(
    conn: &Tx<'_>,
    orders: impl IntoIterator<Item = &'a str>,
) -> Result<std::collections::HashMap<String, String>> {
    let mut st = conn
        .prepare("SELECT coalesce(marketplace_id, '-') FROM orders WHERE amazon_order_id = ?1")?;
    let mut out = std::collections::HashMap::new();
    for o in orders {
        if let Some(m) = st.query_row([o], |r| r.get::<_, String>(0)).optional()? {
            out.insert(o.to_string(), m);
        }
    }
    Ok(out)
}

/// One order as listed, if the vault has it (`orders ORDER`).
pub fn order_view(conn: &Tx<'_>, order_id: &str) -> Result<Option<OrderView>> {
    Ok(views(conn, None, Some(order_id))?.pop())
}

fn views(conn: &Tx<'_>, status: Option<&str>, id: Option<&str>) -> Result<Vec<OrderView>> {
    let mut st = conn.prepare(
        "SELECT amazon_order_id, lifecycle, status, purchase_date, latest_ship_date, ship_service_level,
            service_level_category, is_prime, is_business, ship_country, pii_missing, pii_state,
            marketplace_id, marketplace_unlisted
         FROM orders WHERE (CAST(?1 AS TEXT) IS NULL OR lifecycle = ?1 OR lower(status) = lower(?1))
            AND (CAST(?2 AS TEXT) IS NULL OR amazon_order_id = ?2)
         ORDER BY purchase_date DESC, amazon_order_id",
    )?;
    let mut orders = st
        .query_map(params![status, id], |r| {
            Ok(OrderView {
                order_id: r.get(0)?,
                status: r.get(1)?,
                amazon_status: r.get(2)?,
                purchase_date: r.get(3)?,
                ship_by: r.get(4)?,
                service_level: r.get(5)?,
                service_category: r.get(6)?,
                prime: r.get::<_, Option<bool>>(7)?.unwrap_or(false),
                business: r.get::<_, Option<bool>>(8)?.unwrap_or(false),
                ship_country: r.get(9)?,
                pii_missing: r.get(10)?,
                pii: r.get(11)?,
                marketplace_id: r.get(12)?,
                marketplace_unlisted: r.get(13)?,
                items: Vec::new(),
                shipment: None,
                due: None,
            })
        })?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    let mut items = conn.prepare(
        "SELECT order_item_id, asin, seller_sku, title, quantity_ordered, quantity_shipped, is_gift
         FROM order_items WHERE amazon_order_id = ?1 ORDER BY order_item_id",
    )?;
    for o in &mut orders {
        o.shipment = super::shipments::shipment(conn, &o.order_id)?;
        let left = super::shipments::items_left_of(conn, &o.order_id)?;
        o.items = items
            .query_map([&o.order_id], |r| {
                Ok(ItemView {
                    order_item_id: r.get(0)?,
                    asin: r.get(1)?,
                    sku: r.get(2)?,
                    title: r.get(3)?,
                    quantity: r.get(4)?,
                    quantity_shipped: r.get(5)?,
                    quantity_left: 0,
                    is_gift: r.get::<_, Option<bool>>(6)?.unwrap_or(false),
                })
            })?
            .collect::<crate::store::sql::Result<Vec<_>>>()?;
        for i in &mut o.items {
            i.quantity_left = left
                .iter()
                .find(|l| l.order_item_id == i.order_item_id)
                .map_or(0, |l| l.left);
        }
    }
    Ok(orders)
}

/// What an order's retention anchor is decided from (see
/// [`crate::vault::ingest::anchor_retention`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorFacts {
    /// Its local lifecycle (`None`: a spelling this build does not know).
    pub lifecycle: Option<Lifecycle>,
    /// Its PII was purged.
    pub purged: bool,
    /// When its retention clock started, as stored.
    pub retention_start: Option<String>,
    /// What the clock counts from, as stored (`delivered`, `latest_delivery`, `shipment`,
    /// `cancellation`).
    pub anchor: Option<String>,
    /// The latest delivery date Amazon gave.
    pub latest_delivery_date: Option<String>,
}

/// The anchor facts of order `order_id`, if it is in the vault.
pub fn anchor_facts(conn: &Tx<'_>, order_id: &str) -> Result<Option<AnchorFacts>> {
    Ok(conn
        .query_row(
            "SELECT lifecycle, purged_at IS NOT NULL, retention_start, retention_anchor,
                    latest_delivery_date
             FROM orders WHERE amazon_order_id = ?1",
            [order_id],
            |r| {
                Ok(AnchorFacts {
                    lifecycle: Lifecycle::parse(&r.get::<_, String>(0)?),
                    purged: r.get(1)?,
                    retention_start: r.get(2)?,
                    anchor: r.get(3)?,
                    latest_delivery_date: r.get(4)?,
                })
            },
        )
        .optional()?)
}

/// Sets when an order's retention clock started and what it counts from.
pub fn set_retention_anchor(
    conn: &Tx<'_>,
    order_id: &str,
    retention_start: Option<&str>,
    anchor: Option<&str>,
) -> Result<()> {
    conn.execute(
        "UPDATE orders SET retention_start = ?2, retention_anchor = ?3 WHERE amazon_order_id = ?1",
        params![order_id, retention_start, anchor],
    )?;
    Ok(())
}

/// How many orders' retention clocks count from each anchor (`audit`): delivered, latest
/// delivery date, shipment (or not anchored yet), cancellation.
pub fn retention_anchors(conn: &Tx<'_>) -> Result<[u64; 4]> {
    let mut out = [0u64; 4];
    let mut st = conn.prepare(
        "SELECT COALESCE(retention_anchor, 'shipment'), count(*) FROM orders
         WHERE retention_start IS NOT NULL GROUP BY 1",
    )?;
    for row in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (k, n) = row?;
        let i = match k.as_str() {
            "delivered" => 0,
            "latest_delivery" => 1,
            "cancellation" => 3,
            _ => 2,
        };
        out[i] += n as u64;
    }
    Ok(out)
}

/// (order item id, quantity) pairs.
pub type ItemQuantities = Vec<(String, u32)>;

/// What a per-package confirmation of `order_id` needs from the vault: the order's marketplace
/// and every item still to ship with the quantity left (the rest of the order in one package).
pub fn confirm_facts(conn: &Tx<'_>, order_id: &str) -> Result<(Option<String>, ItemQuantities)> {
    let marketplace: Option<String> = conn
        .query_row(
            "SELECT marketplace_id FROM orders WHERE amazon_order_id = ?1",
            [order_id],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    // What is left to ship of each item (a partly shipped order has shipped some already).
    let mut st = conn.prepare(
        "SELECT order_item_id, quantity_ordered - COALESCE(quantity_shipped, 0) FROM order_items
         WHERE amazon_order_id = ?1 AND quantity_ordered > COALESCE(quantity_shipped, 0)
         ORDER BY order_item_id",
    )?;
    let items = st
        .query_map([order_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    Ok((marketplace, items))
}

/// Stores the sealed MWS credentials.
pub fn put_credentials(conn: &Tx<'_>, sealed: &[u8], by: &str, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "INSERT INTO credentials (id, sealed, updated_at, updated_by) VALUES (1, ?1, ?2, ?3)
         ON CONFLICT(id) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        params![sealed, ts(now), by],
    )?;
    Ok(())
}

/// The sealed MWS credentials, with when and by whom they were set.
pub fn credentials(conn: &Tx<'_>) -> Result<Option<(Vec<u8>, String, String)>> {
    Ok(conn
        .query_row(
            "SELECT sealed, updated_at, updated_by FROM credentials WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?)
}

/// Removes the home's pre-region credentials row (MWS, or SP-API stored before regions).
pub fn delete_credentials(conn: &Tx<'_>) -> Result<()> {
    conn.execute("DELETE FROM credentials WHERE id = 1", [])?;
    Ok(())
}

/// Stores (or replaces) one region's sealed SP-API credentials.
pub fn put_region_credentials(
    conn: &Tx<'_>,
    region: &str,
    sealed: &[u8],
    by: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "INSERT INTO region_credentials (region, sealed, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(region) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        params![region, sealed, ts(now), by],
    )?;
    Ok(())
}

/// One region's sealed SP-API credentials: (region, sealed, updated at, updated by).
pub type SealedRegion = (String, Vec<u8>, String, String);

/// Every region's sealed SP-API credentials.
pub fn region_credentials(conn: &Tx<'_>) -> Result<Vec<SealedRegion>> {
    let mut st = conn.prepare(
        "SELECT region, sealed, updated_at, updated_by FROM region_credentials ORDER BY region",
    )?;
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Removes one region's credentials; whether there were any.
pub fn delete_region_credentials(conn: &Tx<'_>, region: &str) -> Result<bool> {
    Ok(conn.execute("DELETE FROM region_credentials WHERE region = ?1", [region])? > 0)
}

/// Removes every region's credentials (the home switches to MWS).
pub fn delete_all_region_credentials(conn: &Tx<'_>) -> Result<()> {
    conn.execute("DELETE FROM region_credentials", [])?;
    Ok(())
}

/// Where an order came from: the region whose listing returned it, and whether its
/// marketplace is one the home configured for that region.
pub fn set_origin(conn: &Tx<'_>, order_id: &str, region: &str, unlisted: bool) -> Result<()> {
    conn.execute(
        "UPDATE orders SET fetched_region = ?2, marketplace_unlisted = ?3 WHERE amazon_order_id = ?1",
        params![order_id, region, unlisted],
    )?;
    Ok(())
}

/// An order's marketplace and the region it was fetched from, where recorded (unknown
/// order: neither).
pub fn order_origin(conn: &Tx<'_>, order_id: &str) -> Result<(Option<String>, Option<String>)> {
    Ok(conn
        .query_row(
            "SELECT marketplace_id, fetched_region FROM orders WHERE amazon_order_id = ?1",
            [order_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or((None, None)))
}

/// The region an order was fetched from, if recorded.
pub fn fetched_region(conn: &Tx<'_>, order_id: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT fetched_region FROM orders WHERE amazon_order_id = ?1",
            [order_id],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

/// Orders from a marketplace the home did not configure: (order id, marketplace id).
pub fn unlisted_marketplace_orders(conn: &Tx<'_>) -> Result<Vec<(String, Option<String>)>> {
    let mut st = conn.prepare(
        "SELECT amazon_order_id, marketplace_id FROM orders WHERE marketplace_unlisted = 1 ORDER BY amazon_order_id",
    )?;
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The meta key of a region's fetch watermark (`legacy`: credentials stored before regions
/// keep the home's one watermark).
pub fn region_watermark_key(region: &str, legacy: bool) -> String {
    if legacy {
        WATERMARK_KEY.to_string()
    } else {
        format!("{WATERMARK_KEY}:{region}")
    }
}

/// A fetch watermark by key ([`region_watermark_key`]).
pub fn watermark_at(conn: &Tx<'_>, key: &str) -> Result<Option<String>> {
    super::store::meta_get(conn, key)
}

/// Moves the watermark under `key` (in the caller's transaction, with the orders it covers).
pub fn set_watermark_at(conn: &Tx<'_>, key: &str, w: &str) -> Result<()> {
    super::store::meta_set(conn, key, w)
}
