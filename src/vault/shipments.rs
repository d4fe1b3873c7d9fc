//! Packages (shipments) and the confirmation feeds that carry them to Amazon (store functions
//! only; the flow is in [`crate::flow::ship`]).
//!
//! **Packages.** An order ships in one or more packages, each a row of `shipments` numbered
//! 1, 2, ... within its order, with the items and quantities it holds (`shipment_items`). What
//! is left of an item to ship is what was ordered, less what Amazon had already shipped when
//! the items were fetched (`order_items.quantity_shipped`; items are fetched once, before any
//! package of ours), less what the order's packages hold (cancelled ones excepted). A package
//! is refused whole if any of its items is not in the order or asks for more than is left.
//!
//! A package moves `queued` → `submitted` (its feed has a `FeedSubmissionId`) → `confirmed` or
//! `failed` (the processing report's verdict for its message). The order's lifecycle follows
//! from its packages ([`crate::vault::progress::refresh`]): `partially_shipped` while items are left,
//! `shipped` once none is, `confirmed` when Amazon accepted every package, `confirm_failed`
//! when it refused one. Recording a whole-order shipment again when nothing is left corrects
//! the one package Amazon has not taken yet (queued or failed) and re-queues it.
//!
//! **Retention** starts when the last package ships: [`shipment_time`] is the one place that
//! says when an order counts as shipped.

use super::store::Tx;
use crate::store::sql::{OptionalExtension, params};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::lifecycle::{Lifecycle, PackageFacts, ShipmentState};
use crate::model::package::{ItemArg, ItemQty, Line, resolve};
use crate::mws::model::CARRIER_CODES;

use super::store::ts;

/// A shipment as the packer reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewShipment {
    /// `AmazonOrderId`.
    pub order_id: String,
    /// A carrier: an amzn-base `CarrierCode` (matched case-insensitively) or any name.
    pub carrier: String,
    /// The carrier's tracking number.
    pub tracking: String,
    /// Shipping method, e.g. "Priority Mail".
    pub method: Option<String>,
}

/// The carrier as the feed names it: `(CarrierCode, CarrierName)`, exactly one set.
pub fn carrier_fields(carrier: &str) -> (Option<String>, Option<String>) {
    match CARRIER_CODES
        .iter()
        .find(|c| c.eq_ignore_ascii_case(carrier.trim()))
    {
        Some(code) => (Some((*code).to_string()), None),
        None => (None, Some(carrier.trim().to_string())),
    }
}

/// What recording a shipment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// A new package, queued for confirmation.
    New,
    /// A queued or failed package was corrected and (re-)queued.
    Corrected,
}

/// What recording a package did, and which package it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    /// New or corrected.
    pub recorded: Recorded,
    /// The package's number within its order (1, 2, ...).
    pub package: u32,
    /// The items it holds (empty: a whole order whose items are not known).
    pub items: Vec<ItemQty>,
    /// The order's lifecycle afterwards.
    pub lifecycle: Lifecycle,
    /// What is still to ship, by item (empty: nothing).
    pub left: Vec<ItemQty>,
}

/// One item of an order with how many of it are ordered and shipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemLeft {
    /// `OrderItemId`.
    pub id: String,
    /// Ordered.
    pub ordered: u32,
    /// Shipped: by Amazon before us, and in our packages (cancelled ones excepted).
    pub shipped: u32,
}

impl ItemLeft {
    /// What is left of it to ship.
    pub fn left(&self) -> u32 {
        self.ordered.saturating_sub(self.shipped)
    }
}

/// A package of an order that was not cancelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePackage {
    /// Its row.
    pub row: i64,
    /// Its number within the order.
    pub number: u32,
    /// Its confirmation state.
    pub state: ShipmentState,
    /// It holds no item rows: a whole-order package (recorded before packages held items).
    pub whole: bool,
}

/// An order's packages (cancelled ones excepted).
fn live_packages(conn: &Tx<'_>, order_id: &str) -> Result<Vec<LivePackage>> {
    let mut st = conn.prepare(
        "SELECT s.id, s.package_no, s.state,
            NOT EXISTS (SELECT 1 FROM shipment_items i WHERE i.shipment_id = s.id)
         FROM shipments s WHERE s.amazon_order_id = ?1 AND s.state <> 'cancelled' ORDER BY s.package_no",
    )?;
    let rows = st
        .query_map([order_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, u32>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, bool>(3)?,
            ))
        })?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(id, no, state, whole)| {
            let state = ShipmentState::parse(&state).ok_or_else(|| {
                Error::Integrity(format!(
                    "package {no} of order {order_id} has an unknown state"
                ))
            })?;
            Ok(LivePackage {
                row: id,
                number: no,
                state,
                whole,
            })
        })
        .collect()
}

