//! The SP-API adapter: Orders 2026-01-01 `searchOrders` (with `lastUpdatedAfter` = the
//! watermark, `fulfilledBy=MERCHANT`, `includedData` with the recipient, buyer, fulfilment and
//! packages, `paginationToken` paging with every other parameter re-sent unchanged) and
//! `getOrder`; Orders v0 `confirmShipment`; the usage plans of [`crate::spapi::throttle`],
//! kept in the vault under `spapi_throttle`.
//!
//! - **Items** come with every order (`orderItems` is always included), so a page is stored
//!   with its orders' items in one transaction and [`Marketplace::order_items`] (a `getOrder`)
//!   is only needed for an order stored without them.
//! - **Watermark**: the `lastUpdatedBefore` Amazon reports for the search (the last one seen
//!   while paging). A refused or expired `paginationToken` restarts from the watermark.
//! - **Confirmation: `confirmShipment` per package, not the `POST_ORDER_FULFILLMENT_DATA`
//!   feed.** It is synchronous, so Amazon's verdict (204, or its error with the reason) lands on
//!   that order at once, with no polling, no result document and no per-`MessageID` matching;
//!   its plan (2 rps, burst 10) confirms 7,200 packages an hour where `createFeed` allows about
//!   30 feeds an hour; and a refusal concerns exactly one order. `packageReferenceId` is the
//!   package number as a *string*; carriers are mapped to Amazon's codes or `Other` + name
//!   ([`crate::spapi::model::carrier`]).
//! - No Restricted Data Token is needed: Orders 2026-01-01 returns the PII without one, and
//!   `confirmShipment` is not restricted.
//! - **Buy Shipping: Shipping API v2, not Merchant Fulfillment v0** ([`crate::spapi::shipping`]
//!   says why). `getRates` for the order's package (no ship-to: Amazon fills it in for an
//!   Amazon order), `purchaseShipment` pinned to the quote's `requestToken` and the offer's
//!   `rateId`, asking for ZPL at 203 dpi where offered. The noted attempt carries the
//!   idempotency key and the exact request, so a resend is byte for byte the first purchase and
//!   Amazon hands that one back rather than selling a second; it is also why the transport may
//!   retry a purchase like any call. A reprint is `getShipmentDocuments` (the package's
//!   reference id is the order id), a cancel `cancelShipment`.

use chrono::{DateTime, Utc};

use super::{Listed, MarketError, Marketplace, Observer, OrderPage, PageEnd, Since};
use crate::error::Error;
use crate::model::marketplace::{Marketplace as Market, Region};
use crate::model::order::{Confirmation, OrderItem, Verdict};
use crate::model::shipping::{Attempt, LabelRequest, Offer, Quote, Shipment};
use crate::mws::model::parse_mws_time;
use crate::spapi::client::{CallError, Client, SearchQuery, Verdict as SpVerdict, already_done};
use crate::spapi::lwa::LwaError;
use crate::spapi::model::ConfirmShipmentRequest;
use crate::spapi::op;
use crate::spapi::shipping::{self, DocumentSpec, Documents, PurchaseRequest, RatesRequest};

/// Where the usage-plan model of credentials stored before regions is kept between runs
/// (vault meta); a region's is kept under [`quota_key`].
pub const THROTTLE_KEY: &str = "spapi_throttle";

/// The vault meta key of a region's usage-plan model (`legacy`: credentials stored before
/// regions keep [`THROTTLE_KEY`]). Usage plans are per region.
pub fn quota_key(region: Region, legacy: bool) -> String {
    if legacy {
        THROTTLE_KEY.to_string()
    } else {
        format!("{THROTTLE_KEY}:{region}")
    }
}

/// SP-API behind the [`Marketplace`] seam, over a borrowed client (one region).
#[derive(Debug)]
pub struct SpApi<'c> {
    client: &'c mut Client,
    /// The last `lastUpdatedBefore` of the listing in progress.
    before: Option<String>,
    /// The credentials were stored before regions (the home's one quota model).
    legacy: bool,
}

