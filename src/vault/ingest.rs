//! What a fetch decides before it stores an order: the order's local lifecycle after Amazon's
//! view of it, when its retention clock starts, and its PII and gift messages sealed into the
//! epoch of its retention deadline. The rows go through the store functions of
//! [`super::orders`], which decide nothing.

use chrono::{DateTime, Utc};

use super::datakeys::{Sealed, Sealer};
use super::orders::{self, OrderState};
use super::retention::RetentionFacts;
use super::store::{Tx, ts};
use crate::error::Result;
use crate::model::lifecycle::{Lifecycle, PiiState};
use crate::model::order::{Order, OrderItem};
use crate::pii::{BuyerPii, Pii};

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    /// A new order.
    New,
    /// An existing order changed.
    Updated,
}

/// The deadline an order's PII is sealed for (its epoch), from its retention facts.
fn seal_deadline(sealer: &Sealer, f: &RetentionFacts) -> DateTime<Utc> {
    crate::model::retention::deadline(
        f.retention_start.as_deref(),
        f.latest_ship_date.as_deref(),
        f.purchase_date.as_deref(),
        &f.created_at,
        sealer.pii_days(),
    )
    .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Inserts or updates an order: plain columns as sent, the lifecycle after Amazon's status
/// (local progress never rolled back), the retention clock started when Amazon says it shipped
/// or was canceled, and PII sealed by `sealer` into the epoch of the order's retention deadline
/// (never again once purged).
pub fn upsert_order(
    tx: &Tx<'_>,
    sealer: &mut Sealer,
    order: &Order,
    now: DateTime<Utc>,
) -> Result<Upsert> {
    let i = &order.info;
    let prior = orders::prior_order(tx, &i.amazon_order_id)?;
    let lifecycle =
        Lifecycle::after_amazon(prior.as_ref().and_then(|p| p.lifecycle), &i.order_status);
    let start_retention = matches!(lifecycle, Lifecycle::Canceled | Lifecycle::Shipped)
        .then_some(now)
        .filter(|_| prior.as_ref().is_none_or(|p| p.retention_start.is_none()));
    let retention_start = prior
        .as_ref()
        .and_then(|p| p.retention_start.clone())
        .or(start_retention.map(ts));
    let (mut state, mut version) = prior.as_ref().map_or((PiiState::None, 0), |p| {
        (p.pii_state.unwrap_or(PiiState::None), p.pii_version)
    });
    let pending = i.order_status == "Pending" || i.order_status == "PendingAvailability";
    let mut sealed: Option<Sealed> = None;
    if state != PiiState::Purged {
        if !order.pii.is_empty() {
            version += 1;
            let deadline = seal_deadline(
                sealer,
                &RetentionFacts {
                    order_id: i.amazon_order_id.clone(),
                    retention_start,
                    latest_ship_date: i.latest_ship_date.clone(),
                    purchase_date: Some(i.purchase_date.clone()),
                    created_at: ts(now),
                    holds_pii: true,
                },
            );
            sealed = Some(sealer.seal(&i.amazon_order_id, version, deadline, &order.pii)?);
            state = PiiState::Sealed;
        } else if !pending && state == PiiState::None {
            state = PiiState::Empty;
        }
    }
    let needs_address = matches!(
        lifecycle,
        Lifecycle::Unshipped | Lifecycle::Labelled | Lifecycle::PartiallyShipped
    );
    let pii_missing = needs_address
        && (state == PiiState::Empty || (sealed.is_some() && order.pii.is_unaddressable()));
    let row = OrderState {
        lifecycle,
        sealed,
        pii_version: version,
        pii_state: state,
        pii_missing,
        start_retention,
    };
    orders::put_order(tx, i, &row, now)?;
    Ok(if prior.is_some() {
        Upsert::Updated
    } else {
        Upsert::New
    })
}

/// Stores an order's items (replacing any earlier copy) and marks its items fetched. Gift
/// messages are sealed by `sealer` into the epoch of the order's deadline; a purged order's
/// items carry none (its PII is gone for good).
pub fn store_items(
    tx: &Tx<'_>,
    sealer: &mut Sealer,
    order_id: &str,
    items: &[OrderItem],
) -> Result<()> {
    let facts = orders::item_facts(tx, order_id)?;
    let purged = facts.as_ref().is_some_and(|f| f.0);
    let deadline = facts
        .as_ref()
        .map_or(DateTime::<Utc>::MAX_UTC, |(_, f)| seal_deadline(sealer, f));
    let mut rows = Vec::with_capacity(items.len());
    for it in items {
        let gift = match it
            .gift_message_text
            .as_ref()
            .filter(|g| !purged && !g.is_empty())
        {
            Some(g) => {
                let p = BuyerPii {
                    gift_message: Some(Pii::new(g.expose_pii())),
                    ..Default::default()
                };
                let id = orders::item_seal_id(order_id, &it.info.order_item_id);
                Some(sealer.seal(&id, 1, deadline, &p)?)
            }
            None => None,
        };
        rows.push((&it.info, gift));
    }
    orders::put_items(tx, order_id, &rows)
}

/// Anchors an order's retention clock (after [`upsert_order`]).
///
/// With `by_delivery` (the `dpp-2025` profile, for a protocol that reports package statuses):
/// the first time a `DELIVERED` package is seen (`delivered`), the clock restarts at `now`
/// (`delivered`); a shipped order without one counts from the latest delivery date Amazon gave
/// (`latest_delivery`), else from shipment. Otherwise it stays at shipment (or cancellation).
/// Which anchor was used is kept in `retention_anchor`. A purged order's clock is not moved.
pub fn anchor_retention(
    tx: &Tx<'_>,
    order_id: &str,
    by_delivery: bool,
    delivered: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    const DELIVERED: &str = "delivered";
    const LATEST_DELIVERY: &str = "latest_delivery";
    const SHIPMENT: &str = "shipment";
    let Some(f) = orders::anchor_facts(tx, order_id)? else {
        return Ok(());
    };
    let shipped = matches!(
        f.lifecycle,
        Some(Lifecycle::Shipped | Lifecycle::Confirmed | Lifecycle::ConfirmFailed)
    );
    let mut start = f.retention_start.clone();
    let mut anchor = f.anchor.clone();
    if by_delivery && shipped && !f.purged {
        if delivered && anchor.as_deref() != Some(DELIVERED) {
            start = Some(ts(now));
            anchor = Some(DELIVERED.into());
        }
        if f.latest_delivery_date.is_some() && anchor.as_deref().is_none_or(|a| a == SHIPMENT) {
            start = f.latest_delivery_date.clone();
            anchor = Some(LATEST_DELIVERY.into());
        }
    }
    if start.is_some() && anchor.is_none() {
        anchor = Some(if f.lifecycle == Some(Lifecycle::Canceled) {
            "cancellation".into()
        } else {
            SHIPMENT.into()
        });
    }
    if (&start, &anchor) != (&f.retention_start, &f.anchor) {
        orders::set_retention_anchor(tx, order_id, start.as_deref(), anchor.as_deref())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(local: Option<&str>, status: &str) -> &'static str {
        Lifecycle::after_amazon(local.and_then(Lifecycle::parse), status).as_str()
    }

    #[test]
    fn lifecycle_never_rolls_back_local_progress() {
        assert_eq!(after(None, "Pending"), "pending");
        assert_eq!(after(Some("pending"), "Unshipped"), "unshipped");
        assert_eq!(after(Some("labelled"), "Unshipped"), "labelled");
        assert_eq!(after(Some("unshipped"), "Shipped"), "shipped");
        assert_eq!(after(Some("confirmed"), "Shipped"), "confirmed");
        assert_eq!(after(Some("labelled"), "Canceled"), "canceled");
        assert_eq!(after(Some("canceled"), "Pending"), "canceled");
        assert_eq!(
            after(Some("partially_shipped"), "PartiallyShipped"),
            "partially_shipped"
        );
        assert_eq!(
            after(Some("partially_shipped"), "Unshipped"),
            "partially_shipped"
        );
        assert_eq!(after(Some("partially_shipped"), "Shipped"), "shipped");
        assert_eq!(after(Some("bogus"), "Unshipped"), "unshipped");
    }
}