/// Every item of an order with how many of it are shipped (Amazon's count before ours, plus
/// what our live packages hold).
fn items_left(conn: &Tx<'_>, order_id: &str) -> Result<Vec<ItemLeft>> {
    let mut st = conn.prepare(
        "SELECT i.order_item_id, i.quantity_ordered, COALESCE(i.quantity_shipped, 0)
            + COALESCE((SELECT CAST(sum(p.quantity) AS BIGINT) FROM shipment_items p JOIN shipments s ON s.id = p.shipment_id
                WHERE s.amazon_order_id = i.amazon_order_id AND s.state <> 'cancelled'
                AND p.order_item_id = i.order_item_id), 0)
         FROM order_items i WHERE i.amazon_order_id = ?1 ORDER BY i.order_item_id",
    )?;
    let rows = st
        .query_map([order_id], |r| {
            Ok(ItemLeft {
                id: r.get(0)?,
                ordered: r.get::<_, i64>(1)?.clamp(0, i64::from(u32::MAX)) as u32,
                shipped: r.get::<_, i64>(2)?.clamp(0, i64::from(u32::MAX)) as u32,
            })
        })?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Whether every item of the order is in a package (or a whole-order package ships it all).
fn fully_shipped(conn: &Tx<'_>, order_id: &str) -> Result<bool> {
    let live = live_packages(conn, order_id)?;
    if live.is_empty() {
        return Ok(false);
    }
    if live.iter().any(|p| p.whole) {
        return Ok(true);
    }
    Ok(items_left(conn, order_id)?.iter().all(|i| i.left() == 0))
}

/// When the order counts as shipped for the retention clock: the time its last package
/// shipped, once no item is left to ship; `None` while it is unshipped or partly shipped.
/// The one place that says so (a delivery-based anchor replaces this function).
pub fn shipment_time(conn: &Tx<'_>, order_id: &str) -> Result<Option<String>> {
    if !fully_shipped(conn, order_id)? {
        return Ok(None);
    }
    Ok(conn.query_row(
        "SELECT max(shipped_at) FROM shipments WHERE amazon_order_id = ?1 AND state <> 'cancelled'",
        [order_id],
        |r| r.get(0),
    )?)
}

/// What an order's packages say about it: the states of its live packages and whether they
/// ship every item (the facts [`Lifecycle::after_packages`] decides from).
pub fn package_facts(conn: &Tx<'_>, order_id: &str) -> Result<PackageFacts> {
    let live = live_packages(conn, order_id)?;
    let fully_shipped = !live.is_empty()
        && (live.iter().any(|p| p.whole)
            || items_left(conn, order_id)?.iter().all(|i| i.left() == 0));
    Ok(PackageFacts {
        live: live.into_iter().map(|p| p.state).collect(),
        fully_shipped,
    })
}

/// An order's stored lifecycle (an unknown spelling reads as `pending`, which nothing moves);
/// an order not in the vault is an error.
pub fn stored_lifecycle(conn: &Tx<'_>, order_id: &str) -> Result<Lifecycle> {
    let current: String = conn.query_row(
        "SELECT lifecycle FROM orders WHERE amazon_order_id = ?1",
        [order_id],
        |r| r.get(0),
    )?;
    Ok(Lifecycle::parse(&current).unwrap_or(Lifecycle::Pending))
}

/// What setting a lifecycle does to an order's retention clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetentionClock {
    /// Stopped (its packages were all cancelled): it starts again when it ships.
    Stop,
    /// Started at this time (as [`shipment_time`] gives it) unless it has started already;
    /// `None` leaves it as it is.
    Start(Option<String>),
}

/// Sets an order's lifecycle and its retention clock.
pub fn set_lifecycle(
    conn: &Tx<'_>,
    order_id: &str,
    next: Lifecycle,
    clock: &RetentionClock,
    now: DateTime<Utc>,
) -> Result<()> {
    let (stop, start) = match clock {
        RetentionClock::Stop => (true, None),
        RetentionClock::Start(t) => (false, t.as_deref()),
    };
    conn.execute(
        "UPDATE orders SET lifecycle = ?2, updated_at = ?3,
            retention_start = CASE WHEN ?5 THEN NULL ELSE COALESCE(retention_start, ?4) END
         WHERE amazon_order_id = ?1",
        params![order_id, next.as_str(), ts(now), start, stop],
    )?;
    Ok(())
}

/// The order items `args` name (by id or SKU, see [`crate::model::package::resolve`]), for
/// [`record_package`]. An order not in the vault, or whose items are not fetched yet, is
/// refused when items are named (exit 2); no items named is none resolved.
pub fn resolve_items(conn: &Tx<'_>, order_id: &str, args: &[ItemArg]) -> Result<Vec<ItemQty>> {
    if args.is_empty() {
        return Ok(Vec::new());
    }
    let fetched: Option<bool> = conn
        .query_row(
            "SELECT items_fetched FROM orders WHERE amazon_order_id = ?1",
            [order_id],
            |r| r.get(0),
        )
        .optional()?;
    match fetched {
        None => {
            return Err(Error::usage(format!(
                "order {order_id} is not in the vault; run `fulfill fetch` first"
            )));
        }
        Some(false) => {
            return Err(Error::usage(format!(
                "the items of order {order_id} are not fetched yet; run `fulfill fetch` first"
            )));
        }
        Some(true) => {}
    }
    let mut st = conn.prepare(
        "SELECT order_item_id, seller_sku FROM order_items WHERE amazon_order_id = ?1
         ORDER BY order_item_id",
    )?;
    let lines = st
        .query_map([order_id], |r| {
            Ok(Line {
                order_item_id: r.get(0)?,
                sku: r.get(1)?,
            })
        })?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    args.iter()
        .map(|a| resolve(order_id, &lines, a).map_err(Error::Usage))
        .collect()
}

