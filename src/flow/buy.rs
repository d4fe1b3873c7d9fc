//! Buying a label from Amazon ("Buy Shipping"): quote, purchase, print, over the
//! [`Marketplace`] seam (MWS Merchant Fulfillment or SP-API Shipping API v2).
//!
//! - **Quote** ([`quote`]): the order's unshipped items in the given package, from the
//!   seller's `[ship_from]` address. No PII is sent: Amazon holds the buyer's address.
//! - **Purchase** ([`buy`]): a fresh quote pins the offer (so the price shown is the price
//!   paid), then the purchase, which charges the seller and confirms the shipment at Amazon:
//!   the order becomes `confirmed` at once and no feed or `confirmShipment` carries it. The
//!   purchase is recorded (`label.bought`) before the label is printed.
//! - **Never bought twice.** Before the purchase is sent the vault notes the attempt
//!   ([`Attempt`]: the service, an idempotency key and what pins it to the quote). Running the
//!   same command again finds the note and resends that attempt first: the adapter makes Amazon
//!   hand back the first purchase if it went through (MWS: `ShipmentAlreadyExists`; SP-API:
//!   the same `x-amzn-IdempotencyKey`), or buys now if it did not. The note goes with the
//!   record.
//! - **Never forgotten.** A refusal (a 4xx) of a purchase that may have reached Amazon before
//!   (a resend, or a first send the client retried) does not prove that nothing was bought:
//!   Amazon may have forgotten the key, or judge the request afresh against an order the lost
//!   purchase already shipped. So the note stays until Amazon shows the order unshipped: a
//!   fresh quote for the same items succeeds (Amazon quotes only what is left to ship), and
//!   then nothing was bought and the purchase is made from that quote. When the quote is
//!   refused too (the order is shipped, or not shippable), the purchase is *unresolved*: the
//!   note stays with its idempotency key, what Amazon said is kept beside it
//!   (`buy_unresolved/ORDER`), the run records `label.unresolved`, tells the operator in one
//!   line to print the label from Seller Central, and exits 6 ([`Error::Unresolved`]). `audit`
//!   lists it (R20) until a later `buy` is answered (Amazon hands the purchase back, or quotes
//!   the order again) or a shipment of the order is recorded (`ship` with the tracking shown in
//!   Seller Central), or the order is canceled.
//! - The label (checked: MWS against its MD5, SP-API by its format's magic and size) goes where
//!   `label` sends labels, tracked for `purge`.

use serde::Serialize;

use crate::audit::Event;
use crate::calls::AuditedCalls;
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::label::sink::{Job, Kind};
use crate::label::{Destination, Printed, Rendering, deliver, prepare};
use crate::market::{MarketError, Marketplace};
use crate::model::lifecycle::Lifecycle;
use crate::model::shipping::{Attempt, LabelRequest, Package, Quote, ShipFrom, Shipment, Weight};
use crate::role::Capability;
use crate::safety::Environment;
use crate::vault::Session;
use crate::vault::labels;
use crate::vault::orders;
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
    /// The delivery experience (MWS `DeliveryExperience` values).
    pub experience: &'static str,
}

/// A purchase (`buy --json`).
#[derive(Debug, Clone, Serialize)]
pub struct Bought {
    /// `AmazonOrderId`.
    pub order_id: String,
    /// Amazon's shipment id (needed to reprint or cancel).
    pub shipment_id: String,
    /// The carrier.
    pub carrier: String,
    /// The service id.
    pub service_id: String,
    /// The tracking id.
    pub tracking: String,
    /// The rate as (currency, amount).
    pub rate: Option<(String, String)>,
    /// The purchase was an earlier, interrupted run's, handed back by Amazon when its noted
    /// attempt was resent (not made again).
    pub recovered: bool,
    /// The label had been bought before: fetched again and printed (nothing bought).
    pub reprint: bool,
    /// Where the label went.
    pub printed: Vec<Printed>,
}

