//! Buyer PII as types that cannot leak by accident.
//!
//! [`Pii`] holds one field (a name, an address line, a phone number...). Its `Debug` and
//! `Display` print [`REDACTED`], it is neither `Clone` nor `Serialize`, and it zeroizes its
//! bytes on drop. The one way to read it is [`Pii::expose_pii`], a name grep finds.
//! [`BuyerPii`] is an order's PII fields together; they are sealed and opened as one unit
//! (`vault::seal`), via the length-prefixed encoding in [`BuyerPii::encode`].
//!
//! ```
//! use fulfill::pii::{BuyerPii, Pii, REDACTED};
//!
//! let pii = BuyerPii { recipient_name: Some(Pii::new("Zoë Example")), ..Default::default() };
//! // However it is formatted, by a log line, an error or a panic, the value stays out.
//! assert_eq!(format!("{}", pii.recipient_name.as_ref().unwrap()), REDACTED);
//! assert!(!format!("{pii:?} {:?}", pii.recipient_name).contains("Zoë"));
//! // Reading it takes a deliberate, greppable call.
//! assert_eq!(pii.recipient_name.as_ref().unwrap().expose_pii(), "Zoë Example");
//! ```

use std::fmt;

use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

/// What PII prints as.
pub const REDACTED: &str = "[PII redacted]";

/// One field of buyer PII.
#[derive(Default, PartialEq, Eq)]
pub struct Pii(String);

impl Pii {
    /// Wraps a value. The caller should not keep another copy.
    pub fn new(value: impl Into<String>) -> Self {
        Pii(value.into())
    }

    /// The plaintext. Call it only to seal, print a label or a packing slip, or scan for leaks.
    pub fn expose_pii(&self) -> &str {
        &self.0
    }

