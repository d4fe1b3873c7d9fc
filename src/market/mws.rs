//! The MWS adapter: `ListOrders` / `ListOrdersByNextToken` with `NextToken` paging,
//! `ListOrderItems` / `ListOrderItemsByNextToken` per order, the quota groups of
//! [`crate::mws::throttle`], kept in the vault under `mws_throttle`.

use chrono::{DateTime, Utc};

use super::{Listed, MarketError, Marketplace, Observer, OrderPage, PageEnd, Since};
use crate::error::Error;
use crate::model::order::{Order, OrderItem};
use crate::mws::client::{CallError, Client};
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

    fn quota_key(&self) -> &'static str {
        crate::calls::THROTTLE_KEY
    }

    fn restore_quota(&mut self, saved: &str) {
        self.client.restore_throttle_state(saved);
    }

    fn merged_quota(&self, stored: &str) -> String {
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
            refused: result.refused.iter().map(ToString::to_string).collect(),
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
}