impl<'c> SpApi<'c> {
    /// The adapter over `client` (`legacy`: its credentials were stored before regions).
    pub fn new(client: &'c mut Client, legacy: bool) -> Self {
        SpApi {
            client,
            before: None,
            legacy,
        }
    }

    /// The region it talks to.
    pub fn region(&self) -> Region {
        self.client.credentials().region
    }
}

fn market_error(e: CallError) -> MarketError {
    match e {
        CallError::PaginationExpired => MarketError::Restart,
        CallError::Refused(e, _) => MarketError::Refused(e),
        CallError::Reauthorize => MarketError::Failed(LwaError::Reauthorize.into()),
        CallError::Failed(e) => MarketError::Failed(e),
    }
}

impl Marketplace for SpApi<'_> {
    fn now(&self) -> DateTime<Utc> {
        self.client.now()
    }

    fn quota_keys(&self) -> Vec<String> {
        vec![quota_key(self.region(), self.legacy)]
    }

    fn restore_quota(&mut self, _key: &str, saved: &str) {
        self.client.restore_throttle_state(saved);
    }

    fn merged_quota(&self, _key: &str, stored: &str) -> String {
        self.client.merged_throttle_state(stored)
    }

    fn origin(&self, marketplace_id: Option<&str>) -> Option<(&'static str, bool)> {
        let c = self.client.credentials();
        Some((
            c.region.as_str(),
            !marketplace_id.is_some_and(|m| c.lists(m)),
        ))
    }

    fn next_page_at(&mut self) -> DateTime<Utc> {
        self.client.next_allowed(op::SEARCH_ORDERS)
    }

    fn next_items_at(&mut self) -> DateTime<Utc> {
        self.client.next_allowed(op::GET_ORDER)
    }

    fn list_orders(
        &mut self,
        since: &Since,
        token: Option<&str>,
        obs: &mut dyn Observer,
    ) -> Result<OrderPage, MarketError> {
        let after = match since {
            Since::Time(t) => *t,
            Since::Watermark(w) => parse_mws_time(w).ok_or_else(|| {
                MarketError::Failed(Error::Integrity(
                    "the stored fetch watermark is not a time; the vault was altered".into(),
                ))
            })?,
        };
        if token.is_none() {
            self.before = None;
        }
        let page = self
            .client
            .search_orders(&SearchQuery::since(after), token, obs)
            .map_err(market_error)?;
        if let Some(b) = page.last_updated_before {
            self.before = Some(b);
        }
        let refused = page
            .rejected
            .iter()
            .map(|r| match &r.order_id {
                Some(id) => format!("order {id}: {}", r.reason),
                None => format!("order #{} of a page: {}", r.index + 1, r.reason),
            })
            .collect();
        let orders = page
            .orders
            .into_iter()
            .map(|o| {
                let delivered = o.delivered();
                let (order, items, _packages) = o.into_mws();
                Listed {
                    order,
                    items: Some(items),
                    reports_delivery: true,
                    delivered,
                }
            })
            .collect();
        let end = match (page.next_token, self.before.clone()) {
            (Some(t), _) => PageEnd::More(t),
            (None, Some(w)) => PageEnd::Last { watermark: w },
            (None, None) => PageEnd::NoWatermark(Error::Remote(
                "Amazon's last searchOrders page carried no lastUpdatedBefore; the watermark is unchanged"
                    .into(),
            )),
        };
        Ok(OrderPage {
            orders,
            refused,
            end,
        })
    }

    fn order_items(
        &mut self,
        order_id: &str,
        obs: &mut dyn Observer,
    ) -> Result<Vec<OrderItem>, MarketError> {
        let order = self.client.get_order(order_id, obs).map_err(market_error)?;
        if order.order_id != order_id {
            return Err(MarketError::Refused(Error::Remote(format!(
                "the reply to getOrder for order {order_id} is about order {}",
                order.order_id
            ))));
        }
        Ok(order.into_mws().1)
    }

    fn too_many_restarts(&self, restarts: u32, order: Option<&str>) -> Error {
        let last = order.map_or(String::new(), |id| format!(" (last: order {id})"));
        Error::Remote(format!(
            "Amazon refused a searchOrders pagination token {restarts} times in this run{last}"
        ))
    }

    fn confirm(
        &mut self,
        c: &Confirmation,
        resent: bool,
        obs: &mut dyn Observer,
    ) -> Result<Verdict, MarketError> {
        let marketplace = c
            .marketplace_id
            .clone()
            .unwrap_or_else(|| self.client.credentials().first_marketplace().to_string());
        let package: u32 = c.package_reference.parse().unwrap_or(0);
        let ship_date = parse_mws_time(&c.ship_date).ok_or_else(|| {
            MarketError::Failed(Error::Failed(format!(
                "the ship date of order {} is not a time",
                c.order_id
            )))
        })?;
        let mut body = ConfirmShipmentRequest::package(
            &marketplace,
            package,
            &c.carrier,
            c.shipping_method.as_deref(),
            &c.tracking_number,
            ship_date,
            &c.items,
        );
        // Sent as given (a string); `validate` refuses what Amazon would.
        body.package_detail.package_reference_id = c.package_reference.clone();
        let v = self
            .client
            .confirm_shipment(&c.order_id, &body, obs)
            .map_err(market_error)?;
        Ok(match v {
            SpVerdict::Accepted => Verdict::Accepted,
            SpVerdict::Duplicate { reason } => Verdict::Duplicate { reason },
            SpVerdict::Rejected { code, reason }
                if resent && already_done(&format!("{code} {reason}")) =>
            {
                Verdict::Duplicate { reason }
            }
            SpVerdict::Rejected { code, reason } => Verdict::Rejected { code, reason },
        })
    }

    fn quote_label(
        &mut self,
        req: &LabelRequest,
        obs: &mut dyn Observer,
    ) -> Result<Quote, MarketError> {
        let business = self.client.shipping_business().map_err(market_error)?;
        let body = RatesRequest::new(req, shipping::currency(business))
            .map_err(|e| MarketError::Failed(Error::Usage(e)))?;
        let rates = self.client.get_rates(&body, obs).map_err(market_error)?;
        let mut quote = rates.quote;
        quote.pin = Some(
            serde_json::to_string(&QuotePin {
                request_token: quote.pin.take().unwrap_or_default(),
                specs: rates.specs,
            })
            .expect("a quote pin serializes"),
        );
        Ok(quote)
    }

    fn pin_purchase(&self, quote: &Quote, offer: &Offer) -> Result<String, Error> {
        let q: QuotePin = quote
            .pin
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok())
            .ok_or_else(|| Error::Failed("the quote carries no request token".into()))?;
        let spec = q
            .specs
            .into_iter()
            .find(|(id, _)| *id == offer.offer_id)
            .map(|(_, s)| s)
            .ok_or_else(|| {
                Error::usage(format!(
                    "service {} offers no label format fulfill prints (ZPL or PDF)",
                    offer.service_id
                ))
            })?;
        Ok(serde_json::to_string(&Pin {
            request: PurchaseRequest {
                request_token: q.request_token,
                rate_id: offer.offer_id.clone(),
                requested_document_specification: spec,
            },
            carrier: offer.carrier.clone(),
            service_name: offer.service_name.clone(),
            rate: offer.rate.clone(),
        })
        .expect("a pin serializes"))
    }

    fn buy_label(
        &mut self,
        req: &LabelRequest,
        attempt: &Attempt,
        resent: bool,
        obs: &mut dyn Observer,
    ) -> Result<(Shipment, bool), MarketError> {
        let pin: Pin = serde_json::from_str(&attempt.pin)
            .ok()
            .filter(|_| !attempt.key.is_empty())
            .ok_or_else(|| {
                MarketError::Refused(Error::Failed(
                    "the noted purchase is unreadable; nothing was sent".into(),
                ))
            })?;
        let docs = self
            .client
            .purchase_shipment(&pin.request, &attempt.key, obs)
            .map_err(market_error)?;
        let service = Offer {
            carrier: pin.carrier,
            service_id: attempt.service.clone(),
            service_name: pin.service_name,
            offer_id: pin.request.rate_id,
            rate: pin.rate,
            ..Offer::default()
        };
        // Amazon answers a resend of the same key and bytes with the first purchase, and does
        // not say whether it was that one: a resent attempt counts as found.
        Ok((shipment(req.order_id.clone(), docs, service), resent))
    }

    fn get_label(
        &mut self,
        order_id: &str,
        shipment_id: &str,
        obs: &mut dyn Observer,
    ) -> Result<Shipment, MarketError> {
        // The package's reference id is its order's id (`RatesRequest::new`).
        let docs = self
            .client
            .get_shipment_documents(shipment_id, order_id, obs)
            .map_err(market_error)?;
        Ok(shipment(order_id.to_string(), docs, Offer::default()))
    }

    fn cancel_label(
        &mut self,
        shipment_id: &str,
        obs: &mut dyn Observer,
    ) -> Result<String, MarketError> {
        match self.client.cancel_shipment(shipment_id, obs) {
            Ok(()) => Ok("Cancelled".into()),
            // Cancelled by an earlier run whose reply was lost.
            Err(CallError::Refused(_, Some(e)))
                if e.summary().to_ascii_lowercase().contains("already cancel") =>
            {
                Ok("Cancelled".into())
            }
            Err(e) => Err(market_error(e)),
        }
    }
}

