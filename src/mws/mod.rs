//! The MWS protocol: signing, XML models and parsers, the quota model.
//!
//! Everything here is pure (no HTTP, no persistence, no clock reads): the future client and the
//! built-in sandbox share it, so both speak exactly the same protocol.

pub mod client;
pub mod credentials;
pub mod ids;
pub mod merchant;
pub mod model;
pub mod sign;
pub mod throttle;
pub mod xml;

/// Orders API version.
pub const ORDERS_VERSION: &str = "2013-09-01";
/// Orders API path.
pub const ORDERS_PATH: &str = "/Orders/2013-09-01";
/// Orders API XML namespace (the same in every region).
pub const ORDERS_NS: &str = "https://mws.amazonservices.com/Orders/2013-09-01";
/// Feeds API version.
pub const FEEDS_VERSION: &str = "2009-01-01";
/// Feeds API path as the docs give it (clients also use `/`).
pub const FEEDS_PATH: &str = "/Feeds/2009-01-01";
/// Feeds API XML namespace.
pub const FEEDS_NS: &str = "http://mws.amazonaws.com/doc/2009-01-01/";
/// The fulfillment feed type.
pub const FULFILLMENT_FEED_TYPE: &str = "_POST_ORDER_FULFILLMENT_DATA_";
