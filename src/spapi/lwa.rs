//! Login with Amazon: refresh token -> access token (SP-API.md §1.2).
//!
//! A form-encoded `POST` of `grant_type=refresh_token`, the refresh token, the client id and
//! secret to the token endpoint. The access token lives in memory only ([`AccessToken`]:
//! zeroized, masked `Debug`), is reused for the run and refreshed [`REFRESH_EARLY`] before it
//! expires, by the injected time. A refused refresh token (`invalid_grant`) is
//! [`LwaError::Reauthorize`], whose message says to re-authorise the app (exit 4). No token or
//! secret is ever logged or put into an error text.

use std::fmt;
use std::io::Read;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use zeroize::Zeroizing;

use super::credentials::SpApiCredentials;
use super::op;
use crate::error::Error;
use crate::mws::client::{CallRecord, Observer};

/// How long before expiry the token is refreshed (Amazon's Java SDK: 60 s).
pub const REFRESH_EARLY: Duration = Duration::seconds(60);
/// Largest token-endpoint reply read.
const MAX_REPLY: u64 = 64 * 1024;

/// An LWA access token (`Atza|…`): zeroized on drop, never printed.
pub struct AccessToken {
    value: Zeroizing<String>,
    expires_at: DateTime<Utc>,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl AccessToken {
    /// The token, for the `x-amz-access-token` header only.
    pub fn expose_secret(&self) -> &str {
        &self.value
    }

    /// When it expires.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }
}

/// Why no access token could be had.
#[derive(Debug)]
pub enum LwaError {
    /// The refresh token was refused (`invalid_grant`): re-authorise the app.
    Reauthorize,
    /// The client id or secret was refused (`invalid_client`, `unauthorized_client`).
    BadClient,
    /// A transport failure, a 5xx, a throttle or an unreadable reply: worth retrying.
    Transient(String),
    /// Given up (e.g. the audit record could not be written).
    Failed(Error),
}

/// The one-line message for a refused refresh token.
pub const REAUTHORIZE_MESSAGE: &str = "Login with Amazon refused the refresh token (the app's \
     authorisation was revoked or has expired): re-authorise the app in Seller Central, then \
     store the new refresh token with `fulfill credentials set --api sp-api`";

impl From<LwaError> for Error {
    fn from(e: LwaError) -> Self {
        match e {
            LwaError::Reauthorize => Error::Remote(REAUTHORIZE_MESSAGE.into()),
            LwaError::BadClient => Error::Remote(
                "Login with Amazon refused the LWA client id or secret: check them in the \
                 developer console (a rotated secret?) and run `fulfill credentials set --api sp-api`"
                    .into(),
            ),
            LwaError::Transient(why) => Error::Remote(format!(
                "Login with Amazon did not answer usably ({why}); try again later"
            )),
            LwaError::Failed(e) => e,
        }
    }
}

#[derive(serde::Deserialize)]
struct TokenReply {
    access_token: String,
    #[serde(default)]
    expires_in: Option<i64>,
}

#[derive(serde::Deserialize)]
struct TokenError {
    #[serde(default)]
    error: String,
}

/// The cached access token and how to get a new one.
#[derive(Debug)]
pub struct Lwa {
    cached: Option<AccessToken>,
    /// How long a token reply may take, body included (real time).
    reply: std::time::Duration,
}

impl Default for Lwa {
    fn default() -> Self {
        Lwa {
            cached: None,
            reply: crate::mws::client::REPLY_DEADLINE,
        }
    }
}

impl Lwa {
    /// No token yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long a token reply may take, body included ([`crate::mws::client::Limits`]).
    pub fn set_reply_deadline(&mut self, d: std::time::Duration) {
        self.reply = d;
    }

    /// Whether a token is held that is good at `now` (not within [`REFRESH_EARLY`] of expiry).
    pub fn is_fresh(&self, now: DateTime<Utc>) -> bool {
        self.cached
            .as_ref()
            .is_some_and(|t| now + REFRESH_EARLY < t.expires_at)
    }

    /// Forgets the token (Amazon said it expired), so the next call refreshes.
    pub fn invalidate(&mut self) {
        self.cached = None;
    }

