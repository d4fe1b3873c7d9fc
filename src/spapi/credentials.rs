//! SP-API credentials: what `credentials set --api sp-api` stores (sealed like MWS's).
//!
//! The LWA client secret and the refresh token are secrets: masked in `Debug`, zeroized on
//! drop, never printed. Endpoints follow the MWS rule ([`check_endpoint`]): `https://` only,
//! `http://` only to a loopback sandbox from a sandbox home.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

pub use crate::mws::credentials::check_endpoint;

use super::LWA_TOKEN_URL;
use crate::error::{Error, Result};

pub use crate::model::marketplace::Region;

/// What `credentials set --api sp-api` was given.
#[derive(Debug)]
pub struct SpApiCredentialsInput {
    /// The selling partner id (merchant token).
    pub seller_id: String,
    /// The region's marketplace ids (1 to 50, all of `region`).
    pub marketplaces: Vec<String>,
    /// LWA client id (`amzn1.application-oa2-client.…`).
    pub lwa_client_id: String,
    /// LWA client secret (from a file).
    pub lwa_client_secret: Zeroizing<String>,
    /// Refresh token (from a file; `Atzr|…`).
    pub refresh_token: Zeroizing<String>,
    /// Region; gives the default endpoint.
    pub region: Region,
    /// Endpoint override.
    pub endpoint: Option<String>,
    /// Token endpoint override.
    pub token_endpoint: Option<String>,
    /// Sandbox time scale (1 for a real home).
    pub time_scale: f64,
}

/// SP-API credentials and where to use them.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct SpApiCredentials {
    /// The selling partner id.
    pub seller_id: String,
    /// The region's marketplace ids (one `searchOrders` carries them all). Credentials stored
    /// before regions held one `marketplace_id`: read as a list of one.
    #[serde(alias = "marketplace_id", deserialize_with = "one_or_many")]
    pub marketplaces: Vec<String>,
    /// LWA client id.
    pub lwa_client_id: String,
    lwa_client_secret: String,
    refresh_token: String,
    /// The region.
    #[zeroize(skip)]
    pub region: Region,
    /// Endpoint base URL, e.g. `https://sellingpartnerapi-na.amazon.com`.
    pub endpoint: String,
    /// The LWA token endpoint, e.g. `https://api.amazon.com/auth/o2/token`.
    pub token_endpoint: String,
    /// Sandbox homes only: the sandbox's time scale.
    pub time_scale: f64,
}

impl fmt::Debug for SpApiCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpApiCredentials")
            .field("seller_id", &self.seller_id)
            .field("marketplaces", &self.marketplaces)
            .field("lwa_client_id", &self.lwa_client_id)
            .field("lwa_client_secret", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("token_endpoint", &self.token_endpoint)
            .finish()
    }
}

impl SpApiCredentials {
    /// Assembles and validates credentials; endpoints default from the region.
    pub fn new(input: SpApiCredentialsInput, sandbox_home: bool) -> Result<Self> {
        let c = SpApiCredentials {
            seller_id: input.seller_id.trim().to_string(),
            marketplaces: input
                .marketplaces
                .iter()
                .map(|m| m.trim().to_string())
                .collect(),
            lwa_client_id: input.lwa_client_id.trim().to_string(),
            lwa_client_secret: input.lwa_client_secret.trim().to_string(),
            refresh_token: input.refresh_token.trim().to_string(),
            region: input.region,
            endpoint: input
                .endpoint
                .unwrap_or_else(|| input.region.endpoint().to_string())
                .trim_end_matches('/')
                .to_string(),
            token_endpoint: input
                .token_endpoint
                .unwrap_or_else(|| LWA_TOKEN_URL.to_string()),
            time_scale: input.time_scale,
        };
        c.validate(sandbox_home)?;
        Ok(c)
    }

    /// Checks every field; refuses plain HTTP outside a sandbox home's loopback.
    pub fn validate(&self, sandbox_home: bool) -> Result<()> {
        let ident = |name: &str, v: &str| {
            if v.is_empty()
                || v.len() > 200
                || !v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                Err(Error::usage(format!(
                    "{name} {v:?} is not a valid SP-API identifier"
                )))
            } else {
                Ok(())
            }
        };
        ident("seller id", &self.seller_id)?;
        if self.marketplaces.is_empty() || self.marketplaces.len() > 50 {
            return Err(Error::usage(
                "give between 1 and 50 --marketplace IDs (one searchOrders carries at most 50)",
            ));
        }
        for m in &self.marketplaces {
            ident("marketplace id", m)?;
            check_region(m, self.region)?;
        }
        ident("LWA client id", &self.lwa_client_id)?;
        // Secrets: never echoed, only checked for shape.
        let printable = |v: &str| v.chars().all(|c| c.is_ascii_graphic());
        if self.lwa_client_secret.is_empty() || !printable(&self.lwa_client_secret) {
            return Err(Error::usage(
                "the LWA client secret file is empty or holds more than one token",
            ));
        }
        if self.refresh_token.is_empty() || !printable(&self.refresh_token) {
            return Err(Error::usage(
                "the refresh token file is empty or holds more than one token",
            ));
        }
        if !(self.time_scale.is_finite() && self.time_scale >= 1.0) {
            return Err(Error::usage("--time-scale must be a number >= 1"));
        }
        if self.time_scale != 1.0 && !sandbox_home {
            return Err(Error::usage(
                "--time-scale is for sandbox homes; a real home always uses real time",
            ));
        }
        check_endpoint(&self.endpoint, sandbox_home)?;
        check_url(&self.token_endpoint, sandbox_home)
    }

    /// The marketplace a call that needs one names when nothing else says which (the first).
    pub fn first_marketplace(&self) -> &str {
        self.marketplaces.first().map_or("", String::as_str)
    }

    /// Whether `id` is one of this region's configured marketplaces.
    pub fn lists(&self, id: &str) -> bool {
        self.marketplaces.iter().any(|m| m == id)
    }

    /// The LWA client secret.
    pub fn expose_client_secret(&self) -> &str {
        &self.lwa_client_secret
    }

    /// The refresh token.
    pub fn expose_refresh_token(&self) -> &str {
        &self.refresh_token
    }

    /// The plaintext that gets sealed (stable JSON; see [`SpApiCredentials::from_plaintext`]).
    pub fn to_plaintext(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(serde_json::to_vec(self).expect("credentials serialize"))
    }

    /// Reads [`SpApiCredentials::to_plaintext`]'s output.
    pub fn from_plaintext(b: &[u8]) -> Result<Self> {
        serde_json::from_slice(b)
            .map_err(|_| Error::Integrity("stored SP-API credentials are unreadable".into()))
    }
}

