//! Shipping API v2 ("Buy Shipping" on SP-API, SP-API.md §1.10): the request bodies fulfill
//! sends and the parsers of Amazon's replies, pure and shared by the client and the tests.
//!
//! - **Why Shipping v2, not Merchant Fulfillment v0.** Amazon points new integrations at it;
//!   for an Amazon order the buyer's address is not sent at all (`channelDetails` names the
//!   order, Amazon fills in the ship-to), so no Restricted Data Token is needed; and
//!   `purchaseShipment` takes an `x-amzn-IdempotencyKey`, so a purchase whose reply was lost is
//!   resent with the same key and Amazon hands back the first one instead of selling a second.
//! - **Requests** carry the seller's ship-from address (the seller's, not PII), one package
//!   (Amazon's limit) whose `packageClientReferenceId` is the order id, and each item by its
//!   `OrderItemId`. No `shipTo`.
//! - **Replies** are parsed after the size and depth checks of [`super::model`]; unknown
//!   fields are ignored, a missing required field refuses the reply. Shipment ids and tracking
//!   ids are checked at the boundary ([`is_shipment_id`], [`is_tracking_id`]): a shipment id
//!   goes into a URL path. Names shown to a person are sanitised ([`crate::term`]).
//! - **Labels** come as base64 (not gzip'd, and without a checksum, unlike MWS): decoded with a
//!   size cap and accepted only if they are the format asked for, by magic bytes
//!   ([`crate::model::shipping::check_label`]). They show the buyer's address and stay in
//!   zeroizing buffers.

use serde::{Deserialize, Serialize};

use super::model::{ParseError, from_slice};
use crate::model::shipping::{
    LabelFile, LabelRequest, Offer, Package, Quote, check_label, decode_base64_label,
};
use crate::term;

/// Whether `id` can be a Shipping v2 shipment id: 1 to 64 of `A-Z a-z 0-9 - _` (it goes into
/// a URL path, so nothing else is accepted).
pub fn is_shipment_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// Whether `id` can be a carrier tracking id: 1 to 64 ASCII letters and digits.
pub fn is_tracking_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|c| c.is_ascii_alphanumeric())
}

/// The currency of insured values for an Amazon Shipping business.
pub fn currency(business: &str) -> &'static str {
    match business {
        "AmazonShipping_UK" => "GBP",
        "AmazonShipping_IN" => "INR",
        "AmazonShipping_UAE" => "AED",
        "AmazonShipping_SA" => "SAR",
        "AmazonShipping_EG" => "EGP",
        "AmazonShipping_IT" | "AmazonShipping_ES" | "AmazonShipping_FR" => "EUR",
        "AmazonShipping_JP" => "JPY",
        _ => "USD",
    }
}

// ---- requests ----

/// `Address` (the seller's ship-from).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    /// `name` (1–50).
    pub name: String,
    /// `addressLine1` (1–60).
    pub address_line1: String,
    /// `addressLine2`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_line2: Option<String>,
    /// `stateOrRegion`.
    pub state_or_region: String,
    /// `city`.
    pub city: String,
    /// `countryCode`.
    pub country_code: String,
    /// `postalCode`.
    pub postal_code: String,
    /// `email`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `phoneNumber`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

/// `Dimensions`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Dimensions {
    /// `length`.
    pub length: f64,
    /// `width`.
    pub width: f64,
    /// `height`.
    pub height: f64,
    /// `INCH` or `CENTIMETER`.
    pub unit: String,
}

/// `Weight`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WeightV2 {
    /// `GRAM`, `KILOGRAM`, `OUNCE` or `POUND`.
    pub unit: String,
    /// The value.
    pub value: f64,
}

/// `Currency`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Money {
    /// The amount.
    pub value: f64,
    /// ISO 4217.
    pub unit: String,
}

/// `Item`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ItemV2 {
    /// The `OrderItemId`.
    pub item_identifier: String,
    /// Units in the package.
    pub quantity: u32,
}

