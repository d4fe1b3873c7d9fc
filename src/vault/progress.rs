//! An order's progress as its packages change: the lifecycle they imply
//! ([`Lifecycle::after_packages`]) and when its retention clock starts (when its last package
//! ships: [`shipments::shipment_time`]) or stops (every package cancelled).
//!
//! These are the decisions; the rows go through the store functions of [`shipments`], which
//! decide nothing. Each function here writes a change and moves the order on in the same
//! transaction, so no package is ever written without its order following.

use chrono::{DateTime, Utc};

use std::collections::BTreeMap;

use super::shipments::{
    self, NewShipment, PackagePlan, Packed, PackingFacts, Recorded, RetentionClock, Verdict,
};
use super::store::Tx;
use crate::error::{Error, Result};
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
/// or, with `correct`, corrects the carrier and tracking of that package (queued or refused by
/// Amazon) and queues it again; the order's lifecycle follows. Everything is checked before
/// anything is written: a tracking number or carrier that is not printable, an order not in
/// the vault, canceled, pending or purged, an item not in the order, or more of an item than
/// is left to ship is refused (exit 2) and nothing is recorded ([`plan_package`]).
pub fn record_package(
    tx: &Tx<'_>,
    s: &NewShipment,
    items: &[ItemQty],
    correct: Option<u32>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Packed> {
    check_shipment(s)?;
    let Some(facts) = shipments::packing_facts(tx, &s.order_id)? else {
        return Err(Error::usage(format!(
            "order {} is not in the vault; run `fulfill fetch` first",
            s.order_id
        )));
    };
    let plan = plan_package(&s.order_id, &facts, items, correct)?;
    let (recorded, package, contents) = shipments::write_package(tx, s, plan, by, now)?;
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
) -> Result<Recorded> {
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

fn check_shipment(s: &NewShipment) -> Result<()> {
    let tracking = s.tracking.trim();
    if tracking.is_empty() || tracking.len() > 64 || tracking.chars().any(char::is_control) {
        return Err(Error::usage(
            "the tracking number must be 1 to 64 printable characters",
        ));
    }
    if s.carrier.trim().is_empty() || s.carrier.chars().any(char::is_control) {
        return Err(Error::usage("the carrier must be a printable name"));
    }
    Ok(())
}

/// Decides a package of order `id` from its `facts`: a new package of `items` (empty:
/// everything left to ship), or with `correct`, a correction of that package (queued or
/// refused by Amazon); with no items and nothing left, the one package Amazon has not taken
/// yet is corrected. Refusals are usage errors (exit 2) that say what to do.
pub fn plan_package(
    id: &str,
    facts: &PackingFacts,
    items: &[ItemQty],
    correct: Option<u32>,
) -> Result<PackagePlan> {
    let lifecycle = facts.lifecycle;
    if lifecycle == Lifecycle::Canceled {
        return Err(Error::usage(format!(
            "order {id} was canceled and cannot be shipped"
        )));
    }
    let live = &facts.live;
    let known = &facts.items;
    let can_add = !facts.purged
        && (matches!(
            lifecycle,
            Lifecycle::Unshipped | Lifecycle::Labelled | Lifecycle::PartiallyShipped
        ) || (!live.is_empty() && lifecycle.has_shipped()));
    let whole_shipped = live.iter().any(|p| p.whole);

    // What this package holds.
    let contents: Vec<ItemQty> = if items.is_empty() {
        known
            .iter()
            .filter(|i| i.left() > 0)
            .map(|i| ItemQty {
                order_item_id: i.id.clone(),
                quantity: i.left(),
            })
            .collect()
    } else {
        if !facts.items_fetched {
            return Err(Error::usage(format!(
                "the items of order {id} are not fetched yet; run `fulfill fetch` first"
            )));
        }
        let mut asked: BTreeMap<&str, u32> = BTreeMap::new();
        for it in items {
            let q = asked.entry(it.order_item_id.as_str()).or_insert(0);
            *q = q.saturating_add(it.quantity);
        }
        let mut out = Vec::new();
        for (item, q) in asked {
            let Some(k) = known.iter().find(|k| k.id == item) else {
                return Err(Error::usage(format!(
                    "item {item} is not in order {id}; `fulfill orders` lists its items"
                )));
            };
            if q == 0 {
                return Err(Error::usage(format!(
                    "the quantity of item {item} must be at least 1"
                )));
            }
            let left = if whole_shipped { 0 } else { k.left() };
            if q > left {
                return Err(Error::usage(format!(
                    "order {id} item {item}: {q} asked but {left} left to ship ({} ordered, {} already shipped)",
                    k.ordered,
                    k.ordered - left
                )));
            }
            out.push(ItemQty {
                order_item_id: item.to_string(),
                quantity: q,
            });
        }
        out
    };

    if let Some(n) = correct {
        if !items.is_empty() {
            return Err(Error::usage(
                "a package is corrected by its number alone: give --package or --item, not both",
            ));
        }
        let Some(p) = live.iter().find(|p| p.number == n) else {
            return Err(Error::usage(format!(
                "order {id} has no package {n}; `fulfill orders` lists its packages"
            )));
        };
        if !p.state.correctable() {
            return Err(Error::usage(format!(
                "package {n} of order {id} is {} at Amazon and cannot be corrected",
                p.state
            )));
        }
        return Ok(PackagePlan {
            recorded: Recorded::Corrected,
            row: Some(p.row),
            package: n,
            contents: Vec::new(),
        });
    }
    let something_left = if facts.items_fetched {
        !contents.is_empty() && !whole_shipped
    } else {
        live.is_empty()
    };
    let (recorded, row, package) = if something_left {
        if !can_add {
            return Err(Error::usage(if facts.purged {
                format!("order {id} is purged and cannot be shipped")
            } else {
                format!("order {id} is {lifecycle} and cannot be shipped")
            }));
        }
        (Recorded::New, None, facts.next_package)
    } else if !items.is_empty() {
        return Err(Error::usage(format!("order {id} has nothing left to ship")));
    } else {
        let open: Vec<_> = live.iter().filter(|p| p.state.correctable()).collect();
        match (open.as_slice(), live.is_empty()) {
            ([one], _) => (Recorded::Corrected, Some(one.row), one.number),
            ([], false) => {
                return Err(Error::usage(format!(
                    "order {id} is already shipped and its confirmation was sent to Amazon"
                )));
            }
            ([], true) => {
                return Err(Error::usage(format!(
                    "order {id} is {lifecycle} and cannot be shipped"
                )));
            }
            (many, _) => {
                return Err(Error::usage(format!(
                    "order {id} has nothing left to ship and {} packages waiting for confirmation; \
                     name the one to correct with --package N",
                    many.len()
                )));
            }
        }
    };
    Ok(PackagePlan {
        recorded,
        row,
        package,
        contents,
    })
}
