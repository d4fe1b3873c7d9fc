//! The MWS adapter: `ListOrders` / `ListOrdersByNextToken` with `NextToken` paging,
//! `ListOrderItems` / `ListOrderItemsByNextToken` per order, the quota groups of
//! [`crate::mws::throttle`], kept in the vault under `mws_throttle`; and Merchant Fulfillment
//! ("Buy Shipping", `MERCHANT-FULFILLMENT.md`).
//!
//! **Never bought twice, on MWS.** Merchant Fulfillment has no idempotency key. A purchase
//! (`CreateShipment`, pinned by `ShippingServiceOfferId`) is sent once and never retried after
//! a failure that may have reached Amazon. Resending a noted attempt sends `CreateShipment`
//! with the noted service and no offer id: Amazon answers `ShipmentAlreadyExists` naming the
//! `ShipmentId` when the first attempt went through (the shipment is fetched with
//! `GetShipment`, not bought again), or sells the label now when it did not. Labels are base64
//! of gzip, checked against their MD5 `Checksum` ([`crate::mws::merchant::decode_label`]).

use chrono::{DateTime, Utc};

use super::{Listed, MarketError, Marketplace, Observer, OrderPage, PageEnd, Since};
use crate::error::Error;
use crate::model::order::{Order, OrderItem};
use crate::model::shipping::{Attempt, LabelRequest, Offer, Quote, Shipment};
use crate::mws::client::{Api, CallError, Client, Request};
use crate::mws::merchant::{ShipmentRequest, parse_eligible, parse_shipment};
use crate::mws::xml::{parse_list_order_items, parse_list_orders};

/// Listing action.
const LIST: &str = "ListOrders";
/// Item action.
const ITEMS: &str = "ListOrderItems";

/// MWS behind the [`Marketplace`] seam, over a borrowed client.
#[derive(Debug)]
pub struct Mws<'c> {
    client: &'c mut Client,
}

impl<'c> Mws<'c> {
    /// The adapter over `client`.
    pub fn new(client: &'c mut Client) -> Self {
        Mws { client }
    }
}

fn market_error(e: CallError) -> MarketError {
    match e {
        CallError::NextTokenCorrupted => MarketError::Restart,
        CallError::Refused(e, _) => MarketError::Refused(e),
        CallError::Failed(e) => MarketError::Failed(e),
    }
}

/// `MarketplaceId.Id.N` for N = 1..=50 (Amazon's limit; `credentials set` enforces it).
static MARKETPLACE_KEYS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    (1..=50)
        .map(|i| &*format!("MarketplaceId.Id.{i}").leak())
        .collect()
});

