//! Shipments and the confirmation feeds that carry them to Amazon (store functions only; the
//! flow is in [`crate::confirm`]).
//!
//! A shipment moves `queued` → `submitted` (its feed has a `FeedSubmissionId`) → `confirmed` or
//! `failed` (the processing report's verdict for its message). The order's lifecycle follows:
//! `shipped` when recorded, then `confirmed` or `confirm_failed`. Recording the shipment again
//! (corrected carrier or tracking) re-queues a `failed` one.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::mws::model::{CARRIER_CODES, FulfillmentMessage, ProcessingReport};

fn ts(t: DateTime<Utc>) -> String {
    crate::audit::format_ts(t)
}

/// A shipment as the packer reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewShipment {
    /// `AmazonOrderId`.
    pub order_id: String,
    /// A carrier: an amzn-base `CarrierCode` (matched case-insensitively) or any name.
    pub carrier: String,
    /// The carrier's tracking number.
    pub tracking: String,
    /// Shipping method, e.g. "Priority Mail".
    pub method: Option<String>,
}

/// The carrier as the feed names it: `(CarrierCode, CarrierName)`, exactly one set.
pub fn carrier_fields(carrier: &str) -> (Option<String>, Option<String>) {
    match CARRIER_CODES
        .iter()
        .find(|c| c.eq_ignore_ascii_case(carrier.trim()))
    {
        Some(code) => (Some((*code).to_string()), None),
        None => (None, Some(carrier.trim().to_string())),
    }
}

/// What recording a shipment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// A new shipment, queued for confirmation.
    New,
    /// A queued or failed shipment was corrected and (re-)queued.
    Corrected,
}

/// Records a shipment: the order becomes `shipped`, its retention clock starts (if it had not),
/// and the confirmation is queued. Refuses orders that cannot ship (exit 2).
pub fn record_shipment(
    conn: &Connection,
    s: &NewShipment,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Recorded> {
    let id = &s.order_id;
    let tracking = s.tracking.trim();
    if tracking.is_empty() || tracking.len() > 64 || tracking.chars().any(char::is_control) {
        return Err(Error::usage(
            "the tracking number must be 1 to 64 printable characters",
        ));
    }
    if s.carrier.trim().is_empty() || s.carrier.chars().any(char::is_control) {
        return Err(Error::usage("the carrier must be a printable name"));
    }
    let order: Option<(String, Option<String>)> = conn
        .query_row(
            "SELECT lifecycle, purged_at FROM orders WHERE amazon_order_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((lifecycle, purged)) = order else {
        return Err(Error::usage(format!(
            "order {id} is not in the vault; run `fulfill fetch` first"
        )));
    };
    let existing: Option<String> = conn
        .query_row(
            "SELECT state FROM shipments WHERE amazon_order_id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    let outcome = match (lifecycle.as_str(), existing.as_deref()) {
        (_, Some("submitted" | "confirmed")) => {
            return Err(Error::usage(format!(
                "order {id} is already shipped and its confirmation was sent to Amazon"
            )));
        }
        (_, Some(_)) => Recorded::Corrected,
        ("unshipped" | "labelled", None) if purged.is_none() => Recorded::New,
        (other, None) => {
            return Err(Error::usage(format!(
                "order {id} is {other} and cannot be shipped"
            )));
        }
    };
    let (code, name) = carrier_fields(&s.carrier);
    conn.execute(
        "INSERT INTO shipments (amazon_order_id, carrier_code, carrier_name, tracking, method, shipped_at,
            shipped_by, state, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', ?6)
         ON CONFLICT(amazon_order_id) DO UPDATE SET carrier_code = excluded.carrier_code,
            carrier_name = excluded.carrier_name, tracking = excluded.tracking, method = excluded.method,
            shipped_at = excluded.shipped_at, shipped_by = excluded.shipped_by, state = 'queued',
            batch_id = NULL, message_id = NULL, result_code = NULL, result_message = NULL,
            updated_at = excluded.updated_at",
        params![id, code, name, tracking, s.method.as_deref().map(str::trim), ts(now), by],
    )?;
    conn.execute(
        "UPDATE orders SET lifecycle = 'shipped', retention_start = COALESCE(retention_start, ?2),
            updated_at = ?2 WHERE amazon_order_id = ?1",
        params![id, ts(now)],
    )?;
    Ok(outcome)
}

/// Records a label bought through Merchant Fulfillment: Amazon confirmed the shipment when it
/// sold the label, so it is `confirmed` at once and no feed carries it.
pub fn record_bought(
    conn: &Connection,
    s: &NewShipment,
    shipment_id: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let (code, name) = carrier_fields(&s.carrier);
    conn.execute(
        "INSERT INTO shipments (amazon_order_id, carrier_code, carrier_name, tracking, method, shipped_at,
            shipped_by, state, amazon_shipment_id, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'confirmed', ?8, ?6)
         ON CONFLICT(amazon_order_id) DO UPDATE SET carrier_code = excluded.carrier_code,
            carrier_name = excluded.carrier_name, tracking = excluded.tracking, method = excluded.method,
            shipped_at = excluded.shipped_at, shipped_by = excluded.shipped_by, state = 'confirmed',
            amazon_shipment_id = excluded.amazon_shipment_id, batch_id = NULL, message_id = NULL,
            result_code = NULL, result_message = NULL, updated_at = excluded.updated_at",
        params![s.order_id, code, name, s.tracking, s.method, ts(now), by, shipment_id],
    )?;
    conn.execute(
        "UPDATE orders SET lifecycle = 'confirmed', retention_start = COALESCE(retention_start, ?2),
            updated_at = ?2 WHERE amazon_order_id = ?1",
        params![s.order_id, ts(now)],
    )?;
    Ok(())
}