/// One order's items with how many of each are ordered, shipped (by Amazon before us, and in
/// our packages) and left to ship (`fulfill orders ORDER`).
pub fn items_left_of(conn: &Tx<'_>, order_id: &str) -> Result<Vec<ItemLeftView>> {
    // A whole-order package recorded before packages held items ships everything.
    let whole = live_packages(conn, order_id)?.iter().any(|p| p.whole);
    Ok(items_left(conn, order_id)?
        .into_iter()
        .map(|i| ItemLeftView {
            left: if whole { 0 } else { i.left() },
            order_item_id: i.id,
            ordered: i.ordered,
            shipped: i.shipped,
        })
        .collect())
}

/// One item of an order and what is left of it to ship.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemLeftView {
    /// `OrderItemId`.
    pub order_item_id: String,
    /// Quantity ordered.
    pub ordered: u32,
    /// Shipped: by Amazon's count when fetched, plus what our packages (not cancelled) hold.
    pub shipped: u32,
    /// Still to ship.
    pub left: u32,
}

/// A package as written: new or corrected, its number, and the items it holds (empty: a whole
/// order whose items are not known).
pub type Written = (Recorded, u32, Vec<ItemQty>);

/// What deciding a package of an order needs (see [`crate::vault::progress::plan_package`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackingFacts {
    /// Its local lifecycle (an unknown spelling reads as `pending`).
    pub lifecycle: Lifecycle,
    /// Its PII was purged.
    pub purged: bool,
    /// Its items were fetched.
    pub items_fetched: bool,
    /// Its packages that were not cancelled.
    pub live: Vec<LivePackage>,
    /// Its items, with how many are ordered and shipped.
    pub items: Vec<ItemLeft>,
    /// The number a new package of it gets.
    pub next_package: u32,
}

/// The facts a package of `order_id` is decided from; `None` when the order is not in the
/// vault.
pub fn packing_facts(conn: &Tx<'_>, order_id: &str) -> Result<Option<PackingFacts>> {
    let order: Option<(String, bool, bool)> = conn
        .query_row(
            "SELECT lifecycle, purged_at IS NOT NULL, items_fetched FROM orders WHERE amazon_order_id = ?1",
            [order_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((lifecycle, purged, items_fetched)) = order else {
        return Ok(None);
    };
    let next_package: u32 = conn.query_row(
        "SELECT COALESCE(max(package_no), 0) + 1 FROM shipments WHERE amazon_order_id = ?1",
        [order_id],
        |r| r.get(0),
    )?;
    Ok(Some(PackingFacts {
        lifecycle: Lifecycle::parse(&lifecycle).unwrap_or(Lifecycle::Pending),
        purged,
        items_fetched,
        live: live_packages(conn, order_id)?,
        items: items_left(conn, order_id)?,
        next_package,
    }))
}

/// A checked package to write: new or corrected, the row it corrects, its number and what it
/// holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagePlan {
    /// New or corrected.
    pub recorded: Recorded,
    /// The row a correction rewrites.
    pub row: Option<i64>,
    /// Its number within the order.
    pub package: u32,
    /// The items a new package holds (a correction keeps its own).
    pub contents: Vec<ItemQty>,
}

/// Writes a package [`crate::vault::progress::plan_package`] checked: corrects its row, or
/// inserts it holding its contents and queues its confirmation (the order's lifecycle:
/// [`crate::vault::progress::record_package`]).
pub(in crate::vault) fn write_package(
    conn: &Tx<'_>,
    s: &NewShipment,
    plan: PackagePlan,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Written> {
    let PackagePlan {
        recorded,
        row,
        package,
        contents,
    } = plan;
    let id = &s.order_id;
    let (code, name) = carrier_fields(&s.carrier);
    let tracking = s.tracking.trim();
    let method = s.method.as_deref().map(str::trim);
    let contents = match row {
        Some(row) => {
            conn.execute(
                "UPDATE shipments SET carrier_code = ?2, carrier_name = ?3, tracking = ?4, method = ?5,
                    shipped_at = ?6, shipped_by = ?7, state = 'queued', batch_id = NULL, message_id = NULL,
                    result_code = NULL, result_message = NULL, updated_at = ?6
                 WHERE id = ?1",
                params![row, code, name, tracking, method, ts(now), by],
            )?;
            package_items(conn, row)?
        }
        None => {
            let row: i64 = conn.query_row(
                "INSERT INTO shipments (amazon_order_id, package_no, carrier_code, carrier_name, tracking,
                    method, shipped_at, shipped_by, state, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'queued', ?7) RETURNING id",
                params![id, package, code, name, tracking, method, ts(now), by],
                |r| r.get(0),
            )?;
            insert_items(conn, row, &contents)?;
            contents
        }
    };
    Ok((recorded, package, contents))
}

/// What is left to ship of each item of an order (items with nothing left omitted).
pub fn left_to_ship(conn: &Tx<'_>, order_id: &str) -> Result<Vec<ItemQty>> {
    Ok(items_left(conn, order_id)?
        .into_iter()
        .filter(|i| i.left() > 0)
        .map(|i| ItemQty {
            quantity: i.left(),
            order_item_id: i.id,
        })
        .collect())
}

fn insert_items(conn: &Tx<'_>, row: i64, items: &[ItemQty]) -> Result<()> {
    let mut st = conn.prepare(
        "INSERT INTO shipment_items (shipment_id, order_item_id, quantity) VALUES (?1, ?2, ?3)",
    )?;
    for it in items {
        st.execute(params![row, it.order_item_id, it.quantity])?;
    }
    Ok(())
}

/// The items of package row `row`, by item id.
fn package_items(conn: &Tx<'_>, row: i64) -> Result<Vec<ItemQty>> {
    let mut st = conn.prepare(
        "SELECT order_item_id, quantity FROM shipment_items WHERE shipment_id = ?1 ORDER BY order_item_id",
    )?;
    let rows = st
        .query_map([row], |r| {
            Ok(ItemQty {
                order_item_id: r.get(0)?,
                quantity: r.get(1)?,
            })
        })?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Writes the package of a label bought through Merchant Fulfillment: Amazon confirmed the
/// shipment when it sold the label, so its package (everything left to ship) is `confirmed` at
/// once and no feed carries it (the lifecycle: [`crate::vault::progress::record_bought`]).
pub(in crate::vault) fn put_bought(
    conn: &Tx<'_>,
    s: &NewShipment,
    shipment_id: &str,
    service_id: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let (code, name) = carrier_fields(&s.carrier);
    let contents = left_to_ship(conn, &s.order_id)?;
    let row: i64 = conn.query_row(
        "INSERT INTO shipments (amazon_order_id, package_no, carrier_code, carrier_name, tracking, method,
            shipped_at, shipped_by, state, amazon_shipment_id, updated_at, service_id)
         VALUES (?1, (SELECT COALESCE(max(package_no), 0) + 1 FROM shipments WHERE amazon_order_id = ?1),
            ?2, ?3, ?4, ?5, ?6, ?7, 'confirmed', ?8, ?6, ?9) RETURNING id",
        params![s.order_id, code, name, s.tracking, s.method, ts(now), by, shipment_id,
            Some(service_id).filter(|v| !v.is_empty())],
        |r| r.get(0),
    )?;
    insert_items(conn, row, &contents)?;
    Ok(())
}

/// A bought label was cancelled (refund asked): its package ships nothing and the order's
/// retention clock is stopped (the lifecycle: [`crate::vault::progress::record_cancelled`]).
pub(in crate::vault) fn put_cancelled(
    conn: &Tx<'_>,
    order_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "UPDATE shipments SET state = 'cancelled', updated_at = ?2
         WHERE amazon_order_id = ?1 AND amazon_shipment_id IS NOT NULL AND state = 'confirmed'",
        params![order_id, ts(now)],
    )?;
    conn.execute(
        "UPDATE orders SET retention_start = NULL WHERE amazon_order_id = ?1",
        [order_id],
    )?;
    Ok(())
}