/// Refuses an order whose PII was purged: Amazon's label carries the address, so neither a
/// new label nor a reprint may bring it back.
fn refuse_purged(s: &Session<'_>, order_id: &str) -> Result<()> {
    if let Some((_, true)) = s.vault().read(|tx| orders::lifecycle_of(tx, order_id))? {
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
    // Amazon holds the address, so an order whose address was withheld from us can be bought
    // for (the label Amazon makes is the only copy we get).
    match s.vault().read(|tx| orders::lifecycle_of(tx, order_id))? {
        None => {
            return Err(Error::usage(format!(
                "order {order_id} is not in the vault; run `fulfill fetch` first"
            )));
        }
        Some((Lifecycle::Unshipped | Lifecycle::Labelled, _)) => {}
        Some((other, _)) => {
            return Err(Error::usage(format!(
                "order {order_id} is {other}; a label can be bought only for an unshipped order"
            )));
        }
    }
    let items = s.vault().read(|tx| orders::items_to_ship(tx, order_id))?;
    if items.is_empty() {
        return Err(Error::usage(format!(
            "order {order_id} has no items left to ship (or they were not fetched yet)"
        )));
    }
    Ok(items)
}

fn label_request(s: &Session<'_>, req: &BuyRequest, from: &ShipFrom) -> Result<LabelRequest> {
    Ok(LabelRequest {
        order_id: req.order_id.clone(),
        items: items(s, &req.order_id)?,
        ship_from: from.clone(),
        package: req.package.clone(),
        weight: req.weight.clone(),
        experience: req.experience,
    })
}

/// Runs `f` with the marketplace's quota model continued from the last run and an observer
/// that records every call; saves the model after, whatever `f` returned.
fn with_calls<T>(
    s: &Session<'_>,
    market: &mut dyn Marketplace,
    clock: &dyn Clock,
    f: impl FnOnce(&mut dyn Marketplace, &mut AuditedCalls<'_>) -> Result<T>,
) -> Result<T> {
    crate::calls::restore_market_quota(s.vault(), market);
    let mut obs = AuditedCalls::new(s.vault(), clock, s.name());
    let out = f(market, &mut obs);
    crate::calls::save_market_quota(s.vault(), market)?;
    out
}

/// Quotes the order's label (packer or owner).
pub fn quote(
    s: &Session<'_>,
    market: &mut dyn Marketplace,
    clock: &dyn Clock,
    req: &BuyRequest,
    from: &ShipFrom,
) -> Result<Quote> {
    s.require(Capability::Ship, "buy", clock.now())?;
    let lr = label_request(s, req, from)?;
    with_calls(s, market, clock, |m, obs| {
        m.quote_label(&lr, obs).map_err(Error::from)
    })
}

/// Buys the label of `service` and sends it to `dest` (packer or owner).
#[allow(clippy::too_many_arguments)] // each is a separate concern the command resolves
pub fn buy(
    s: &Session<'_>,
    env: &Environment,
    market: &mut dyn Marketplace,
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
    let bought = s
        .vault()
        .read(|tx| shipments::amazon_shipment_id(tx, &req.order_id))?;
    let lr = match &bought {
        Some(_) => None,
        None => Some(label_request(s, req, from)?),
    };
    let target = prepare(s, env, dest)?;
    let (mut shipment, recovered) = with_calls(s, market, clock, |m, obs| match (&bought, &lr) {
        (Some(id), _) => m
            .get_label(&req.order_id, id, obs)
            .map(|sh| (sh, false))
            .map_err(Error::from),
        (None, Some(lr)) => purchase(s, m, obs, lr, service),
        (None, None) => unreachable!("a request is built for every purchase"),
    })?;
    if bought.is_some() {
        // What the protocol does not send back with a reprint is as recorded.
        if let Some(r) = s
            .vault()
            .read(|tx| shipments::bought_service(tx, &req.order_id))?
        {
            let svc = &mut shipment.service;
            for (field, recorded) in [
                (&mut svc.carrier, r.carrier),
                (&mut svc.service_id, r.service_id),
                (&mut svc.service_name, r.method),
            ] {
                if field.is_empty() {
                    *field = recorded.unwrap_or_default();
                }
            }
        }
    }
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
            crate::vault::progress::record_bought(
                tx,
                &new,
                &shipment.shipment_id,
                &shipment.service.service_id,
                s.name(),
                now,
            )?;
            crate::vault::store::meta_delete(tx, &intent_key(&req.order_id))?;
            crate::vault::store::meta_delete(tx, &unresolved_key(&req.order_id))
        })?;
    }
    let label = match shipment.label.take() {
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
        bought: Some(shipment.shipment_id.clone()),
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
    /// The cancelled shipment id.
    pub shipment_id: String,
    /// Amazon's status now (MWS `RefundPending`; SP-API `Cancelled`).
    pub status: String,
    /// Label files destroyed: the bought label's own.
    pub label_files_removed: u64,
    /// Files kept because they hold other orders too (a wave, a slip batch); the order is
    /// marked cancelled in each and never printed into it again.
    pub label_files_kept: Vec<KeptFile>,
}

