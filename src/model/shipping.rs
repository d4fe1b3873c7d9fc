//! Buy Shipping in domain terms, shared by the workflow ([`crate::flow::buy`]) and both
//! adapters ([`crate::market`]): the seller's ship-from address, the parcel, a quote's offers,
//! a bought shipment with its label, and the note a purchase leaves before it is sent.
//!
//! Units and field names follow MWS (`inches`, `ounces`, `ShippingServiceId`), where fulfill
//! started; the SP-API adapter maps them to Shipping API v2's (`INCH`, `OUNCE`, `serviceId`).

use std::io::Read;

use zeroize::Zeroizing;

/// The largest label accepted, decoded (real labels are tens of kilobytes).
pub const MAX_LABEL_BYTES: u64 = 8 << 20;

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

/// A quote: the offers for one parcel (MWS `GetEligibleShippingServicesResult`, SP-API
/// `getRates`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Quote {
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
    /// What pins a purchase to this quote where the protocol needs more than the offer
    /// (SP-API: the `requestToken`). Not shown.
    #[serde(skip)]
    pub pin: Option<String>,
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

/// What a label is bought for: the order, the items in the parcel, the parcel and options.
#[derive(Debug, Clone)]
pub struct LabelRequest {
    /// `AmazonOrderId`.
    pub order_id: String,
    /// `(OrderItemId, quantity)` of every item in the parcel.
    pub items: Vec<(String, u32)>,
    /// The seller's address.
    pub ship_from: ShipFrom,
    /// The package.
    pub package: Package,
    /// Its weight.
    pub weight: Weight,
    /// The delivery experience (MWS `DeliveryExperience` values).
    pub experience: &'static str,
}

/// A bought (or fetched again) shipment.
#[derive(Debug)]
pub struct Shipment {
    /// Amazon's shipment id (needed to reprint or cancel).
    pub shipment_id: String,
    /// The order.
    pub order_id: String,
    /// Amazon's status of it (`Purchased`, ...), when the protocol reports one.
    pub status: String,
    /// The carrier's tracking id.
    pub tracking_id: Option<String>,
    /// The service it was bought with (carrier, ids, rate).
    pub service: Offer,
    /// The label, when the reply carries one: decoded and checked, or why it could not be
    /// (the shipment is bought either way; it can be fetched again).
    pub label: Option<Result<LabelFile, String>>,
}

/// A purchase noted in the vault before it is sent, so that a run that stops before Amazon's
/// answer is recorded finds it and never buys twice.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attempt {
    /// The service being bought.
    pub service: String,
    /// The idempotency key the purchase is sent with (SP-API `x-amzn-IdempotencyKey`); the
    /// same on every resend of this attempt.
    #[serde(default)]
    pub key: String,
    /// What the adapter needs to send the same purchase again (no PII): MWS the offer id,
    /// SP-API the quote's token, the rate id, the document specification and the offer.
    #[serde(default)]
    pub pin: String,
}

impl Attempt {
    /// Reads a noted attempt: JSON, or (as notes from before this format were) the bare
    /// service id.
    pub fn parse(noted: &str) -> Attempt {
        serde_json::from_str(noted).unwrap_or_else(|_| Attempt {
            service: noted.to_string(),
            key: String::new(),
            pin: String::new(),
        })
    }

    /// The note to store.
    pub fn to_note(&self) -> String {
        serde_json::to_string(self).expect("an attempt serializes")
    }
}

/// The label formats fulfill prints, by their magic bytes: `^XA` (ZPL, after optional
/// whitespace) or `%PDF-`. Anything else from Amazon is refused before it reaches a printer.
pub fn check_label(bytes: &[u8], format: &str) -> Result<(), String> {
    if bytes.len() as u64 > MAX_LABEL_BYTES {
        return Err(format!(
            "the label is larger than {} MiB",
            MAX_LABEL_BYTES >> 20
        ));
    }
    let ok = match format {
        "ZPL" => {
            let start = bytes
                .iter()
                .position(|b| !b.is_ascii_whitespace())
                .unwrap_or(0);
            bytes[start..].starts_with(b"^XA")
        }
        "PDF" => bytes.starts_with(b"%PDF-"),
        "PNG" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("the label is not a {format} file"))
    }
}

/// Decodes base64 label contents into a zeroizing buffer, at most [`MAX_LABEL_BYTES`].
pub fn decode_base64_label(contents: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let text = contents.trim();
    if (text.len() as u64) / 4 * 3 > MAX_LABEL_BYTES + 3 {
        return Err(format!(
            "the label is larger than {} MiB",
            MAX_LABEL_BYTES >> 20
        ));
    }
    let mut out = Zeroizing::new(Vec::new());
    base64::read::DecoderReader::new(text.as_bytes(), &base64::engine::general_purpose::STANDARD)
        .read_to_end(&mut out)
        .map_err(|e| format!("the label contents are not base64: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_known_by_their_magic_and_capped() {
        assert!(check_label(b"\n ^XA^FDx^FS^XZ", "ZPL").is_ok());
        assert!(check_label(b"%PDF-1.7 ...", "PDF").is_ok());
        assert!(check_label(b"<html>", "ZPL").is_err());
        assert!(check_label(b"^XA", "PDF").is_err());
        assert!(check_label(b"^XA", "TXT").is_err());
        let big = vec![b' '; (MAX_LABEL_BYTES + 1) as usize];
        assert!(check_label(&big, "ZPL").unwrap_err().contains("larger"));
    }

    #[test]
    fn an_attempt_reads_its_own_note_and_an_old_bare_service_note() {
        let a = Attempt {
            service: "UPS_PTP_GND".into(),
            key: "k".into(),
            pin: "{}".into(),
        };
        assert_eq!(Attempt::parse(&a.to_note()), a);
        let old = Attempt::parse("USPS_PTP_PRI");
        assert_eq!(
            (old.service.as_str(), old.key.as_str()),
            ("USPS_PTP_PRI", "")
        );
    }

    #[test]
    fn base64_labels_decode_and_garbage_is_refused() {
        assert_eq!(&decode_base64_label("XlhBXlha").unwrap()[..], b"^XA^XZ");
        assert!(decode_base64_label("not base64!").is_err());
    }
}
