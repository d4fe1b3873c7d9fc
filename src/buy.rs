//! Buying a label from Amazon (Merchant Fulfillment, "Buy Shipping"): quote, purchase, print.
//!
//! - **Quote** ([`quote`]): `GetEligibleShippingServices` for the order's unshipped items in
//!   the given package, from the seller's `[ship_from]` address. No PII is sent: Amazon holds
//!   the buyer's address.
//! - **Purchase** ([`buy`]): a fresh quote pins the offer (`ShippingServiceOfferId`, so the
//!   price shown is the price paid), then `CreateShipment`, which charges the seller and
//!   confirms the shipment at Amazon: the order becomes `confirmed` at once and no feed carries
//!   it. The purchase is recorded (`label.bought`) before the label is printed.
//! - **Never bought twice.** Before `CreateShipment` the vault notes the attempt (order and
//!   service); `CreateShipment` is sent once, never retried after a failure that may have
//!   reached Amazon. Running the same command again finds the note and sends `CreateShipment`
//!   first: Amazon answers `ShipmentAlreadyExists` with the `ShipmentId` if the first attempt
//!   went through (the shipment is fetched with `GetShipment`, recorded and printed, not
//!   bought again), or sells the label now if it did not. The note goes with the record.
//! - The label (base64 of gzip, checked against its MD5) goes where `label` sends labels,
//!   tracked for `purge`.

use rusqlite::OptionalExtension;
use serde::Serialize;

use crate::audit::Event;
use crate::calls::AuditedCalls;
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::label::sink::{Job, Kind};
use crate::label::{Destination, Printed, Rendering, deliver, prepare};
use crate::mws::client::{Api, CallError, Client, Request};
use crate::mws::merchant::{
    Eligible, Package, ShipFrom, Shipment, ShipmentRequest, Weight, parse_eligible, parse_shipment,
};
use crate::role::Capability;
use crate::safety::Environment;
use crate::vault::Session;
use crate::vault::shipments::{self, NewShipment};

/// What to quote or buy.
#[derive(Debug, Clone)]
pub struct BuyRequest {
    /// `AmazonOrderId`.
    pub order_id: String,
    /// The package.
    pub package: Package,
    /// Its weight.
    pub weight: Weight,
    /// `DeliveryExperience`.
    pub experience: &'static str,
}

/// A purchase (`buy --json`).
#[derive(Debug, Clone, Serialize)]
pub struct Bought {
    /// `AmazonOrderId`.
    pub order_id: String,
    /// Amazon's `ShipmentId` (needed to reprint or cancel).
    pub shipment_id: String,
    /// `CarrierName`.
    pub carrier: String,
    /// `ShippingServiceId`.
    pub service_id: String,
    /// `TrackingId`.
    pub tracking: String,
    /// `Rate` as (currency, amount).
    pub rate: Option<(String, String)>,
    /// The purchase was found at Amazon after an interrupted run, not made again.
    pub recovered: bool,
    /// The label had been bought before: fetched again and printed (nothing bought).
    pub reprint: bool,
    /// Where the label went.
    pub printed: Vec<Printed>,
}