/// What a quote pins a purchase to: the `requestToken` and the label specification to ask
/// for per `rateId`.
#[derive(serde::Serialize, serde::Deserialize)]
struct QuotePin {
    request_token: String,
    specs: Vec<(String, DocumentSpec)>,
}

/// A noted purchase: the exact request (sent again byte for byte) and the offer's names.
#[derive(serde::Serialize, serde::Deserialize)]
struct Pin {
    request: PurchaseRequest,
    carrier: String,
    service_name: String,
    rate: Option<(String, String)>,
}

fn shipment(order_id: String, docs: Documents, service: Offer) -> Shipment {
    Shipment {
        shipment_id: docs.shipment_id,
        order_id,
        status: "Purchased".into(),
        tracking_id: docs.tracking_id,
        service,
        label: docs.label,
    }
}

/// Several regions behind the seam, for work that concerns orders of any of them (a
/// confirmation pass): each confirmation goes to its order's region, with its order's
/// marketplace id. Listing is per region ([`SpApi`]); this adapter does not list.
#[derive(Debug)]
pub struct Regions<'c> {
    regions: Vec<SpApi<'c>>,
}

impl<'c> Regions<'c> {
    /// The adapter over one [`SpApi`] per region (at least one).
    pub fn new(regions: Vec<SpApi<'c>>) -> Self {
        assert!(!regions.is_empty(), "at least one region");
        Regions { regions }
    }

