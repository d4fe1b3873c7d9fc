//! Merchant Fulfillment 2015-06-01 ("Buy Shipping", MERCHANT-FULFILLMENT.md): the request a
//! label purchase sends, the offers and shipments Amazon answers with, and the label file.
//!
//! - The request names the order, its items, the seller's ship-from address (the seller's, not
//!   the buyer's), the package and the weight. Amazon already holds the buyer's address, so
//!   buying a label sends no PII.
//! - Responses are parsed by element name (real responses order children differently from the
//!   docs). `ShipToAddress` is never read: the one copy of the address that comes back is the
//!   label itself.
//! - The label: `Contents` is base64 of a gzip stream; the file inside must match `Checksum`
//!   (base64 MD5 of the decompressed file), checked before anything is printed. It is kept in a
//!   zeroizing buffer: it shows the buyer's address. Decompression stops at
//!   [`MAX_LABEL_BYTES`] (a gzip bomb is refused, not inflated).
//! - A reply whose `ShipmentId` or `AmazonOrderId` is not Amazon's format is refused as a whole
//!   ([`crate::mws::ids`]); carrier and service names and rejection messages are sanitised for
//!   the terminal as they are read ([`crate::term`]).

use std::io::{BufRead, Read};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest, Md5};
use zeroize::Zeroizing;

use super::ids;
use super::model::Money;
use super::xml::{Node, XmlError, document, expect_root, request_id};
use crate::term;

/// Largest label file accepted after decompression (real labels are tens of kilobytes).
pub const MAX_LABEL_BYTES: u64 = 8 << 20;

/// Merchant Fulfillment path.
pub const MF_PATH: &str = "/MerchantFulfillment/2015-06-01";
/// Merchant Fulfillment version.
pub const MF_VERSION: &str = "2015-06-01";
/// Merchant Fulfillment XML namespace.
pub const MF_NS: &str = "https://mws.amazonservices.com/MerchantFulfillment/2015-06-01";

/// The seller's ship-from address (`[ship_from]` in config.toml; the seller's, not PII).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipFrom {
    /// `Name` (at most 30 characters).
    pub name: String,
    /// `AddressLine1`.
    pub address_line1: String,
    /// `AddressLine2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_line2: Option<String>,
    /// `City`.
    pub city: String,
    /// `StateOrProvinceCode` (needed for US, CA and UK origins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// `PostalCode`.
    pub postal_code: String,
    /// `CountryCode` (ISO alpha-2).
    pub country: String,
    /// `Email`.
    pub email: String,
    /// `Phone`.
    pub phone: String,
}

/// `PackageDimensions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Package {
    /// Length, width, height (decimals > 0) and `inches` or `centimeters`.
    Box {
        /// Length.
        length: String,
        /// Width.
        width: String,
        /// Height.
        height: String,
        /// `inches` or `centimeters`.
        unit: &'static str,
    },
    /// A `PredefinedPackageDimensions` token such as `USPS_SmallFlatRateBox`.
    Predefined(String),
}

impl Package {
    /// Parses `10x8x4in`, `30x20x10cm` or a predefined token.
    pub fn parse(s: &str) -> Result<Package, String> {
        let s = s.trim();
        let (dims, unit) = if let Some(d) = s.strip_suffix("in") {
            (d, "inches")
        } else if let Some(d) = s.strip_suffix("cm") {
            (d, "centimeters")
        } else if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Ok(Package::Predefined(s.to_string()));
        } else {
            return Err(format!(
                "package {s:?}: give LxWxH with in or cm (e.g. 10x8x4in), or a predefined box"
            ));
        };
        let n: Vec<&str> = dims.split('x').map(str::trim).collect();
        let ok = |v: &str| v.parse::<f64>().is_ok_and(|f| f > 0.0 && f < 1000.0);
        if n.len() != 3 || !n.iter().all(|v| ok(v)) {
            return Err(format!(
                "package {s:?}: three positive numbers, e.g. 10x8x4in"
            ));
        }
        Ok(Package::Box {
            length: n[0].into(),
            width: n[1].into(),
            height: n[2].into(),
            unit,
        })
    }
}

/// `Weight`: a decimal and `ounces` or `grams`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weight {
    /// The value.
    pub value: String,
    /// `ounces` or `grams`.
    pub unit: &'static str,
}

