//! Orders 2026-01-01 and Orders v0 `confirmShipment`: typed models and tolerant JSON parsers.
//!
//! - **Tolerant.** Unknown fields are ignored, unknown enum values become `Other`, every
//!   optional field may be absent (a recipient without a name is an order whose
//!   `recipient_name` is `None`). Dates stay the strings Amazon sent
//!   ([`crate::mws::model::parse_mws_time`] reads them).
//! - **PII** (SP-API.md §1.4: buyer name and email, recipient name, address lines, postal code,
//!   phone, gift messages) goes straight into [`Pii`] inside [`BuyerPii`] while parsing;
//!   city, state and country are filled in too, as MWS orders fill them.
//! - **Bounded.** A body over [`MAX_BODY`] bytes or nested deeper than [`MAX_DEPTH`] is
//!   refused before serde sees it. Parse errors never quote the input (it may hold PII).
//! - **Ids and numbers.** An order whose id is not `NNN-NNNNNNN-NNNNNNN`, with an item id that
//!   is not digits, with a quantity or price outside [`crate::model::plausible`]'s bounds, or
//!   that does not parse at all, is refused on its own ([`SearchPage::rejected`], with the
//!   reason); the rest of its page is kept.

use std::fmt;

use serde::de::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::{is_item_id, is_order_id};
use crate::model::plausible;
use crate::pii::{BuyerPii, Pii};

/// Largest response body parsed (100 orders with items and addresses are far smaller).
pub const MAX_BODY: usize = 16 * 1024 * 1024;
/// Deepest JSON nesting parsed (Amazon's deepest is about 10).
pub const MAX_DEPTH: usize = 32;

/// Why a body could not be read. Never carries the input's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Larger than [`MAX_BODY`].
    TooLarge,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// Not the JSON shape expected: the kind and position only.
    Malformed(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::TooLarge => write!(f, "the reply is larger than {MAX_BODY} bytes"),
            ParseError::TooDeep => write!(f, "the reply is nested deeper than {MAX_DEPTH}"),
            ParseError::Malformed(m) => write!(f, "malformed JSON reply ({m})"),
        }
    }
}

fn malformed(e: &serde_json::Error) -> ParseError {
    // Category and position only: serde's own text can quote a value.
    let kind = match e.classify() {
        serde_json::error::Category::Io => "I/O",
        serde_json::error::Category::Syntax => "syntax",
        serde_json::error::Category::Data => "unexpected shape",
        serde_json::error::Category::Eof => "cut off",
    };
    ParseError::Malformed(format!("{kind} at line {} column {}", e.line(), e.column()))
}

/// Checks size and nesting depth before parsing.
pub fn check_body(body: &[u8]) -> Result<(), ParseError> {
    if body.len() > MAX_BODY {
        return Err(ParseError::TooLarge);
    }
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    for &b in body {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(ParseError::TooDeep);
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

pub(crate) fn from_slice<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ParseError> {
    check_body(body)?;
    serde_json::from_slice(body).map_err(|e| malformed(&e))
}

/// A PII string, read straight into [`Pii`].
struct PiiField(Pii);

impl<'de> Deserialize<'de> for PiiField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(PiiField(Pii::new(String::deserialize(d)?)))
    }
}

fn pii(f: Option<PiiField>) -> Option<Pii> {
    f.map(|p| p.0)
}

/// An order's fulfilment status (`fulfillment.fulfillmentStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FulfillmentStatus {
    /// Pre-order not yet available.
    PendingAvailability,
    /// Not yet paid: no PII.
    Pending,
    /// To ship.
    Unshipped,
    /// Some items shipped.
    PartiallyShipped,
    /// Shipped.
    Shipped,
    /// Canceled.
    Cancelled,
    /// Cannot be fulfilled.
    Unfulfillable,
    /// A value this version does not know (or none given).
    #[default]
    #[serde(other)]
    Other,
}

impl FulfillmentStatus {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingAvailability => "PENDING_AVAILABILITY",
            Self::Pending => "PENDING",
            Self::Unshipped => "UNSHIPPED",
            Self::PartiallyShipped => "PARTIALLY_SHIPPED",
            Self::Shipped => "SHIPPED",
            Self::Cancelled => "CANCELLED",
            Self::Unfulfillable => "UNFULFILLABLE",
            Self::Other => "OTHER",
        }
    }

    /// The MWS `OrderStatus` spelling (what the vault stores).
    pub fn mws_status(self) -> &'static str {
        match self {
            Self::PendingAvailability | Self::Pending => "Pending",
            Self::Unshipped => "Unshipped",
            Self::PartiallyShipped => "PartiallyShipped",
            Self::Shipped => "Shipped",
            Self::Cancelled => "Canceled",
            Self::Unfulfillable => "Unfulfillable",
            Self::Other => "Unknown",
        }
    }
}

/// Who fulfils the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FulfilledBy {
    /// The seller (MFN).
    Merchant,
    /// Amazon (AFN).
    Amazon,
    /// Unknown value.
    #[serde(other)]
    Other,
}

/// A package's status (`packages[].packageStatus.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PackageStatus {
    /// Being prepared, before the carrier has it.
    Pending,
    /// Handed to the carrier.
    Shipped,
    /// Moving in the carrier's network.
    InTransit,
    /// Delivered: the retention anchor under `dpp-2025`.
    Delivered,
    /// Not delivered (lost, returned, ...).
    Undeliverable,
    /// Canceled.
    Cancelled,
    /// Any other value.
    #[serde(other)]
    Other,
}

