//! The seam between the workflows and Amazon's protocols.
//!
//! A [`Marketplace`] speaks in domain terms ([`crate::model::order`]): list the orders changed
//! since a watermark, page by page, so the caller can store each page before asking for the
//! next (streaming, kill-safe); the items of one order where the protocol needs a separate call
//! for them; send shipment confirmations and collect Amazon's verdict per order. The adapters,
//! [`mws`] and [`spapi`], own everything protocol-specific: action and operation names,
//! parameter keys, paging tokens, quota groups and usage plans, feeds, and where the quota
//! model is kept between runs.
//!
//! Buy Shipping is on the seam too: quote a parcel, buy the label of one offer (pinned to the
//! quote, noted before it is sent, resent rather than bought again), fetch a bought label
//! again, cancel it. The workflow is [`crate::flow::buy`]; the types are
//! [`crate::model::shipping`].
//!
//! Every attempt an adapter makes is reported to the caller's [`Observer`] as a
//! [`crate::mws::client::CallRecord`], so the audit log records MWS and SP-API calls alike.
//!
//! **Listings end.** Every paged listing (orders, an order's items, feed submissions) is
//! watched by a [`Paging`]: a paging token that comes back, or more pages than what they list
//! can fill, ends it with exit 4 (what was stored stays).

pub mod mws;
pub mod spapi;

use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::model::order::{Confirmation, Order, OrderItem, Verdict};
use crate::model::shipping::{Attempt, LabelRequest, Offer, Quote, Shipment};
pub use crate::mws::client::Observer;

/// Pages of one listing that may add nothing it had not listed already before the listing is
/// taken for one that does not end ([`Paging`]).
pub const MAX_BARREN_PAGES: u32 = 3;

/// Watches one paged listing: a paging token it already gave, or more than
/// [`MAX_BARREN_PAGES`] pages that list nothing new (pages the orders cannot fill: an empty
/// page that says more follow, or the same orders again), is a listing that never ends, and
/// an error (exit 4). Memory: 8 bytes per token and per id listed.
#[derive(Debug)]
pub struct Paging {
    what: &'static str,
    hasher: std::hash::RandomState,
    tokens: std::collections::HashSet<u64>,
    listed: std::collections::HashSet<u64>,
    pages: u64,
    barren: u32,
}

impl Paging {
    /// A new listing of `what` (`searchOrders`, `ListOrderItems`, ...).
    pub fn new(what: &'static str) -> Self {
        Paging {
            what,
            hasher: std::hash::RandomState::new(),
            tokens: Default::default(),
            listed: Default::default(),
            pages: 0,
            barren: 0,
        }
    }

    /// One page that listed `ids` and ends with paging token `next` (`None`: the last page).
    /// An error when the listing does not end.
    pub fn page<'a>(
        &mut self,
        ids: impl IntoIterator<Item = &'a str>,
        next: Option<&str>,
    ) -> Result<(), Error> {
        use std::hash::BuildHasher;
        self.pages += 1;
        let mut fresh = 0usize;
        for id in ids {
            fresh += usize::from(self.listed.insert(self.hasher.hash_one(id)));
        }
        let Some(token) = next else {
            return Ok(());
        };
        if !self.tokens.insert(self.hasher.hash_one(token)) {
            return Err(Error::Remote(format!(
                "Amazon's {} listing does not end: page {} came back with a paging token it                  had already given; what was stored stays, and the next run lists again",
                self.what, self.pages
            )));
        }
        if fresh == 0 {
            self.barren += 1;
            if self.barren > MAX_BARREN_PAGES {
                return Err(Error::Remote(format!(
                    "Amazon's {} listing does not end: {} of its {} pages listed nothing new                      yet said more follow; what was stored stays, and the next run lists again",
                    self.what, self.barren, self.pages
                )));
            }
        }
        Ok(())
    }
}

/// Where a listing starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Since {
    /// The stored watermark, as the marketplace gave it at the end of the last listing.
    Watermark(String),
    /// A time (a first run: `--since`, or 30 days back).
    Time(DateTime<Utc>),
}

