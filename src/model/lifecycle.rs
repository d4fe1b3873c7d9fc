//! The local order lifecycle and the confirmation state of a package, as enums.
//!
//! The vault stores them as the lower-case strings of [`Lifecycle::as_str`] and
//! [`ShipmentState::as_str`] (the `orders.lifecycle` and `shipments.state` columns); `orders
//! --status` accepts the same strings.
//!
//! `unshipped` → (`labelled`) → `partially_shipped` (some items are in recorded packages, not
//! all) → `shipped` (every item is) → `confirmed` (Amazon accepted every package) or
//! `confirm_failed` (it refused one); `canceled` at any point from Amazon.

use std::fmt;

/// Where an order stands locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lifecycle {
    /// Amazon has not released it yet (no address).
    Pending,
    /// Ready to ship.
    Unshipped,
    /// A label was printed.
    Labelled,
    /// Some of its items are in recorded packages, not all.
    PartiallyShipped,
    /// Every item is in a recorded package.
    Shipped,
    /// Amazon accepted every package.
    Confirmed,
    /// Amazon refused a package (its reason is kept).
    ConfirmFailed,
    /// Canceled by the buyer or Amazon.
    Canceled,
}

impl Lifecycle {
    /// Every state, in lifecycle order.
    pub const ALL: [Lifecycle; 8] = [
        Lifecycle::Pending,
        Lifecycle::Unshipped,
        Lifecycle::Labelled,
        Lifecycle::PartiallyShipped,
        Lifecycle::Shipped,
        Lifecycle::Confirmed,
        Lifecycle::ConfirmFailed,
        Lifecycle::Canceled,
    ];

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Pending => "pending",
            Lifecycle::Unshipped => "unshipped",
            Lifecycle::Labelled => "labelled",
            Lifecycle::PartiallyShipped => "partially_shipped",
            Lifecycle::Shipped => "shipped",
            Lifecycle::Confirmed => "confirmed",
            Lifecycle::ConfirmFailed => "confirm_failed",
            Lifecycle::Canceled => "canceled",
        }
    }

    /// The state a stored string names.
    pub fn parse(s: &str) -> Option<Lifecycle> {
        Lifecycle::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// A package of it has been recorded and not all of it was cancelled: local progress that
    /// Amazon's view of the order never rolls back.
    pub fn has_shipped(self) -> bool {
        matches!(
            self,
            Lifecycle::PartiallyShipped
                | Lifecycle::Shipped
                | Lifecycle::Confirmed
                | Lifecycle::ConfirmFailed
        )
    }
}

impl fmt::Display for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The confirmation state of one package (`shipments.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShipmentState {
    /// Waiting for a feed.
    Queued,
    /// In a feed Amazon accepted.
    Submitted,
    /// The processing report accepted its message.
    Confirmed,
    /// The processing report refused its message.
    Failed,
    /// A bought label was cancelled (refund asked): it ships nothing.
    Cancelled,
}

impl ShipmentState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ShipmentState::Queued => "queued",
            ShipmentState::Submitted => "submitted",
            ShipmentState::Confirmed => "confirmed",
            ShipmentState::Failed => "failed",
            ShipmentState::Cancelled => "cancelled",
        }
    }

    /// The state a stored string names.
    pub fn parse(s: &str) -> Option<ShipmentState> {
        [
            ShipmentState::Queued,
            ShipmentState::Submitted,
            ShipmentState::Confirmed,
            ShipmentState::Failed,
            ShipmentState::Cancelled,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// Amazon has not taken it yet, so its carrier and tracking may still be corrected.
    pub fn correctable(self) -> bool {
        matches!(self, ShipmentState::Queued | ShipmentState::Failed)
    }
}

impl fmt::Display for ShipmentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_spellings_round_trip() {
        for l in Lifecycle::ALL {
            assert_eq!(Lifecycle::parse(l.as_str()), Some(l));
        }
        assert_eq!(Lifecycle::parse("Shipped"), None);
        for s in ["queued", "submitted", "confirmed", "failed", "cancelled"] {
            assert_eq!(ShipmentState::parse(s).map(ShipmentState::as_str), Some(s));
        }
        assert_eq!(ShipmentState::parse("done"), None);
    }
}
