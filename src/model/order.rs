//! Protocol-neutral order vocabulary: what the vault stores and the workflows handle, whichever
//! marketplace protocol (MWS or SP-API) delivered it. No I/O.
//!
//! Field names and status values follow Amazon's order vocabulary in the spelling the vault has
//! stored since the first release (`Unshipped`, `MFN`, `OrderItemId` ...): the MWS adapter reads
//! them as sent, the SP-API adapter maps its names onto them ([`crate::spapi::model::Order::into_mws`]).
//! Every PII field is a [`Pii`] inside a [`ShipTo`] ([`BuyerPii`]) or an item's gift message.

pub use crate::pii::BuyerPii;
use crate::pii::Pii;

/// The buyer and ship-to PII of an order (redacting, zeroized, never `Clone`).
pub type ShipTo = BuyerPii;

/// An order line.
pub type Item = OrderItem;

/// An amount of money: `CurrencyCode` and `Amount` (a decimal string, kept as sent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Money {
    /// ISO 4217 code.
    pub currency_code: String,
    /// Decimal string, e.g. `25.00` (or a masked value in recordings).
    pub amount: String,
}

/// The non-PII fields of an `<Order>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderInfo {
    /// `AmazonOrderId` (3-7-7 digits).
    pub amazon_order_id: String,
    /// `SellerOrderId`.
    pub seller_order_id: Option<String>,
    /// `PurchaseDate`.
    pub purchase_date: String,
    /// `LastUpdateDate`.
    pub last_update_date: String,
    /// `OrderStatus` (`Pending`, `Unshipped`, `PartiallyShipped`, `Shipped`, `Canceled`, ...).
    pub order_status: String,
    /// `FulfillmentChannel` (`MFN` or `AFN`).
    pub fulfillment_channel: Option<String>,
    /// `SalesChannel`.
    pub sales_channel: Option<String>,
    /// `OrderChannel`.
    pub order_channel: Option<String>,
    /// `ShipServiceLevel`.
    pub ship_service_level: Option<String>,
    /// `ShippingAddress/CountryCode` (not PII on its own).
    pub ship_country_code: Option<String>,
    /// `ShippingAddress/AddressType` (`Commercial` or `Residential`).
    pub address_type: Option<String>,
    /// `OrderTotal`.
    pub order_total: Option<Money>,
    /// `NumberOfItemsShipped`.
    pub number_of_items_shipped: Option<u32>,
    /// `NumberOfItemsUnshipped`.
    pub number_of_items_unshipped: Option<u32>,
    /// `PaymentMethod`.
    pub payment_method: Option<String>,
    /// `MarketplaceId`.
    pub marketplace_id: Option<String>,
    /// `ShipmentServiceLevelCategory` (trimmed).
    pub shipment_service_level_category: Option<String>,
    /// `OrderType`.
    pub order_type: Option<String>,
    /// `EarliestShipDate`.
    pub earliest_ship_date: Option<String>,
    /// `LatestShipDate` (MFN only).
    pub latest_ship_date: Option<String>,
    /// `EarliestDeliveryDate`.
    pub earliest_delivery_date: Option<String>,
    /// `LatestDeliveryDate`.
    pub latest_delivery_date: Option<String>,
    /// `IsBusinessOrder`.
    pub is_business_order: Option<bool>,
    /// `PurchaseOrderNumber`.
    pub purchase_order_number: Option<String>,
    /// `IsPrime`.
    pub is_prime: Option<bool>,
    /// `IsPremiumOrder`.
    pub is_premium_order: Option<bool>,
    /// `IsReplacementOrder`.
    pub is_replacement_order: Option<bool>,
    /// `ReplacedOrderId`.
    pub replaced_order_id: Option<String>,
}

/// One `<Order>`: plain fields in `info`, buyer and address data in `pii`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Order {
    /// Non-PII fields.
    pub info: OrderInfo,
    /// `BuyerName`, `BuyerEmail`, `BuyerTaxInfo` and the address fields.
    pub pii: BuyerPii,
}

impl Order {
    /// A copy (PII is copied through its sealed encoding, which is zeroized afterwards).
    pub fn duplicate(&self) -> Order {
        Order {
            info: self.info.clone(),
            pii: copy_pii(&self.pii),
        }
    }
}

/// Copies a [`BuyerPii`] (it is deliberately not `Clone`).
pub fn copy_pii(p: &BuyerPii) -> BuyerPii {
    BuyerPii::decode(&p.encode()).unwrap_or_default()
}

/// The non-PII fields of an `<OrderItem>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderItemInfo {
    /// `ASIN`.
    pub asin: String,
    /// `SellerSKU`.
    pub seller_sku: Option<String>,
    /// `OrderItemId`: the feed's `AmazonOrderItemCode`.
    pub order_item_id: String,
    /// `Title`.
    pub title: Option<String>,
    /// `QuantityOrdered`.
    pub quantity_ordered: u32,
    /// `QuantityShipped`.
    pub quantity_shipped: Option<u32>,
    /// `ItemPrice` (unit price × quantity).
    pub item_price: Option<Money>,
    /// `ShippingPrice`.
    pub shipping_price: Option<Money>,
    /// `IsGift`.
    pub is_gift: Option<bool>,
    /// `GiftWrapLevel`.
    pub gift_wrap_level: Option<String>,
    /// `ConditionId`.
    pub condition_id: Option<String>,
}

/// One `<OrderItem>`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct OrderItem {
    /// Non-PII fields.
    pub info: OrderItemInfo,
    /// `GiftMessageText` (PII).
    pub gift_message_text: Option<Pii>,
}

impl OrderItem {
    /// A copy of the item, gift message included.
    pub fn duplicate(&self) -> OrderItem {
        OrderItem {
            info: self.info.clone(),
            gift_message_text: self
                .gift_message_text
                .as_ref()
                .map(|p| Pii::new(p.expose_pii())),
        }
    }
}

/// One package to confirm to Amazon: what was shipped, how, and which items (no PII).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Confirmation {
    /// The Amazon order id.
    pub order_id: String,
    /// The marketplace the order belongs to, when known.
    pub marketplace_id: Option<String>,
    /// The SP-API region the order was fetched from, when recorded (routes the confirmation
    /// of an order whose marketplace the tool does not know).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The seller's package number within the order (a positive number, sent as a string).
    pub package_reference: String,
    /// The carrier as the operator gave it (mapped to Amazon's code by the adapter).
    pub carrier: String,
    /// The shipping method, if any.
    pub shipping_method: Option<String>,
    /// The tracking number.
    pub tracking_number: String,
    /// When it shipped (RFC 3339).
    pub ship_date: String,
    /// Items in the package: (order item id, quantity).
    pub items: Vec<(String, u32)>,
}

/// Amazon's verdict on one confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Amazon accepted it.
    Accepted,
    /// Amazon says it was already confirmed (most likely by an earlier attempt whose answer was
    /// lost): done, not a failure.
    Duplicate {
        /// Amazon's reason, one line.
        reason: String,
    },
    /// Amazon refused it.
    Rejected {
        /// Amazon's error code.
        code: String,
        /// Amazon's reason, one line.
        reason: String,
    },
}