/// A file `buy --cancel` kept: it holds other orders too.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KeptFile {
    /// Where it is.
    pub path: String,
    /// How many other orders it holds.
    pub other_orders: u64,
}

/// Cancels the label bought for `order_id` (a refund is asked; Amazon refuses once the
/// carrier has scanned the parcel). The order goes back to `unshipped`, so a new label can be
/// bought or a shipment recorded. Only the void label's own file is destroyed: a file that
/// holds other orders too (a wave written with `--out`, a slip batch) is kept and named, and
/// the order is marked cancelled in it in the same step as the `label.cancelled` record (with
/// `files_kept`), so a reprint of that batch leaves it out. The order's other files (a label
/// the tool printed, its own slip) are not the bought label's: they stay tracked, and `purge`
/// destroys them with its PII.
pub fn cancel(
    s: &Session<'_>,
    market: &mut dyn Marketplace,
    clock: &dyn Clock,
    order_id: &str,
) -> Result<Cancelled> {
    let now = clock.now();
    s.require(Capability::Ship, "buy.cancel", now)?;
    let id = s
        .vault()
        .read(|tx| shipments::amazon_shipment_id(tx, order_id))?
        .ok_or_else(|| {
            Error::usage(format!(
                "no label bought from Amazon is in force for order {order_id}"
            ))
        })?;
    let status = with_calls(s, market, clock, |m, obs| {
        m.cancel_label(&id, obs).map_err(Error::from)
    })?;
    // Which of the order's files is the void label's own, and which hold other orders too.
    let (own, kept) = s.vault().read(|tx| {
        let mut own = Vec::new();
        let mut kept = Vec::new();
        for t in labels::files_of(tx, &[order_id.to_string()])? {
            let mates = labels::batch_mates(tx, &t.path, order_id)?;
            if !mates.is_empty() {
                kept.push((t, mates.len() as u64));
            } else if labels::bought_label_of(tx, &t.path, order_id)?.as_deref() == Some(&id) {
                own.push(t);
            }
        }
        Ok((own, kept))
    })?;
    let ev = Event::new("label.cancelled")
        .operator(s.name())
        .field("order", order_id)
        .field("shipment_id", id.as_str())
        .field("status", status.as_str())
        .field("files_kept", kept.len() as u64);
    s.vault().record_with(&[ev], now, |tx| {
        crate::vault::progress::record_cancelled(tx, order_id, now)?;
        for (t, _) in &kept {
            labels::mark_cancelled(tx, &t.path, order_id, now)?;
        }
        Ok(())
    })?;
    let mut removed = 0;
    let spool = s.vault().home().spool_dir();
    for t in own {
        // Only the file the tool wrote there (see `retention::judge`); anything else is left.
        if let crate::flow::retention::Verdict::Destroy(id) = s
            .vault()
            .read(|tx| crate::flow::retention::judge(tx, &spool, &t.path, t.identity))?
        {
            crate::flow::retention::shred_checked(&t.path, id)?;
            removed += 1;
        }
        s.vault()
            .write(|tx| labels::untrack(tx, &t.path, &t.order_id))?;
    }
    Ok(Cancelled {
        order_id: order_id.to_string(),
        shipment_id: id,
        status,
        label_files_removed: removed,
        label_files_kept: kept
            .into_iter()
            .map(|(t, n)| KeptFile {
                path: t.path.to_string_lossy().into_owned(),
                other_orders: n,
            })
            .collect(),
    })
}