/// An amount: a decimal string and its currency.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Money {
    /// Decimal string, e.g. `49.99`.
    pub amount: String,
    /// ISO 4217 code.
    pub currency_code: String,
}

/// A time window (`shipByWindow`, `deliverByWindow`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Window {
    /// `earliestDateTime`.
    pub earliest_date_time: Option<String>,
    /// `latestDateTime`.
    pub latest_date_time: Option<String>,
}

/// One order of `searchOrders` or `getOrder`.
#[derive(Debug)]
pub struct Order {
    /// `orderId`, validated.
    pub order_id: String,
    /// `createdTime`.
    pub created_time: String,
    /// `lastUpdatedTime`.
    pub last_updated_time: String,
    /// `programs` (`PRIME`, `AMAZON_BUSINESS`, ...).
    pub programs: Vec<String>,
    /// `salesChannel.marketplaceId`.
    pub marketplace_id: Option<String>,
    /// `salesChannel.marketplaceName`.
    pub marketplace_name: Option<String>,
    /// `fulfillment.fulfillmentStatus`.
    pub fulfillment_status: FulfillmentStatus,
    /// `fulfillment.fulfilledBy`.
    pub fulfilled_by: Option<FulfilledBy>,
    /// `fulfillment.fulfillmentServiceLevel`.
    pub service_level: Option<String>,
    /// `fulfillment.shipByWindow`.
    pub ship_by: Window,
    /// `fulfillment.deliverByWindow`: the latest delivery date Amazon gave.
    pub deliver_by: Window,
    /// `proceeds.grandTotal`.
    pub grand_total: Option<Money>,
    /// `recipient.deliveryAddress.countryCode` (not PII on its own).
    pub ship_country_code: Option<String>,
    /// `recipient.deliveryAddress.addressType` (`RESIDENTIAL`, `COMMERCIAL`, `PICKUP_POINT`).
    pub address_type: Option<String>,
    /// `buyer.buyerPurchaseOrderNumber`.
    pub purchase_order_number: Option<String>,
    /// Buyer and ship-to PII.
    pub pii: BuyerPii,
    /// `orderItems`.
    pub items: Vec<OrderItem>,
    /// `packages` (FBM only).
    pub packages: Vec<Package>,
}

impl Order {
    /// True if any package is `DELIVERED` (the `dpp-2025` retention anchor).
    pub fn delivered(&self) -> bool {
        self.packages
            .iter()
            .any(|p| p.status == Some(PackageStatus::Delivered))
    }

    /// Whether the order has the `PRIME` program.
    pub fn is_prime(&self) -> bool {
        self.programs.iter().any(|p| p == "PRIME")
    }

    /// Whether the order has the `AMAZON_BUSINESS` program.
    pub fn is_business(&self) -> bool {
        self.programs.iter().any(|p| p == "AMAZON_BUSINESS")
    }
}

impl Order {
    /// The order as the MWS model describes it (what the vault stores today), its items, and
    /// its packages (for the retention anchor: [`Order::delivered`], and `deliver_by` for the
    /// latest delivery date Amazon gave). PII moves, it is not copied. Statuses take their MWS
    /// spelling ([`FulfillmentStatus::mws_status`]); `ItemPrice` is the unit price times the
    /// quantity, as MWS sent it.
    pub fn into_mws(
        self,
    ) -> (
        crate::mws::model::Order,
        Vec<crate::mws::model::OrderItem>,
        Vec<Package>,
    ) {
        use crate::mws::model as m;
        let shipped: u32 = self.items.iter().filter_map(|i| i.quantity_fulfilled).sum();
        let ordered: u32 = self.items.iter().map(|i| i.quantity_ordered).sum();
        let money = |x: &Money| m::Money {
            currency_code: x.currency_code.clone(),
            amount: x.amount.clone(),
        };
        let is_prime = self.is_prime();
        let is_business = self.is_business();
        let info = m::OrderInfo {
            amazon_order_id: self.order_id,
            purchase_date: self.created_time,
            last_update_date: self.last_updated_time,
            order_status: self.fulfillment_status.mws_status().to_string(),
            fulfillment_channel: self.fulfilled_by.and_then(|f| match f {
                FulfilledBy::Merchant => Some("MFN".to_string()),
                FulfilledBy::Amazon => Some("AFN".to_string()),
                FulfilledBy::Other => None,
            }),
            sales_channel: self.marketplace_name,
            ship_service_level: self.service_level.clone(),
            shipment_service_level_category: self.service_level,
            ship_country_code: self.ship_country_code,
            address_type: self.address_type.map(|t| {
                let mut c = t.to_ascii_lowercase();
                if let Some(f) = c.get_mut(0..1) {
                    f.make_ascii_uppercase();
                }
                c
            }),
            order_total: self.grand_total.as_ref().map(money),
            number_of_items_shipped: Some(shipped),
            number_of_items_unshipped: Some(ordered.saturating_sub(shipped)),
            marketplace_id: self.marketplace_id,
            earliest_ship_date: self.ship_by.earliest_date_time,
            latest_ship_date: self.ship_by.latest_date_time,
            earliest_delivery_date: self.deliver_by.earliest_date_time,
            latest_delivery_date: self.deliver_by.latest_date_time,
            is_business_order: Some(is_business),
            purchase_order_number: self.purchase_order_number,
            is_prime: Some(is_prime),
            ..m::OrderInfo::default()
        };
        let items = self
            .items
            .into_iter()
            .map(|i| {
                let total = i.unit_price.as_ref().and_then(|u| {
                    times(&u.amount, i.quantity_ordered).map(|amount| m::Money {
                        currency_code: u.currency_code.clone(),
                        amount,
                    })
                });
                m::OrderItem {
                    info: m::OrderItemInfo {
                        asin: i.asin.unwrap_or_default(),
                        seller_sku: i.seller_sku,
                        order_item_id: i.order_item_id,
                        title: i.title,
                        quantity_ordered: i.quantity_ordered,
                        quantity_shipped: i.quantity_fulfilled,
                        item_price: total,
                        shipping_price: None,
                        is_gift: Some(i.gift_message.is_some() || i.gift_wrap_level.is_some()),
                        gift_wrap_level: i.gift_wrap_level,
                        condition_id: i.condition.map(|c| {
                            let mut c = c.to_ascii_lowercase();
                            if let Some(f) = c.get_mut(0..1) {
                                f.make_ascii_uppercase();
                            }
                            c
                        }),
                    },
                    gift_message_text: i.gift_message,
                }
            })
            .collect();
        (
            m::Order {
                info,
                pii: self.pii,
            },
            items,
            self.packages,
        )
    }
}

