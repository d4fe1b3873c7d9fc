//! MWS credentials: what `credentials set` stores (sealed under the vault's secrets key).
//!
//! The secret key and the optional `MWSAuthToken` are secrets: masked in `Debug`, zeroized on
//! drop, never printed by `credentials show`. The endpoint must be `https://`; plain `http://`
//! is accepted only for a loopback address in a sandbox home.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};

/// What `credentials set` was given.
#[derive(Debug)]
pub struct CredentialsInput {
    /// Merchant token (`SellerId`).
    pub seller_id: String,
    /// `AWSAccessKeyId`.
    pub access_key_id: String,
    /// The secret key (from a file).
    pub secret_key: Zeroizing<String>,
    /// `MWSAuthToken` (from a file), for delegated access only.
    pub auth_token: Option<Zeroizing<String>>,
    /// Marketplace ids.
    pub marketplaces: Vec<String>,
    /// Endpoint base URL.
    pub endpoint: String,
    /// Sandbox time scale (1 for a real home).
    pub time_scale: f64,
}

/// MWS credentials and where to use them.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct MwsCredentials {
    /// Merchant token (`SellerId`).
    pub seller_id: String,
    /// `AWSAccessKeyId`.
    pub access_key_id: String,
    /// The secret key that signs requests.
    secret_key: String,
    /// `MWSAuthToken`, for delegated access only.
    auth_token: Option<String>,
    /// Marketplace ids to fetch.
    pub marketplaces: Vec<String>,
    /// Endpoint base URL, e.g. `https://mws.amazonservices.com`.
    pub endpoint: String,
    /// Sandbox homes only: the sandbox's time scale, so the quota model keeps Amazon's ratios.
    pub time_scale: f64,
}

impl fmt::Debug for MwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MwsCredentials")
            .field("seller_id", &self.seller_id)
            .field("access_key_id", &self.access_key_id)
            .field("secret_key", &"[redacted]")
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "[redacted]"),
            )
            .field("marketplaces", &self.marketplaces)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl MwsCredentials {
    /// Assembles and validates credentials.
    pub fn new(input: CredentialsInput, sandbox_home: bool) -> Result<Self> {
        let c = MwsCredentials {
            seller_id: input.seller_id,
            access_key_id: input.access_key_id,
            secret_key: input.secret_key.trim().to_string(),
            auth_token: input
                .auth_token
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty()),
            marketplaces: input.marketplaces,
            endpoint: input.endpoint.trim_end_matches('/').to_string(),
            time_scale: input.time_scale,
        };
        c.validate(sandbox_home)?;
        Ok(c)
    }

    /// Checks every field; refuses a plain-HTTP endpoint outside a sandbox home's loopback.
    pub fn validate(&self, sandbox_home: bool) -> Result<()> {
        let token = |name: &str, v: &str| {
            if v.is_empty()
                || !v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                Err(Error::usage(format!(
                    "{name} {v:?} is not a valid MWS identifier"
                )))
            } else {
                Ok(())
            }
        };
        token("seller id", &self.seller_id)?;
        token("access key id", &self.access_key_id)?;
        if self.secret_key.is_empty() {
            return Err(Error::usage("the secret key file is empty"));
        }
        if self.marketplaces.is_empty() || self.marketplaces.len() > 50 {
            return Err(Error::usage("give between 1 and 50 --marketplace IDs"));
        }
        for m in &self.marketplaces {
            token("marketplace id", m)?;
        }
        if !(self.time_scale.is_finite() && self.time_scale >= 1.0) {
            return Err(Error::usage("--time-scale must be a number >= 1"));
        }
        if self.time_scale != 1.0 && !sandbox_home {
            return Err(Error::usage(
                "--time-scale is for sandbox homes; a real home always uses real time",
            ));
        }
        check_endpoint(&self.endpoint, sandbox_home)
    }

    /// The secret key.
    pub fn expose_secret_key(&self) -> &str {
        &self.secret_key
    }

    /// The `MWSAuthToken`, if any.
    pub fn expose_auth_token(&self) -> Option<&str> {
        self.auth_token.as_deref()
    }

    /// Whether an auth token is set (for `credentials show`).
    pub fn has_auth_token(&self) -> bool {
        self.auth_token.is_some()
    }

    /// The plaintext that gets sealed.
    pub fn to_plaintext(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(serde_json::to_vec(self).expect("credentials serialize"))
    }

    /// Reads [`MwsCredentials::to_plaintext`]'s output.
    pub fn from_plaintext(b: &[u8]) -> Result<Self> {
        serde_json::from_slice(b)
            .map_err(|_| Error::Integrity("stored MWS credentials are unreadable".into()))
    }
}

/// `https://` anywhere; `http://` only to a loopback host from a sandbox home.
pub fn check_endpoint(endpoint: &str, sandbox_home: bool) -> Result<()> {
    let url = reqwest::Url::parse(endpoint)
        .map_err(|e| Error::usage(format!("endpoint {endpoint:?} is not a URL: {e}")))?;
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(Error::usage(format!(
            "endpoint {endpoint:?} must be a plain base URL"
        )));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let host = url.host_str().unwrap_or_default();
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let loopback =
                host == "localhost" || host.parse::<IpAddr>().is_ok_and(|a| a.is_loopback());
            if loopback && sandbox_home {
                Ok(())
            } else if loopback {
                Err(Error::usage(
                    "plain http:// is only for a sandbox home (fulfill init --sandbox); Amazon needs https://",
                ))
            } else {
                Err(Error::usage(format!(
                    "endpoint {endpoint:?} must use https:// (TLS 1.2 or newer)"
                )))
            }
        }
        other => Err(Error::usage(format!(
            "endpoint scheme {other:?} is not supported; use https://"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(endpoint: &str, sandbox: bool) -> Result<MwsCredentials> {
        MwsCredentials::new(
            CredentialsInput {
                seller_id: "A1SELLER".into(),
                access_key_id: "AKIAEXAMPLE".into(),
                secret_key: Zeroizing::new("s3cr3t/KEY+value".into()),
                auth_token: None,
                marketplaces: vec!["ATVPDKIKX0DER".into()],
                endpoint: endpoint.into(),
                time_scale: 1.0,
            },
            sandbox,
        )
    }

    #[test]
    fn endpoints() {
        creds("https://mws.amazonservices.com", false).unwrap();
        creds("http://127.0.0.1:8080", true).unwrap();
        creds("http://[::1]:8080", true).unwrap();
        assert!(
            creds("http://127.0.0.1:8080", false).is_err(),
            "real home refuses http"
        );
        assert!(
            creds("http://10.0.0.5:8080", true).is_err(),
            "sandbox home refuses non-loopback http"
        );
        assert!(creds("ftp://x", true).is_err());
        assert!(creds("https://u:p@mws.amazonservices.com", false).is_err());
    }

    #[test]
    fn secrets_are_masked_and_round_trip() {
        let c = creds("https://mws.amazonservices.com", false).unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t"));
        let back = MwsCredentials::from_plaintext(&c.to_plaintext()).unwrap();
        assert_eq!(back.expose_secret_key(), "s3cr3t/KEY+value");
    }
}