/// A bought label was cancelled (refund asked): the order waits for a new shipment, and its
/// retention clock starts again when it ships.
pub fn record_cancelled(conn: &Connection, order_id: &str, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "UPDATE shipments SET state = 'cancelled', updated_at = ?2 WHERE amazon_order_id = ?1",
        params![order_id, ts(now)],
    )?;
    conn.execute(
        "UPDATE orders SET lifecycle = 'unshipped', retention_start = NULL, updated_at = ?2
         WHERE amazon_order_id = ?1",
        params![order_id, ts(now)],
    )?;
    Ok(())
}

/// The Merchant Fulfillment `ShipmentId` of the label bought for an order, if any.
pub fn amazon_shipment_id(conn: &Connection, order_id: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT amazon_shipment_id FROM shipments WHERE amazon_order_id = ?1 AND state = 'confirmed'",
            [order_id],
            |r| r.get::<_, Option<String>>(0),
        )
        .optional()?
        .flatten())
}

/// Queued shipments as feed messages (`MessageID` 1..n in order id order).
pub fn queued_messages(conn: &Connection) -> Result<Vec<FulfillmentMessage>> {
    let mut st = conn.prepare(
        "SELECT amazon_order_id, carrier_code, carrier_name, tracking, method, shipped_at
         FROM shipments WHERE state = 'queued' ORDER BY amazon_order_id",
    )?;
    let rows = st.query_map([], |r| {
        Ok(FulfillmentMessage {
            message_id: 0,
            amazon_order_id: Some(r.get(0)?),
            carrier_code: r.get(1)?,
            carrier_name: r.get(2)?,
            shipper_tracking_number: Some(r.get(3)?),
            shipping_method: r.get(4)?,
            fulfillment_date: r.get(5)?,
            ..Default::default()
        })
    })?;
    let mut out = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    for (i, m) in out.iter_mut().enumerate() {
        m.message_id = i as u64 + 1;
    }
    Ok(out)
}

/// A confirmation feed as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Local id.
    pub id: i64,
    /// When it was written.
    pub created_at: String,
    /// The exact feed bytes.
    pub body: Vec<u8>,
    /// `FeedSubmissionId`, once Amazon accepted it.
    pub feed_id: Option<String>,
    /// How many messages it carries.
    pub messages: u64,
}