/// `Package`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PackageV2 {
    /// `dimensions`.
    pub dimensions: Dimensions,
    /// `weight`.
    pub weight: WeightV2,
    /// `insuredValue` (nothing declared: 0).
    pub insured_value: Money,
    /// `packageClientReferenceId`: the order id (one package per shipment).
    pub package_client_reference_id: String,
    /// `items`.
    pub items: Vec<ItemV2>,
}

/// `getRates` body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RatesRequest {
    /// `shipFrom`.
    pub ship_from: Address,
    /// `packages` (exactly one).
    pub packages: Vec<PackageV2>,
    /// `channelDetails`: `AMAZON` and the order.
    pub channel_details: serde_json::Value,
}

impl RatesRequest {
    /// The `getRates` body for `req`, insured values in `currency`. Refuses what Shipping v2
    /// cannot express (a predefined MWS box, a ship-from without a state or region).
    pub fn new(req: &LabelRequest, currency: &str) -> Result<RatesRequest, String> {
        let f = &req.ship_from;
        let state = f
            .state
            .clone()
            .filter(|s| !s.trim().is_empty())
            .ok_or("Shipping API v2 needs ship_from.state (state or region) in config.toml")?;
        let dimensions = match &req.package {
            Package::Box {
                length,
                width,
                height,
                unit,
            } => {
                let n = |v: &str| v.parse::<f64>().map_err(|_| format!("package size {v:?}"));
                Dimensions {
                    length: n(length)?,
                    width: n(width)?,
                    height: n(height)?,
                    unit: if *unit == "centimeters" {
                        "CENTIMETER"
                    } else {
                        "INCH"
                    }
                    .into(),
                }
            }
            Package::Predefined(t) => {
                return Err(format!(
                    "package {t:?}: Shipping API v2 takes the box's size (e.g. 10x8x4in), not a \
                     predefined package name"
                ));
            }
        };
        let weight = WeightV2 {
            unit: if req.weight.unit == "grams" {
                "GRAM"
            } else {
                "OUNCE"
            }
            .into(),
            value: req
                .weight
                .value
                .parse()
                .map_err(|_| format!("weight {:?}", req.weight.value))?,
        };
        Ok(RatesRequest {
            ship_from: Address {
                name: f.name.clone(),
                address_line1: f.address_line1.clone(),
                address_line2: f.address_line2.clone(),
                state_or_region: state,
                city: f.city.clone(),
                country_code: f.country.clone(),
                postal_code: f.postal_code.clone(),
                email: Some(f.email.clone()).filter(|e| !e.is_empty()),
                phone_number: Some(f.phone.clone()).filter(|p| !p.is_empty()),
            },
            packages: vec![PackageV2 {
                dimensions,
                weight,
                insured_value: Money {
                    value: 0.0,
                    unit: currency.into(),
                },
                package_client_reference_id: req.order_id.clone(),
                items: req
                    .items
                    .iter()
                    .map(|(id, q)| ItemV2 {
                        item_identifier: id.clone(),
                        quantity: *q,
                    })
                    .collect(),
            }],
            channel_details: serde_json::json!({
                "channelType": "AMAZON",
                "amazonOrderDetails": {"orderId": req.order_id},
            }),
        })
    }

    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a rates request serializes")
    }
}

/// `DocumentSize`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DocumentSize {
    /// `width`.
    pub width: f64,
    /// `length`.
    pub length: f64,
    /// `INCH` or `CENTIMETER`.
    pub unit: String,
}

/// `RequestedDocumentSpecification`: the label fulfill asks for, one of the rate's supported
/// specifications.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DocumentSpec {
    /// `ZPL` or `PDF`.
    pub format: String,
    /// `size`.
    pub size: DocumentSize,
    /// `dpi`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dpi: Option<u32>,
    /// `pageLayout`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_layout: Option<String>,
    /// `needFileJoining`.
    pub need_file_joining: bool,
    /// `requestedDocumentTypes`: `LABEL`.
    pub requested_document_types: Vec<String>,
}

