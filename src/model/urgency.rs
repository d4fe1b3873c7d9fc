//! Which orders are urgent: due flags and the order `fulfill orders` lists them in (no I/O;
//! `now` is the caller's, in the time zone whose calendar day "today" means).
//!
//! An order still to ship (`unshipped`, `labelled`, `partially_shipped`) is **late** once its
//! ship-by time (Amazon's `LatestShipDate`) has passed, and **due today** when that time falls
//! later on `now`'s calendar day. Orders sort by ship-by, oldest first (those without one
//! last), by purchase date, oldest first, or by lifecycle state (in [`Lifecycle::ALL`]'s
//! order, then by ship-by); the order id breaks ties, so a listing is stable.

use std::cmp::Ordering;

use chrono::{DateTime, TimeZone, Utc};

use super::lifecycle::Lifecycle;

/// How soon an order must ship.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Its ship-by time has passed.
    Late,
    /// Its ship-by time is later today.
    Today,
}

impl Due {
    /// The flag `orders` shows (`LATE`, `TODAY`).
    pub fn flag(self) -> &'static str {
        match self {
            Due::Late => "LATE",
            Due::Today => "TODAY",
        }
    }

    /// The JSON spelling (`late`, `today`).
    pub fn as_str(self) -> &'static str {
        match self {
            Due::Late => "late",
            Due::Today => "today",
        }
    }
}

/// A stored time (Amazon's, in any of the forms it sends), in UTC.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    crate::mws::model::parse_mws_time(s)
}

/// Whether an order in `lifecycle` (its stored spelling) still has to ship.
pub fn to_ship(lifecycle: &str) -> bool {
    matches!(
        Lifecycle::parse(lifecycle),
        Some(Lifecycle::Unshipped | Lifecycle::Labelled | Lifecycle::PartiallyShipped)
    )
}

/// How soon an order in `lifecycle` with ship-by `ship_by` must ship at `now` (None: it need
/// not, or has no ship-by time).
pub fn due<Tz: TimeZone>(
    lifecycle: &str,
    ship_by: Option<&str>,
    now: &DateTime<Tz>,
) -> Option<Due> {
    if !to_ship(lifecycle) {
        return None;
    }
    let by = parse_time(ship_by?)?;
    if by < now.with_timezone(&Utc) {
        Some(Due::Late)
    } else if by.with_timezone(&now.timezone()).date_naive() == now.date_naive() {
        Some(Due::Today)
    } else {
        None
    }
}

/// The order of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Ship-by time, oldest first; orders without one last.
    #[default]
    ShipBy,
    /// Purchase date, oldest first.
    Purchase,
    /// Lifecycle state, then ship-by.
    Status,
}

/// What an order sorts by.
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    /// `AmazonOrderId` (breaks ties).
    pub order_id: &'a str,
    /// The stored lifecycle spelling.
    pub lifecycle: &'a str,
    /// `LatestShipDate`.
    pub ship_by: Option<&'a str>,
    /// `PurchaseDate`.
    pub purchase: Option<&'a str>,
}

/// Times compare as times; a missing (or unreadable) one after every other.
fn by_time(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a.and_then(parse_time), b.and_then(parse_time)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

fn rank(lifecycle: &str) -> usize {
    Lifecycle::parse(lifecycle)
        .and_then(|l| Lifecycle::ALL.iter().position(|x| *x == l))
        .unwrap_or(Lifecycle::ALL.len())
}

/// How two orders compare in a listing sorted `by`.
pub fn compare(a: &Key<'_>, b: &Key<'_>, by: Sort) -> Ordering {
    let first = match by {
        Sort::ShipBy => by_time(a.ship_by, b.ship_by),
        Sort::Purchase => by_time(a.purchase, b.purchase),
        Sort::Status => rank(a.lifecycle)
            .cmp(&rank(b.lifecycle))
            .then_with(|| by_time(a.ship_by, b.ship_by)),
    };
    first.then_with(|| a.order_id.cmp(b.order_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn late_and_today_by_the_local_calendar() {
        let now = at("2026-03-04T15:00:00-08:00"); // 23:00Z
        // Past: late, whatever its state's spelling of "to ship".
        for l in ["unshipped", "labelled", "partially_shipped"] {
            assert_eq!(due(l, Some("2026-03-04T22:59:59Z"), &now), Some(Due::Late));
        }
        // Later the same local day (08:00Z tomorrow is 00:00 local tomorrow: not today).
        assert_eq!(
            due("unshipped", Some("2026-03-05T07:59:59Z"), &now),
            Some(Due::Today)
        );
        assert_eq!(due("unshipped", Some("2026-03-05T08:00:00Z"), &now), None);
        // Read in UTC, `now` is still on the 4th, so 07:59Z on the 5th is not today there.
        let utc = now.with_timezone(&Utc);
        assert_eq!(due("unshipped", Some("2026-03-05T07:59:59Z"), &utc), None);
        // Shipped, canceled or pending orders are never due; no ship-by, no flag.
        for l in [
            "shipped",
            "confirmed",
            "confirm_failed",
            "canceled",
            "pending",
        ] {
            assert_eq!(due(l, Some("2026-03-01T00:00:00Z"), &now), None, "{l}");
        }
        assert_eq!(due("unshipped", None, &now), None);
        // Amazon's other spellings of a time are read.
        assert_eq!(
            due("unshipped", Some("2026-03-01T00:00:00.000Z"), &now),
            Some(Due::Late)
        );
    }

    #[test]
    fn oldest_ship_by_first_then_purchase_or_status() {
        let k = |id, l, s: Option<&'static str>, p: Option<&'static str>| Key {
            order_id: id,
            lifecycle: l,
            ship_by: s,
            purchase: p,
        };
        let mut v = [
            k(
                "c",
                "shipped",
                Some("2026-03-03T00:00:00Z"),
                Some("2026-03-01T00:00:00Z"),
            ),
            k("a", "unshipped", None, Some("2026-02-27T00:00:00Z")),
            k(
                "b",
                "partially_shipped",
                Some("2026-03-02T00:00:00+00:00"),
                None,
            ),
            k(
                "d",
                "unshipped",
                Some("2026-03-02T00:00:00Z"),
                Some("2026-02-28T00:00:00Z"),
            ),
        ];
        let ids = |v: &[Key<'_>]| v.iter().map(|k| k.order_id).collect::<String>();
        v.sort_by(|a, b| compare(a, b, Sort::ShipBy));
        assert_eq!(ids(&v), "bdca");
        v.sort_by(|a, b| compare(a, b, Sort::Purchase));
        assert_eq!(ids(&v), "adcb");
        v.sort_by(|a, b| compare(a, b, Sort::Status));
        assert_eq!(ids(&v), "dabc");
    }
}