impl Weight {
    /// Parses `12oz`, `1.5lb` (sent as ounces), `800g` or `1.2kg` (sent as grams).
    pub fn parse(s: &str) -> Result<Weight, String> {
        let s = s.trim();
        let split = s
            .find(|c: char| c.is_ascii_alphabetic())
            .ok_or_else(|| format!("weight {s:?}: give a unit: oz, lb, g or kg"))?;
        let (num, unit) = s.split_at(split);
        let v: f64 = num
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| *v > 0.0 && *v < 1_000_000.0)
            .ok_or_else(|| format!("weight {s:?}: not a positive number"))?;
        let (value, unit) = match unit {
            "oz" => (v, "ounces"),
            "lb" => (v * 16.0, "ounces"),
            "g" => (v, "grams"),
            "kg" => (v * 1000.0, "grams"),
            _ => return Err(format!("weight {s:?}: the unit is oz, lb, g or kg")),
        };
        let value = format!("{value:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string();
        Ok(Weight { value, unit })
    }
}

/// `ShipmentRequestDetails` and the options of one purchase or quote.
#[derive(Debug, Clone)]
pub struct ShipmentRequest {
    /// `AmazonOrderId`.
    pub order_id: String,
    /// `(OrderItemId, Quantity)` of every item in the parcel.
    pub items: Vec<(String, u32)>,
    /// The seller's address.
    pub ship_from: ShipFrom,
    /// The package.
    pub package: Package,
    /// Its weight.
    pub weight: Weight,
    /// `DeliveryExperience`.
    pub experience: &'static str,
}

impl ShipmentRequest {
    /// The flattened `ShipmentRequestDetails.*` parameters.
    pub fn params(&self) -> Vec<(String, String)> {
        let d = "ShipmentRequestDetails";
        let mut p = vec![(format!("{d}.AmazonOrderId"), self.order_id.clone())];
        for (i, (id, q)) in self.items.iter().enumerate() {
            p.push((
                format!("{d}.ItemList.Item.{}.OrderItemId", i + 1),
                id.clone(),
            ));
            p.push((
                format!("{d}.ItemList.Item.{}.Quantity", i + 1),
                q.to_string(),
            ));
        }
        let f = &self.ship_from;
        let from = format!("{d}.ShipFromAddress");
        for (k, v) in [
            ("Name", Some(&f.name)),
            ("AddressLine1", Some(&f.address_line1)),
            ("AddressLine2", f.address_line2.as_ref()),
            ("City", Some(&f.city)),
            ("StateOrProvinceCode", f.state.as_ref()),
            ("PostalCode", Some(&f.postal_code)),
            ("CountryCode", Some(&f.country)),
            ("Email", Some(&f.email)),
            ("Phone", Some(&f.phone)),
        ] {
            if let Some(v) = v {
                p.push((format!("{from}.{k}"), v.clone()));
            }
        }
        let pd = format!("{d}.PackageDimensions");
        match &self.package {
            Package::Box {
                length,
                width,
                height,
                unit,
            } => {
                p.push((format!("{pd}.Length"), length.clone()));
                p.push((format!("{pd}.Width"), width.clone()));
                p.push((format!("{pd}.Height"), height.clone()));
                p.push((format!("{pd}.Unit"), (*unit).to_string()));
            }
            Package::Predefined(t) => {
                p.push((format!("{pd}.PredefinedPackageDimensions"), t.clone()));
            }
        }
        p.push((format!("{d}.Weight.Value"), self.weight.value.clone()));
        p.push((format!("{d}.Weight.Unit"), self.weight.unit.to_string()));
        p.push((
            format!("{d}.ShippingServiceOptions.DeliveryExperience"),
            self.experience.to_string(),
        ));
        p.push((
            format!("{d}.ShippingServiceOptions.CarrierWillPickUp"),
            "false".into(),
        ));
        p
    }
}

/// `DeliveryExperience` values.
pub const DELIVERY_EXPERIENCES: &[&str] = &[
    "DeliveryConfirmationWithAdultSignature",
    "DeliveryConfirmationWithSignature",
    "DeliveryConfirmationWithoutSignature",
    "NoTracking",
];

