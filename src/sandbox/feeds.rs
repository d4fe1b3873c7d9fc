//! Feed processing: validate every fulfillment message against the orders, apply the accepted
//! shipments, and write the processing report.
//!
//! The `ResultMessageCode` numbers are the sandbox's own (Amazon's list is not public); the
//! descriptions say what was wrong.

use chrono::{DateTime, Utc};

use crate::mws::FULFILLMENT_FEED_TYPE;
use crate::mws::model::{
    CARRIER_CODES, FeedSubmissionInfo, FulfillmentMessage, ProcessingReport, ProcessingResult,
};
use crate::mws::xml::parse_fulfillment_feed;
use crate::sandbox::data::SimOrder;

/// A submitted feed (ground truth).
#[derive(Debug, Clone)]
pub struct FeedRecord {
    /// `FeedSubmissionId`.
    pub id: String,
    /// `FeedType`.
    pub feed_type: String,
    /// The exact body bytes received.
    pub body: Vec<u8>,
    /// When it was submitted (sandbox time).
    pub submitted: DateTime<Utc>,
    /// When processing starts.
    pub started: DateTime<Utc>,
    /// When processing completes.
    pub done: DateTime<Utc>,
    /// The report, once processed.
    pub report: Option<ProcessingReport>,
    /// The report bytes served by `GetFeedSubmissionResult`.
    pub report_bytes: Option<Vec<u8>>,
}

impl FeedRecord {
    /// The status at `now`.
    pub fn status(&self, now: DateTime<Utc>) -> &'static str {
        if now >= self.done && self.report.is_some() {
            "_DONE_"
        } else if now >= self.started {
            "_IN_PROGRESS_"
        } else {
            "_SUBMITTED_"
        }
    }

    /// The `FeedSubmissionInfo` at `now`.
    pub fn info(&self, now: DateTime<Utc>) -> FeedSubmissionInfo {
        let status = self.status(now);
        let t = |d: DateTime<Utc>| d.format("%Y-%m-%dT%H:%M:%S+00:00").to_string();
        FeedSubmissionInfo {
            feed_submission_id: self.id.clone(),
            feed_type: self.feed_type.clone(),
            submitted_date: t(self.submitted),
            feed_processing_status: status.to_owned(),
            started_processing_date: (status != "_SUBMITTED_").then(|| t(self.started)),
            completed_processing_date: (status == "_DONE_").then(|| t(self.done)),
        }
    }
}

fn result(id: u64, code: &str, desc: String, order: Option<&str>) -> ProcessingResult {
    ProcessingResult {
        message_id: Some(id),
        result_code: "Error".into(),
        result_message_code: Some(code.into()),
        result_description: desc,
        amazon_order_id: order.map(str::to_owned),
        sku: None,
    }
}

/// Processes a feed at its completion time: validates, applies, reports.
pub fn process(
    feed: &FeedRecord,
    seller_id: &str,
    orders: &mut [SimOrder],
    find: &dyn Fn(&str) -> Option<usize>,
) -> ProcessingReport {
    let mut report = ProcessingReport {
        document_transaction_id: Some(feed.id.clone()),
        status_code: Some("Complete".into()),
        ..Default::default()
    };
    if feed.feed_type != FULFILLMENT_FEED_TYPE {
        report.results.push(result(
            0,
            "90001",
            format!(
                "The sandbox processes only {FULFILLMENT_FEED_TYPE} feeds, not {}.",
                feed.feed_type
            ),
            None,
        ));
        report.messages_with_error = 1;
        return report;
    }
    let parsed = match parse_fulfillment_feed(&feed.body[..]) {
        Ok(p) => p,
        Err(e) => {
            report.results.push(result(
                0,
                "5000",
                format!("XML Parsing Fatal Error: {e}"),
                None,
            ));
            report.messages_with_error = 1;
            return report;
        }
    };
    let mut seen = std::collections::HashSet::new();
    for m in parsed.messages {
        report.messages_processed += 1;
        let outcome = match m {
            Err(e) => Err(result(
                e.message_id.unwrap_or(0),
                "5001",
                format!("Schema error: {}", e.reason),
                None,
            )),
            Ok(m) if !seen.insert(m.message_id) => Err(result(
                m.message_id,
                "18035",
                "Duplicate MessageID in this feed.".into(),
                None,
            )),
            Ok(_) if parsed.merchant_identifier != seller_id => Err(result(
                0,
                "18037",
                "MerchantIdentifier does not match the seller.".into(),
                None,
            )),
            Ok(_) if parsed.message_type != "OrderFulfillment" => Err(result(
                0,
                "18038",
                format!(
                    "MessageType {:?} is not OrderFulfillment.",
                    parsed.message_type
                ),
                None,
            )),
            Ok(m) => apply(&m, orders, find, feed.done),
        };
        match outcome {
            Ok(()) => report.messages_successful += 1,
            Err(r) => {
                report.messages_with_error += 1;
                report.results.push(r);
            }
        }
    }
    report
}