impl Marketplace for Mws<'_> {
    fn now(&self) -> DateTime<Utc> {
        self.client.now()
    }

    fn quota_keys(&self) -> Vec<String> {
        vec![crate::calls::THROTTLE_KEY.to_string()]
    }

    fn restore_quota(&mut self, _key: &str, saved: &str) {
        self.client.restore_throttle_state(saved);
    }

    fn merged_quota(&self, _key: &str, stored: &str) -> String {
        self.client.merged_throttle_state(stored)
    }

    fn next_page_at(&mut self) -> DateTime<Utc> {
        self.client.next_allowed(LIST)
    }

    fn next_items_at(&mut self) -> DateTime<Utc> {
        self.client.next_allowed(ITEMS)
    }

    fn list_orders(
        &mut self,
        since: &Since,
        token: Option<&str>,
        obs: &mut dyn Observer,
    ) -> Result<OrderPage, MarketError> {
        let (action, params) = match token {
            Some(token) => (
                "ListOrdersByNextToken",
                vec![("NextToken", token.to_string())],
            ),
            None => {
                let after = match since {
                    Since::Watermark(w) => w.clone(),
                    Since::Time(t) => crate::mws::sign::timestamp(*t),
                };
                let mut p: Vec<(&str, String)> = vec![
                    ("LastUpdatedAfter", after),
                    ("FulfillmentChannel.Channel.1", "MFN".into()),
                    ("MaxResultsPerPage", "100".into()),
                ];
                let marketplaces = &self.client.credentials().marketplaces;
                for (k, m) in MARKETPLACE_KEYS.iter().zip(marketplaces) {
                    p.push((k, m.clone()));
                }
                (LIST, p)
            }
        };
        let mut page: Vec<Order> = Vec::with_capacity(100);
        let result = self
            .client
            .call_orders(action, &params, obs, |r| {
                page.clear();
                parse_list_orders(r, |o| {
                    page.push(o);
                    Ok(())
                })
            })
            .map_err(market_error)?;
        let end = match (result.next_token, result.last_updated_before) {
            (Some(t), _) => PageEnd::More(t),
            (None, Some(w)) => PageEnd::Last { watermark: w },
            (None, None) => PageEnd::NoWatermark(Error::Remote(
                "Amazon's last ListOrders page carried no LastUpdatedBefore; the watermark is unchanged"
                    .into(),
            )),
        };
        Ok(OrderPage {
            orders: page
                .into_iter()
                .map(|order| Listed {
                    order,
                    items: None,
                    reports_delivery: false,
                    delivered: false,
                })
                .collect(),
            refused: result.refused,
            end,
        })
    }

    fn order_items(
        &mut self,
        order_id: &str,
        obs: &mut dyn Observer,
    ) -> Result<Vec<OrderItem>, MarketError> {
        let mut items: Vec<OrderItem> = Vec::new();
        let mut token: Option<String> = None;
        let mut paging = super::Paging::new(ITEMS);
        loop {
            let (action, params) = match &token {
                None => (ITEMS, vec![("AmazonOrderId", order_id.to_string())]),
                Some(t) => ("ListOrderItemsByNextToken", vec![("NextToken", t.clone())]),
            };
            let page = self
                .client
                .call_orders(action, &params, obs, |r| parse_list_order_items(r))
                .map_err(market_error)?;
            // Items are stored under the order asked for: a reply about another order is refused.
            if let Some(other) = page.amazon_order_id.as_deref().filter(|o| *o != order_id) {
                return Err(MarketError::Refused(Error::Remote(format!(
                    "the reply to {action} for order {order_id} is about order {other}"
                ))));
            }
            paging.page(
                page.items.iter().map(|i| i.info.order_item_id.as_str()),
                page.next_token.as_deref(),
            )?;
            items.extend(page.items);
            match page.next_token {
                Some(t) => token = Some(t),
                None => return Ok(items),
            }
        }
    }

    fn too_many_restarts(&self, restarts: u32, order: Option<&str>) -> Error {
        match order {
            None => Error::Remote(format!(
                "Amazon rejected a NextToken {restarts} times in this run (NextTokenCorrupted)"
            )),
            Some(id) => Error::Remote(format!(
                "Amazon rejected a NextToken {restarts} times in this run (last: the items of order {id})"
            )),
        }
    }

    fn quote_label(
        &mut self,
        req: &LabelRequest,
        obs: &mut dyn Observer,
    ) -> Result<Quote, MarketError> {
        let p = details(req);
        self.client
            .call(
                &Request::new(
                    Api::MerchantFulfillment,
                    "GetEligibleShippingServices",
                    borrowed(&p),
                ),
                obs,
                |r| parse_eligible(r),
            )
            .map_err(market_error)
    }

    fn pin_purchase(&self, _quote: &Quote, offer: &Offer) -> Result<String, Error> {
        Ok(serde_json::to_string(&Pin {
            offer_id: offer.offer_id.clone(),
            zpl203: offer.label_formats.iter().any(|f| f == "ZPL203"),
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
        let params = details(req);
        let mut p = borrowed(&params);
        p.push(("ShippingServiceId", attempt.service.clone()));
        if !resent {
            // Ask Amazon for the offer quoted; a resend asks for the service only, so that an
            // earlier purchase is named (`ShipmentAlreadyExists`) rather than refused.
            let pin: Pin = serde_json::from_str(&attempt.pin).map_err(|_| {
                MarketError::Refused(Error::Failed("the noted purchase is unreadable".into()))
            })?;
            p.push(("ShippingServiceOfferId", pin.offer_id));
            if pin.zpl203 {
                p.push((
                    "ShipmentRequestDetails.ShippingServiceOptions.LabelFormat",
                    "ZPL203".into(),
                ));
            }
        }
        let create = Request {
            once: true,
            ..Request::new(Api::MerchantFulfillment, "CreateShipment", p)
        };
        match self.client.call(&create, obs, |r| parse_shipment(r)) {
            Ok(sh) => Ok((sh, false)),
            Err(CallError::Refused(_, Some(e))) if e.code == "ShipmentAlreadyExists" => {
                let id = shipment_id_in(&e.message).ok_or_else(|| {
                    MarketError::Failed(Error::Remote(format!(
                        "Amazon says a shipment already exists for this order but names none: {}",
                        e.message
                    )))
                })?;
                Ok((self.get_label(&req.order_id, &id, obs)?, true))
            }
            Err(CallError::NextTokenCorrupted) => Err(MarketError::Refused(Error::Remote(
                "Amazon could not read its own NextToken".into(),
            ))),
            Err(e) => Err(market_error(e)),
        }
    }

    fn get_label(
        &mut self,
        _order_id: &str,
        shipment_id: &str,
        obs: &mut dyn Observer,
    ) -> Result<Shipment, MarketError> {
        let get = Request::new(
            Api::MerchantFulfillment,
            "GetShipment",
            vec![("ShipmentId", shipment_id.to_string())],
        );
        self.client
            .call(&get, obs, |r| parse_shipment(r))
            .map_err(market_error)
    }

    fn cancel_label(
        &mut self,
        shipment_id: &str,
        obs: &mut dyn Observer,
    ) -> Result<String, MarketError> {
        let req = Request::new(
            Api::MerchantFulfillment,
            "CancelShipment",
            vec![("ShipmentId", shipment_id.to_string())],
        );
        match self.client.call(&req, obs, |r| parse_shipment(r)) {
            Ok(sh) => Ok(sh.status),
            // Cancelled by an earlier run whose reply was lost.
            Err(CallError::Refused(_, Some(e)))
                if e.code == "InvalidState" && e.message.contains("RefundPending") =>
            {
                Ok("RefundPending".to_string())
            }
            Err(e) => Err(market_error(e)),
        }
    }
}

/// What an MWS purchase is pinned by: the quote's offer, and whether to ask for ZPL203.
#[derive(serde::Serialize, serde::Deserialize)]
struct Pin {
    offer_id: String,
    zpl203: bool,
}

/// The flattened `ShipmentRequestDetails.*` parameters of `req`.
fn details(req: &LabelRequest) -> Vec<(String, String)> {
    ShipmentRequest {
        order_id: req.order_id.clone(),
        items: req.items.clone(),
        ship_from: req.ship_from.clone(),
        package: req.package.clone(),
        weight: req.weight.clone(),
        experience: req.experience,
    }
    .params()
}

fn borrowed(p: &[(String, String)]) -> Vec<(&str, String)> {
    p.iter().map(|(k, v)| (k.as_str(), v.clone())).collect()
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