/// One `ShippingService` offer.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Offer {
    /// `CarrierName`.
    pub carrier: String,
    /// `ShippingServiceId`, e.g. `UPS_PTP_GND`.
    pub service_id: String,
    /// `ShippingServiceName`.
    pub service_name: String,
    /// `ShippingServiceOfferId` (valid for this quote only).
    pub offer_id: String,
    /// `Rate`.
    pub rate: Option<(String, String)>,
    /// `EarliestEstimatedDeliveryDate`.
    pub earliest_delivery: Option<String>,
    /// `LatestEstimatedDeliveryDate`.
    pub latest_delivery: Option<String>,
    /// `AvailableLabelFormats`.
    pub label_formats: Vec<String>,
}

/// `GetEligibleShippingServicesResult`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Eligible {
    /// The offers.
    pub offers: Vec<Offer>,
    /// Rejected services: (service id, reason code, message).
    pub rejected: Vec<(String, String, String)>,
    /// Carriers temporarily unavailable.
    pub unavailable_carriers: Vec<String>,
    /// Carriers whose terms the seller has not accepted.
    pub terms_not_accepted: Vec<String>,
    /// `RequestId`.
    pub request_id: Option<String>,
}

fn money_pair(m: Option<Money>) -> Option<(String, String)> {
    m.map(|m| (m.currency_code, m.amount))
}

/// Remote display text: sanitised, cut short.
fn shown(s: String) -> String {
    term::quote(&s, 200)
}

