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
pub use crate::model::shipping::MAX_LABEL_BYTES;

/// Merchant Fulfillment path.
pub const MF_PATH: &str = "/MerchantFulfillment/2015-06-01";
/// Merchant Fulfillment version.
pub const MF_VERSION: &str = "2015-06-01";
/// Merchant Fulfillment XML namespace.
pub const MF_NS: &str = "https://mws.amazonservices.com/MerchantFulfillment/2015-06-01";

pub use crate::model::shipping::{
    LabelFile, Offer, Package, Quote as Eligible, ShipFrom, Shipment, Weight,
};

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
        pin: None,
    })
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

/// Parses a `CreateShipmentResponse`, `GetShipmentResponse` or `CancelShipmentResponse` (a
/// label that cannot be read is kept as why: the shipment is bought either way, and
/// `GetShipment` fetches the label again).
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
                decode_label(&c.text, &fc.text_or_empty("Checksum"))
                    .map(|bytes| LabelFile {
                        bytes,
                        file_type: fc.text_or_empty("FileType"),
                        format: s.child("Label").and_then(|l| l.text_of("LabelFormat")),
                    })
                    .map_err(|e| e.to_string())
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