    /// The cached token when fresh at `now`, else a new one from the token endpoint. One
    /// attempt; the caller retries [`LwaError::Transient`].
    pub fn token(
        &mut self,
        http: &reqwest::blocking::Client,
        creds: &SpApiCredentials,
        now: DateTime<Utc>,
        attempt: u32,
        obs: &mut dyn Observer,
    ) -> Result<&AccessToken, LwaError> {
        if !self.is_fresh(now) {
            self.cached = None;
            let t = refresh(http, creds, now, attempt, self.reply, obs)?;
            self.cached = Some(t);
        }
        Ok(self.cached.as_ref().expect("set above"))
    }
}

/// One refresh-token grant.
fn refresh(
    http: &reqwest::blocking::Client,
    creds: &SpApiCredentials,
    now: DateTime<Utc>,
    attempt: u32,
    reply: std::time::Duration,
    obs: &mut dyn Observer,
) -> Result<AccessToken, LwaError> {
    let form = Zeroizing::new(
        reqwest::Url::parse_with_params(
            "http://x/",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", creds.expose_refresh_token()),
                ("client_id", creds.lwa_client_id.as_str()),
                ("client_secret", creds.expose_client_secret()),
            ],
        )
        .map_err(|_| LwaError::Failed(Error::Failed("cannot encode the LWA request".into())))?
        .query()
        .unwrap_or_default()
        .to_string(),
    );
    let mut rec = CallRecord::new(op::LWA_TOKEN, attempt);
    let started = Instant::now();
    let sent = http
        .post(&creds.token_endpoint)
        .timeout(reply)
        .header(
            "Content-Type",
            "application/x-www-form-urlencoded;charset=UTF-8",
        )
        .body(form.as_bytes().to_vec())
        .send();
    let resp = match sent {
        Ok(r) => r,
        Err(e) => {
            rec.latency_ms = started.elapsed().as_millis() as u64;
            let kind = super::client::transport_kind(&e);
            rec.error = Some(kind.into());
            obs.call(&rec).map_err(LwaError::Failed)?;
            return Err(LwaError::Transient(kind.into()));
        }
    };
    let status = resp.status().as_u16();
    rec.status = Some(status);
    rec.request_id = super::client::request_id(resp.headers());
    let mut body = Zeroizing::new(Vec::new());
    let read = resp.take(MAX_REPLY).read_to_end(&mut body);
    rec.latency_ms = started.elapsed().as_millis() as u64;
    if read.is_err() {
        rec.error = Some(if started.elapsed() >= reply {
            "reply_deadline".into()
        } else {
            "truncated_response".into()
        });
        obs.call(&rec).map_err(LwaError::Failed)?;
        return Err(LwaError::Transient("the reply was cut off".into()));
    }
    if status == 200 {
        return match serde_json::from_slice::<TokenReply>(&body) {
            Ok(r) if !r.access_token.is_empty() => {
                obs.call(&rec).map_err(LwaError::Failed)?;
                let secs = r.expires_in.unwrap_or(3600).clamp(60, 86_400);
                Ok(AccessToken {
                    value: Zeroizing::new(r.access_token),
                    expires_at: now + Duration::seconds(secs),
                })
            }
            Ok(r) => {
                drop(Zeroizing::new(r.access_token));
                rec.error = Some("malformed_response".into());
                obs.call(&rec).map_err(LwaError::Failed)?;
                Err(LwaError::Transient("an empty access token".into()))
            }
            Err(_) => {
                rec.error = Some("malformed_response".into());
                obs.call(&rec).map_err(LwaError::Failed)?;
                Err(LwaError::Transient("an unreadable reply".into()))
            }
        };
    }
    let code = serde_json::from_slice::<TokenError>(&body)
        .map(|e| e.error)
        .unwrap_or_default();
    rec.throttled = status == 429;
    rec.error = Some(if code.is_empty() {
        format!("http_{status}")
    } else {
        // Only the OAuth error code (a fixed vocabulary), never the description.
        code.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(40)
            .collect()
    });
    obs.call(&rec).map_err(LwaError::Failed)?;
    match (status, code.as_str()) {
        (_, "invalid_grant") => Err(LwaError::Reauthorize),
        (400 | 401, "invalid_client" | "unauthorized_client") => Err(LwaError::BadClient),
        (400 | 401, _) => Err(LwaError::Reauthorize),
        (429, _) => Err(LwaError::Transient("throttled".into())),
        (s, _) if s >= 500 => Err(LwaError::Transient(format!("HTTP {s}"))),
        (s, _) => Err(LwaError::Failed(Error::Remote(format!(
            "Login with Amazon refused the token request: HTTP {s}"
        )))),
    }
}
