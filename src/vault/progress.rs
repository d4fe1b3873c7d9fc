//! An order's progress as its packages change: the lifecycle they imply
//! ([`Lifecycle::after_packages`]) and when its retention clock starts (when its last package
//! ships: [`shipments::shipment_time`]) or stops (every package cancelled).
//!
//! These are the decisions; the rows go through the store functions of [`shipments`], which
//! decide nothing. Each function here writes a change and moves the order on in the same
//! transaction, so no package is ever written without its order following.

use chrono::{DateTime, Utc};

use super::shipments::{self, NewShipment, Packed, RetentionClock, Verdict};
use super::store::Tx;
use crate::error::Result;
use crate::model::lifecycle::Lifecycle;
use crate::model::package::ItemQty;

/// Sets an order's lifecycle from its packages and starts its retention clock once its last
/// package has shipped. Orders Amazon canceled, and pending ones, are left as they are; an
/// order whose every package was cancelled is `unshipped` again and its clock stopped.
pub fn refresh(tx: &Tx<'_>, order_id: &str, now: DateTime<Utc>) -> Result<Lifecycle> {
    let current = shipments::stored_lifecycle(tx, order_id)?;
    if matches!(current, Lifecycle::Canceled | Lifecycle::Pending) {
        return Ok(current);
    }
    let facts = shipments::package_facts(tx, order_id)?;
    let next = Lifecycle::after_packages(current, &facts);
    let clock = if facts.live.is_empty() && current.has_shipped() {
        RetentionClock::Stop
    } else {
        RetentionClock::Start(shipments::shipment_time(tx, order_id)?)
    };
    shipments::set_lifecycle(tx, order_id, next, &clock, now)?;
    Ok(next)
}

/// Records a package of `items` (empty: everything left to ship) and queues its confirmation,
/// or, with `correct`, corrects that package (see [`shipments::put_package`] for what is
/// refused); the order's lifecycle follows.
pub fn record_package(
    tx: &Tx<'_>,
    s: &NewShipment,
    items: &[ItemQty],
    correct: Option<u32>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Packed> {
    let (recorded, package, contents) = shipments::put_package(tx, s, items, correct, by, now)?;
    let lifecycle = refresh(tx, &s.order_id, now)?;
    let left = if matches!(lifecycle, Lifecycle::Shipped | Lifecycle::Confirmed) {
        Vec::new()
    } else {
        shipments::left_to_ship(tx, &s.order_id)?
    };
    Ok(Packed {
        recorded,
        package,
        items: contents,
        lifecycle,
        left,
    })
}

/// Records a whole-order shipment: everything left to ship, in one package (or corrects the
/// order's one package Amazon has not taken yet, when nothing is left). See [`record_package`].
pub fn record_shipment(
    tx: &Tx<'_>,
    s: &NewShipment,
    by: &str,
    now: DateTime<Utc>,
) -> Result<shipments::Recorded> {
    Ok(record_package(tx, s, &[], None, by, now)?.recorded)
}

/// Records a label bought through Merchant Fulfillment (its package `confirmed` at once);
/// the order's lifecycle follows.
pub fn record_bought(
    tx: &Tx<'_>,
    s: &NewShipment,
    shipment_id: &str,
    service_id: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    shipments::put_bought(tx, s, shipment_id, service_id, by, now)?;
    refresh(tx, &s.order_id, now)?;
    Ok(())
}

/// A bought label was cancelled (refund asked): its package ships nothing, the order waits
/// for a new shipment, and its retention clock starts again when it ships.
pub fn record_cancelled(tx: &Tx<'_>, order_id: &str, now: DateTime<Utc>) -> Result<()> {
    shipments::put_cancelled(tx, order_id, now)?;
    refresh(tx, order_id, now)?;
    Ok(())
}

/// Stores the verdicts of batch `id`, moves each order on (`confirmed` once Amazon accepted
/// every package and no item is left to ship), and closes the batch.
pub fn apply_verdicts(
    tx: &Tx<'_>,
    id: i64,
    verdicts: &[Verdict],
    now: DateTime<Utc>,
) -> Result<()> {
    for order in shipments::put_verdicts(tx, id, verdicts, now)? {
        refresh(tx, order, now)?;
    }
    shipments::close_batch(tx, id, now)
}