/// Refuses an order whose PII was purged: Amazon's label carries the address, so neither a
/// new label nor a reprint may bring it back.
fn refuse_purged(s: &Session<'_>, order_id: &str) -> Result<()> {
    let purged: Option<Option<String>> = s
        .vault()
        .conn()
        .query_row(
            "SELECT purged_at FROM orders WHERE amazon_order_id = ?1",
            [order_id],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(Some(_)) = purged {
        return Err(Error::usage(format!(
            "order {order_id} was purged: its address is gone, and no label (which carries it) \
             is fetched again"
        )));
    }
    Ok(())
}

/// The order's items still to ship, as `(OrderItemId, quantity)`.
fn items(s: &Session<'_>, order_id: &str) -> Result<Vec<(String, u32)>> {
    refuse_purged(s, order_id)?;
    let conn = s.vault().conn();
    // Amazon holds the address, so an order whose address was withheld from us can be bought
    // for (the label Amazon makes is the only copy we get).
    let lifecycle: Option<String> = conn
        .query_row(
            "SELECT lifecycle FROM orders WHERE amazon_order_id = ?1",
            [order_id],
            |r| r.get(0),
        )
        .optional()?;
    match lifecycle.as_deref() {
        None => {
            return Err(Error::usage(format!(
                "order {order_id} is not in the vault; run `fulfill fetch` first"
            )));
        }
        Some("unshipped" | "labelled") => {}
        Some(other) => {
            return Err(Error::usage(format!(
                "order {order_id} is {other}; a label can be bought only for an unshipped order"
            )));
        }
    }
    let mut st = conn.prepare(
        "SELECT order_item_id, quantity_ordered - COALESCE(quantity_shipped, 0) FROM order_items
         WHERE amazon_order_id = ?1 ORDER BY order_item_id",
    )?;
    let items: Vec<(String, u32)> = st
        .query_map([order_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .filter(|(_, q)| *q > 0)
        .collect();
    if items.is_empty() {
        return Err(Error::usage(format!(
            "order {order_id} has no items left to ship (or they were not fetched yet)"
        )));
    }
    Ok(items)
}

fn details(s: &Session<'_>, req: &BuyRequest, from: &ShipFrom) -> Result<Vec<(String, String)>> {
    Ok(ShipmentRequest {
        order_id: req.order_id.clone(),
        items: items(s, &req.order_id)?,
        ship_from: from.clone(),
        package: req.package.clone(),
        weight: req.weight.clone(),
        experience: req.experience,
    }
    .params())
}

fn eligible(
    client: &mut Client,
    obs: &mut AuditedCalls<'_>,
    params: &[(String, String)],
) -> Result<Eligible> {
    let p = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    client
        .call(
            &Request::new(Api::MerchantFulfillment, "GetEligibleShippingServices", p),
            obs,
            |r| parse_eligible(r),
        )
        .map_err(Error::from)
}

/// Quotes the order's label (packer or owner).
pub fn quote(
    s: &Session<'_>,
    client: &mut Client,
    clock: &dyn Clock,
    req: &BuyRequest,
    from: &ShipFrom,
) -> Result<Eligible> {
    s.require(Capability::Ship, "buy", clock.now())?;
    let params = details(s, req, from)?;
    crate::calls::restore_quota(s.vault(), client);
    let mut obs = AuditedCalls::new(s.vault(), clock, s.name());
    let out = eligible(client, &mut obs, &params);
    crate::calls::save_quota(s.vault(), client)?;
    out
}

/// Buys the label of `service` and sends it to `dest` (packer or owner).
#[allow(clippy::too_many_arguments)] // each is a separate concern the command resolves
pub fn buy(
    s: &Session<'_>,
    env: &Environment,
    client: &mut Client,
    clock: &dyn Clock,
    req: &BuyRequest,
    from: &ShipFrom,
    service: &str,
    dest: &Destination,
) -> Result<Bought> {
    let now = clock.now();
    s.require(Capability::Ship, "buy", now)?;
    refuse_purged(s, &req.order_id)?;
    // A label already bought for this order is fetched again (a reprint), never rebought.
    let bought = shipments::amazon_shipment_id(s.vault().conn(), &req.order_id)?;
    let params = match &bought {
        Some(_) => Vec::new(),
        None => details(s, req, from)?,
    };
    let target = prepare(s, env, dest)?;
    crate::calls::restore_quota(s.vault(), client);
    let mut obs = AuditedCalls::new(s.vault(), clock, s.name());
    let result = match &bought {
        Some(id) => get_shipment(client, &mut obs, id.clone()).map(|sh| (sh, false)),
        None => purchase(s, client, &mut obs, &req.order_id, &params, service),
    };
    crate::calls::save_quota(s.vault(), client)?;
    let (shipment, recovered) = result?;
    let tracking = shipment.tracking_id.clone().unwrap_or_default();
    let new = NewShipment {
        order_id: req.order_id.clone(),
        carrier: shipment.service.carrier.clone(),
        tracking: tracking.clone(),
        method: Some(shipment.service.service_name.clone()).filter(|m| !m.is_empty()),
    };
    let rate = shipment.service.rate.clone();
    let ev = Event::new("label.bought")
        .operator(s.name())
        .field("order", req.order_id.as_str())
        .field("shipment_id", shipment.shipment_id.as_str())
        .field("service", shipment.service.service_id.as_str())
        .field("carrier", shipment.service.carrier.as_str())
        .field("tracking", tracking.as_str())
        .field("rate", rate.as_ref().map(|(c, a)| format!("{a} {c}")))
        .field("recovered", recovered);
    // Paid for: recorded before anything else can fail.
    if bought.is_none() {
        s.vault().record_with(&[ev], now, |tx| {
            shipments::record_bought(tx, &new, &shipment.shipment_id, s.name(), now)?;
            crate::vault::store::meta_delete(tx, &intent_key(&req.order_id))
        })?;
    }
    let label = match shipment.label {
        Some(Ok(l)) => l,
        Some(Err(e)) => {
            return Err(Error::Remote(format!(
                "the label of shipment {} was bought but cannot be read ({e}); run the same \
                 command again to fetch it",
                shipment.shipment_id
            )));
        }
        None => {
            return Err(Error::Remote(format!(
                "Amazon sent no label for shipment {}; run the same command again to fetch it",
                shipment.shipment_id
            )));
        }
    };
    let how = Rendering {
        ext: label.extension(),
        dpi: None,
        kind: Kind::Label,
    };
    let job = Job {
        orders: vec![req.order_id.clone()],
        bytes: label.bytes,
    };
    let printed = deliver(s, dest, &target, &job, &how, now)?;
    Ok(Bought {
        order_id: req.order_id.clone(),
        shipment_id: shipment.shipment_id,
        carrier: shipment.service.carrier,
        service_id: shipment.service.service_id,
        tracking,
        rate,
        recovered,
        reprint: bought.is_some(),
        printed,
    })
}

/// A cancelled label (`buy --cancel --json`).
#[derive(Debug, Clone, Serialize)]
pub struct Cancelled {
    /// `AmazonOrderId`.
    pub order_id: String,
    /// The cancelled `ShipmentId`.
    pub shipment_id: String,
    /// Amazon's status now (`RefundPending`).
    pub status: String,
    /// Label files destroyed.
    pub label_files_removed: u64,
}

/// Cancels the label bought for `order_id` (a refund is asked; Amazon refuses once the
/// carrier has scanned the parcel). The order goes back to `unshipped`, so a new label can be
/// bought or a shipment recorded, and the void label's files are destroyed.
pub fn cancel(
    s: &Session<'_>,
    client: &mut Client,
    clock: &dyn Clock,
    order_id: &str,
) -> Result<Cancelled> {
    let now = clock.now();
    s.require(Capability::Ship, "buy.cancel", now)?;
    let conn = s.vault().conn();
    let id = shipments::amazon_shipment_id(conn, order_id)?.ok_or_else(|| {
        Error::usage(format!(
            "no label bought from Amazon is in force for order {order_id}"
        ))
    })?;
    crate::calls::restore_quota(s.vault(), client);
    let mut obs = AuditedCalls::new(s.vault(), clock, s.name());
    let req = Request::new(
        Api::MerchantFulfillment,
        "CancelShipment",
        vec![("ShipmentId", id.clone())],
    );
    let result = client.call(&req, &mut obs, |r| parse_shipment(r));
    crate::calls::save_quota(s.vault(), client)?;
    let status = match result {
        Ok(sh) => sh.status,
        // Cancelled by an earlier run whose reply was lost.
        Err(CallError::Refused(_, Some(e)))
            if e.code == "InvalidState" && e.message.contains("RefundPending") =>
        {
            "RefundPending".to_string()
        }
        Err(e) => return Err(e.into()),
    };
    let ev = Event::new("label.cancelled")
        .operator(s.name())
        .field("order", order_id)
        .field("shipment_id", id.as_str())
        .field("status", status.as_str());
    s.vault().record_with(&[ev], now, |tx| {
        shipments::record_cancelled(tx, order_id, now)
    })?;
    let mut removed = 0;
    let spool = s.vault().home().spool_dir();
    for t in crate::vault::labels::files_of(conn, &[order_id.to_string()])? {
        // Only the file the tool wrote there (see `purge::judge`); anything else is left.
        if let crate::purge::Verdict::Destroy(id) =
            crate::purge::judge(conn, &spool, &t.path, t.identity)?
        {
            crate::purge::shred_checked(&t.path, id)?;
            removed += 1;
        }
        crate::vault::labels::untrack(conn, &t.path, &t.order_id)?;
    }
    Ok(Cancelled {
        order_id: order_id.to_string(),
        shipment_id: id,
        status,
        label_files_removed: removed,
    })
}

fn get_shipment(client: &mut Client, obs: &mut AuditedCalls<'_>, id: String) -> Result<Shipment> {
    let get = Request::new(
        Api::MerchantFulfillment,
        "GetShipment",
        vec![("ShipmentId", id)],
    );
    client
        .call(&get, obs, |r| parse_shipment(r))
        .map_err(Error::from)
}

/// Where an unfinished purchase is noted (vault meta), per order.
fn intent_key(order_id: &str) -> String {
    format!("buy_intent/{order_id}")
}

/// An attempt noted by an earlier run that did not finish: the service it was buying.
fn pending_intent(s: &Session<'_>, order_id: &str) -> Result<Option<String>> {
    crate::vault::store::meta_get(s.vault().conn(), &intent_key(order_id))
}

/// Quote (unless an earlier attempt is pending), then `CreateShipment` once; an existing
/// shipment is fetched instead.
fn purchase(
    s: &Session<'_>,
    client: &mut Client,
    obs: &mut AuditedCalls<'_>,
    order_id: &str,
    params: &[(String, String)],
    service: &str,
) -> Result<(Shipment, bool)> {
    let mut p: Vec<(&str, String)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    match pending_intent(s, order_id)? {
        Some(earlier) => {
            // Ask Amazon before anything else: the order may be shipped by that attempt.
            p.push(("ShippingServiceId", earlier));
        }
        None => {
            let quoted = eligible(client, obs, params)?;
            let offer = quoted
                .offers
                .iter()
                .find(|o| o.service_id == service)
                .ok_or_else(|| {
                    let ids: Vec<&str> = quoted
                        .offers
                        .iter()
                        .map(|o| o.service_id.as_str())
                        .collect();
                    Error::usage(format!(
                        "service {service} is not offered for this parcel; offered: {}",
                        if ids.is_empty() {
                            "none".into()
                        } else {
                            ids.join(", ")
                        }
                    ))
                })?;
            p.push(("ShippingServiceId", offer.service_id.clone()));
            p.push(("ShippingServiceOfferId", offer.offer_id.clone()));
            if offer.label_formats.iter().any(|f| f == "ZPL203") {
                p.push((
                    "ShipmentRequestDetails.ShippingServiceOptions.LabelFormat",
                    "ZPL203".into(),
                ));
            }
            crate::vault::store::meta_set(s.vault().conn(), &intent_key(order_id), service)?;
        }
    }
    let create = Request {
        once: true,
        ..Request::new(Api::MerchantFulfillment, "CreateShipment", p)
    };
    match client.call(&create, obs, |r| parse_shipment(r)) {
        Ok(sh) => Ok((sh, false)),
        Err(CallError::Refused(_, Some(e))) if e.code == "ShipmentAlreadyExists" => {
            let id = shipment_id_in(&e.message).ok_or_else(|| {
                Error::Remote(format!(
                    "Amazon says a shipment already exists for this order but names none: {}",
                    e.message
                ))
            })?;
            Ok((get_shipment(client, obs, id)?, true))
        }
        Err(CallError::Failed(e)) => Err(Error::Remote(format!(
            "{e}. The label may or may not have been bought: run the same command again; an \
             existing purchase is fetched, never bought twice"
        ))),
        Err(e) => {
            // Amazon refused it: nothing was bought, the note goes.
            crate::vault::store::meta_delete(s.vault().conn(), &intent_key(order_id))?;
            Err(e.into())
        }
    }
}

/// The first UUID-shaped token in `text` (Amazon names the existing `ShipmentId` in the
/// message of `ShipmentAlreadyExists`).
fn shipment_id_in(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .find(|t| {
            let parts: Vec<usize> = t.split('-').map(str::len).collect();
            parts == [8, 4, 4, 4, 12]
        })
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_existing_shipment_id_is_found_in_the_message() {
        assert_eq!(
            shipment_id_in(
                "A shipment already exists for this order: 6825f31a-c814-4d33-80f5-79ae46e6627d"
            )
            .as_deref(),
            Some("6825f31a-c814-4d33-80f5-79ae46e6627d")
        );
        assert_eq!(shipment_id_in("no id here 1234"), None);
    }
}