    /// The region of an order of marketplace `marketplace_id`, fetched from `fetched` (when
    /// recorded): the region whose credentials list the marketplace, else the region the tool
    /// knows serves it, else the one it was fetched from, else the only region set.
    fn route(
        &mut self,
        marketplace_id: Option<&str>,
        fetched: Option<&str>,
    ) -> Option<&mut SpApi<'c>> {
        let by_list = marketplace_id.and_then(|m| {
            self.regions
                .iter()
                .position(|r| r.client.credentials().lists(m))
        });
        let by_table = marketplace_id
            .and_then(Market::by_id)
            .and_then(|m| self.regions.iter().position(|r| r.region() == m.region));
        let by_fetch =
            fetched.and_then(|f| self.regions.iter().position(|r| r.region().as_str() == f));
        let only = (self.regions.len() == 1).then_some(0);
        let i = by_list.or(by_table).or(by_fetch).or(only)?;
        self.regions.get_mut(i)
    }

    fn first(&mut self) -> &mut SpApi<'c> {
        &mut self.regions[0]
    }
}

fn not_listing() -> MarketError {
    MarketError::Failed(Error::Failed(
        "internal: a listing over several regions runs one region at a time".into(),
    ))
}

impl Marketplace for Regions<'_> {
    fn now(&self) -> DateTime<Utc> {
        self.regions[0].now()
    }

    fn quota_keys(&self) -> Vec<String> {
        self.regions.iter().flat_map(|r| r.quota_keys()).collect()
    }

    fn restore_quota(&mut self, key: &str, saved: &str) {
        for r in &mut self.regions {
            if r.quota_keys().iter().any(|k| k == key) {
                r.restore_quota(key, saved);
            }
        }
    }

    fn merged_quota(&self, key: &str, stored: &str) -> String {
        self.regions
            .iter()
            .find(|r| r.quota_keys().iter().any(|k| k == key))
            .map_or_else(|| stored.to_string(), |r| r.merged_quota(key, stored))
    }

    fn next_page_at(&mut self) -> DateTime<Utc> {
        self.first().next_page_at()
    }

    fn next_items_at(&mut self) -> DateTime<Utc> {
        self.first().next_items_at()
    }

    fn list_orders(
        &mut self,
        _since: &Since,
        _token: Option<&str>,
        _obs: &mut dyn Observer,
    ) -> Result<OrderPage, MarketError> {
        Err(not_listing())
    }

    fn order_items(
        &mut self,
        _order_id: &str,
        _obs: &mut dyn Observer,
    ) -> Result<Vec<OrderItem>, MarketError> {
        Err(not_listing())
    }

    fn too_many_restarts(&self, restarts: u32, order: Option<&str>) -> Error {
        self.regions[0].too_many_restarts(restarts, order)
    }

    fn confirm(
        &mut self,
        c: &Confirmation,
        resent: bool,
        obs: &mut dyn Observer,
    ) -> Result<Verdict, MarketError> {
        match self.route(c.marketplace_id.as_deref(), c.region.as_deref()) {
            Some(r) => r.confirm(c, resent, obs),
            None => Err(MarketError::Refused(Error::usage(format!(
                "order {} is of marketplace {}, which no region set serves: add its region \
                 with `fulfill credentials set --region R`",
                c.order_id,
                c.marketplace_id.as_deref().unwrap_or("(unknown)")
            )))),
        }
    }

    fn quote_label(
        &mut self,
        req: &LabelRequest,
        obs: &mut dyn Observer,
    ) -> Result<Quote, MarketError> {
        self.first().quote_label(req, obs)
    }

    fn pin_purchase(&self, quote: &Quote, offer: &Offer) -> Result<String, Error> {
        self.regions[0].pin_purchase(quote, offer)
    }

    fn buy_label(
        &mut self,
        req: &LabelRequest,
        attempt: &Attempt,
        resent: bool,
        obs: &mut dyn Observer,
    ) -> Result<(Shipment, bool), MarketError> {
        self.first().buy_label(req, attempt, resent, obs)
    }

    fn get_label(
        &mut self,
        order_id: &str,
        shipment_id: &str,
        obs: &mut dyn Observer,
    ) -> Result<Shipment, MarketError> {
        self.first().get_label(order_id, shipment_id, obs)
    }

    fn cancel_label(
        &mut self,
        shipment_id: &str,
        obs: &mut dyn Observer,
    ) -> Result<String, MarketError> {
        self.first().cancel_label(shipment_id, obs)
    }
}