impl DocumentSpec {
    /// The domain label format name (`ZPL203`, `ZPL300`, `PDF`).
    pub fn label_format(&self) -> String {
        match (self.format.as_str(), self.dpi) {
            ("ZPL", Some(d)) => format!("ZPL{d}"),
            (f, _) => f.to_string(),
        }
    }
}

/// `purchaseShipment` body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseRequest {
    /// `requestToken` of the quote.
    pub request_token: String,
    /// `rateId` of the offer.
    pub rate_id: String,
    /// `requestedDocumentSpecification`.
    pub requested_document_specification: DocumentSpec,
}

impl PurchaseRequest {
    /// The JSON body (the same bytes on every resend of one attempt).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a purchase request serializes")
    }
}

// ---- replies ----

/// Amazon's envelope `{"payload": ...}`; the model's own examples leave it out, so a bare
/// result is read too.
#[derive(Deserialize)]
#[serde(untagged)]
enum Envelope<T> {
    Wrapped { payload: T },
    Bare(T),
}

impl<T> Envelope<T> {
    fn into_inner(self) -> T {
        match self {
            Envelope::Wrapped { payload } | Envelope::Bare(payload) => payload,
        }
    }
}

/// A string Amazon sometimes sends as a number (the model's own example of `trackingId`).
fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err(serde::de::Error::custom("expected a string")),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRates {
    request_token: String,
    rates: Vec<RawRate>,
    #[serde(default)]
    ineligible_rates: Vec<RawIneligible>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRate {
    rate_id: String,
    carrier_name: String,
    service_id: String,
    service_name: String,
    total_charge: Money,
    #[serde(default)]
    promise: RawPromise,
    supported_document_specifications: Vec<RawSupported>,
    #[serde(default)]
    requires_additional_inputs: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawPromise {
    delivery_window: Option<RawWindow>,
}

#[derive(Deserialize)]
struct RawWindow {
    start: Option<String>,
    end: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSupported {
    format: String,
    size: DocumentSize,
    #[serde(default)]
    print_options: Vec<RawPrintOption>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPrintOption {
    #[serde(default, rename = "supportedDPIs")]
    supported_dpis: Vec<u32>,
    #[serde(default)]
    supported_page_layouts: Vec<String>,
    #[serde(default)]
    supported_file_joining_options: Vec<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawIneligible {
    service_id: String,
    #[serde(default)]
    ineligibility_reasons: Vec<RawReason>,
}

#[derive(Deserialize)]
struct RawReason {
    code: String,
    message: String,
}

/// A parsed `getRates` reply: the quote, and per `rateId` the label specification fulfill
/// would ask for (ZPL at 203 dpi, else ZPL, else PDF; none if the rate offers none of them or
/// needs additional inputs fulfill does not collect).
#[derive(Debug, Clone)]
pub struct Rates {
    /// The quote (`pin` is the `requestToken`).
    pub quote: Quote,
    /// `(rateId, specification)`.
    pub specs: Vec<(String, DocumentSpec)>,
}

/// Remote display text: sanitised, cut short.
fn shown(s: &str) -> String {
    term::quote(s, 200)
}

impl RawSupported {
    /// Every dpi its print options support.
    fn dpis(&self) -> Vec<u32> {
        self.print_options
            .iter()
            .flat_map(|o| o.supported_dpis.iter().copied())
            .collect()
    }
}

fn pick_spec(supported: &[RawSupported]) -> Option<DocumentSpec> {
    let spec = |s: &RawSupported, dpi: Option<u32>| {
        let opt = s.print_options.first();
        DocumentSpec {
            format: s.format.clone(),
            size: s.size.clone(),
            dpi,
            page_layout: opt.and_then(|o| o.supported_page_layouts.first().cloned()),
            need_file_joining: opt
                .and_then(|o| o.supported_file_joining_options.first().copied())
                .unwrap_or(false),
            requested_document_types: vec!["LABEL".into()],
        }
    };
    let zpl = supported.iter().filter(|s| s.format == "ZPL");
    for want in [203, 300] {
        if let Some(s) = zpl.clone().find(|s| s.dpis().contains(&want)) {
            return Some(spec(s, Some(want)));
        }
    }
    if let Some(s) = zpl.clone().next() {
        return Some(spec(s, s.dpis().first().copied()));
    }
    supported
        .iter()
        .find(|s| s.format == "PDF")
        .map(|s| spec(s, s.dpis().first().copied()))
}

fn money_text(m: &Money) -> (String, String) {
    (shown(&m.unit), format!("{:.2}", m.value))
}

/// Parses a `getRates` reply.
pub fn parse_rates(body: &[u8]) -> Result<Rates, ParseError> {
    let raw = from_slice::<Envelope<RawRates>>(body)?.into_inner();
    let mut specs = Vec::new();
    let mut offers = Vec::new();
    let mut rejected = Vec::new();
    for r in &raw.rates {
        let window = r.promise.delivery_window.as_ref();
        let mut formats: Vec<String> = Vec::new();
        for s in &r.supported_document_specifications {
            let dpis = s.dpis();
            match (s.format.as_str(), dpis.is_empty()) {
                ("ZPL", false) => formats.extend(dpis.iter().map(|d| format!("ZPL{d}"))),
                (f, _) => formats.push(shown(f)),
            }
        }
        if r.requires_additional_inputs {
            rejected.push((
                shown(&r.service_id),
                "RequiresAdditionalInputs".into(),
                "this service needs additional inputs fulfill does not collect".into(),
            ));
            continue;
        }
        if let Some(spec) = pick_spec(&r.supported_document_specifications) {
            specs.push((r.rate_id.clone(), spec));
        }
        offers.push(Offer {
            carrier: shown(&r.carrier_name),
            service_id: shown(&r.service_id),
            service_name: shown(&r.service_name),
            offer_id: r.rate_id.clone(),
            rate: Some(money_text(&r.total_charge)),
            earliest_delivery: window.and_then(|w| w.start.as_deref()).map(shown),
            latest_delivery: window.and_then(|w| w.end.as_deref()).map(shown),
            label_formats: formats,
        });
    }
    for i in &raw.ineligible_rates {
        let (code, why) = i
            .ineligibility_reasons
            .first()
            .map(|r| (shown(&r.code), term::one_line(&r.message)))
            .unwrap_or_else(|| ("Ineligible".into(), String::new()));
        rejected.push((shown(&i.service_id), code, why));
    }
    Ok(Rates {
        quote: Quote {
            offers,
            rejected,
            unavailable_carriers: Vec::new(),
            terms_not_accepted: Vec::new(),
            request_id: None,
            pin: Some(raw.request_token),
        },
        specs,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPurchase {
    shipment_id: String,
    package_document_details: Vec<RawDocDetail>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDocuments {
    shipment_id: String,
    package_document_detail: RawDocDetail,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDocDetail {
    package_documents: Vec<RawDocument>,
    #[serde(default, deserialize_with = "string_or_number")]
    tracking_id: Option<String>,
}

#[derive(Deserialize)]
struct RawDocument {
    #[serde(rename = "type")]
    kind: String,
    format: String,
    contents: Contents,
}

/// Label contents (they show the buyer's address), read straight into a zeroizing buffer.
struct Contents(zeroize::Zeroizing<String>);

impl<'de> Deserialize<'de> for Contents {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Contents(zeroize::Zeroizing::new(String::deserialize(d)?)))
    }
}

/// A bought shipment's documents: the shipment id, the tracking id, the label (decoded and
/// checked, or why not: the shipment is bought either way).
#[derive(Debug)]
pub struct Documents {
    /// `shipmentId` (checked by [`is_shipment_id`]).
    pub shipment_id: String,
    /// `trackingId` (checked by [`is_tracking_id`]).
    pub tracking_id: Option<String>,
    /// The `LABEL` document.
    pub label: Option<Result<LabelFile, String>>,
}

fn documents(
    shipment_id: String,
    detail: RawDocDetail,
    want: Option<&str>,
) -> Result<Documents, ParseError> {
    if !is_shipment_id(&shipment_id) {
        return Err(ParseError::Malformed(format!(
            "the shipment id {} is not in Amazon's format",
            term::quote(&shipment_id, 40)
        )));
    }
    let tracking_id = match detail.tracking_id {
        Some(t) if is_tracking_id(&t) => Some(t),
        Some(t) => {
            return Err(ParseError::Malformed(format!(
                "the tracking id {} is not a carrier's",
                term::quote(&t, 40)
            )));
        }
        None => None,
    };
    let label = detail
        .package_documents
        .into_iter()
        .find(|d| d.kind == "LABEL")
        .map(|d| {
            if let Some(w) = want
                && w != d.format
            {
                return Err(format!(
                    "Amazon sent a {} label where {w} was asked for",
                    term::quote(&d.format, 10)
                ));
            }
            let bytes = decode_base64_label(&d.contents.0)?;
            check_label(&bytes, &d.format)?;
            Ok(LabelFile {
                bytes,
                file_type: match d.format.as_str() {
                    "PDF" => "application/pdf",
                    "PNG" => "image/png",
                    _ => "application/zpl",
                }
                .into(),
                format: Some(d.format),
            })
        });
    Ok(Documents {
        shipment_id,
        tracking_id,
        label,
    })
}

/// Parses a `purchaseShipment` reply; `want` is the label format asked for.
pub fn parse_purchase(body: &[u8], want: Option<&str>) -> Result<Documents, ParseError> {
    let p = from_slice::<Envelope<RawPurchase>>(body)?.into_inner();
    let detail = p
        .package_document_details
        .into_iter()
        .next()
        .ok_or_else(|| ParseError::Malformed("the purchase names no package documents".into()))?;
    documents(p.shipment_id, detail, want)
}

/// Parses a `getShipmentDocuments` reply.
pub fn parse_documents(body: &[u8]) -> Result<Documents, ParseError> {
    let d = from_slice::<Envelope<RawDocuments>>(body)?.into_inner();
    documents(d.shipment_id, d.package_document_detail, None)
}

/// Parses a `cancelShipment` reply (`{"payload": {}}`).
pub fn parse_cancel(body: &[u8]) -> Result<(), ParseError> {
    from_slice::<Envelope<serde_json::Map<String, serde_json::Value>>>(body)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_at_the_boundary() {
        assert!(is_shipment_id("89108749065090"));
        assert!(!is_shipment_id("amzn1.x"));
        assert!(!is_shipment_id("../cancel"));
        assert!(!is_shipment_id(""));
        assert!(is_tracking_id("1Z999AA10123456784"));
        assert!(!is_tracking_id("1Z 99"));
    }

    const RATES: &str = r#"{"payload":{"requestToken":"tok","rates":[
        {"rateId":"r1","carrierId":"UPS","carrierName":"UPS","serviceId":"UPS_GND",
         "serviceName":"UPS Ground","totalCharge":{"value":8.5,"unit":"USD"},
         "promise":{"deliveryWindow":{"start":"2026-12-04T00:00:00Z","end":"2026-12-06T00:00:00Z"}},
         "supportedDocumentSpecifications":[
           {"format":"PDF","size":{"width":4,"length":6,"unit":"INCH"},"printOptions":[
             {"supportedDPIs":[300],"supportedPageLayouts":["DEFAULT"],"supportedFileJoiningOptions":[false],
              "supportedDocumentDetails":[{"name":"LABEL","isMandatory":true}]}]},
           {"format":"ZPL","size":{"width":4,"length":6,"unit":"INCH"},"printOptions":[
             {"supportedDPIs":[300,203],"supportedPageLayouts":["DEFAULT"],"supportedFileJoiningOptions":[false],
              "supportedDocumentDetails":[{"name":"LABEL","isMandatory":true}]}]}],
         "requiresAdditionalInputs":false,"someNewField":{"x":1}}],
       "ineligibleRates":[{"serviceId":"EXP","serviceName":"Express","carrierName":"USPS","carrierId":"USPS",
         "ineligibilityReasons":[{"code":"TOO_HEAVY","message":"Over the limit"}]}]}}"#;

    #[test]
    fn rates_parse_and_zpl_at_203_dpi_is_picked() {
        let r = parse_rates(RATES.as_bytes()).unwrap();
        assert_eq!(r.quote.pin.as_deref(), Some("tok"));
        let o = &r.quote.offers[0];
        assert_eq!(
            (o.service_id.as_str(), o.offer_id.as_str()),
            ("UPS_GND", "r1")
        );
        assert_eq!(o.rate, Some(("USD".into(), "8.50".into())));
        assert_eq!(o.label_formats, ["PDF", "ZPL300", "ZPL203"]);
        assert_eq!(r.specs[0].1.label_format(), "ZPL203");
        assert_eq!(r.specs[0].1.page_layout.as_deref(), Some("DEFAULT"));
        assert_eq!(r.quote.rejected[0].1, "TOO_HEAVY");
    }

    #[test]
    fn a_reply_missing_a_required_field_is_refused() {
        let no_token = RATES.replace("\"requestToken\":\"tok\",", "");
        assert!(matches!(
            parse_rates(no_token.as_bytes()),
            Err(ParseError::Malformed(_))
        ));
    }

    fn purchase(shipment: &str, tracking: &str, format: &str, bytes: &[u8]) -> Vec<u8> {
        use base64::Engine;
        let c = base64::engine::general_purpose::STANDARD.encode(bytes);
        format!(
            r#"{{"payload":{{"shipmentId":"{shipment}","promise":{{}},"packageDocumentDetails":[
              {{"packageClientReferenceId":"x","trackingId":"{tracking}",
                "packageDocuments":[{{"type":"LABEL","format":"{format}","contents":"{c}"}}]}}]}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn a_purchase_yields_its_label_checked_by_format() {
        let d = parse_purchase(&purchase("S1", "1Z1", "ZPL", b"^XA^XZ"), Some("ZPL")).unwrap();
        assert_eq!(d.shipment_id, "S1");
        let l = d.label.unwrap().unwrap();
        assert_eq!((&l.bytes[..], l.extension()), (&b"^XA^XZ"[..], "zpl"));
        // Not a ZPL file: bought, but the label is refused (and fetched again later).
        let d = parse_purchase(&purchase("S1", "1Z1", "ZPL", b"<html>"), Some("ZPL")).unwrap();
        assert!(d.label.unwrap().is_err());
        // Another format than asked for.
        let d = parse_purchase(&purchase("S1", "1Z1", "PDF", b"%PDF-1.4"), Some("ZPL")).unwrap();
        assert!(d.label.unwrap().is_err());
    }

    #[test]
    fn hostile_ids_refuse_the_reply() {
        for (s, t) in [("../../x", "1Z1"), ("S1", "1Z\\u001b[2J"), ("", "1Z")] {
            assert!(
                parse_purchase(&purchase(s, t, "ZPL", b"^XA"), None).is_err(),
                "{s} {t}"
            );
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse_rates(&body);
            let _ = parse_purchase(&body, Some("ZPL"));
            let _ = parse_documents(&body);
            let _ = parse_cancel(&body);
        }

        #[test]
        fn mangled_replies_never_panic(cut in 0usize..2000, flip in 0usize..2000, b in any::<u8>()) {
            let mut body = RATES.as_bytes().to_vec();
            if !body.is_empty() {
                let i = flip % body.len();
                body[i] = b;
            }
            body.truncate(cut.min(body.len()));
            let _ = parse_rates(&body);
            let mut p = purchase("S1", "1Z1", "ZPL", b"^XA^XZ");
            let i = flip % p.len();
            p[i] = b;
            let _ = parse_purchase(&p, Some("ZPL"));
        }
    }
}