/// `amount` (a decimal string) times `n`, with the same number of decimals; `None` if it is
/// not a plain decimal.
fn times(amount: &str, n: u32) -> Option<String> {
    let (int, frac) = amount.split_once('.').unwrap_or((amount, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 6
        || int.len() > 12
    {
        return None;
    }
    let scale = 10u128.pow(frac.len() as u32);
    let v: u128 = format!("{int}{frac}").parse().ok()?;
    let t = v * u128::from(n);
    Some(if frac.is_empty() {
        t.to_string()
    } else {
        format!("{}.{:0w$}", t / scale, t % scale, w = frac.len())
    })
}

/// One `orderItems[]` entry.
#[derive(Debug)]
pub struct OrderItem {
    /// `orderItemId` (digits), validated.
    pub order_item_id: String,
    /// `quantityOrdered`.
    pub quantity_ordered: u32,
    /// `product.asin`.
    pub asin: Option<String>,
    /// `product.sellerSku`.
    pub seller_sku: Option<String>,
    /// `product.title`.
    pub title: Option<String>,
    /// `product.condition.conditionType`.
    pub condition: Option<String>,
    /// `product.price.unitPrice`.
    pub unit_price: Option<Money>,
    /// `fulfillment.quantityFulfilled`.
    pub quantity_fulfilled: Option<u32>,
    /// `fulfillment.quantityUnfulfilled`.
    pub quantity_unfulfilled: Option<u32>,
    /// `fulfillment.packing.giftOption.giftWrapLevel`.
    pub gift_wrap_level: Option<String>,
    /// `fulfillment.packing.giftOption.giftMessage` (PII).
    pub gift_message: Option<Pii>,
}

/// One `packages[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// `packageReferenceId`.
    pub package_reference_id: String,
    /// `createdTime`.
    pub created_time: Option<String>,
    /// `packageStatus.status`.
    pub status: Option<PackageStatus>,
    /// `packageStatus.detailedStatus`.
    pub detailed_status: Option<String>,
    /// `carrier`.
    pub carrier: Option<String>,
    /// `shipTime`.
    pub ship_time: Option<String>,
    /// `trackingNumber`.
    pub tracking_number: Option<String>,
    /// `packageItems[]` as (order item id, quantity).
    pub items: Vec<(String, u32)>,
}

/// An order the parser refused, alone (the rest of the page is kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Its position in the page.
    pub index: usize,
    /// Its id, when it had a well-formed one.
    pub order_id: Option<String>,
    /// Why (no values quoted).
    pub reason: String,
}

/// A `searchOrders` page.
#[derive(Debug, Default)]
pub struct SearchPage {
    /// The orders that parsed.
    pub orders: Vec<Order>,
    /// The orders refused individually.
    pub rejected: Vec<Rejected>,
    /// `pagination.nextToken`.
    pub next_token: Option<String>,
    /// `createdBefore`.
    pub created_before: Option<String>,
    /// `lastUpdatedBefore`: the upper end of the search (the next watermark).
    pub last_updated_before: Option<String>,
}

// ---- wire shapes (deserialize only) ----

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePage<'a> {
    #[serde(borrow)]
    orders: Vec<&'a RawValue>,
    #[serde(default)]
    pagination: Option<WirePagination>,
    #[serde(default)]
    created_before: Option<String>,
    #[serde(default)]
    last_updated_before: Option<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WirePagination {
    next_token: Option<String>,
}