/// Where an unfinished purchase is noted (vault meta), per order.
fn intent_key(order_id: &str) -> String {
    format!("buy_intent/{order_id}")
}

/// An attempt noted by an earlier run that did not finish.
fn pending_attempt(s: &Session<'_>, order_id: &str) -> Result<Option<Attempt>> {
    Ok(s.vault()
        .read(|tx| crate::vault::store::meta_get(tx, &intent_key(order_id)))?
        .map(|n| Attempt::parse(&n)))
}

/// A fresh idempotency key: 128 random bits, hex.
fn fresh_key() -> String {
    let b: [u8; 16] = rand::random();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Where what Amazon said about a purchase it would neither hand back nor rule out is kept
/// (vault meta), per order: [`Unresolved`] as JSON. `audit` reads these (R20).
pub const UNRESOLVED_PREFIX: &str = "buy_unresolved/";

fn unresolved_key(order_id: &str) -> String {
    format!("{UNRESOLVED_PREFIX}{order_id}")
}

/// A purchase that may have been bought, which Amazon would neither hand back nor rule out.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Unresolved {
    /// When it was first found unresolved.
    pub since: String,
    /// The service of the noted attempt.
    pub service: String,
    /// Its idempotency key (SP-API `x-amzn-IdempotencyKey`).
    pub key: String,
    /// What Amazon answered the purchase (capped).
    pub purchase: String,
    /// What Amazon answered the fresh quote (capped).
    pub quote: String,
}

/// Every unresolved purchase the vault holds, as (order, what is known). Unreadable entries
/// are listed with what could be read (their order id).
pub fn unresolved(conn: &crate::vault::Tx<'_>) -> Result<Vec<(String, Option<Unresolved>)>> {
    Ok(
        crate::vault::store::meta_with_prefix(conn, UNRESOLVED_PREFIX)?
            .into_iter()
            .map(|(k, v)| {
                (
                    k[UNRESOLVED_PREFIX.len()..].to_string(),
                    serde_json::from_str(&v).ok(),
                )
            })
            .collect(),
    )
}

/// Resends the attempt an earlier run noted, else quotes, notes and sends a new one.
fn purchase(
    s: &Session<'_>,
    market: &mut dyn Marketplace,
    obs: &mut AuditedCalls<'_>,
    lr: &LabelRequest,
    service: &str,
) -> Result<(Shipment, bool)> {
    let key = intent_key(&lr.order_id);
    let mut fresh = None;
    if let Some(earlier) = pending_attempt(s, &lr.order_id)? {
        // Ask Amazon before anything else: the order may be shipped by that attempt.
        match market.buy_label(lr, &earlier, true, obs) {
            Ok(found) => return Ok(found),
            Err(MarketError::Refused(e)) => {
                // Refused: that proves nothing about the first send. A fresh quote does.
                let q = settle(s, market, obs, lr, &earlier, &e)?;
                tracing::info!(
                    "the noted purchase was refused on resend and the order quotes again: nothing was bought; buying from the fresh quote"
                );
                fresh = Some(q);
            }
            Err(e) => return Err(sent(s, market, obs, lr, &earlier, e)),
        }
    }
    let quoted = match fresh {
        Some(q) => q,
        None => market.quote_label(lr, obs)?,
    };
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
    let attempt = Attempt {
        service: offer.service_id.clone(),
        key: fresh_key(),
        pin: market.pin_purchase(&quoted, offer)?,
    };
    s.vault()
        .write(|tx| crate::vault::store::meta_set(tx, &key, &attempt.to_note()))?;
    market
        .buy_label(lr, &attempt, false, obs)
        .map_err(|e| sent(s, market, obs, lr, &attempt, e))
}

