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

impl Lifecycle {
    /// The local lifecycle after Amazon reports `amazon_status`, given where the order stands
    /// locally (`None`: new to the vault). Local progress (labelled, partly or wholly shipped,
    /// confirmed) is never rolled back by Amazon's view.
    pub fn after_amazon(local: Option<Lifecycle>, amazon_status: &str) -> Lifecycle {
        let local = local.unwrap_or(Lifecycle::Pending);
        let ahead = local == Lifecycle::Labelled || local.has_shipped();
        match amazon_status {
            "Canceled" => Lifecycle::Canceled,
            "Shipped" => match local {
                Lifecycle::Confirmed | Lifecycle::ConfirmFailed => local,
                _ => Lifecycle::Shipped,
            },
            "Unshipped" | "PartiallyShipped" if ahead => local,
            "Unshipped" | "PartiallyShipped" => Lifecycle::Unshipped,
            _ => local,
        }
    }

    /// The lifecycle an order's packages imply, from where it stands (`current`): Amazon's
    /// canceled and pending orders stay as they are; no live package leaves it as it was,
    /// except that an order whose every package was cancelled is `unshipped` again.
    pub fn after_packages(current: Lifecycle, packages: &PackageFacts) -> Lifecycle {
        if matches!(current, Lifecycle::Canceled | Lifecycle::Pending) {
            return current;
        }
        if packages.live.is_empty() {
            if current.has_shipped() {
                Lifecycle::Unshipped
            } else {
                current
            }
        } else if packages.live.contains(&ShipmentState::Failed) {
            Lifecycle::ConfirmFailed
        } else if !packages.fully_shipped {
            Lifecycle::PartiallyShipped
        } else if packages.live.iter().all(|s| *s == ShipmentState::Confirmed) {
            Lifecycle::Confirmed
        } else {
            Lifecycle::Shipped
        }
    }
}

/// What an order's packages say about it, as the store reads them (the input of
/// [`Lifecycle::after_packages`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PackageFacts {
    /// The states of its packages that were not cancelled.
    pub live: Vec<ShipmentState>,
    /// Every item is in a live package (or a whole-order package ships it all).
    pub fully_shipped: bool,
}

/// What the vault holds of an order's PII (`orders.pii_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PiiState {
    /// Nothing yet (a pending order carries no address).
    None,
    /// Amazon sent the order without PII where it should have had it.
    Empty,
    /// Sealed in the vault.
    Sealed,
    /// Destroyed by purge, for good.
    Purged,
}

impl PiiState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PiiState::None => "none",
            PiiState::Empty => "empty",
            PiiState::Sealed => "sealed",
            PiiState::Purged => "purged",
        }
    }

    /// The state a stored string names.
    pub fn parse(s: &str) -> Option<PiiState> {
        [
            PiiState::None,
            PiiState::Empty,
            PiiState::Sealed,
            PiiState::Purged,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
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
