//! The Selling Partner API protocol: Login with Amazon, Orders 2026-01-01 and the Orders v0
//! `confirmShipment`, Shipping API v2 ([`shipping`]), the usage-plan model, and a blocking client.
//!
//! Mirrors [`crate::mws`]: the models, parsers and the quota model are pure and shared by the
//! client ([`client`]) and the built-in sandbox ([`crate::sandbox::spapi`]), so both speak
//! exactly the same protocol. Facts and shapes: `docs/SP-API.md` (in `../shared`).

pub mod client;
pub mod credentials;
pub mod lwa;
pub mod model;
pub mod shipping;
pub mod throttle;

/// `searchOrders` path (Orders 2026-01-01).
pub const SEARCH_ORDERS_PATH: &str = "/orders/2026-01-01/orders";
/// `getOrder` path prefix (Orders 2026-01-01): the order id follows.
pub const GET_ORDER_PREFIX: &str = "/orders/2026-01-01/orders/";
/// `confirmShipment` path prefix (Orders v0): `{orderId}/shipmentConfirmation` follows.
pub const CONFIRM_PREFIX: &str = "/orders/v0/orders/";
/// `confirmShipment` path suffix.
pub const CONFIRM_SUFFIX: &str = "/shipmentConfirmation";
/// Shipping API v2 `getRates` path.
pub const SHIPPING_RATES_PATH: &str = "/shipping/v2/shipments/rates";
/// Shipping API v2 `purchaseShipment` path.
pub const SHIPPING_PURCHASE_PATH: &str = "/shipping/v2/shipments";
/// Shipping API v2 prefix of `getShipmentDocuments` (`{shipmentId}/documents` follows) and
/// `cancelShipment` (`{shipmentId}/cancel` follows).
pub const SHIPPING_SHIPMENT_PREFIX: &str = "/shipping/v2/shipments/";
/// Shipping API v2 `getShipmentDocuments` path suffix.
pub const SHIPPING_DOCUMENTS_SUFFIX: &str = "/documents";
/// Shipping API v2 `cancelShipment` path suffix.
pub const SHIPPING_CANCEL_SUFFIX: &str = "/cancel";
/// The Shipping API v2 header that names the Amazon Shipping business.
pub const SHIPPING_BUSINESS_HEADER: &str = "x-amzn-shipping-business-id";
/// The Shipping API v2 header that makes `purchaseShipment` idempotent.
pub const IDEMPOTENCY_HEADER: &str = "x-amzn-IdempotencyKey";
/// Amazon's LWA token endpoint (one host for every region).
pub const LWA_TOKEN_URL: &str = "https://api.amazon.com/auth/o2/token";
/// The path of the LWA token endpoint (the sandbox serves it too).
pub const LWA_TOKEN_PATH: &str = "/auth/o2/token";
/// Sellers API v1 `getMarketplaceParticipations` (where the seller sells, every region).
pub const PARTICIPATIONS_PATH: &str = "/sellers/v1/marketplaceParticipations";
/// What fulfill asks `searchOrders` and `getOrder` to include: the ship-to address, the
/// buyer, the fulfilment status and windows, the packages (the `DELIVERED` retention anchor),
/// and the proceeds (the order total, which MWS orders carry too).
pub const INCLUDED_DATA: &str = "RECIPIENT,BUYER,FULFILLMENT,PACKAGES,PROCEEDS";

/// Operation names, as the usage plans, the audit log and the sandbox name them.
pub mod op {
    /// LWA refresh-token grant.
    pub const LWA_TOKEN: &str = "lwaToken";
    /// Sellers API v1 `getMarketplaceParticipations`.
    pub const GET_MARKETPLACE_PARTICIPATIONS: &str = "getMarketplaceParticipations";
    /// Orders 2026-01-01 `searchOrders`.
    pub const SEARCH_ORDERS: &str = "searchOrders";
    /// Orders 2026-01-01 `getOrder`.
    pub const GET_ORDER: &str = "getOrder";
    /// Orders v0 `confirmShipment`.
    pub const CONFIRM_SHIPMENT: &str = "confirmShipment";
    /// Shipping API v2 `getRates`.
    pub const GET_RATES: &str = "getRates";
    /// Shipping API v2 `purchaseShipment`.
    pub const PURCHASE_SHIPMENT: &str = "purchaseShipment";
    /// Shipping API v2 `getShipmentDocuments`.
    pub const GET_SHIPMENT_DOCUMENTS: &str = "getShipmentDocuments";
    /// Shipping API v2 `cancelShipment`.
    pub const CANCEL_SHIPMENT: &str = "cancelShipment";
}

/// The Amazon Shipping business (`x-amzn-shipping-business-id`) of a marketplace, for the
/// marketplaces where Amazon Shipping sells labels (SP-API.md §1.10); `None` elsewhere.
pub fn shipping_business(marketplace_id: &str) -> Option<&'static str> {
    crate::model::marketplace::Marketplace::by_id(marketplace_id)?.shipping_business
}

/// Whether `id` is an Amazon order id (`NNN-NNNNNNN-NNNNNNN`).
pub fn is_order_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            3 | 11 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

/// Whether `id` is an order item id (digits only, 1 to 32 of them).
pub fn is_item_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids() {
        assert!(super::is_order_id("114-9876543-1234567"));
        for bad in [
            "114-9876543-123456",
            "114_9876543-1234567",
            "A14-9876543-1234567",
            "",
        ] {
            assert!(!super::is_order_id(bad), "{bad}");
        }
        assert!(super::is_item_id("17198765432109"));
        assert!(!super::is_item_id("1719x"));
        assert!(!super::is_item_id(""));
    }
}