/// How a listing page ends.
#[derive(Debug)]
pub enum PageEnd {
    /// More pages follow: pass this token back with the same [`Since`].
    More(String),
    /// The last page: the next run starts from `watermark`.
    Last {
        /// The upper end of the listing, to store as the next watermark.
        watermark: String,
    },
    /// The last page came without the upper end of the listing: nothing of it may be stored.
    NoWatermark(Error),
}

/// One order of a listing page.
#[derive(Debug)]
pub struct Listed {
    /// The order (PII in its [`crate::model::order::ShipTo`]).
    pub order: Order,
    /// Its items, when the protocol sends them with the order (SP-API); `None` when they need
    /// [`Marketplace::order_items`] (MWS).
    pub items: Option<Vec<OrderItem>>,
    /// Whether the protocol reports package statuses (the `dpp-2025` retention anchor).
    pub reports_delivery: bool,
    /// Whether Amazon reports a package of the order as delivered.
    pub delivered: bool,
}

/// One listing page.
#[derive(Debug)]
pub struct OrderPage {
    /// The orders that parsed.
    pub orders: Vec<Listed>,
    /// Orders refused alone (an id not in Amazon's format, a malformed entry, a quantity or
    /// price outside [`crate::model::plausible`]'s bounds): why, no values
    /// beyond a sanitised preview.
    pub refused: Vec<String>,
    /// What follows.
    pub end: PageEnd,
}

/// Why a marketplace call failed.
#[derive(Debug)]
pub enum MarketError {
    /// Amazon refused a paging token: restart the listing (or the item listing) from the
    /// watermark.
    Restart,
    /// Amazon refused this request for what it asked (a 4xx about it): the run goes on without
    /// it.
    Refused(Error),
    /// Given up: the run stops (retries used up, credentials refused, the audit log failed).
    Failed(Error),
}

impl From<Error> for MarketError {
    fn from(e: Error) -> Self {
        MarketError::Failed(e)
    }
}

impl From<MarketError> for Error {
    fn from(e: MarketError) -> Self {
        match e {
            MarketError::Refused(e) | MarketError::Failed(e) => e,
            MarketError::Restart => {
                Error::Remote("Amazon refused a paging token; run the command again".into())
            }
        }
    }
}

/// A marketplace protocol, in domain terms.
pub trait Marketplace {
    /// The marketplace's time (sandbox time in a sandbox home).
    fn now(&self) -> DateTime<Utc>;

    /// The vault meta keys the quota model is kept under between runs (one per quota
    /// domain: an SP-API region has its own usage plans).
    fn quota_keys(&self) -> Vec<String>;

    /// Continues the quota model kept under `key` from a saved state.
    fn restore_quota(&mut self, key: &str, saved: &str);

    /// `stored` (what is kept under `key`) with this run's quota state for what it used.
    fn merged_quota(&self, key: &str, stored: &str) -> String;

    /// Where a listed order comes from, for protocols with regions: (region, whether its
    /// marketplace is one the home configured for that region). `None`: nothing to record.
    fn origin(&self, marketplace_id: Option<&str>) -> Option<(&'static str, bool)> {
        let _ = marketplace_id;
        None
    }

    /// When the quota model allows the next listing page.
    fn next_page_at(&mut self) -> DateTime<Utc>;

    /// When the quota model allows the next [`Marketplace::order_items`] call.
    fn next_items_at(&mut self) -> DateTime<Utc>;

    /// One page of the orders (merchant-fulfilled) changed since `since`; `token` is the
    /// previous page's [`PageEnd::More`] (with the same `since`), `None` for the first page.
    fn list_orders(
        &mut self,
        since: &Since,
        token: Option<&str>,
        obs: &mut dyn Observer,
    ) -> Result<OrderPage, MarketError>;