#[derive(serde::Deserialize)]
struct WireGetOrder<'a> {
    #[serde(borrow)]
    order: &'a RawValue,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WireOrder {
    order_id: String,
    created_time: String,
    last_updated_time: String,
    programs: Vec<String>,
    sales_channel: Option<WireSalesChannel>,
    buyer: Option<WireBuyer>,
    recipient: Option<WireRecipient>,
    proceeds: Option<WireProceeds>,
    fulfillment: Option<WireFulfillment>,
    order_items: Vec<WireItem>,
    packages: Vec<WirePackage>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WireSalesChannel {
    marketplace_id: Option<String>,
    marketplace_name: Option<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WireBuyer {
    buyer_name: Option<PiiField>,
    buyer_email: Option<PiiField>,
    buyer_company_name: Option<PiiField>,
    buyer_purchase_order_number: Option<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WireRecipient {
    delivery_address: Option<WireAddress>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WireAddress {
    name: Option<PiiField>,
    address_line1: Option<PiiField>,
    address_line2: Option<PiiField>,
    address_line3: Option<PiiField>,
    city: Option<PiiField>,
    district_or_county: Option<PiiField>,
    state_or_region: Option<PiiField>,
    municipality: Option<PiiField>,
    postal_code: Option<PiiField>,
    country_code: Option<String>,
    phone: Option<PiiField>,
    address_type: Option<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WireProceeds {
    grand_total: Option<Money>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WireFulfillment {
    fulfillment_status: FulfillmentStatus,
    fulfilled_by: Option<FulfilledBy>,
    fulfillment_service_level: Option<String>,
    ship_by_window: Window,
    deliver_by_window: Window,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WireItem {
    order_item_id: String,
    /// Any JSON number: checked against [`crate::model::plausible`], not cut to a `u32`.
    quantity_ordered: Option<serde_json::Number>,
    product: WireProduct,
    fulfillment: WireItemFulfillment,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WireProduct {
    asin: Option<String>,
    title: Option<String>,
    seller_sku: Option<String>,
    condition: Option<WireCondition>,
    price: Option<WirePrice>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WireCondition {
    condition_type: Option<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WirePrice {
    unit_price: Option<Money>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WireItemFulfillment {
    quantity_fulfilled: Option<serde_json::Number>,
    quantity_unfulfilled: Option<serde_json::Number>,
    packing: Option<WirePacking>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WirePacking {
    gift_option: Option<WireGift>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WireGift {
    gift_message: Option<PiiField>,
    gift_wrap_level: Option<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WirePackage {
    package_reference_id: String,
    created_time: Option<String>,
    package_status: Option<WirePackageStatus>,
    carrier: Option<String>,
    ship_time: Option<String>,
    tracking_number: Option<String>,
    package_items: Vec<WirePackageItem>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePackageStatus {
    status: PackageStatus,
    #[serde(default)]
    detailed_status: Option<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WirePackageItem {
    order_item_id: String,
    quantity: Option<serde_json::Number>,
}

impl WireOrder {
    fn into_order(self) -> Result<Order, String> {
        if !is_order_id(&self.order_id) {
            return Err("the order id is not NNN-NNNNNNN-NNNNNNN".into());
        }
        if self.created_time.is_empty() || self.last_updated_time.is_empty() {
            return Err("createdTime or lastUpdatedTime is missing".into());
        }
        if let Some(bad) = self
            .order_items
            .iter()
            .position(|i| !is_item_id(&i.order_item_id))
        {
            return Err(format!(
                "item {} has an order item id that is not digits",
                bad + 1
            ));
        }
        // Quantities and prices within plausible bounds, else the order is refused alone.
        let qty = |field: &str, n: &Option<serde_json::Number>| {
            n.as_ref()
                .map(|n| plausible::quantity_number(field, n))
                .transpose()
        };
        let mut items = Vec::with_capacity(self.order_items.len());
        for i in &self.order_items {
            let at = |e: plausible::Implausible| format!("item {}: {e}", i.order_item_id);
            let ordered = qty("quantityOrdered", &i.quantity_ordered).map_err(at)?;
            let fulfilled =
                qty("quantityFulfilled", &i.fulfillment.quantity_fulfilled).map_err(at)?;
            let unfulfilled =
                qty("quantityUnfulfilled", &i.fulfillment.quantity_unfulfilled).map_err(at)?;
            if let Some(p) = i.product.price.as_ref().and_then(|p| p.unit_price.as_ref()) {
                plausible::amount("unitPrice", &p.amount).map_err(at)?;
            }
            items.push((ordered.unwrap_or(0), fulfilled, unfulfilled));
        }
        if let Some(t) = self.proceeds.as_ref().and_then(|p| p.grand_total.as_ref()) {
            plausible::amount("grandTotal", &t.amount).map_err(|e| e.to_string())?;
        }
        let mut package_items = Vec::new();
        for k in &self.packages {
            let mut these = Vec::with_capacity(k.package_items.len());
            for i in &k.package_items {
                let q = qty("packageItems.quantity", &i.quantity)
                    .map_err(|e| format!("package {}: {e}", k.package_reference_id))?;
                these.push(q.unwrap_or(0));
            }
            package_items.push(these);
        }
        let mut p = BuyerPii::default();
        let mut purchase_order_number = None;
        if let Some(b) = self.buyer {
            p.buyer_name = pii(b.buyer_name);
            p.buyer_email = pii(b.buyer_email);
            if let Some(c) = b.buyer_company_name {
                p.buyer_tax_info = Some(c.0);
            }
            purchase_order_number = b.buyer_purchase_order_number;
        }
        let (mut country, mut address_type) = (None, None);
        if let Some(a) = self.recipient.and_then(|r| r.delivery_address) {
            p.recipient_name = pii(a.name);
            p.address_line1 = pii(a.address_line1);
            p.address_line2 = pii(a.address_line2);
            p.address_line3 = pii(a.address_line3);
            p.city = pii(a.city);
            p.county = pii(a.district_or_county);
            p.state_or_region = pii(a.state_or_region);
            p.municipality = pii(a.municipality);
            p.postal_code = pii(a.postal_code);
            p.phone = pii(a.phone);
            country = a.country_code;
            address_type = a.address_type;
        }
        let f = self.fulfillment.unwrap_or_default();
        let (marketplace_id, marketplace_name) = self
            .sales_channel
            .map(|s| (s.marketplace_id, s.marketplace_name))
            .unwrap_or_default();
        Ok(Order {
            order_id: self.order_id,
            created_time: self.created_time,
            last_updated_time: self.last_updated_time,
            programs: self.programs,
            marketplace_id,
            marketplace_name,
            fulfillment_status: f.fulfillment_status,
            fulfilled_by: f.fulfilled_by,
            service_level: f.fulfillment_service_level,
            ship_by: f.ship_by_window,
            deliver_by: f.deliver_by_window,
            grand_total: self.proceeds.and_then(|p| p.grand_total),
            ship_country_code: country,
            address_type,
            purchase_order_number,
            pii: p,
            items: self
                .order_items
                .into_iter()
                .zip(items)
                .map(
                    |(i, (quantity_ordered, quantity_fulfilled, quantity_unfulfilled))| {
                        let gift = i.fulfillment.packing.and_then(|p| p.gift_option);
                        let (gift_message, gift_wrap_level) = match gift {
                            Some(g) => (pii(g.gift_message), g.gift_wrap_level),
                            None => (None, None),
                        };
                        OrderItem {
                            order_item_id: i.order_item_id,
                            quantity_ordered,
                            asin: i.product.asin,
                            seller_sku: i.product.seller_sku,
                            title: i.product.title,
                            condition: i.product.condition.and_then(|c| c.condition_type),
                            unit_price: i.product.price.and_then(|p| p.unit_price),
                            quantity_fulfilled,
                            quantity_unfulfilled,
                            gift_wrap_level,
                            gift_message,
                        }
                    },
                )
                .collect(),
            packages: self
                .packages
                .into_iter()
                .zip(package_items)
                .map(|(k, quantities)| Package {
                    package_reference_id: k.package_reference_id,
                    created_time: k.created_time,
                    status: k.package_status.as_ref().map(|s| s.status),
                    detailed_status: k.package_status.and_then(|s| s.detailed_status),
                    carrier: k.carrier,
                    ship_time: k.ship_time,
                    tracking_number: k.tracking_number,
                    items: k
                        .package_items
                        .into_iter()
                        .zip(quantities)
                        .map(|(i, q)| (i.order_item_id, q))
                        .collect(),
                })
                .collect(),
        })
    }
}

fn one_order(raw: &RawValue) -> Result<Order, (Option<String>, String)> {
    match serde_json::from_str::<WireOrder>(raw.get()) {
        Ok(w) => {
            let id = w.order_id.clone();
            w.into_order()
                .map_err(|why| (is_order_id(&id).then_some(id), why))
        }
        Err(e) => {
            #[derive(serde::Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct IdOnly {
                order_id: String,
            }
            let id = serde_json::from_str::<IdOnly>(raw.get())
                .ok()
                .map(|o| o.order_id)
                .filter(|id| is_order_id(id));
            Err((id, malformed(&e).to_string()))
        }
    }
}

/// Parses a `searchOrders` 200 reply; orders that fail alone are in [`SearchPage::rejected`].
pub fn parse_search_orders(body: &[u8]) -> Result<SearchPage, ParseError> {
    let page: WirePage<'_> = from_slice(body)?;
    let mut out = SearchPage {
        next_token: page.pagination.and_then(|p| p.next_token),
        created_before: page.created_before,
        last_updated_before: page.last_updated_before,
        ..SearchPage::default()
    };
    for (index, raw) in page.orders.into_iter().enumerate() {
        match one_order(raw) {
            Ok(o) => out.orders.push(o),
            Err((order_id, reason)) => out.rejected.push(Rejected {
                index,
                order_id,
                reason,
            }),
        }
    }
    Ok(out)
}

/// Parses a `getOrder` 200 reply. An order with a bad id is an error.
pub fn parse_get_order(body: &[u8]) -> Result<Order, ParseError> {
    let wire: WireGetOrder<'_> = from_slice(body)?;
    one_order(wire.order).map_err(|(_, why)| ParseError::Malformed(why))
}

/// One marketplace of a `getMarketplaceParticipations` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participation {
    /// `marketplace.id`.
    pub marketplace_id: String,
    /// `participation.isParticipating`.
    pub participating: bool,
}

#[derive(serde::Deserialize)]
struct WireParticipations {
    payload: Vec<WireParticipation>,
}

#[derive(serde::Deserialize)]
struct WireParticipation {
    marketplace: WireMarketplace,
    #[serde(default)]
    participation: Option<WireParticipating>,
}

#[derive(serde::Deserialize)]
struct WireMarketplace {
    id: String,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireParticipating {
    #[serde(default)]
    is_participating: bool,
}

/// Parses a Sellers API `getMarketplaceParticipations` 200 reply (`payload[]`).
pub fn parse_participations(body: &[u8]) -> Result<Vec<Participation>, ParseError> {
    let wire: WireParticipations = from_slice(body)?;
    Ok(wire
        .payload
        .into_iter()
        .map(|p| Participation {
            marketplace_id: p.marketplace.id,
            participating: p.participation.is_some_and(|x| x.is_participating),
        })
        .collect())
}

/// One entry of Amazon's `errors[]` envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct ApiError {
    /// `code`, e.g. `InvalidInput`, `QuotaExceeded`, `Unauthorized`.
    pub code: String,
    /// `message`.
    pub message: String,
    /// `details`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// Amazon's error envelope: `{"errors": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct ErrorList {
    /// The errors.
    pub errors: Vec<ApiError>,
}

impl ErrorList {
    /// The first error's code, or "".
    pub fn code(&self) -> &str {
        self.errors.first().map_or("", |e| e.code.as_str())
    }

    /// The first error as `code: message (details)`, one line, at most 300 characters.
    pub fn summary(&self) -> String {
        let Some(e) = self.errors.first() else {
            return "no error detail".into();
        };
        let mut s = format!("{}: {}", e.code, e.message);
        if let Some(d) = e
            .details
            .as_deref()
            .filter(|d| !d.is_empty() && *d != e.message)
        {
            s.push_str(&format!(" ({d})"));
        }
        let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
        s.chars().take(300).collect()
    }
}

/// Parses an error body (`errors[]`); `None` when it is not one.
pub fn parse_errors(body: &[u8]) -> Option<ErrorList> {
    from_slice::<ErrorList>(body)
        .ok()
        .filter(|e| !e.errors.is_empty())
}

// ---- confirmShipment (Orders v0) ----

/// The `confirmShipment` request body.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmShipmentRequest {
    /// The order's marketplace.
    pub marketplace_id: String,
    /// The one package this call confirms.
    pub package_detail: PackageDetail,
    /// `codCollectionMethod` (JP COD orders only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cod_collection_method: Option<String>,
}

/// `packageDetail`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageDetail {
    /// A *string* holding a positive number ("1"), unique within the order.
    pub package_reference_id: String,
    /// Amazon's carrier code (see [`carrier`]), `Other` with `carrier_name` otherwise.
    pub carrier_code: String,
    /// Required when `carrier_code` is `Other`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier_name: Option<String>,
    /// E.g. `FedEx Ground`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_method: Option<String>,
    /// The tracking number.
    pub tracking_number: String,
    /// ISO 8601 with milliseconds, e.g. `2022-02-11T01:00:00.000Z`.
    pub ship_date: String,
    /// `shipFromSupplySourceId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_from_supply_source_id: Option<String>,
    /// The items in this package.
    pub order_items: Vec<ConfirmItem>,
}

/// `packageDetail.orderItems[]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmItem {
    /// The order item id (digits).
    pub order_item_id: String,
    /// How many of it are in the package (at least 1).
    pub quantity: u32,
    /// Transparency codes, if the item has them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transparency_codes: Vec<String>,
}

/// Carrier codes Amazon accepts as `carrierCode` (a subset of the Seller Central list, which
/// must match exactly since April 2021; anything else is sent as `Other` + `carrierName`).
pub const CARRIER_CODES: &[&str] = &[
    "USPS",
    "UPS",
    "UPSMI",
    "FedEx",
    "FedEx SmartPost",
    "DHL",
    "DHL eCommerce",
    "OnTrac",
    "Amazon Shipping",
    "Royal Mail",
    "Parcelforce",
    "DPD",
    "Hermes",
    "Evri",
    "GLS",
    "Deutsche Post",
    "La Poste",
    "Colissimo",
    "Chronopost",
    "Canada Post",
    "Japan Post",
    "Yamato Transport",
    "Sagawa Express",
    "Australia Post",
];

/// `(carrierCode, carrierName)` for a carrier as the seller names it: a known code
/// (compared case-insensitively, returned in Amazon's spelling) or `Other` with the name.
pub fn carrier(name: &str) -> (String, Option<String>) {
    let name = name.trim();
    match CARRIER_CODES.iter().find(|c| c.eq_ignore_ascii_case(name)) {
        Some(c) => ((*c).to_string(), None),
        None => ("Other".to_string(), Some(name.to_string())),
    }
}

impl ConfirmShipmentRequest {
    /// One package of an order, in domain terms: package number `package` (1 for the first
    /// package of the order; sent as the string Amazon wants), the carrier as the seller names
    /// it (mapped by [`carrier`]), the ship time and the (order item id, quantity) pairs.
    pub fn package(
        marketplace_id: &str,
        package: u32,
        carrier_name: &str,
        shipping_method: Option<&str>,
        tracking_number: &str,
        ship_date: chrono::DateTime<chrono::Utc>,
        items: &[(String, u32)],
    ) -> Self {
        let (carrier_code, carrier_name) = carrier(carrier_name);
        ConfirmShipmentRequest {
            marketplace_id: marketplace_id.to_string(),
            package_detail: PackageDetail {
                package_reference_id: package.to_string(),
                carrier_code,
                carrier_name,
                shipping_method: shipping_method.map(str::to_string),
                tracking_number: tracking_number.to_string(),
                ship_date: ship_date.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                ship_from_supply_source_id: None,
                order_items: items
                    .iter()
                    .map(|(id, q)| ConfirmItem {
                        order_item_id: id.clone(),
                        quantity: *q,
                        transparency_codes: Vec::new(),
                    })
                    .collect(),
            },
            cod_collection_method: None,
        }
    }

    /// Checks what Amazon checks before sending (the sandbox uses the same rules).
    pub fn validate(&self) -> Result<(), String> {
        let d = &self.package_detail;
        if self.marketplace_id.is_empty() {
            return Err("marketplaceId is required".into());
        }
        if !d.package_reference_id.bytes().all(|b| b.is_ascii_digit())
            || d.package_reference_id
                .parse::<u64>()
                .map_or(true, |n| n == 0)
        {
            return Err("PackageReferenceId: is invalid, must be a positive numeric value".into());
        }
        if d.carrier_code.is_empty() {
            return Err("carrierCode is required".into());
        }
        if d.carrier_code == "Other" && d.carrier_name.as_deref().is_none_or(str::is_empty) {
            return Err("carrierName is required when carrierCode is Other".into());
        }
        if d.tracking_number.trim().is_empty() {
            return Err("trackingNumber is required".into());
        }
        if chrono::DateTime::parse_from_rfc3339(&d.ship_date).is_err() {
            return Err("shipDate must be an ISO 8601 date-time".into());
        }
        if d.order_items.is_empty() {
            return Err("orderItems must not be empty".into());
        }
        for (n, i) in d.order_items.iter().enumerate() {
            if !is_item_id(&i.order_item_id) {
                return Err("OrderItemId is invalid".into());
            }
            if i.quantity == 0 {
                return Err("quantity must be at least 1".into());
            }
            // One entry per item in a package: its quantity says how many.
            if d.order_items[..n]
                .iter()
                .any(|e| e.order_item_id == i.order_item_id)
            {
                return Err(format!(
                    "orderItems lists OrderItemId {} more than once",
                    i.order_item_id
                ));
            }
        }
        Ok(())
    }

    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("the request serializes")
    }
}

/// Reads a `confirmShipment` body (the sandbox's side).
pub fn parse_confirm_request(body: &[u8]) -> Result<ConfirmShipmentRequest, ParseError> {
    from_slice(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"{"orders":[
      {"orderId":"111-1234567-1234567","createdTime":"2026-01-01T00:00:00Z",
       "lastUpdatedTime":"2026-01-01T01:00:00Z","newField":{"x":[1,2]},
       "fulfillment":{"fulfillmentStatus":"SOMETHING_NEW","fulfilledBy":"MERCHANT"},
       "recipient":{"deliveryAddress":{"addressLine1":"MARK 1 Main St","postalCode":"MARK 9"}},
       "orderItems":[{"orderItemId":"123","quantityOrdered":2,"product":{}}],
       "packages":[{"packageReferenceId":"1","packageStatus":{"status":"DELIVERED"}}]},
      {"orderId":"bad-id","createdTime":"x","lastUpdatedTime":"y","orderItems":[]},
      {"orderId":"111-1234567-7654321","createdTime":"t","lastUpdatedTime":"u",
       "orderItems":[{"orderItemId":"12a","quantityOrdered":1}]},
      {"orderId":"111-1234567-0000000","orderItems":[{"quantityOrdered":"MARK"}]}
    ],"pagination":{"nextToken":"abc"},"lastUpdatedBefore":"2026-01-02T00:00:00Z"}"#;

    #[test]
    fn tolerant_and_refuses_bad_orders_alone() {
        let p = parse_search_orders(PAGE.as_bytes()).unwrap();
        assert_eq!(p.orders.len(), 1);
        let o = &p.orders[0];
        assert_eq!(o.fulfillment_status, FulfillmentStatus::Other);
        assert!(o.pii.recipient_name.is_none());
        assert!(o.pii.is_unaddressable());
        assert!(o.delivered());
        assert_eq!(p.next_token.as_deref(), Some("abc"));
        assert_eq!(p.rejected.len(), 3);
        assert_eq!(p.rejected[0].order_id, None);
        assert_eq!(
            p.rejected[1].order_id.as_deref(),
            Some("111-1234567-7654321")
        );
        assert_eq!(
            p.rejected[2].order_id.as_deref(),
            Some("111-1234567-0000000")
        );
        for r in &p.rejected {
            assert!(!r.reason.contains("MARK"), "{}", r.reason);
        }
        assert!(!format!("{o:?}").contains("MARK"));
    }

    #[test]
    fn into_mws_keeps_the_fields_the_vault_stores() {
        let body = br#"{"order":{"orderId":"111-1234567-1234567","createdTime":"2026-01-01T00:00:00Z",
          "lastUpdatedTime":"2026-01-02T00:00:00Z","programs":["PRIME"],
          "salesChannel":{"marketplaceId":"ATVPDKIKX0DER","marketplaceName":"Amazon.com"},
          "fulfillment":{"fulfillmentStatus":"PARTIALLY_SHIPPED","fulfilledBy":"MERCHANT",
            "deliverByWindow":{"latestDateTime":"2026-01-09T00:00:00Z"}},
          "recipient":{"deliveryAddress":{"name":"N","addressLine1":"L1","addressType":"COMMERCIAL"}},
          "orderItems":[
            {"orderItemId":"1","quantityOrdered":3,"product":{"asin":"B0","price":{"unitPrice":{"amount":"19.99","currencyCode":"USD"}},"condition":{"conditionType":"NEW"}},
             "fulfillment":{"quantityFulfilled":1,"quantityUnfulfilled":2,"packing":{"giftOption":{"giftMessage":"G"}}}},
            {"orderItemId":"2","quantityOrdered":1,"product":{"price":{"unitPrice":{"amount":"5980","currencyCode":"JPY"}}}}]}}"#;
        let (o, items, _) = parse_get_order(body).unwrap().into_mws();
        assert_eq!(o.info.order_status, "PartiallyShipped");
        assert_eq!(o.info.fulfillment_channel.as_deref(), Some("MFN"));
        assert_eq!(o.info.address_type.as_deref(), Some("Commercial"));
        assert_eq!(
            o.info.latest_delivery_date.as_deref(),
            Some("2026-01-09T00:00:00Z")
        );
        assert_eq!(
            (
                o.info.number_of_items_shipped,
                o.info.number_of_items_unshipped
            ),
            (Some(1), Some(3))
        );
        assert_eq!(o.info.is_prime, Some(true));
        assert_eq!(o.pii.recipient_name.as_ref().unwrap().expose_pii(), "N");
        assert_eq!(items[0].info.item_price.as_ref().unwrap().amount, "59.97");
        assert_eq!(items[0].info.condition_id.as_deref(), Some("New"));
        assert_eq!(
            items[0].gift_message_text.as_ref().unwrap().expose_pii(),
            "G"
        );
        assert_eq!(items[1].info.item_price.as_ref().unwrap().amount, "5980");
        assert_eq!(times("1e5", 2), None);
    }

    #[test]
    fn absurd_quantities_and_prices_refuse_their_order_alone_with_the_reason() {
        let order = |n: u32, item: &str| {
            format!(
                r#"{{"orderId":"111-1234567-000000{n}","createdTime":"2026-01-01T00:00:00Z",
                   "lastUpdatedTime":"2026-01-01T00:00:00Z","orderItems":[{item}]}}"#
            )
        };
        let page = format!(
            r#"{{"orders":[{},{},{},{},{},{}],"lastUpdatedBefore":"2026-01-02T00:00:00Z"}}"#,
            order(
                1,
                r#"{"orderItemId":"1","quantityOrdered":2,"product":{"price":{"unitPrice":{"amount":"19.99","currencyCode":"USD"}}}}"#
            ),
            order(2, r#"{"orderItemId":"2","quantityOrdered":1e20}"#),
            order(3, r#"{"orderItemId":"3","quantityOrdered":4294967295}"#),
            order(
                4,
                r#"{"orderItemId":"4","quantityOrdered":1,"product":{"price":{"unitPrice":{"amount":"1e20","currencyCode":"USD"}}}}"#
            ),
            order(
                5,
                r#"{"orderItemId":"5","quantityOrdered":1,"fulfillment":{"quantityFulfilled":-1}}"#
            ),
            order(6, r#"{"orderItemId":"6","quantityOrdered":10000}"#),
        );
        let p = parse_search_orders(page.as_bytes()).unwrap();
        let ok: Vec<&str> = p.orders.iter().map(|o| o.order_id.as_str()).collect();
        assert_eq!(ok, ["111-1234567-0000001", "111-1234567-0000006"]);
        let why: Vec<(&str, &str)> = p
            .rejected
            .iter()
            .map(|r| (r.order_id.as_deref().unwrap(), r.reason.as_str()))
            .collect();
        assert_eq!(why.len(), 4, "{why:?}");
        assert!(
            why[0]
                .1
                .contains("quantityOrdered \"1e+20\" is not a plausible quantity"),
            "{why:?}"
        );
        assert!(
            why[1].1.contains("quantityOrdered \"4294967295\""),
            "{why:?}"
        );
        assert!(
            why[2]
                .1
                .contains("unitPrice \"1e20\" is not a plausible amount"),
            "{why:?}"
        );
        assert!(why[3].1.contains("quantityFulfilled"), "{why:?}");
        assert!(why.iter().all(|(_, r)| !r.contains("format")), "{why:?}");
    }

    #[test]
    fn caps_and_errors_never_quote_input() {
        assert_eq!(
            check_body(&vec![b' '; MAX_BODY + 1]),
            Err(ParseError::TooLarge)
        );
        let deep = "[".repeat(MAX_DEPTH + 1);
        assert_eq!(check_body(deep.as_bytes()), Err(ParseError::TooDeep));
        assert!(check_body("[".repeat(MAX_DEPTH).as_bytes()).is_ok());
        assert!(check_body(br#"{"a":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}"#).is_ok());
        let e = parse_get_order(br#"{"order":{"orderId":"MARKER123"}}"#).unwrap_err();
        assert!(!e.to_string().contains("MARKER"), "{e}");
        let e = parse_search_orders(br#"{"orders":"MARKER"}"#).unwrap_err();
        assert!(!e.to_string().contains("MARKER"), "{e}");
    }

    #[test]
    fn confirm_request_rules() {
        let (code, name) = carrier("fedex");
        assert_eq!((code.as_str(), name), ("FedEx", None));
        let (code, name) = carrier("Bob's Couriers");
        assert_eq!(
            (code.as_str(), name.as_deref()),
            ("Other", Some("Bob's Couriers"))
        );
        let mut r = ConfirmShipmentRequest {
            marketplace_id: "ATVPDKIKX0DER".into(),
            package_detail: PackageDetail {
                package_reference_id: "1".into(),
                carrier_code: code,
                carrier_name: name,
                shipping_method: None,
                tracking_number: "1Z999".into(),
                ship_date: "2026-01-01T00:00:00.000Z".into(),
                ship_from_supply_source_id: None,
                order_items: vec![ConfirmItem {
                    order_item_id: "123".into(),
                    quantity: 1,
                    transparency_codes: vec![],
                }],
            },
            cod_collection_method: None,
        };
        r.validate().unwrap();
        let t = crate::clock::parse_time("2026-01-01T00:00:00Z").unwrap();
        let same = ConfirmShipmentRequest::package(
            "ATVPDKIKX0DER",
            1,
            "Bob's Couriers",
            None,
            "1Z999",
            t,
            &[("123".to_string(), 1)],
        );
        assert_eq!(same, r);
        let json: serde_json::Value = serde_json::from_slice(&r.to_json()).unwrap();
        assert_eq!(json["packageDetail"]["packageReferenceId"], "1");
        assert!(json["packageDetail"].get("shippingMethod").is_none());
        for bad in ["0", "-1", "A", ""] {
            r.package_detail.package_reference_id = bad.into();
            assert!(r.validate().is_err(), "{bad}");
        }

        // A second parcel of the order with two items: package "2", one entry per item.
        let two = ConfirmShipmentRequest::package(
            "ATVPDKIKX0DER",
            2,
            "UPS",
            Some("Ground"),
            "1Z2",
            t,
            &[("123".to_string(), 2), ("456".to_string(), 1)],
        );
        two.validate().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&two.to_json()).unwrap();
        assert_eq!(json["packageDetail"]["packageReferenceId"], "2");
        assert_eq!(
            json["packageDetail"]["orderItems"],
            serde_json::json!([
                {"orderItemId": "123", "quantity": 2},
                {"orderItemId": "456", "quantity": 1}
            ])
        );
        let mut twice = two.clone();
        twice.package_detail.order_items[1].order_item_id = "123".into();
        assert!(twice.validate().unwrap_err().contains("more than once"));
    }
}