/// Writes a new batch for `messages` (already numbered) and ties the shipments to it.
pub fn create_batch(
    conn: &Connection,
    body: &[u8],
    messages: &[FulfillmentMessage],
    now: DateTime<Utc>,
) -> Result<i64> {
    conn.execute(
        "INSERT INTO feed_batches (created_at, body, content_md5, state) VALUES (?1, ?2, ?3, 'prepared')",
        params![ts(now), body, crate::mws::sign::content_md5(body)],
    )?;
    let id = conn.last_insert_rowid();
    let mut st = conn.prepare_cached(
        "UPDATE shipments SET batch_id = ?1, message_id = ?2, updated_at = ?3
         WHERE amazon_order_id = ?4 AND state = 'queued'",
    )?;
    for m in messages {
        st.execute(params![id, m.message_id as i64, ts(now), m.amazon_order_id])?;
    }
    Ok(id)
}

fn batches(conn: &Connection, state: &str) -> Result<Vec<Batch>> {
    let mut st = conn.prepare(
        "SELECT b.id, b.created_at, b.body, b.feed_id,
            (SELECT count(*) FROM shipments s WHERE s.batch_id = b.id)
         FROM feed_batches b WHERE b.state = ?1 ORDER BY b.id",
    )?;
    let rows = st.query_map([state], |r| {
        Ok(Batch {
            id: r.get(0)?,
            created_at: r.get(1)?,
            body: r.get(2)?,
            feed_id: r.get(3)?,
            messages: r.get::<_, i64>(4)? as u64,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Batches written but not known to have reached Amazon (a crash or an ambiguous failure).
pub fn prepared_batches(conn: &Connection) -> Result<Vec<Batch>> {
    batches(conn, "prepared")
}

/// Batches Amazon accepted whose report is not applied yet.
pub fn submitted_batches(conn: &Connection) -> Result<Vec<Batch>> {
    batches(conn, "submitted")
}

/// Whether a feed id is one of ours.
pub fn known_feed(conn: &Connection, feed_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM feed_batches WHERE feed_id = ?1")?
        .exists([feed_id])?)
}

/// Amazon accepted batch `id` as `feed_id`: its shipments are `submitted`.
pub fn mark_submitted(
    conn: &Connection,
    id: i64,
    feed_id: &str,
    submitted_at: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "UPDATE feed_batches SET state = 'submitted', feed_id = ?2, submitted_at = ?3 WHERE id = ?1",
        params![id, feed_id, submitted_at],
    )?;
    conn.execute(
        "UPDATE shipments SET state = 'submitted', updated_at = ?2 WHERE batch_id = ?1",
        params![id, ts(now)],
    )?;
    Ok(())
}

/// Amazon cancelled the feed: its shipments go back to the queue.
pub fn mark_cancelled(conn: &Connection, id: i64, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "UPDATE feed_batches SET state = 'cancelled', done_at = ?2 WHERE id = ?1",
        params![id, ts(now)],
    )?;
    conn.execute(
        "UPDATE shipments SET state = 'queued', batch_id = NULL, message_id = NULL, updated_at = ?2
         WHERE batch_id = ?1",
        params![id, ts(now)],
    )?;
    Ok(())
}

/// The verdict for one shipment of a feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// `AmazonOrderId`.
    pub order_id: String,
    /// Amazon accepted the message.
    pub confirmed: bool,
    /// `ResultMessageCode` of an error.
    pub code: Option<String>,
    /// `ResultDescription` of an error.
    pub message: Option<String>,
}

/// Judges each shipment of batch `id` by a processing report: confirmed unless the report
/// lists an `Error` for its `MessageID` (or for the whole feed). Reads only.
pub fn judge(conn: &Connection, id: i64, report: &ProcessingReport) -> Result<Vec<Verdict>> {
    let mut st = conn.prepare(
        "SELECT amazon_order_id, message_id FROM shipments WHERE batch_id = ?1 ORDER BY message_id",
    )?;
    let rows = st
        .query_map([id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    // An error that names no message (MessageID 0 or none: the whole feed) fails every message.
    let whole_feed = report
        .results
        .iter()
        .find(|r| r.result_code == "Error" && r.message_id.is_none_or(|m| m == 0));
    Ok(rows
        .into_iter()
        .map(|(order_id, message_id)| {
            let err = report
                .results
                .iter()
                .find(|r| r.result_code == "Error" && r.message_id == Some(message_id))
                .or(whole_feed);
            Verdict {
                order_id,
                confirmed: err.is_none(),
                code: err.and_then(|e| e.result_message_code.clone()),
                message: err.map(|e| e.result_description.clone()),
            }
        })
        .collect())
}

/// Stores the verdicts of batch `id` (from [`judge`]) and closes the batch.
pub fn apply_verdicts(
    conn: &Connection,
    id: i64,
    verdicts: &[Verdict],
    now: DateTime<Utc>,
) -> Result<()> {
    for v in verdicts {
        conn.execute(
            "UPDATE shipments SET state = ?2, result_code = ?3, result_message = ?4, updated_at = ?5
             WHERE amazon_order_id = ?1",
            params![
                v.order_id,
                if v.confirmed { "confirmed" } else { "failed" },
                v.code,
                v.message,
                ts(now)
            ],
        )?;
        conn.execute(
            "UPDATE orders SET lifecycle = ?2, updated_at = ?3
             WHERE amazon_order_id = ?1 AND lifecycle IN ('shipped', 'confirm_failed')",
            params![
                v.order_id,
                if v.confirmed {
                    "confirmed"
                } else {
                    "confirm_failed"
                },
                ts(now)
            ],
        )?;
    }
    conn.execute(
        "UPDATE feed_batches SET state = 'done', done_at = ?2 WHERE id = ?1",
        params![id, ts(now)],
    )?;
    Ok(())
}

/// A shipment as shown by `ship` and `orders` (no PII).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShipmentView {
    /// `AmazonOrderId`.
    pub order_id: String,
    /// The carrier as sent (code or name).
    pub carrier: String,
    /// Tracking number.
    pub tracking: String,
    /// Shipping method.
    pub method: Option<String>,
    /// queued, submitted, confirmed or failed.
    pub state: String,
    /// `FeedSubmissionId` of the feed that carried it.
    pub feed_id: Option<String>,
    /// Amazon's error, when failed.
    pub error: Option<String>,
}

/// One order's shipment.
pub fn shipment(conn: &Connection, order_id: &str) -> Result<Option<ShipmentView>> {
    // Cached: `orders` asks once per listed order.
    Ok(conn
        .prepare_cached(
            "SELECT s.amazon_order_id, COALESCE(s.carrier_code, s.carrier_name), s.tracking, s.method,
                s.state, b.feed_id, s.result_code || ': ' || s.result_message
             FROM shipments s LEFT JOIN feed_batches b ON b.id = s.batch_id
             WHERE s.amazon_order_id = ?1",
        )?
        .query_row([order_id], |r| {
                Ok(ShipmentView {
                    order_id: r.get(0)?,
                    carrier: r.get(1)?,
                    tracking: r.get(2)?,
                    method: r.get(3)?,
                    state: r.get(4)?,
                    feed_id: r.get(5)?,
                    error: r.get(6)?,
                })
            })
        .optional()?)
}

/// Whether there is confirmation work: queued shipments or feeds in flight.
pub fn pending_work(conn: &Connection) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM shipments WHERE state = 'queued')
             OR EXISTS (SELECT 1 FROM feed_batches WHERE state IN ('prepared', 'submitted'))",
        [],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_carriers_become_codes_others_names() {
        assert_eq!(carrier_fields("ups"), (Some("UPS".into()), None));
        assert_eq!(
            carrier_fields("Royal Mail"),
            (Some("Royal Mail".into()), None)
        );
        assert_eq!(
            carrier_fields("Bob's Vans"),
            (None, Some("Bob's Vans".into()))
        );
    }
}