/// How the label in force for an order was bought, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoughtService {
    /// The carrier (Amazon's code, or the name).
    pub carrier: Option<String>,
    /// The service's name.
    pub method: Option<String>,
    /// The service id (recorded since schema 11).
    pub service_id: Option<String>,
}

/// The service of the label bought from Amazon in force for `order_id`, if any.
pub fn bought_service(conn: &Tx<'_>, order_id: &str) -> Result<Option<BoughtService>> {
    Ok(conn
        .query_row(
            "SELECT COALESCE(carrier_code, carrier_name), method, service_id FROM shipments
             WHERE amazon_order_id = ?1 AND state = 'confirmed' AND amazon_shipment_id IS NOT NULL
             ORDER BY package_no DESC LIMIT 1",
            [order_id],
            |r| {
                Ok(BoughtService {
                    carrier: r.get(0)?,
                    method: r.get(1)?,
                    service_id: r.get(2)?,
                })
            },
        )
        .optional()?)
}

/// Amazon's shipment id of the label bought for an order (MWS or SP-API), if any.
pub fn amazon_shipment_id(conn: &Tx<'_>, order_id: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT amazon_shipment_id FROM shipments WHERE amazon_order_id = ?1 AND state = 'confirmed'
                AND amazon_shipment_id IS NOT NULL ORDER BY package_no DESC LIMIT 1",
            [order_id],
            |r| r.get::<_, Option<String>>(0),
        )
        .optional()?
        .flatten())
}

/// A package waiting to be sent to Amazon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// The package's row.
    pub shipment: i64,
    /// Its number in the batch that carries it (`MessageID` in a feed).
    pub message_id: u64,
    /// `AmazonOrderId`.
    pub order_id: String,
    /// The package's number within its order.
    pub package: u32,
    /// Amazon's carrier code, for a carrier Amazon knows.
    pub carrier_code: Option<String>,
    /// The carrier's name, for one it does not.
    pub carrier_name: Option<String>,
    /// Tracking number.
    pub tracking: String,
    /// Shipping method.
    pub method: Option<String>,
    /// When it shipped, as stored.
    pub shipped_at: String,
    /// Its items and quantities (empty: a whole order whose items are unknown).
    pub items: Vec<ItemQty>,
}

