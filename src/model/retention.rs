//! The retention rule's one formula: when an order's PII must be gone, from its stored facts.
//!
//! The clock starts when the order ships or is canceled (`retention_start`), or, for an order
//! never (or only partly) shipped, at its latest ship date; an order with neither falls back to
//! its purchase date, then to when the vault first saw it. `purge` enforces it, `audit` checks
//! it, and sealing puts each order in the epoch of its deadline (`vault::seal::Epoch`).

use chrono::{DateTime, Duration, Utc};

use crate::mws::model::parse_mws_time;

/// When an order's PII must be gone: the first of its anchors that reads, plus `pii_days`.
pub fn deadline(
    retention_start: Option<&str>,
    latest_ship_date: Option<&str>,
    purchase_date: Option<&str>,
    created_at: &str,
    pii_days: u32,
) -> Option<DateTime<Utc>> {
    [
        retention_start,
        latest_ship_date,
        purchase_date,
        Some(created_at),
    ]
    .into_iter()
    .flatten()
    .find_map(parse_mws_time)
    .map(|t| t + Duration::days(i64::from(pii_days)))
}
