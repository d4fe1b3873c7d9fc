//! Typed MWS models: orders, items, feed submissions, processing reports, errors.
//!
//! Non-PII fields are plain values; every PII field is a [`crate::pii::Pii`] inside a [`crate::pii::BuyerPii`] (or the
//! item's gift message). Dates stay as the strings Amazon sent (they come with and without
//! milliseconds, and the library mocks use placeholders); [`parse_mws_time`] reads them.

use chrono::{DateTime, NaiveDateTime, Utc};

/// Parses an MWS date: RFC 3339 with `Z` or an offset, with or without fractions; a value
/// without any zone is read as UTC. Tolerates a `%3A`-encoded value (seen in docs examples).
pub fn parse_mws_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let decoded;
    let s = if s.contains('%') {
        decoded = s.replace("%3A", ":").replace("%3a", ":");
        decoded.as_str()
    } else {
        s
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

pub use crate::model::order::{Money, Order, OrderInfo, OrderItem, OrderItemInfo, copy_pii};

/// What a `ListOrders` / `ListOrdersByNextToken` / `GetOrder` result holds besides the orders
/// (which are handed to a callback one at a time).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOrdersResult {
    /// `NextToken`: more pages follow.
    pub next_token: Option<String>,
    /// `CreatedBefore`: the watermark when the call filtered by creation.
    pub created_before: Option<String>,
    /// `LastUpdatedBefore`: the watermark when the call filtered by update.
    pub last_updated_before: Option<String>,
    /// Number of `<Order>` elements handed to the callback.
    pub order_count: usize,
    /// Orders refused alone, with why (never handed to the callback): an identifier that is
    /// not Amazon's, or a number outside its plausible bounds
    /// ([`crate::model::plausible`]). Sanitised text, no PII.
    pub refused: Vec<String>,
    /// `ResponseMetadata/RequestId`.
    pub request_id: Option<String>,
}

/// A `ListOrderItems` / `ListOrderItemsByNextToken` result.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ListOrderItemsResult {
    /// `NextToken`.
    pub next_token: Option<String>,
    /// `AmazonOrderId`.
    pub amazon_order_id: Option<String>,
    /// The items of this page.
    pub items: Vec<OrderItem>,
    /// `ResponseMetadata/RequestId`.
    pub request_id: Option<String>,
}

/// An MWS `ErrorResponse` (the first `<Error>`; `RequestID` and `RequestId` both accepted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorResponse {
    /// `Type`: `Sender`, `Receiver`, `Server` or blank.
    pub error_type: String,
    /// `Code`, e.g. `RequestThrottled`.
    pub code: String,
    /// `Message`.
    pub message: String,
    /// `RequestID` / `RequestId`.
    pub request_id: Option<String>,
}

/// `FeedSubmissionInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedSubmissionInfo {
    /// `FeedSubmissionId`.
    pub feed_submission_id: String,
    /// `FeedType`.
    pub feed_type: String,
    /// `SubmittedDate`.
    pub submitted_date: String,
    /// `FeedProcessingStatus` (`_SUBMITTED_`, `_IN_PROGRESS_`, `_DONE_`, ...).
    pub feed_processing_status: String,
    /// `StartedProcessingDate`.
    pub started_processing_date: Option<String>,
    /// `CompletedProcessingDate`.
    pub completed_processing_date: Option<String>,
}

/// `SubmitFeedResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmitFeedResult {
    /// The new submission.
    pub info: FeedSubmissionInfo,
    /// `ResponseMetadata/RequestId`.
    pub request_id: Option<String>,
}

/// `GetFeedSubmissionList(ByNextToken)Response`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedSubmissionList {
    /// `NextToken`.
    pub next_token: Option<String>,
    /// `HasNext`.
    pub has_next: bool,
    /// The submissions.
    pub submissions: Vec<FeedSubmissionInfo>,
    /// `ResponseMetadata/RequestId`.
    pub request_id: Option<String>,
}

/// One `<Result>` of a processing report (or one row of a flat-file report).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessingResult {
    /// The feed's `MessageID` this result is about (flat files: `original-record-number`).
    pub message_id: Option<u64>,
    /// `ResultCode`: `Error` or `Warning`.
    pub result_code: String,
    /// `ResultMessageCode`.
    pub result_message_code: Option<String>,
    /// `ResultDescription`.
    pub result_description: String,
    /// `AdditionalInfo/AmazonOrderID`.
    pub amazon_order_id: Option<String>,
    /// `AdditionalInfo/SKU` (flat files: `sku`).
    pub sku: Option<String>,
}