/// Queued packages, numbered 1..n by order id, then package number.
pub fn queued(conn: &Tx<'_>) -> Result<Vec<Queued>> {
    let mut st = conn.prepare(
        "SELECT id, amazon_order_id, carrier_code, carrier_name, tracking, method, shipped_at, package_no
         FROM shipments WHERE state = 'queued' ORDER BY amazon_order_id, package_no",
    )?;
    let rows = st.query_map([], |r| {
        Ok(Queued {
            shipment: r.get(0)?,
            message_id: 0,
            order_id: r.get(1)?,
            carrier_code: r.get(2)?,
            carrier_name: r.get(3)?,
            tracking: r.get(4)?,
            method: r.get(5)?,
            shipped_at: r.get(6)?,
            package: r.get(7)?,
            items: Vec::new(),
        })
    })?;
    let mut out = rows.collect::<crate::store::sql::Result<Vec<_>>>()?;
    for (i, q) in out.iter_mut().enumerate() {
        q.message_id = i as u64 + 1;
        q.items = package_items(conn, q.shipment)?;
    }
    Ok(out)
}

/// A confirmation feed as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Local id.
    pub id: i64,
    /// When it was written.
    pub created_at: String,
    /// The exact feed bytes.
    pub body: Vec<u8>,
    /// `FeedSubmissionId`, once Amazon accepted it.
    pub feed_id: Option<String>,
    /// How many messages (packages) it carries.
    pub messages: u64,
}

/// Writes a new batch for `queued` (already numbered), with the feed's `body` and its
/// `Content-MD5` as sent, and ties the packages to it.
pub fn create_batch(
    conn: &Tx<'_>,
    body: &[u8],
    content_md5: &str,
    queued: &[Queued],
    now: DateTime<Utc>,
) -> Result<i64> {
    let id: i64 = conn.query_row(
        "INSERT INTO feed_batches (created_at, body, content_md5, state) VALUES (?1, ?2, ?3, 'prepared')
         RETURNING id",
        params![ts(now), body, content_md5],
        |r| r.get(0),
    )?;
    let mut st = conn.prepare(
        "UPDATE shipments SET batch_id = ?1, message_id = ?2, updated_at = ?3
         WHERE id = ?4 AND state = 'queued'",
    )?;
    for q in queued {
        st.execute(params![id, q.message_id as i64, ts(now), q.shipment])?;
    }
    Ok(id)
}

fn batches(conn: &Tx<'_>, state: &str) -> Result<Vec<Batch>> {
    let mut st = conn.prepare(
        "SELECT b.id, b.created_at, b.body, b.feed_id,
            (SELECT count(*) FROM shipments s WHERE s.batch_id = b.id)
         FROM feed_batches b WHERE b.state = ?1 ORDER BY b.id",
    )?;
    let rows = st.query_map([state], |r| {
        Ok(Batch {
            id: r.get(0)?,
            created_at: r.get(1)?,
            body: r.get(2)?,
            feed_id: r.get(3)?,
            messages: r.get::<_, i64>(4)? as u64,
        })
    })?;
    Ok(rows.collect::<crate::store::sql::Result<Vec<_>>>()?)
}

/// Batches written but not known to have reached Amazon (a crash or an ambiguous failure).
pub fn prepared_batches(conn: &Tx<'_>) -> Result<Vec<Batch>> {
    batches(conn, "prepared")
}

/// Batches Amazon accepted whose report is not applied yet.
pub fn submitted_batches(conn: &Tx<'_>) -> Result<Vec<Batch>> {
    batches(conn, "submitted")
}

/// Whether a feed id is one of ours.
pub fn known_feed(conn: &Tx<'_>, feed_id: &str) -> Result<bool> {
    Ok(conn
        .prepare("SELECT 1 FROM feed_batches WHERE feed_id = ?1")?
        .exists([feed_id])?)
}

/// Amazon accepted batch `id` as `feed_id`: its shipments are `submitted`.
pub fn mark_submitted(
    conn: &Tx<'_>,
    id: i64,
    feed_id: &str,
    submitted_at: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "UPDATE feed_batches SET state = 'submitted', feed_id = ?2, submitted_at = ?3 WHERE id = ?1",
        params![id, feed_id, submitted_at],
    )?;
    conn.execute(
        "UPDATE shipments SET state = 'submitted', updated_at = ?2 WHERE batch_id = ?1",
        params![id, ts(now)],
    )?;
    Ok(())
}

/// Amazon cancelled the feed: its shipments go back to the queue.
pub fn mark_cancelled(conn: &Tx<'_>, id: i64, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "UPDATE feed_batches SET state = 'cancelled', done_at = ?2 WHERE id = ?1",
        params![id, ts(now)],
    )?;
    conn.execute(
        "UPDATE shipments SET state = 'queued', batch_id = NULL, message_id = NULL, updated_at = ?2
         WHERE batch_id = ?1",
        params![id, ts(now)],
    )?;
    Ok(())
}

/// The verdict for one package of a feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// `AmazonOrderId`.
    pub order_id: String,
    /// The package's number within its order.
    pub package: u32,
    /// Amazon accepted the message.
    pub confirmed: bool,
    /// `ResultMessageCode` of an error.
    pub code: Option<String>,
    /// `ResultDescription` of an error.
    pub message: Option<String>,
    /// The package's row.
    #[serde(skip)]
    pub shipment: i64,
}

