//! Amazon's marketplaces and the SP-API regions that serve them (SP-API.md §1.1,
//! SCRIPTS-AND-MARKETPLACES.md Part B): each marketplace id with its country, currency,
//! region, and Amazon Shipping business (Shipping API v2 `x-amzn-shipping-business-id`; none in
//! Germany and most others).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// An SP-API region: one host, one refresh token per seller and app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    /// North America: CA, US, MX, BR.
    Na,
    /// Europe, Middle East, India, Africa.
    Eu,
    /// Far East: SG, AU, JP.
    Fe,
}

impl Region {
    /// Every region, in a fixed order.
    pub const ALL: [Region; 3] = [Region::Na, Region::Eu, Region::Fe];

    /// The production endpoint.
    pub fn endpoint(self) -> &'static str {
        match self {
            Region::Na => "https://sellingpartnerapi-na.amazon.com",
            Region::Eu => "https://sellingpartnerapi-eu.amazon.com",
            Region::Fe => "https://sellingpartnerapi-fe.amazon.com",
        }
    }

    /// `na`, `eu` or `fe`.
    pub fn as_str(self) -> &'static str {
        match self {
            Region::Na => "na",
            Region::Eu => "eu",
            Region::Fe => "fe",
        }
    }

    /// Parses `na`, `eu` or `fe` (any case).
    pub fn parse(s: &str) -> Result<Region> {
        match s.to_ascii_lowercase().as_str() {
            "na" => Ok(Region::Na),
            "eu" => Ok(Region::Eu),
            "fe" => Ok(Region::Fe),
            _ => Err(Error::usage(format!("--region {s:?}: use na, eu or fe"))),
        }
    }
}

impl std::fmt::Display for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One Amazon marketplace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marketplace {
    /// Amazon's marketplace id.
    pub id: &'static str,
    /// ISO 3166 alpha-2 country code (`UK` is written `GB`).
    pub country: &'static str,
    /// The store's domain.
    pub domain: &'static str,
    /// ISO 4217 currency of its prices.
    pub currency: &'static str,
    /// The region that serves it.
    pub region: Region,
    /// Its Amazon Shipping business for Shipping API v2, where Amazon has one.
    pub shipping_business: Option<&'static str>,
}

const fn m(
    id: &'static str,
    country: &'static str,
    domain: &'static str,
    currency: &'static str,
    region: Region,
    shipping_business: Option<&'static str>,
) -> Marketplace {
    Marketplace {
        id,
        country,
        domain,
        currency,
        region,
        shipping_business,
    }
}

/// Every marketplace the tool knows.
pub const MARKETPLACES: &[Marketplace] = &[
    m(
        "ATVPDKIKX0DER",
        "US",
        "amazon.com",
        "USD",
        Region::Na,
        Some("AmazonShipping_US"),
    ),
    m("A2EUQ1WTGCTBG2", "CA", "amazon.ca", "CAD", Region::Na, None),
    m(
        "A1AM78C64UM0Y8",
        "MX",
        "amazon.com.mx",
        "MXN",
        Region::Na,
        None,
    ),
    m(
        "A2Q3Y263D00KWC",
        "BR",
        "amazon.com.br",
        "BRL",
        Region::Na,
        None,
    ),
    m(
        "A1F83G8C2ARO7P",
        "GB",
        "amazon.co.uk",
        "GBP",
        Region::Eu,
        Some("AmazonShipping_UK"),
    ),
    m("A1PA6795UKMFR9", "DE", "amazon.de", "EUR", Region::Eu, None),
    m(
        "A13V1IB3VIYZZH",
        "FR",
        "amazon.fr",
        "EUR",
        Region::Eu,
        Some("AmazonShipping_FR"),
    ),
    m(
        "APJ6JRA9NG5V4",
        "IT",
        "amazon.it",
        "EUR",
        Region::Eu,
        Some("AmazonShipping_IT"),
    ),
    m(
        "A1RKKUPIHCS9HS",
        "ES",
        "amazon.es",
        "EUR",
        Region::Eu,
        Some("AmazonShipping_ES"),
    ),
    m("A1805IZSGTT6HS", "NL", "amazon.nl", "EUR", Region::Eu, None),
    m("A2NODRKZP88ZB9", "SE", "amazon.se", "SEK", Region::Eu, None),
    m("A1C3SOZRARQ6R3", "PL", "amazon.pl", "PLN", Region::Eu, None),
    m(
        "AMEN7PMS3EDWL",
        "BE",
        "amazon.com.be",
        "EUR",
        Region::Eu,
        None,
    ),
    m("A28R8C7NBKEWEA", "IE", "amazon.ie", "EUR", Region::Eu, None),
    m(
        "A33AVAJ2PDY3EV",
        "TR",
        "amazon.com.tr",
        "TRY",
        Region::Eu,
        None,
    ),
    m(
        "A2VIGQ35RCS4UG",
        "AE",
        "amazon.ae",
        "AED",
        Region::Eu,
        Some("AmazonShipping_UAE"),
    ),
    m(
        "A17E79C6D8DWNP",
        "SA",
        "amazon.sa",
        "SAR",
        Region::Eu,
        Some("AmazonShipping_SA"),
    ),
    m(
        "ARBP9OOSHTCHU",
        "EG",
        "amazon.eg",
        "EGP",
        Region::Eu,
        Some("AmazonShipping_EG"),
    ),
    m(
        "A21TJRUUN4KGV",
        "IN",
        "amazon.in",
        "INR",
        Region::Eu,
        Some("AmazonShipping_IN"),
    ),
    m(
        "AE08WJ6YKNBMC",
        "ZA",
        "amazon.co.za",
        "ZAR",
        Region::Eu,
        None,
    ),
    m(
        "A1VC38T7YXB528",
        "JP",
        "amazon.co.jp",
        "JPY",
        Region::Fe,
        Some("AmazonShipping_JP"),
    ),
    m(
        "A39IBJ37TRP1C6",
        "AU",
        "amazon.com.au",
        "AUD",
        Region::Fe,
        None,
    ),
    m("A19VAU5U5O7RUS", "SG", "amazon.sg", "SGD", Region::Fe, None),
];