/// The error of a purchase that was sent: failed (it may have been bought, the note stays for
/// the next run) or refused (it may still have been bought by an earlier send the client
/// retried: [`settle`] asks Amazon whether the order is unshipped before the note goes).
fn sent(
    s: &Session<'_>,
    market: &mut dyn Marketplace,
    obs: &mut AuditedCalls<'_>,
    lr: &LabelRequest,
    attempt: &Attempt,
    e: MarketError,
) -> Error {
    match e {
        MarketError::Refused(e) => match settle(s, market, obs, lr, attempt, &e) {
            // Amazon quotes the order: nothing was bought, and the refusal stands.
            Ok(_) => e,
            Err(u) => u,
        },
        MarketError::Failed(e) => Error::Remote(format!(
            "{e}. The label may or may not have been bought: run the same command again; an \
             existing purchase is fetched, never bought twice"
        )),
        e => e.into(),
    }
}

/// After Amazon refused a noted purchase: a fresh quote for the same items shows whether the
/// order is still unshipped. If it is, nothing was bought: the note (and any unresolved entry)
/// goes and the quote is returned. If Amazon refuses the quote too, the purchase is
/// unresolved ([`Error::Unresolved`], recorded as `label.unresolved`); if it cannot be asked,
/// the note stays for the next run (exit 4).
fn settle(
    s: &Session<'_>,
    market: &mut dyn Marketplace,
    obs: &mut AuditedCalls<'_>,
    lr: &LabelRequest,
    attempt: &Attempt,
    refused: &Error,
) -> Result<Quote> {
    let order = lr.order_id.as_str();
    match market.quote_label(lr, obs) {
        Ok(q) => {
            s.vault().write(|tx| {
                crate::vault::store::meta_delete(tx, &intent_key(order))?;
                crate::vault::store::meta_delete(tx, &unresolved_key(order))
            })?;
            Ok(q)
        }
        Err(MarketError::Refused(q)) => {
            let now = obs.now();
            let cap = |e: &Error| crate::audit::bounded(&e.to_string(), 300).into_owned();
            let earlier: Option<Unresolved> = s
                .vault()
                .read(|tx| crate::vault::store::meta_get(tx, &unresolved_key(order)))?
                .and_then(|v| serde_json::from_str(&v).ok());
            let known = Unresolved {
                since: earlier
                    .map(|u| u.since)
                    .unwrap_or_else(|| crate::audit::format_ts(now)),
                service: attempt.service.clone(),
                key: attempt.key.clone(),
                purchase: cap(refused),
                quote: cap(&q),
            };
            let ev = Event::new("label.unresolved")
                .operator(s.name())
                .outcome(crate::audit::Outcome::Failed)
                .field("order", order)
                .field("service", known.service.as_str())
                .field("idempotency_key", known.key.as_str())
                .field("since", known.since.as_str())
                .field("purchase_refused", known.purchase.as_str())
                .field("quote_refused", known.quote.as_str());
            let note = serde_json::to_string(&known).expect("serializes");
            s.vault().record_with(&[ev], now, |tx| {
                crate::vault::store::meta_set(tx, &unresolved_key(order), &note)
            })?;
            Err(Error::Unresolved(format!(
                "order {order}: the label purchase noted for it ({}) may have been bought: \
                 Amazon refused it ({}) and will not quote the order ({}); print the label from \
                 Seller Central (Orders > Manage Orders > {order} > Reprint label) and do not buy \
                 another; the purchase stays noted (idempotency key {}) and `audit` lists it \
                 until `fulfill buy {order}` is answered or its shipment is recorded",
                known.service,
                crate::audit::bounded(&known.purchase, 120),
                crate::audit::bounded(&known.quote, 120),
                if known.key.is_empty() {
                    "none"
                } else {
                    known.key.as_str()
                },
            )))
        }
        Err(MarketError::Failed(e)) => Err(Error::Remote(format!(
            "Amazon refused the noted purchase of order {order} ({}) and could not be asked \
             whether the order is still unshipped ({e}); it may have been bought: the purchase \
             stays noted, run the same command again",
            crate::audit::bounded(&refused.to_string(), 120)
        ))),
        Err(e) => Err(e.into()),
    }
}