/// The packages batch `id` carries: (row, order id, package number, message id), by message.
pub fn batch_packages(conn: &Tx<'_>, id: i64) -> Result<Vec<(i64, String, u32, u64)>> {
    let mut st = conn.prepare(
        "SELECT id, amazon_order_id, package_no, message_id FROM shipments WHERE batch_id = ?1
         ORDER BY message_id",
    )?;
    let rows = st
        .query_map([id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, i64>(3)? as u64,
            ))
        })?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Stores the verdicts of batch `id` on its packages; returns the orders they belong to (whose
/// lifecycles follow: [`crate::vault::progress::apply_verdicts`]).
pub(in crate::vault) fn put_verdicts<'v>(
    conn: &Tx<'_>,
    id: i64,
    verdicts: &'v [Verdict],
    now: DateTime<Utc>,
) -> Result<std::collections::BTreeSet<&'v str>> {
    let mut orders = std::collections::BTreeSet::new();
    for v in verdicts {
        conn.execute(
            "UPDATE shipments SET state = ?2, result_code = ?3, result_message = ?4, updated_at = ?5
             WHERE id = ?1 AND batch_id = ?6",
            params![
                v.shipment,
                if v.confirmed {
                    ShipmentState::Confirmed.as_str()
                } else {
                    ShipmentState::Failed.as_str()
                },
                v.code,
                v.message,
                ts(now),
                id
            ],
        )?;
        orders.insert(v.order_id.as_str());
    }
    Ok(orders)
}

/// Closes batch `id`: its report is applied.
pub(in crate::vault) fn close_batch(conn: &Tx<'_>, id: i64, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "UPDATE feed_batches SET state = 'done', done_at = ?2 WHERE id = ?1",
        params![id, ts(now)],
    )?;
    Ok(())
}

/// One package as shown by `ship` and `orders` (no PII).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageView {
    /// Its number within the order (1, 2, ...; SP-API's `packageReferenceId`).
    pub package: u32,
    /// The carrier as sent (code or name).
    pub carrier: String,
    /// Tracking number.
    pub tracking: String,
    /// Shipping method.
    pub method: Option<String>,
    /// queued, submitted, confirmed, failed or cancelled.
    pub state: String,
    /// `FeedSubmissionId` of the feed that carried it.
    pub feed_id: Option<String>,
    /// Amazon's error, when failed.
    pub error: Option<String>,
    /// When it shipped.
    pub shipped_at: String,
    /// Its items and quantities (empty: a whole order whose items were not known).
    pub items: Vec<ItemQty>,
}

impl PackageView {
    /// Its items as `(OrderItemId, quantity)` pairs, as SP-API's `packageDetail.orderItems`
    /// takes them ([`crate::spapi::model::ConfirmShipmentRequest::package`], with
    /// [`PackageView::package`] as the `packageReferenceId`).
    pub fn item_pairs(&self) -> Vec<(String, u32)> {
        self.items
            .iter()
            .map(|i| (i.order_item_id.clone(), i.quantity))
            .collect()
    }
}

/// An order's shipment as shown by `orders` (no PII): the latest package's carrier, tracking
/// and confirmation state, and every package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShipmentView {
    /// `AmazonOrderId`.
    pub order_id: String,
    /// The carrier of the latest package (code or name).
    pub carrier: String,
    /// Its tracking number.
    pub tracking: String,
    /// Its shipping method.
    pub method: Option<String>,
    /// Its state: queued, submitted, confirmed, failed or cancelled.
    pub state: String,
    /// `FeedSubmissionId` of the feed that carried it.
    pub feed_id: Option<String>,
    /// Amazon's error, when failed.
    pub error: Option<String>,
    /// Every package of the order, by number.
    pub packages: Vec<PackageView>,
}

/// An order's packages, by number (cancelled ones included, with their state).
pub fn packages(conn: &Tx<'_>, order_id: &str) -> Result<Vec<PackageView>> {
    // Cached: `orders` asks once per listed order.
    let mut st = conn.prepare(
        "SELECT s.id, s.package_no, COALESCE(s.carrier_code, s.carrier_name), s.tracking, s.method,
            s.state, b.feed_id, s.result_code || ': ' || s.result_message, s.shipped_at
         FROM shipments s LEFT JOIN feed_batches b ON b.id = s.batch_id
         WHERE s.amazon_order_id = ?1 ORDER BY s.package_no",
    )?;
    let rows = st
        .query_map([order_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                PackageView {
                    package: r.get(1)?,
                    carrier: r.get(2)?,
                    tracking: r.get(3)?,
                    method: r.get(4)?,
                    state: r.get(5)?,
                    feed_id: r.get(6)?,
                    error: r.get(7)?,
                    shipped_at: r.get(8)?,
                    items: Vec::new(),
                },
            ))
        })?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(row, mut p)| {
            p.items = package_items(conn, row)?;
            Ok(p)
        })
        .collect()
}

/// One order's shipment: its latest package and all of them (`None`: none recorded).
pub fn shipment(conn: &Tx<'_>, order_id: &str) -> Result<Option<ShipmentView>> {
    let packages = packages(conn, order_id)?;
    let Some(last) = packages.last().cloned() else {
        return Ok(None);
    };
    Ok(Some(ShipmentView {
        order_id: order_id.to_string(),
        carrier: last.carrier,
        tracking: last.tracking,
        method: last.method,
        state: last.state,
        feed_id: last.feed_id,
        error: last.error,
        packages,
    }))
}