    /// The items of one order (every page of them).
    fn order_items(
        &mut self,
        order_id: &str,
        obs: &mut dyn Observer,
    ) -> Result<Vec<OrderItem>, MarketError>;

    /// The error that ends a run after `restarts` refused paging tokens (`order`: while
    /// listing that order's items).
    fn too_many_restarts(&self, restarts: u32, order: Option<&str>) -> Error;

    /// Sends one package confirmation and returns Amazon's verdict on it, for protocols that
    /// confirm one package per call. `resent`: an earlier run may have sent it already (it
    /// stopped before recording the verdict), so "already confirmed" is
    /// [`Verdict::Duplicate`], not a refusal.
    fn confirm(
        &mut self,
        confirmation: &Confirmation,
        resent: bool,
        obs: &mut dyn Observer,
    ) -> Result<Verdict, MarketError> {
        let _ = (confirmation, resent, obs);
        Err(MarketError::Failed(Error::Failed(
            "this marketplace confirms shipments by feed, not one by one".into(),
        )))
    }

    /// Quotes a label for the parcel of `req`. No PII is sent: Amazon holds the buyer's
    /// address.
    fn quote_label(
        &mut self,
        req: &LabelRequest,
        obs: &mut dyn Observer,
    ) -> Result<Quote, MarketError>;

    /// What a purchase of `offer` from `quote` must carry to be sent again unchanged
    /// ([`Attempt::pin`]), noted before it is sent. Fails when the offer cannot be bought
    /// as fulfill prints labels (no format it prints).
    fn pin_purchase(&self, quote: &Quote, offer: &Offer) -> Result<String, Error>;

    /// Buys the label of `attempt` for `req`. `resent`: an earlier run noted and may have sent
    /// it. Returns the shipment and whether it was an earlier attempt's purchase that Amazon
    /// handed back (nothing bought now). [`MarketError::Refused`]: Amazon refused it, nothing
    /// was bought. [`MarketError::Failed`]: it may or may not have been bought.
    fn buy_label(
        &mut self,
        req: &LabelRequest,
        attempt: &Attempt,
        resent: bool,
        obs: &mut dyn Observer,
    ) -> Result<(Shipment, bool), MarketError>;

    /// Fetches the label of a bought shipment again (a reprint). Fields the protocol does not
    /// send back (the carrier, the service) are empty; the caller has them recorded.
    fn get_label(
        &mut self,
        order_id: &str,
        shipment_id: &str,
        obs: &mut dyn Observer,
    ) -> Result<Shipment, MarketError>;

    /// Cancels a bought label; returns Amazon's status of the shipment now.
    fn cancel_label(
        &mut self,
        shipment_id: &str,
        obs: &mut dyn Observer,
    ) -> Result<String, MarketError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_that_comes_back_or_lists_nothing_new_ends() {
        // Positive control: an ordinary listing, and one with a few thin pages, pass.
        let mut p = Paging::new("searchOrders");
        p.page(["a", "b"], Some("t1")).unwrap();
        p.page(["c"], Some("t2")).unwrap();
        p.page([], Some("t3")).unwrap();
        p.page(["c"], Some("t4")).unwrap();
        p.page(["d"], None).unwrap();
        // A token given again.
        let mut p = Paging::new("searchOrders");
        p.page(["a"], Some("t1")).unwrap();
        p.page(["b"], Some("t2")).unwrap();
        let e = p.page(["c"], Some("t1")).unwrap_err();
        assert_eq!(e.exit(), crate::Exit::Remote);
        assert!(e.to_string().contains("page 3"), "{e}");
        // The same page again and again under fresh tokens.
        let mut p = Paging::new("ListOrders");
        p.page(["a", "b"], Some("t0")).unwrap();
        for i in 1..=MAX_BARREN_PAGES {
            p.page(["a", "b"], Some(&format!("t{i}"))).unwrap();
        }
        let e = p.page(["a", "b"], Some("tx")).unwrap_err();
        assert!(e.to_string().contains("nothing new"), "{e}");
    }
}