/// A feed processing report (XML `ProcessingReport` or the flat-file summary).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessingReport {
    /// `DocumentTransactionID`.
    pub document_transaction_id: Option<String>,
    /// `StatusCode` (`Complete`).
    pub status_code: Option<String>,
    /// `MessagesProcessed`.
    pub messages_processed: u64,
    /// `MessagesSuccessful`.
    pub messages_successful: u64,
    /// `MessagesWithError`.
    pub messages_with_error: u64,
    /// `MessagesWithWarning`.
    pub messages_with_warning: u64,
    /// Per-message results (only errors and warnings are listed).
    pub results: Vec<ProcessingResult>,
}

impl ProcessingReport {
    /// True when the message with this `MessageID` has an `Error` result.
    pub fn message_failed(&self, message_id: u64) -> bool {
        self.results
            .iter()
            .any(|r| r.message_id == Some(message_id) && r.result_code == "Error")
    }
}

/// The `_POST_ORDER_FULFILLMENT_DATA_` feed (OrderFulfillment.xsd).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FulfillmentFeed {
    /// `Header/MerchantIdentifier`: the merchant token (seller id).
    pub merchant_identifier: String,
    /// The messages, one per shipment.
    pub messages: Vec<FulfillmentMessage>,
}

/// One `<Message>` of a fulfillment feed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FulfillmentMessage {
    /// `MessageID`, unique in the feed.
    pub message_id: u64,
    /// `AmazonOrderID`.
    pub amazon_order_id: Option<String>,
    /// `MerchantOrderID` (used when `amazon_order_id` is absent).
    pub merchant_order_id: Option<String>,
    /// `MerchantFulfillmentID`.
    pub merchant_fulfillment_id: Option<String>,
    /// `FulfillmentDate` (xsd:dateTime; send `Z` or an offset).
    pub fulfillment_date: String,
    /// `FulfillmentData/CarrierCode` (amzn-base enum).
    pub carrier_code: Option<String>,
    /// `FulfillmentData/CarrierName` (other carriers).
    pub carrier_name: Option<String>,
    /// `FulfillmentData/ShippingMethod`.
    pub shipping_method: Option<String>,
    /// `FulfillmentData/ShipperTrackingNumber`.
    pub shipper_tracking_number: Option<String>,
    /// `Item*` (none: the whole order).
    pub items: Vec<FulfillmentItem>,
}

/// One `<Item>` of a fulfillment message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FulfillmentItem {
    /// `AmazonOrderItemCode` (the item's `OrderItemId`).
    pub amazon_order_item_code: Option<String>,
    /// `MerchantOrderItemID`.
    pub merchant_order_item_id: Option<String>,
    /// `MerchantFulfillmentItemID`.
    pub merchant_fulfillment_item_id: Option<String>,
    /// `Quantity` (partial shipments).
    pub quantity: Option<u32>,
}

/// Carrier codes of amzn-base.xsd that the sandbox accepts in `CarrierCode`.
pub const CARRIER_CODES: &[&str] = &[
    "USPS",
    "UPS",
    "UPSMI",
    "FedEx",
    "DHL",
    "DHL Global Mail",
    "Fastway",
    "UPS Mail Innovations",
    "Lasership",
    "Royal Mail",
    "FedEx SmartPost",
    "OSM",
    "OnTrac",
    "Streamlite",
    "Newgistics",
    "Canada Post",
    "Blue Package",
    "Chronopost",
    "Deutsche Post",
    "DPD",
    "La Poste",
    "Parcelforce",
    "Poste Italiane",
    "TNT",
    "Target Logistics",
    "Yamato Transport",
    "Sagawa Express",
    "Japan Post",
    "Hermes",
    "GLS",
    "Correos",
    "India Post",
    "Australia Post",
    "Singapore Post",
    "Other",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_every_seen_form() {
        for s in [
            "2017-02-20T19:49:35Z",
            "2020-03-20T10:29:46.866Z",
            "2018-04-27T13:44:30+00:00",
            "2007-10-25T23:36:28",
            "2017-02-05T00%3A06%3A07.000Z",
        ] {
            assert!(parse_mws_time(s).is_some(), "{s}");
        }
        assert!(parse_mws_time("String").is_none());
    }
}