fn offer(n: &Node) -> Offer {
    Offer {
        carrier: shown(n.text_or_empty("CarrierName")),
        service_id: shown(n.text_or_empty("ShippingServiceId")),
        service_name: shown(n.text_or_empty("ShippingServiceName")),
        offer_id: n.text_or_empty("ShippingServiceOfferId"),
        rate: money_pair(n.money("Rate")).map(|(c, a)| (shown(c), shown(a))),
        earliest_delivery: n.text_of("EarliestEstimatedDeliveryDate").map(shown),
        latest_delivery: n.text_of("LatestEstimatedDeliveryDate").map(shown),
        label_formats: n
            .child("AvailableLabelFormats")
            .map(|f| {
                f.children("LabelFormat")
                    .map(|l| shown(l.text.trim().to_string()))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn carriers(n: Option<&Node>, item: &str) -> Vec<String> {
    n.map(|l| {
        l.children(item)
            .map(|c| shown(c.text_or_empty("CarrierName")))
            .collect()
    })
    .unwrap_or_default()
}

/// Parses `GetEligibleShippingServicesResponse`.
pub fn parse_eligible<R: BufRead>(input: R) -> Result<Eligible, XmlError> {
    let root = document(input)?;
    expect_root(&root, &["GetEligibleShippingServicesResponse"])?;
    let r = root
        .child("GetEligibleShippingServicesResult")
        .ok_or_else(|| XmlError::Unexpected("no GetEligibleShippingServicesResult".into()))?;
    Ok(Eligible {
        offers: r
            .child("ShippingServiceList")
            .map(|l| l.children("ShippingService").map(offer).collect())
            .unwrap_or_default(),
        rejected: r
            .child("RejectedShippingServiceList")
            .map(|l| {
                l.children("RejectedShippingService")
                    .map(|x| {
                        (
                            shown(x.text_or_empty("ShippingServiceId")),
                            shown(x.text_or_empty("RejectionReasonCode")),
                            term::one_line(&x.text_or_empty("RejectionReasonMessage")),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        unavailable_carriers: carriers(
            r.child("TemporarilyUnavailableCarrierList"),
            "TemporarilyUnavailableCarrier",
        ),
        terms_not_accepted: carriers(
            r.child("TermsAndConditionsNotAcceptedCarrierList"),
            "TermsAndConditionsNotAcceptedCarrier",
        ),
        request_id: request_id(&root),
    })
}

/// A label file from Amazon, decoded and checked.
pub struct LabelFile {
    /// The file (PDF, PNG or ZPL), as Amazon made it. Shows the buyer's address.
    pub bytes: Zeroizing<Vec<u8>>,
    /// `FileType`: `application/pdf`, `application/zpl` or `image/png`.
    pub file_type: String,
    /// `LabelFormat`, when given.
    pub format: Option<String>,
}

impl std::fmt::Debug for LabelFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "LabelFile {{ {} bytes, {} }}",
            self.bytes.len(),
            self.file_type
        )
    }
}

impl LabelFile {
    /// The file name extension for its type.
    pub fn extension(&self) -> &'static str {
        match self.file_type.as_str() {
            "application/pdf" => "pdf",
            "image/png" => "png",
            _ => "zpl",
        }
    }
}

/// A `Shipment` (CreateShipment, GetShipment, CancelShipment).
#[derive(Debug)]
pub struct Shipment {
    /// `ShipmentId`.
    pub shipment_id: String,
    /// `AmazonOrderId`.
    pub order_id: String,
    /// `Status`: Purchased, RefundPending, RefundRejected, RefundApplied.
    pub status: String,
    /// `TrackingId`.
    pub tracking_id: Option<String>,
    /// `ShippingService`.
    pub service: Offer,
    /// The label, when the response carries one: decoded and checked, or why it could not be
    /// (the shipment is bought either way; `GetShipment` fetches the label again).
    pub label: Option<Result<LabelFile, XmlError>>,
    /// `RequestId`.
    pub request_id: Option<String>,
}

/// Decodes a label's `Contents` (base64 of gzip) and checks it against `Checksum` (base64 MD5
/// of the decompressed file).
pub fn decode_label(contents: &str, checksum: &str) -> Result<Zeroizing<Vec<u8>>, XmlError> {
    let gz = Zeroizing::new(
        STANDARD
            .decode(contents.trim())
            .map_err(|e| XmlError::Unexpected(format!("label contents are not base64: {e}")))?,
    );
    let mut out = Zeroizing::new(Vec::with_capacity(gz.len().saturating_mul(4).min(1 << 20)));
    flate2::read::GzDecoder::new(&gz[..])
        .take(MAX_LABEL_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| XmlError::Unexpected(format!("label contents are not gzip: {e}")))?;
    if out.len() as u64 > MAX_LABEL_BYTES {
        return Err(XmlError::Unexpected(format!(
            "the label inflates to more than {} MiB",
            MAX_LABEL_BYTES >> 20
        )));
    }
    let sum = STANDARD.encode(Md5::digest(&out[..]));
    if sum != checksum.trim() {
        return Err(XmlError::Unexpected(
            "the label does not match its checksum".into(),
        ));
    }
    Ok(out)
}

/// Parses a `CreateShipmentResponse`, `GetShipmentResponse` or `CancelShipmentResponse`.
pub fn parse_shipment<R: BufRead>(input: R) -> Result<Shipment, XmlError> {
    let root = document(input)?;
    expect_root(
        &root,
        &[
            "CreateShipmentResponse",
            "GetShipmentResponse",
            "CancelShipmentResponse",
        ],
    )?;
    let s = root
        .children
        .iter()
        .find(|c| c.name.ends_with("Result"))
        .and_then(|r| r.child("Shipment"))
        .ok_or_else(|| XmlError::Unexpected("no Shipment in the response".into()))?;
    let shipment_id = s.text_or_empty("ShipmentId");
    ids::shipment_id(&shipment_id)?;
    let order_id = s.text_or_empty("AmazonOrderId");
    ids::order_id(&order_id)?;
    let label = match s.child("Label").and_then(|l| l.child("FileContents")) {
        Some(fc) => fc
            .child("Contents")
            .filter(|c| !c.text.trim().is_empty())
            .map(|c| {
                decode_label(&c.text, &fc.text_or_empty("Checksum")).map(|bytes| LabelFile {
                    bytes,
                    file_type: fc.text_or_empty("FileType"),
                    format: s.child("Label").and_then(|l| l.text_of("LabelFormat")),
                })
            }),
        None => None,
    };
    Ok(Shipment {
        shipment_id,
        order_id,
        status: shown(s.text_or_empty("Status")),
        tracking_id: s
            .text_of("TrackingId")
            .filter(|t| !t.is_empty())
            .map(|t| term::quote(&t, 64)),
        service: s.child("ShippingService").map(offer).unwrap_or_default(),
        label,
        request_id: request_id(&root),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_and_weights_parse() {
        assert_eq!(
            Package::parse("10x8x4in").unwrap(),
            Package::Box {
                length: "10".into(),
                width: "8".into(),
                height: "4".into(),
                unit: "inches"
            }
        );
        assert!(matches!(
            Package::parse("30x20x10.5cm").unwrap(),
            Package::Box {
                unit: "centimeters",
                ..
            }
        ));
        assert_eq!(
            Package::parse("USPS_SmallFlatRateBox").unwrap(),
            Package::Predefined("USPS_SmallFlatRateBox".into())
        );
        assert!(Package::parse("10x8in").is_err());
        assert!(Package::parse("0x8x4in").is_err());
        assert_eq!(
            Weight::parse("1.5lb").unwrap(),
            Weight {
                value: "24".into(),
                unit: "ounces"
            }
        );
        assert_eq!(Weight::parse("800g").unwrap().unit, "grams");
        assert_eq!(Weight::parse("1.25kg").unwrap().value, "1250");
        assert!(Weight::parse("12").is_err());
        assert!(Weight::parse("-3oz").is_err());
    }

    fn label_of(bytes: &[u8]) -> (String, String) {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(bytes).unwrap();
        let gz = gz.finish().unwrap();
        (STANDARD.encode(gz), STANDARD.encode(Md5::digest(bytes)))
    }

    #[test]
    fn a_gzip_bomb_label_is_refused_and_a_real_size_label_decodes() {
        let (c, sum) = label_of(&vec![0u8; (MAX_LABEL_BYTES + 1) as usize]);
        assert!(c.len() < 100_000, "the bomb is small on the wire");
        let e = decode_label(&c, &sum).unwrap_err();
        assert!(e.to_string().contains("inflates to more than"), "{e}");
        let (c, sum) = label_of(b"^XA^FDlabel^FS^XZ");
        assert_eq!(&decode_label(&c, &sum).unwrap()[..], b"^XA^FDlabel^FS^XZ");
    }

    #[test]
    fn offers_and_shipments_are_sanitised_and_checked() {
        let esc = "\u{1b}[2J\u{202e}";
        let body = format!(
            "<GetEligibleShippingServicesResponse><GetEligibleShippingServicesResult>\
             <ShippingServiceList><ShippingService><CarrierName>UPS{esc}</CarrierName>\
             <ShippingServiceName>Ground{esc}</ShippingServiceName>\
             <ShippingServiceId>UPS_PTP_GND</ShippingServiceId>\
             <Rate><CurrencyCode>USD{esc}</CurrencyCode><Amount>1{esc}</Amount></Rate>\
             <LatestEstimatedDeliveryDate>2026{esc}</LatestEstimatedDeliveryDate>\
             </ShippingService></ShippingServiceList><RejectedShippingServiceList>\
             <RejectedShippingService><ShippingServiceId>X</ShippingServiceId>\
             <RejectionReasonCode>C</RejectionReasonCode>\
             <RejectionReasonMessage>why{esc}{}</RejectionReasonMessage>\
             </RejectedShippingService></RejectedShippingServiceList>\
             </GetEligibleShippingServicesResult></GetEligibleShippingServicesResponse>",
            "x".repeat(5000)
        );
        let e = parse_eligible(body.as_bytes()).unwrap();
        let text = format!("{e:?}");
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{202e}'),
            "{text}"
        );
        assert!(e.offers[0].carrier.starts_with("UPS\u{FFFD}"));
        assert!(e.rejected[0].2.chars().count() <= crate::term::MAX_QUOTE);

        let shipment = |id: &str, order: &str| {
            format!(
                "<CreateShipmentResponse><CreateShipmentResult><Shipment>\
                 <ShipmentId>{id}</ShipmentId><AmazonOrderId>{order}</AmazonOrderId>\
                 <Status>Purchased</Status></Shipment></CreateShipmentResult>\
                 </CreateShipmentResponse>"
            )
        };
        let good = "6825f31a-c814-4d33-80f5-79ae46e6627d";
        let s = parse_shipment(shipment(good, "111-2393723-1586761").as_bytes()).unwrap();
        assert_eq!(s.shipment_id, good);
        for (id, order) in [
            ("../../label", "111-2393723-1586761"),
            (good, "../../etc/passwd"),
        ] {
            let e = parse_shipment(shipment(id, order).as_bytes()).unwrap_err();
            assert!(matches!(e, XmlError::BadId(_)), "{e}");
        }
    }
}
