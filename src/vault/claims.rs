//! Store functions of claims: which station is handling an order (issue 20). A claim is a
//! durable row with a lease, taken by one conditional upsert, so across stations exactly one
//! holds an order at a time, and a station that dies mid-work stops holding it when the lease
//! ends. A lock alone would not do: it lets the second station in as soon as the first
//! commits, and the work (a label bought, a confirmation sent) happens between transactions.

use chrono::{DateTime, Duration, Utc};

use super::store::{Tx, ts};
use crate::error::Result;
use crate::store::sql::{OptionalExtension, params};

/// What a station does with an order while it holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Printing its label or slip.
    Label,
    /// Buying its label from Amazon.
    Buy,
    /// Recording its shipment.
    Ship,
    /// Confirming its shipment to Amazon.
    Confirm,
}

impl Work {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Work::Label => "label",
            Work::Buy => "buy",
            Work::Ship => "ship",
            Work::Confirm => "confirm",
        }
    }
}

/// Another station's claim on an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldBy {
    /// The station.
    pub station: String,
    /// What it is doing, as stored.
    pub work: String,
    /// Until when, unless it lets go first.
    pub until: String,
}

/// Claims `order_id` for `station` from `now` for `lease`: `None` when this station holds it
/// now (it was free, already this station's, or another's lease had ended), else who does.
pub fn claim(
    tx: &Tx<'_>,
    order_id: &str,
    station: &str,
    work: Work,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<Option<HeldBy>> {
    let taken = tx
        .query_row(
            "INSERT INTO claims (amazon_order_id, station, work, claimed_at, lease_until)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (amazon_order_id) DO UPDATE SET station = excluded.station,
                work = excluded.work, claimed_at = excluded.claimed_at,
                lease_until = excluded.lease_until
             WHERE claims.station = excluded.station OR claims.lease_until <= excluded.claimed_at
             RETURNING station",
            params![order_id, station, work.as_str(), ts(now), ts(now + lease)],
            |r| r.get::<_, String>(0),
        )
        .optional()?;
    if taken.is_some() {
        return Ok(None);
    }
    Ok(tx
        .query_row(
            "SELECT station, work, lease_until FROM claims WHERE amazon_order_id = ?1",
            [order_id],
            |r| {
                Ok(HeldBy {
                    station: r.get(0)?,
                    work: r.get(1)?,
                    until: r.get(2)?,
                })
            },
        )
        .optional()?)
}

/// Lets go of `station`'s claim on `order_id` (another station's claim is left alone).
pub fn release(tx: &Tx<'_>, order_id: &str, station: &str) -> Result<()> {
    tx.execute(
        "DELETE FROM claims WHERE amazon_order_id = ?1 AND station = ?2",
        params![order_id, station],
    )?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::disallowed_types)] // a vault file of its own, as an operator would open it
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn store() -> rusqlite::Connection {
        let mut c = rusqlite::Connection::open_in_memory().unwrap();
        c.pragma_update(None, "foreign_keys", "ON").unwrap();
        crate::store::sqlite::migrate(&mut c).unwrap();
        c.execute_batch(
            "INSERT INTO orders (amazon_order_id, status, created_at, updated_at)
             VALUES ('111-0000001-0000001', 'Unshipped', '2026-12-01T00:00:00.000Z',
                     '2026-12-01T00:00:00.000Z')",
        )
        .unwrap();
        c
    }

    const ORDER: &str = "111-0000001-0000001";

    #[test]
    fn one_station_holds_an_order_until_it_lets_go_or_its_lease_ends() {
        let c = store();
        let tx = Tx::over(&c);
        let t0 = Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap();
        let lease = Duration::minutes(10);
        assert_eq!(
            claim(&tx, ORDER, "bench-1", Work::Label, t0, lease).unwrap(),
            None
        );
        // The same station again (a reprint, the next step): still its own.
        assert_eq!(
            claim(
                &tx,
                ORDER,
                "bench-1",
                Work::Ship,
                t0 + Duration::minutes(1),
                lease
            )
            .unwrap(),
            None
        );
        // Another station, inside the lease: told who holds it and for what.
        let held = claim(
            &tx,
            ORDER,
            "bench-2",
            Work::Buy,
            t0 + Duration::minutes(2),
            lease,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (held.station.as_str(), held.work.as_str()),
            ("bench-1", "ship")
        );
        assert_eq!(held.until, "2026-12-07T10:11:00.000Z");
        // Releasing another station's claim does nothing.
        release(&tx, ORDER, "bench-2").unwrap();
        assert!(
            claim(
                &tx,
                ORDER,
                "bench-2",
                Work::Buy,
                t0 + Duration::minutes(3),
                lease
            )
            .unwrap()
            .is_some()
        );
        // The lease ends (bench-1 died): bench-2 takes it.
        assert_eq!(
            claim(
                &tx,
                ORDER,
                "bench-2",
                Work::Buy,
                t0 + Duration::minutes(11),
                lease
            )
            .unwrap(),
            None
        );
        // bench-2 lets go: bench-1 can take it again at once.
        release(&tx, ORDER, "bench-2").unwrap();
        assert_eq!(
            claim(
                &tx,
                ORDER,
                "bench-1",
                Work::Confirm,
                t0 + Duration::minutes(12),
                lease
            )
            .unwrap(),
            None
        );
    }
}
