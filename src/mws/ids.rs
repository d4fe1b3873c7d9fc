//! Amazon's identifiers, checked where they enter: one strict validator per kind.
//!
//! Everything a reply names an order, an item, a shipment, a feed submission or a request by
//! passes one of these before the rest of the crate sees it. The formats are Amazon's own, and
//! deliberately narrow (ASCII digits, dashes and hex only), so a checked id can never carry a
//! path separator, a dot, a control character or markup into a file name, a log line, a
//! terminal or a query. What happens to a record with a bad id is the parser's policy: an order
//! is refused alone, an item fails its order, a shipment or feed reply fails the call, and a
//! bad request id is dropped (it is only ever recorded).

use std::fmt;

use crate::term;

/// Which identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// `AmazonOrderId`: `NNN-NNNNNNN-NNNNNNN`.
    Order,
    /// `OrderItemId` (the feed's `AmazonOrderItemCode`): 10 to 20 digits (Amazon sends 14).
    OrderItem,
    /// Merchant Fulfillment `ShipmentId`: a UUID.
    Shipment,
    /// `FeedSubmissionId`: 1 to 20 digits.
    FeedSubmission,
    /// `RequestId` (body) or `x-mws-request-id` (header): a UUID.
    Request,
}

impl IdKind {
    /// The element name Amazon uses.
    pub fn name(self) -> &'static str {
        match self {
            IdKind::Order => "AmazonOrderId",
            IdKind::OrderItem => "OrderItemId",
            IdKind::Shipment => "ShipmentId",
            IdKind::FeedSubmission => "FeedSubmissionId",
            IdKind::Request => "RequestId",
        }
    }

    fn format(self) -> &'static str {
        match self {
            IdKind::Order => "3-7-7 digits",
            IdKind::OrderItem => "10 to 20 digits",
            IdKind::Shipment | IdKind::Request => "a UUID",
            IdKind::FeedSubmission => "1 to 20 digits",
        }
    }
}

/// An identifier that is not in Amazon's format. Its `Display` quotes a sanitised, shortened
/// preview of what was received, never the raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadId {
    /// Which identifier.
    pub kind: IdKind,
    /// What was received, sanitised and cut short (for messages).
    pub preview: String,
}

impl fmt::Display for BadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:?} is not in Amazon's format ({})",
            self.kind.name(),
            self.preview,
            self.kind.format()
        )
    }
}

impl std::error::Error for BadId {}

/// Longest preview of a bad id quoted in a message.
const PREVIEW: usize = 40;

fn digits(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

fn uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether `s` is a well-formed identifier of `kind` (exactly: no trimming).
pub fn is_valid(kind: IdKind, s: &str) -> bool {
    match kind {
        IdKind::Order => {
            let parts: Vec<&str> = s.split('-').collect();
            parts.len() == 3 && parts.iter().zip([3, 7, 7]).all(|(p, n)| digits(p, n, n))
        }
        IdKind::OrderItem => digits(s, 10, 20),
        IdKind::Shipment | IdKind::Request => uuid(s),
        IdKind::FeedSubmission => digits(s, 1, 20),
    }
}

/// `s` if it is a well-formed identifier of `kind`, else why not.
pub fn check(kind: IdKind, s: &str) -> Result<&str, BadId> {
    if is_valid(kind, s) {
        Ok(s)
    } else {
        Err(BadId {
            kind,
            preview: term::quote(s, PREVIEW),
        })
    }
}

/// An `AmazonOrderId`, checked.
pub fn order_id(s: &str) -> Result<&str, BadId> {
    check(IdKind::Order, s)
}

/// An order id given on the command line (clap's value parser for every `ORDER` argument):
/// trimmed and checked, or a one-line usage error saying what the shape must be.
pub fn order_id_arg(s: &str) -> Result<String, String> {
    // clap quotes the value itself: the message says only what is wrong with it.
    order_id(s.trim())
        .map(str::to_string)
        .map_err(|_| "not an Amazon order id (3-7-7 digits, e.g. 111-2393723-1586761)".into())
}

/// An `OrderItemId`, checked.
pub fn order_item_id(s: &str) -> Result<&str, BadId> {
    check(IdKind::OrderItem, s)
}

/// A Merchant Fulfillment `ShipmentId`, checked.
pub fn shipment_id(s: &str) -> Result<&str, BadId> {
    check(IdKind::Shipment, s)
}

/// A `FeedSubmissionId`, checked.
pub fn feed_submission_id(s: &str) -> Result<&str, BadId> {
    check(IdKind::FeedSubmission, s)
}

/// A request id if well-formed; a malformed one is dropped (it is only ever recorded).
pub fn request_id(s: Option<String>) -> Option<String> {
    s.filter(|s| is_valid(IdKind::Request, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_accepts_amazons_format_and_nothing_else() {
        let cases: &[(IdKind, &[&str], &[&str])] = &[
            (
                IdKind::Order,
                &["111-2393723-1586761", "903-1713775-3598252"],
                &[
                    "../../etc/passwd",
                    "111-2393723-1586761\u{1b}[2J",
                    " 111-2393723-1586761",
                    "111-2393723-158676",
                    "111-2393723-15867610",
                    "111-2393723-1586761-1",
                    "１１１-2393723-1586761",
                    "String",
                    "FILTERED",
                    "",
                ],
            ),
            (
                IdKind::OrderItem,
                &["68828574383266", "12345678901234"],
                &["String", "1234", "6882857438326a", "../68828574383266", ""],
            ),
            (
                IdKind::Shipment,
                &["6825f31a-c814-4d33-80f5-79ae46e6627d"],
                &[
                    "String",
                    "6825f31a-c814-4d33-80f5-79ae46e6627",
                    "6825f31a/c814-4d33-80f5-79ae46e6627d",
                    "6825f31g-c814-4d33-80f5-79ae46e6627d",
                ],
            ),
            (
                IdKind::FeedSubmission,
                &["2291326430", "475873017648"],
                &["string", "-1", "2291326430\n", "123456789012345678901"],
            ),
            (
                IdKind::Request,
                &["88faca76-b600-46d2-b53c-0c8c4533e43a"],
                &["String", "88faca76-b600-46d2-b53c-0c8c4533e43a\u{202e}"],
            ),
        ];
        for (kind, good, bad) in cases {
            for g in *good {
                assert_eq!(check(*kind, g), Ok(*g), "{kind:?} {g:?}");
            }
            for b in *bad {
                assert!(check(*kind, b).is_err(), "{kind:?} {b:?}");
            }
        }
    }

    #[test]
    fn a_bad_id_is_quoted_sanitised_and_short() {
        let e = order_id("111-2393723-1586761\u{1b}[2J").unwrap_err();
        let m = e.to_string();
        assert!(!m.chars().any(char::is_control), "{m:?}");
        assert!(m.contains("AmazonOrderId"), "{m}");
        let long = "9".repeat(10_000);
        assert!(order_id(&long).unwrap_err().to_string().len() < 200);
        assert_eq!(request_id(Some("String".into())), None);
        assert_eq!(
            request_id(Some("88faca76-b600-46d2-b53c-0c8c4533e43a".into())).as_deref(),
            Some("88faca76-b600-46d2-b53c-0c8c4533e43a")
        );
    }
}