/// Refuses a marketplace the tool knows to be served by another region, naming that region.
pub fn check_region(id: &str, region: Region) -> Result<()> {
    match crate::model::marketplace::Marketplace::by_id(id) {
        Some(m) if m.region != region => Err(Error::usage(format!(
            "marketplace {id}, {}, is served by region {}, not {region}: give it with --region {}",
            crate::model::marketplace::describe(id),
            m.region,
            m.region
        ))),
        _ => Ok(()),
    }
}

/// A marketplace list, or (credentials stored before regions) one marketplace id.
fn one_or_many<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// Like [`check_endpoint`], but the URL may have a path (the token endpoint's).
fn check_url(url: &str, sandbox_home: bool) -> Result<()> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| Error::usage(format!("token endpoint {url:?} is not a URL: {e}")))?;
    let mut base = parsed.clone();
    base.set_path("");
    check_endpoint(base.as_str().trim_end_matches('/'), sandbox_home)?;
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::usage(format!(
            "token endpoint {url:?} must not have a query"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(endpoint: Option<&str>, token: Option<&str>) -> SpApiCredentialsInput {
        SpApiCredentialsInput {
            seller_id: "A1SELLER".into(),
            marketplaces: vec!["A1PA6795UKMFR9".into(), "A13V1IB3VIYZZH".into()],
            lwa_client_id: "amzn1.application-oa2-client.abc".into(),
            lwa_client_secret: Zeroizing::new("cs-SECRETMARK\n".into()),
            refresh_token: Zeroizing::new("Atzr|REFRESHMARK".into()),
            region: Region::Eu,
            endpoint: endpoint.map(str::to_string),
            token_endpoint: token.map(str::to_string),
            time_scale: 1.0,
        }
    }

    #[test]
    fn region_defaults_and_endpoint_rules() {
        let c = SpApiCredentials::new(input(None, None), false).unwrap();
        assert_eq!(c.endpoint, "https://sellingpartnerapi-eu.amazon.com");
        assert_eq!(c.token_endpoint, LWA_TOKEN_URL);
        let lo = Some("http://127.0.0.1:9/auth/o2/token");
        SpApiCredentials::new(input(Some("http://127.0.0.1:9"), lo), true).unwrap();
        assert!(SpApiCredentials::new(input(Some("http://127.0.0.1:9"), lo), false).is_err());
        assert!(SpApiCredentials::new(input(None, lo), false).is_err());
        assert!(SpApiCredentials::new(input(Some("http://10.1.1.1:9"), None), true).is_err());
        assert!(Region::parse("xx").is_err());
        assert_eq!(Region::parse("FE").unwrap(), Region::Fe);
    }

    #[test]
    fn secrets_masked_and_round_trip() {
        let c = SpApiCredentials::new(input(None, None), false).unwrap();
        let dbg = format!("{c:?}");
        assert!(dbg.contains("A1SELLER"), "positive control: {dbg}");
        assert!(
            !dbg.contains("SECRETMARK") && !dbg.contains("REFRESHMARK"),
            "{dbg}"
        );
        let back = SpApiCredentials::from_plaintext(&c.to_plaintext()).unwrap();
        assert_eq!(back.expose_client_secret(), "cs-SECRETMARK");
        assert_eq!(back.expose_refresh_token(), "Atzr|REFRESHMARK");
        assert_eq!(back.region, Region::Eu);
        assert!(SpApiCredentials::from_plaintext(b"{").is_err());
    }

    #[test]
    fn a_marketplace_of_another_region_is_refused_naming_its_region() {
        let mut i = input(None, None);
        i.marketplaces.push("ATVPDKIKX0DER".into());
        let e = SpApiCredentials::new(i, false).unwrap_err().to_string();
        assert!(
            e.contains("ATVPDKIKX0DER") && e.contains("--region na"),
            "{e}"
        );
        // An id the tool does not know is taken as given (Amazon adds marketplaces).
        let mut i = input(None, None);
        i.marketplaces.push("A3NEWMARKET9".into());
        SpApiCredentials::new(i, false).unwrap();
    }

    #[test]
    fn credentials_stored_before_regions_read_as_one_marketplace() {
        let c = SpApiCredentials::new(input(None, None), false).unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&c.to_plaintext()).unwrap();
        let o = v.as_object_mut().unwrap();
        o.remove("marketplaces");
        o.insert("marketplace_id".into(), "A1PA6795UKMFR9".into());
        let old = serde_json::to_vec(&v).unwrap();
        let back = SpApiCredentials::from_plaintext(&old).unwrap();
        assert_eq!(back.marketplaces, vec!["A1PA6795UKMFR9".to_string()]);
    }
}