#[allow(clippy::result_large_err)] // built once per message, not on a hot path
fn apply(
    m: &FulfillmentMessage,
    orders: &mut [SimOrder],
    find: &dyn Fn(&str) -> Option<usize>,
    at: DateTime<Utc>,
) -> Result<(), ProcessingResult> {
    let id = m.message_id;
    let Some(oid) = m.amazon_order_id.as_deref() else {
        return Err(result(
            id,
            "18028",
            "The sandbox identifies orders by AmazonOrderID only.".into(),
            m.merchant_order_id.as_deref(),
        ));
    };
    let err = |code: &str, desc: String| result(id, code, desc, Some(oid));
    let idx = find(oid).ok_or_else(|| err("18028", format!("Order {oid} was not found.")))?;
    let o = &mut orders[idx];
    if o.order.info.fulfillment_channel.as_deref() != Some("MFN") {
        return Err(err(
            "18029",
            format!("Order {oid} is fulfilled by Amazon (AFN)."),
        ));
    }
    match o.order.info.order_status.as_str() {
        "Canceled" => return Err(err("18030", format!("Order {oid} was canceled."))),
        "Pending" => return Err(err("18039", format!("Order {oid} is still Pending."))),
        "Shipped" => return Err(err("18036", format!("Order {oid} is already shipped."))),
        _ => {}
    }
    match (&m.carrier_code, &m.carrier_name) {
        (Some(c), _) if !CARRIER_CODES.contains(&c.as_str()) => {
            return Err(err(
                "18033",
                format!("CarrierCode {c:?} is not a known carrier; use CarrierName."),
            ));
        }
        (None, None) => {
            return Err(err(
                "18033",
                "CarrierCode or CarrierName is required.".into(),
            ));
        }
        (None, Some(n)) if n.trim().is_empty() => {
            return Err(err("18033", "CarrierName is empty.".into()));
        }
        _ => {}
    }
    if m.shipper_tracking_number
        .as_deref()
        .is_none_or(|t| t.trim().is_empty())
    {
        return Err(err("18034", "ShipperTrackingNumber is required.".into()));
    }
    if crate::mws::model::parse_mws_time(&m.fulfillment_date).is_none() {
        return Err(err(
            "18040",
            format!(
                "FulfillmentDate {:?} is not an xsd:dateTime.",
                m.fulfillment_date
            ),
        ));
    }
    // Work out the shipment first, apply it only if every item is right.
    let mut ship: Vec<(usize, u32)> = Vec::new();
    if m.items.is_empty() {
        for (i, it) in o.items.iter().enumerate() {
            let left = it
                .info
                .quantity_ordered
                .saturating_sub(it.info.quantity_shipped.unwrap_or(0));
            if left > 0 {
                ship.push((i, left));
            }
        }
    }
    for item in &m.items {
        let Some(code) = item.amazon_order_item_code.as_deref() else {
            return Err(err(
                "18031",
                "The sandbox identifies items by AmazonOrderItemCode only.".into(),
            ));
        };
        let i = o
            .items
            .iter()
            .position(|it| it.info.order_item_id == code)
            .ok_or_else(|| {
                err(
                    "18031",
                    format!("AmazonOrderItemCode {code} is not in order {oid}."),
                )
            })?;
        let it = &o.items[i].info;
        let already: u32 = ship.iter().filter(|(j, _)| *j == i).map(|(_, q)| q).sum();
        let left = it
            .quantity_ordered
            .saturating_sub(it.quantity_shipped.unwrap_or(0))
            .saturating_sub(already);
        let q = item.quantity.unwrap_or(left);
        if q == 0 || q > left {
            return Err(err(
                "18032",
                format!("Quantity {q} for item {code} exceeds the {left} left to ship."),
            ));
        }
        ship.push((i, q));
    }
    for (i, q) in ship {
        let s = o.items[i].info.quantity_shipped.get_or_insert(0);
        *s += q;
    }
    let all = o
        .items
        .iter()
        .all(|it| it.info.quantity_shipped.unwrap_or(0) >= it.info.quantity_ordered);
    o.cancel_at = None;
    o.set_status(if all { "Shipped" } else { "PartiallyShipped" }, at);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mws::model::{FulfillmentFeed, FulfillmentItem};
    use crate::mws::xml::write_fulfillment_feed;
    use crate::sandbox::data::Generator;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-02T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn message(id: u64, order: &str, items: &[(&str, Option<u32>)]) -> FulfillmentMessage {
        FulfillmentMessage {
            message_id: id,
            amazon_order_id: Some(order.into()),
            fulfillment_date: "2026-03-02T12:00:00Z".into(),
            carrier_code: Some("UPS".into()),
            shipper_tracking_number: Some(format!("1Z{id}")),
            items: items
                .iter()
                .map(|(c, q)| FulfillmentItem {
                    amazon_order_item_code: Some((*c).into()),
                    quantity: *q,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn run(
        orders: &mut [SimOrder],
        seller: &str,
        messages: Vec<FulfillmentMessage>,
    ) -> ProcessingReport {
        let feed = FeedRecord {
            id: "1".into(),
            feed_type: FULFILLMENT_FEED_TYPE.into(),
            body: write_fulfillment_feed(&FulfillmentFeed {
                merchant_identifier: seller.into(),
                messages,
            }),
            submitted: t0(),
            started: t0(),
            done: t0(),
            report: None,
            report_bytes: None,
        };
        let ids: Vec<String> = orders
            .iter()
            .map(|o| o.order.info.amazon_order_id.clone())
            .collect();
        process(&feed, seller, orders, &|id| {
            ids.iter().position(|i| i == id)
        })
    }

    fn shipped(o: &SimOrder) -> Vec<u32> {
        o.items
            .iter()
            .map(|i| i.info.quantity_shipped.unwrap_or(0))
            .collect()
    }

    /// Item elements are checked like Amazon checks them: an unknown item code or more than
    /// is left refuses the whole message (nothing of it applied); a partial package leaves the
    /// order `PartiallyShipped` and the rest ships it.
    #[test]
    fn item_elements_ship_part_of_an_order_and_bad_ones_are_refused_whole() {
        let mut orders = Generator::new(7, t0()).initial(80, t0());
        let i = orders
            .iter()
            .position(|o| {
                o.order.info.order_status == "Unshipped"
                    && o.order.info.fulfillment_channel.as_deref() == Some("MFN")
                    && o.items.iter().map(|i| i.info.quantity_ordered).sum::<u32>() >= 2
                    && o.items
                        .iter()
                        .all(|i| i.info.quantity_shipped.unwrap_or(0) == 0)
            })
            .expect("an unshipped MFN order with two or more units");
        let oid = orders[i].order.info.amazon_order_id.clone();
        let first = orders[i].items[0].info.order_item_id.clone();
        let ordered0 = orders[i].items[0].info.quantity_ordered;
        let seller = "A2SELLER";

        let r = run(
            &mut orders,
            seller,
            vec![
                message(1, &oid, &[("99999999999999", Some(1))]),
                message(2, &oid, &[(&first, Some(1)), (&first, Some(ordered0))]),
                message(3, &oid, &[(&first, Some(0))]),
            ],
        );
        assert_eq!(r.messages_with_error, 3, "{r:?}");
        let codes: Vec<_> = r
            .results
            .iter()
            .map(|x| x.result_message_code.clone().unwrap())
            .collect();
        // Quantity 0 fails the schema (positiveInteger) before any order is looked at.
        assert_eq!(codes, ["18031", "18032", "5001"]);
        assert!(
            shipped(&orders[i]).iter().all(|q| *q == 0),
            "nothing applied"
        );
        assert_eq!(orders[i].order.info.order_status, "Unshipped");

        // One unit of the first item: partly shipped.
        let r = run(
            &mut orders,
            seller,
            vec![message(1, &oid, &[(&first, Some(1))])],
        );
        assert_eq!(r.messages_successful, 1, "{r:?}");
        assert_eq!(shipped(&orders[i])[0], 1);
        assert_eq!(orders[i].order.info.order_status, "PartiallyShipped");

        // The rest, item by item.
        let rest: Vec<(String, u32)> = orders[i]
            .items
            .iter()
            .map(|it| {
                let left = it.info.quantity_ordered - it.info.quantity_shipped.unwrap_or(0);
                (it.info.order_item_id.clone(), left)
            })
            .filter(|(_, q)| *q > 0)
            .collect();
        let items: Vec<(&str, Option<u32>)> =
            rest.iter().map(|(c, q)| (c.as_str(), Some(*q))).collect();
        let r = run(&mut orders, seller, vec![message(1, &oid, &items)]);
        assert_eq!(r.messages_successful, 1, "{r:?}");
        assert_eq!(orders[i].order.info.order_status, "Shipped");
        let r = run(
            &mut orders,
            seller,
            vec![message(1, &oid, &[(&first, Some(1))])],
        );
        assert_eq!(r.messages_with_error, 1, "a shipped order takes no more");
    }
}