/// One parcel on a pickup manifest (no PII: the order id, its package number and tracking).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestParcel {
    /// The carrier as recorded (Amazon's code, or an `Other` carrier's name).
    pub carrier: String,
    /// `AmazonOrderId`.
    pub order_id: String,
    /// The package's number within its order.
    pub package: u32,
    /// Its tracking number.
    pub tracking: String,
    /// When it shipped (as stored, RFC 3339 UTC).
    pub shipped_at: String,
}

/// Every parcel shipped in `[from, to)` and not cancelled (a cancelled bought label is not
/// handed to a driver), by carrier, time shipped, order and package.
pub fn shipped_between(
    conn: &Tx<'_>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<ManifestParcel>> {
    let mut st = conn.prepare(
        "SELECT COALESCE(carrier_code, carrier_name), amazon_order_id, package_no, tracking, shipped_at
         FROM shipments
         WHERE state <> 'cancelled' AND shipped_at >= ?1 AND shipped_at < ?2
         ORDER BY COALESCE(carrier_code, carrier_name), shipped_at, amazon_order_id, package_no",
    )?;
    let rows = st
        .query_map(params![ts(from), ts(to)], |r| {
            Ok(ManifestParcel {
                carrier: r.get(0)?,
                order_id: r.get(1)?,
                package: r.get(2)?,
                tracking: r.get(3)?,
                shipped_at: r.get(4)?,
            })
        })?
        .collect::<crate::store::sql::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Whether there is confirmation work: queued packages or feeds in flight.
pub fn pending_work(conn: &Tx<'_>) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM shipments WHERE state = 'queued')
             OR EXISTS (SELECT 1 FROM feed_batches WHERE state IN ('prepared', 'submitted'))",
        [],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
#[allow(clippy::disallowed_types)]
mod tests {
    use super::*;
    use crate::mws::model::ProcessingReport;
    use crate::vault::progress::{apply_verdicts, record_package, record_shipment};
    use rusqlite::Connection;

    fn judge(c: &Tx<'_>, batch: i64, report: &ProcessingReport) -> Result<Vec<Verdict>> {
        Ok(crate::flow::ship::judge(batch_packages(c, batch)?, report))
    }

    const ORDER: &str = "111-0000001-0000001";
    const A: &str = "10000000000001";
    const B: &str = "10000000000002";

    fn at(h: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-03-02T{h:02}:00:00Z"))
            .unwrap()
            .with_timezone(&Utc)
    }

    /// A vault schema with one unshipped order: item A x3, item B x1 (Amazon shipped none).
    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        c.pragma_update(None, "foreign_keys", "ON").unwrap();
        crate::store::sqlite::migrate(&mut c).unwrap();
        c.execute(
            "INSERT INTO orders (amazon_order_id, status, created_at, updated_at, lifecycle, items_fetched,
                latest_ship_date) VALUES (?1, 'Unshipped', 't', 't', 'unshipped', 1, '2026-03-05T00:00:00Z')",
            [ORDER],
        )
        .unwrap();
        for (id, q) in [(A, 3), (B, 1)] {
            c.execute(
                "INSERT INTO order_items (amazon_order_id, order_item_id, asin, quantity_ordered)
                 VALUES (?1, ?2, 'B000000000', ?3)",
                rusqlite::params![ORDER, id, q],
            )
            .unwrap();
        }
        c
    }

    fn parcel(tracking: &str) -> NewShipment {
        NewShipment {
            order_id: ORDER.into(),
            carrier: "UPS".into(),
            tracking: tracking.into(),
            method: None,
        }
    }

    fn qty(id: &str, quantity: u32) -> ItemQty {
        ItemQty {
            order_item_id: id.into(),
            quantity,
        }
    }

    fn order(c: &Tx<'_>) -> (String, Option<String>) {
        c.query_row(
            "SELECT lifecycle, retention_start FROM orders WHERE amazon_order_id = ?1",
            [ORDER],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    }

    fn rows(c: &Tx<'_>) -> (i64, i64) {
        c.query_row(
            "SELECT (SELECT count(*) FROM shipments), (SELECT count(*) FROM shipment_items)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    }

    #[test]
    fn packages_ship_an_order_in_parts_and_the_clock_starts_at_the_last() {
        let db = db();
        let c = Tx::over(&db);
        let p = record_package(
            &c,
            &parcel("T1"),
            &[qty(A, 1), qty(A, 1)],
            None,
            "pat",
            at(9),
        )
        .unwrap();
        assert_eq!((p.recorded, p.package), (Recorded::New, 1));
        assert_eq!(p.items, [qty(A, 2)], "the same item twice is summed");
        assert_eq!(p.lifecycle, Lifecycle::PartiallyShipped);
        assert_eq!(p.left, [qty(A, 1), qty(B, 1)]);
        assert_eq!(order(&c), ("partially_shipped".into(), None));
        assert_eq!(shipment_time(&c, ORDER).unwrap(), None);

        // Refused whole, nothing written: too many, an item not in the order.
        let before = rows(&c);
        for bad in [
            vec![qty(B, 1), qty(A, 2)],
            vec![qty("10000000000009", 1)],
            vec![qty(B, 0)],
        ] {
            let e = record_package(&c, &parcel("T2"), &bad, None, "pat", at(10)).unwrap_err();
            assert!(matches!(e, Error::Usage(_)), "{e}");
        }
        let e = record_package(&c, &parcel("T2"), &[qty(A, 2)], None, "pat", at(10)).unwrap_err();
        assert!(e.to_string().contains("2 asked but 1 left"), "{e}");
        assert_eq!(rows(&c), before);

        // The rest (whole-order form): package 2; the clock starts at its time.
        let p = record_package(&c, &parcel("T2"), &[], None, "pat", at(11)).unwrap();
        assert_eq!(p.package, 2);
        assert_eq!(p.items, [qty(A, 1), qty(B, 1)]);
        assert_eq!(p.lifecycle, Lifecycle::Shipped);
        assert!(p.left.is_empty());
        assert_eq!(
            order(&c),
            ("shipped".into(), Some(crate::audit::format_ts(at(11))))
        );
        let e = record_package(&c, &parcel("T3"), &[qty(B, 1)], None, "pat", at(12)).unwrap_err();
        assert!(e.to_string().contains("0 left"), "{e}");

        // Two packages queued, nothing left: a correction by order is ambiguous.
        let e = record_package(&c, &parcel("T3"), &[], None, "pat", at(12)).unwrap_err();
        assert!(e.to_string().contains("2 packages"), "{e}");
        // ... so it names the package.
        let p = record_package(&c, &parcel("T1b"), &[], Some(1), "pat", at(12)).unwrap();
        assert_eq!(
            (p.recorded, p.package, p.items),
            (Recorded::Corrected, 1, vec![qty(A, 2)])
        );
        let e = record_package(&c, &parcel("T1c"), &[], Some(3), "pat", at(12)).unwrap_err();
        assert!(e.to_string().contains("no package 3"), "{e}");
        let e = record_package(&c, &parcel("T1c"), &[qty(A, 1)], Some(1), "pat", at(12));
        assert!(matches!(e, Err(Error::Usage(_))));

        // One per message, items as Item elements.
        let q = queued(&c).unwrap();
        assert_eq!(q.len(), 2);
        assert_eq!(q[1].message_id, 2);
        assert_eq!(q[1].items, [qty(A, 1), qty(B, 1)]);

        // Amazon takes package 1 and refuses package 2; fixing 2 is a correction; then both
        // confirmed make the order confirmed, and the clock never moved.
        let batch = create_batch(&c, b"feed", "md5", &q, at(12)).unwrap();
        let mut v = judge(&c, batch, &ProcessingReport::default()).unwrap();
        v[1].confirmed = false;
        apply_verdicts(&c, batch, &v, at(13)).unwrap();
        assert_eq!(order(&c).0, "confirm_failed");
        let e = record_package(&c, &parcel("T1d"), &[], Some(1), "pat", at(14)).unwrap_err();
        assert!(e.to_string().contains("cannot be corrected"), "{e}");
        let p = record_package(&c, &parcel("T2b"), &[], None, "pat", at(14)).unwrap();
        assert_eq!((p.recorded, p.package), (Recorded::Corrected, 2));
        let q = queued(&c).unwrap();
        assert_eq!(q.len(), 1);
        let batch = create_batch(&c, b"feed2", "md5", &q, at(14)).unwrap();
        let v = judge(&c, batch, &ProcessingReport::default()).unwrap();
        apply_verdicts(&c, batch, &v, at(15)).unwrap();
        assert_eq!(
            order(&c),
            ("confirmed".into(), Some(crate::audit::format_ts(at(11))))
        );
        let e = record_package(&c, &parcel("T9"), &[], None, "pat", at(16)).unwrap_err();
        assert!(e.to_string().contains("already shipped"), "{e}");
    }

    #[test]
    fn canceled_and_unknown_orders_are_refused() {
        let db = db();
        let c = Tx::over(&db);
        c.execute("UPDATE orders SET lifecycle = 'canceled'", [])
            .unwrap();
        let e = record_package(&c, &parcel("T1"), &[qty(A, 1)], None, "pat", at(9)).unwrap_err();
        assert!(e.to_string().contains("canceled"), "{e}");
        let e = record_shipment(&c, &parcel("T1"), "pat", at(9)).unwrap_err();
        assert!(e.to_string().contains("canceled"), "{e}");
        let mut other = parcel("T1");
        other.order_id = "111-0000009-0000009".into();
        let e = record_shipment(&c, &other, "pat", at(9)).unwrap_err();
        assert!(e.to_string().contains("not in the vault"), "{e}");
        assert_eq!(rows(&c), (0, 0));
    }

    #[test]
    fn known_carriers_become_codes_others_names() {
        assert_eq!(carrier_fields("ups"), (Some("UPS".into()), None));
        assert_eq!(
            carrier_fields("Royal Mail"),
            (Some("Royal Mail".into()), None)
        );
        assert_eq!(
            carrier_fields("Bob's Vans"),
            (None, Some("Bob's Vans".into()))
        );
    }
}