impl Marketplace {
    /// The marketplace with this id, if the tool knows it.
    pub fn by_id(id: &str) -> Option<&'static Marketplace> {
        MARKETPLACES.iter().find(|m| m.id == id)
    }

    /// Every marketplace of a region.
    pub fn of_region(region: Region) -> impl Iterator<Item = &'static Marketplace> {
        MARKETPLACES.iter().filter(move |m| m.region == region)
    }
}

/// `--marketplace`: a marketplace id the tool knows, or the country of one (`DE`, `UK` or `GB`),
/// as Amazon's id; an unknown id of Amazon's shape is taken as given (Amazon adds marketplaces).
pub fn marketplace_arg(s: &str) -> std::result::Result<String, String> {
    let s = s.trim();
    let country = match s.to_ascii_uppercase().as_str() {
        "UK" => "GB".to_string(),
        c => c.to_string(),
    };
    if let Some(m) = MARKETPLACES
        .iter()
        .find(|m| m.id == s || m.country == country)
    {
        return Ok(m.id.to_string());
    }
    if (9..=14).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Ok(s.to_string());
    }
    Err(format!(
        "{s:?} is neither a marketplace id (e.g. ATVPDKIKX0DER) nor a country with one (e.g. DE)"
    ))
}

/// The short name of a marketplace in a listing: its country, or the id when unknown.
pub fn short(id: &str) -> &str {
    Marketplace::by_id(id).map_or(id, |m| m.country)
}

/// A person's name for a marketplace id: `DE (amazon.de, EUR)`, or the id itself when unknown.
pub fn describe(id: &str) -> String {
    match Marketplace::by_id(id) {
        Some(m) => format!("{} ({}, {})", m.country, m.domain, m.currency),
        None => id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut ids: Vec<_> = MARKETPLACES.iter().map(|m| m.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), MARKETPLACES.len());
        for m in MARKETPLACES {
            assert!(
                (9..=14).contains(&m.id.len())
                    && m.id
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
                "{m:?}"
            );
            assert_eq!(m.country.len(), 2);
            assert_eq!(m.currency.len(), 3);
        }
    }

    #[test]
    fn germany_has_no_shipping_business_and_the_us_has_one() {
        let de = Marketplace::by_id("A1PA6795UKMFR9").unwrap();
        assert_eq!((de.region, de.shipping_business), (Region::Eu, None));
        let us = Marketplace::by_id("ATVPDKIKX0DER").unwrap();
        assert_eq!(us.shipping_business, Some("AmazonShipping_US"));
        assert_eq!(Marketplace::of_region(Region::Fe).count(), 3);
        assert_eq!(describe("A1PA6795UKMFR9"), "DE (amazon.de, EUR)");
        assert_eq!(describe("XYZ"), "XYZ");
    }

    #[test]
    fn marketplace_args_take_ids_and_countries() {
        assert_eq!(marketplace_arg("de").unwrap(), "A1PA6795UKMFR9");
        assert_eq!(marketplace_arg("UK").unwrap(), "A1F83G8C2ARO7P");
        assert_eq!(marketplace_arg("ATVPDKIKX0DER").unwrap(), "ATVPDKIKX0DER");
        assert_eq!(marketplace_arg("A3NEWMARKET9").unwrap(), "A3NEWMARKET9");
        for bad in ["", "XX", "atvpdkikx0der", "A1;DROP", "ZZZZZZZZZZZZZZZZZZZ"] {
            assert!(marketplace_arg(bad).is_err(), "{bad}");
        }
        assert_eq!(short("A1PA6795UKMFR9"), "DE");
        assert_eq!(short("A3NEWMARKET9"), "A3NEWMARKET9");
    }

    #[test]
    fn regions_parse_and_print() {
        for r in Region::ALL {
            assert_eq!(Region::parse(r.as_str()).unwrap(), r);
            assert_eq!(Region::parse(&r.as_str().to_uppercase()).unwrap(), r);
        }
        assert!(Region::parse("asia").is_err());
    }
}