    /// True when the field is empty (Amazon withholds PII without approval).
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl Drop for Pii {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Pii {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Pii {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

macro_rules! buyer_pii {
    ($($(#[$doc:meta])* $field:ident = $tag:literal,)*) => {
        /// An order's PII fields, sealed and opened together. Absent fields are `None`.
        #[derive(Default, PartialEq, Eq)]
        pub struct BuyerPii {
            $($(#[$doc])* pub $field: Option<Pii>,)*
        }

        impl BuyerPii {
            /// The field names, in encoding order (for leak scans and docs; never values).
            pub const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];

            /// Every present field with its name, in a fixed order.
            pub fn fields(&self) -> Vec<(&'static str, &Pii)> {
                let mut out = Vec::new();
                $(if let Some(v) = &self.$field { out.push((stringify!($field), v)); })*
                out
            }

            /// The plaintext encoding that gets sealed: a version byte, then per field a tag
            /// byte, a u32 big-endian length and the UTF-8 bytes. Zeroized when dropped.
            pub fn encode(&self) -> Zeroizing<Vec<u8>> {
                let mut out = Zeroizing::new(Vec::with_capacity(256));
                out.push(1u8);
                $(if let Some(v) = &self.$field {
                    let b = v.expose_pii().as_bytes();
                    out.push($tag);
                    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
                    out.extend_from_slice(b);
                })*
                out
            }

            /// Decodes [`BuyerPii::encode`]'s output.
            pub fn decode(bytes: &[u8]) -> Result<Self> {
                let bad = || Error::Integrity("sealed PII record has an invalid layout".into());
                let (&version, mut rest) = bytes.split_first().ok_or_else(bad)?;
                if version != 1 {
                    return Err(bad());
                }
                let mut pii = BuyerPii::default();
                while let Some((&tag, r)) = rest.split_first() {
                    if r.len() < 4 {
                        return Err(bad());
                    }
                    let len = u32::from_be_bytes([r[0], r[1], r[2], r[3]]) as usize;
                    let r = &r[4..];
                    if r.len() < len {
                        return Err(bad());
                    }
                    let value = std::str::from_utf8(&r[..len]).map_err(|_| bad())?;
                    let value = Some(Pii::new(value));
                    match tag {
                        $($tag => pii.$field = value,)*
                        _ => return Err(bad()),
                    }
                    rest = &r[len..];
                }
                Ok(pii)
            }
        }
    };
}

buyer_pii! {
    /// `BuyerName`.
    buyer_name = 1,
    /// `BuyerEmail` (an Amazon relay address, still PII).
    buyer_email = 2,
    /// `ShippingAddress/Name`: the recipient.
    recipient_name = 3,
    /// `AddressLine1`.
    address_line1 = 4,
    /// `AddressLine2`.
    address_line2 = 5,
    /// `AddressLine3`.
    address_line3 = 6,
    /// `City`.
    city = 7,
    /// `County`.
    county = 8,
    /// `District`.
    district = 9,
    /// `StateOrRegion`.
    state_or_region = 10,
    /// `Municipality`.
    municipality = 11,
    /// `PostalCode`.
    postal_code = 12,
    /// `Phone`.
    phone = 13,
    /// `BuyerTaxInfo`, flattened to text (company name, region, classifications).
    buyer_tax_info = 14,
    /// Items' `GiftMessageText`, joined (one per line, with the `OrderItemId`).
    gift_message = 15,
}

impl BuyerPii {
    /// True when Amazon sent nothing a label could be addressed to (no recipient or no first
    /// address line): such orders are stored and flagged, and cannot be labelled.
    pub fn is_unaddressable(&self) -> bool {
        let missing = |f: &Option<Pii>| f.as_ref().is_none_or(Pii::is_empty);
        missing(&self.recipient_name) || missing(&self.address_line1)
    }

    /// True when no field is present and non-empty.
    pub fn is_empty(&self) -> bool {
        self.fields().iter().all(|(_, v)| v.is_empty())
    }
}

impl fmt::Debug for BuyerPii {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.fields().iter().map(|(n, _)| *n).collect();
        write!(f, "BuyerPii {{ {REDACTED}: {} }}", names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> BuyerPii {
        BuyerPii {
            buyer_name: Some(Pii::new("Zoë Ñúñez")),
            recipient_name: Some(Pii::new("Ζωή Παπαδοπούλου")),
            address_line1: Some(Pii::new("1 Rue de l'Église & <Co>")),
            city: Some(Pii::new("東京")),
            phone: Some(Pii::new("+1 555 0100")),
            ..Default::default()
        }
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let p = sample();
        for text in [
            format!("{p:?}"),
            format!("{:?}", p.buyer_name),
            format!("{}", p.phone.as_ref().unwrap()),
            format!("{:#?}", p.city),
        ] {
            assert!(
                !text.contains("Zoë") && !text.contains("555") && !text.contains("東京"),
                "{text}"
            );
        }
        assert!(format!("{p:?}").contains(REDACTED));
    }

    #[test]
    fn encode_decode_round_trips_every_field() {
        let p = sample();
        let back = BuyerPii::decode(&p.encode()).unwrap();
        assert!(back == p);
    }

    #[test]
    fn decode_rejects_truncation_and_unknown_tags() {
        let enc = sample().encode();
        for cut in 1..enc.len() {
            // Any strict prefix is either a shorter valid record or an error, never a panic.
            let _ = BuyerPii::decode(&enc[..cut]);
        }
        assert!(BuyerPii::decode(&[1, 99, 0, 0, 0, 0]).is_err());
        assert!(BuyerPii::decode(&[2]).is_err());
        assert!(BuyerPii::decode(&[]).is_err());
    }

    #[test]
    fn unaddressable_when_name_or_line1_missing_or_blank() {
        assert!(!sample().is_unaddressable());
        assert!(BuyerPii::default().is_unaddressable());
        let mut p = sample();
        p.recipient_name = Some(Pii::new("  "));
        assert!(p.is_unaddressable());
    }

    proptest! {
        #[test]
        fn round_trip_any_text(a in ".*", b in ".*", c in proptest::option::of(".*")) {
            let p = BuyerPii {
                recipient_name: Some(Pii::new(a)),
                address_line2: Some(Pii::new(b)),
                postal_code: c.map(Pii::new),
                ..Default::default()
            };
            prop_assert!(BuyerPii::decode(&p.encode()).unwrap() == p);
        }
    }
}
