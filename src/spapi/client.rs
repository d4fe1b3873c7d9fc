//! The SP-API transport: LWA, the usage-plan model, retries, one audit record per attempt.
//!
//! - **Authentication.** Every request carries the LWA access token as `x-amz-access-token`
//!   ([`super::lwa`]): fetched on first use, reused, refreshed 60 s before it expires by the
//!   [`Timebase`]'s time. A 401/403 makes the client drop the token and try once more with a
//!   fresh one (Amazon's "token expired"); a second refusal is a clear error (exit 4). A refused
//!   refresh token is [`CallError::Reauthorize`].
//! - **Usage plans.** Before each request the client asks its [`Throttle`] when the
//!   operation's bucket holds a request and waits until then. It adopts the rate in
//!   `x-amzn-RateLimit-Limit`. After a 429 `QuotaExceeded` the *same* request is sent again
//!   (a throttled page is never lost) when the model says, plus jitter: after a short step
//!   (a 100th of the refill period, at least a second, doubling while the 429s go on, never
//!   beyond the period) when the request took the model's last token and so was early only by
//!   its transit, as Amazon's guidance for a 429 (retry with back-off) has it; after a whole
//!   refill period when the model held spare tokens ([`super::throttle`]).
//! - **Retries.** 5xx, connection failures, timeouts, truncated or malformed bodies are retried
//!   with back-off ([`RetryPolicy`]: 1 s, 4 s, 10 s, 30 s) on the [`Timebase`]; nothing
//!   sleeps in tests (`ManualTime` advances the shared clock). Other 4xx are Amazon's verdict
//!   ([`CallError::Refused`]). An expired pagination token is
//!   [`CallError::PaginationExpired`]: restart from the watermark.
//! - **Time.** All waiting is on the [`Timebase`] (real time; a sandbox home's scaled time,
//!   which follows the sandbox's `Date` header once; a manual clock in tests).
//! - **Every wait is bounded**, as on MWS ([`Limits`]): each reply, body included, within
//!   [`crate::mws::client::REPLY_DEADLINE`]; no single wait longer than
//!   [`crate::mws::client::MAX_WAIT`]; a run's limit ([`Client::limit_run`]). A rate Amazon
//!   reports is held to a tenth to ten times the plan's ([`super::throttle`]), so a 429 saying
//!   1e-9 requests a second costs a wait of at most ten plan intervals, not 31 years.
//! - **Transport.** Blocking reqwest with rustls, TLS 1.2 at least, **no redirects**,
//!   connect/read timeouts, replies capped at [`MAX_BODY`] and parsed only after the size and
//!   depth checks (a reply over either is refused, not retried). `x-amzn-RequestId` is
//!   captured. The access token header is marked sensitive.
//! - **Audit.** Every attempt (and every LWA refresh) is reported to the [`Observer`] as a
//!   [`CallRecord`]: operation, HTTP status, latency, request id, throttled, attempt, error
//!   kind. Never a token, a parameter or a body. If it cannot be recorded, the call fails.
//!
//! **Why `confirmShipment` per order and not the `POST_ORDER_FULFILLMENT_DATA` feed**
//! (SP-API.md §1.9): it is synchronous, so Amazon's verdict (204, or an error with its reason)
//! arrives with the call and lands on that order at once, with no polling, no result document
//! and no per-`MessageID` matching; its plan (2 rps, burst 10) confirms 7,200 packages an hour,
//! where `createFeed` allows about 30 feeds an hour; one package per call fits scan-to-ship;
//! and a failure concerns exactly one order. The feed remains the tool for a bulk back-fill.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use rand::RngExt;
use zeroize::Zeroizing;

use super::credentials::SpApiCredentials;
use super::lwa::{Lwa, LwaError};
use super::model::{
    self, ConfirmShipmentRequest, ErrorList, MAX_BODY, Order, ParseError, SearchPage,
};
use super::shipping::{self, Documents, PurchaseRequest, Rates, RatesRequest};
use super::throttle::Throttle;
use super::{
    CONFIRM_PREFIX, CONFIRM_SUFFIX, GET_ORDER_PREFIX, IDEMPOTENCY_HEADER, INCLUDED_DATA,
    SEARCH_ORDERS_PATH, SHIPPING_BUSINESS_HEADER, SHIPPING_CANCEL_SUFFIX,
    SHIPPING_DOCUMENTS_SUFFIX, SHIPPING_PURCHASE_PATH, SHIPPING_RATES_PATH,
    SHIPPING_SHIPMENT_PREFIX, is_order_id, op,
};
use crate::error::{Error, Result};
use crate::mws::client::Waits;
pub use crate::mws::client::{
    CallRecord, Limits, ManualTime, Observer, RealTime, RetryPolicy, RunLimit, SandboxTime,
    Timebase,
};

/// The `User-Agent` every request sends (SP-API.md §1.1).
pub const USER_AGENT: &str = concat!(
    "fulfill/",
    env!("CARGO_PKG_VERSION"),
    " (Language=Rust; Platform=Linux)"
);

/// Why a call failed.
#[derive(Debug)]
pub enum CallError {
    /// Amazon refused the request for what it asked (a 4xx): its errors, when it sent some.
    Refused(Error, Option<ErrorList>),
    /// The pagination token expired or was refused: restart from the watermark.
    PaginationExpired,
    /// Login with Amazon refused the refresh token: re-authorise the app (exit 4).
    Reauthorize,
    /// Given up: retries used up, denied twice, or the audit log failed.
    Failed(Error),
}

impl From<CallError> for Error {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Refused(e, _) | CallError::Failed(e) => e,
            CallError::PaginationExpired => Error::Remote(
                "Amazon refused the searchOrders pagination token (expired after 24 h?); run fetch again to restart from the watermark".into(),
            ),
            CallError::Reauthorize => LwaError::Reauthorize.into(),
        }
    }
}

impl From<Error> for CallError {
    fn from(e: Error) -> Self {
        CallError::Failed(e)
    }
}

/// What `searchOrders` is asked (fulfill's fixed parameters are added by the client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// `lastUpdatedAfter`: the watermark.
    pub last_updated_after: DateTime<Utc>,
    /// `lastUpdatedBefore`, if any (at least 2 minutes before Amazon's now).
    pub last_updated_before: Option<DateTime<Utc>>,
    /// `maxResultsPerPage` (1–100; Amazon's default is 100).
    pub max_results_per_page: Option<u32>,
}

impl SearchQuery {
    /// Orders updated since `after`, 100 a page.
    pub fn since(after: DateTime<Utc>) -> Self {
        SearchQuery {
            last_updated_after: after,
            last_updated_before: None,
            max_results_per_page: None,
        }
    }
}

/// Amazon's verdict on one `confirmShipment`. `confirmShipment` is retried after a reset or a
/// 5xx like any call; if the retry is then refused as already done, that is
/// [`Verdict::Duplicate`], not a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 204: the package is confirmed.
    Accepted,
    /// An earlier attempt of this call may have reached Amazon (a reset, a timeout, a 5xx),
    /// and Amazon now says the package or order is already confirmed: most likely by that
    /// attempt. `reason` is Amazon's answer.
    Duplicate {
        /// Amazon's reason, one line.
        reason: String,
    },
    /// Amazon refused it; `reason` is its `code: message`, one line.
    Rejected {
        /// Amazon's error code (`InvalidInput`, `NotFound`, ...).
        code: String,
        /// Amazon's reason, one line.
        reason: String,
    },
}

/// SP-API time format (RFC 3339, UTC, seconds).
pub fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The transport kind of a reqwest error, for audit records.
pub(crate) fn transport_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect_failed"
    } else {
        "connection_error"
    }
}

/// `x-amzn-RequestId` (bounded, printable), if present.
pub(crate) fn request_id(h: &reqwest::header::HeaderMap) -> Option<String> {
    h.get("x-amzn-RequestId")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 100 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
}

struct Req {
    method: reqwest::Method,
    operation: &'static str,
    path: String,
    query: Vec<(&'static str, String)>,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
}

enum Outcome<T> {
    Done(T),
    Retry(String),
    /// A 429; the model's wait before the next request.
    Throttled(Duration),
    Denied(u16, Option<ErrorList>),
}

/// An SP-API client for one seller.
pub struct Client {
    http: reqwest::blocking::Client,
    creds: SpApiCredentials,
    time: Arc<dyn Timebase>,
    throttle: Throttle,
    policy: RetryPolicy,
    lwa: Lwa,
    /// The current call sent a request that may have reached Amazon without a definite answer
    /// (a reset, a timeout, a 5xx, a cut-off reply).
    maybe_done: bool,
    /// A sandbox timebase has followed the server's `Date` once.
    synced: bool,
    waits: Waits,
    /// The marketplace Shipping API v2 calls are for (the order's); default the first.
    shipping_marketplace: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.creds.endpoint)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `creds` on `time`. HTTPS via rustls (TLS 1.2 minimum), no redirects;
    /// plain HTTP only because the credentials were validated for a loopback sandbox.
    pub fn new(creds: SpApiCredentials, time: Arc<dyn Timebase>) -> Result<Client> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let https_only =
            creds.endpoint.starts_with("https://") && creds.token_endpoint.starts_with("https://");
        let http = reqwest::blocking::Client::builder()
            .user_agent(USER_AGENT)
            .min_tls_version(reqwest::tls::Version::TLS_1_2)
            .https_only(https_only)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(StdDuration::from_secs(10))
            .timeout(StdDuration::from_secs(60))
            .build()
            .map_err(|e| Error::Failed(format!("cannot set up the HTTPS client: {e}")))?;
        Ok(Client {
            http,
            creds,
            time,
            throttle: Throttle::new(),
            policy: RetryPolicy::default(),
            lwa: Lwa::new(),
            maybe_done: false,
            synced: false,
            waits: Waits::new(),
            shipping_marketplace: None,
        })
    }

    /// Replaces the bounds on its waits ([`Limits`]).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.waits.limits = limits;
        self.lwa.set_reply_deadline(limits.reply);
        self
    }

    /// Gives the run this client serves a time limit, from now ([`RunLimit`]).
    pub fn limit_run(&mut self, what: &'static str, limit: Duration) {
        self.waits.run = Some(RunLimit::new(what, limit));
    }

    /// Replaces the retry policy.
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The credentials in use.
    pub fn credentials(&self) -> &SpApiCredentials {
        &self.creds
    }

    /// The client's time (sandbox time in a sandbox home).
    pub fn now(&self) -> DateTime<Utc> {
        self.time.now()
    }

    /// The usage-plan model's state, to keep between runs.
    pub fn throttle_state(&self) -> String {
        self.throttle.export()
    }

    /// `stored` with this client's state for the operations it used.
    pub fn merged_throttle_state(&self, stored: &str) -> String {
        self.throttle.merge_into(stored)
    }

    /// Continues from a model saved by an earlier run.
    pub fn restore_throttle_state(&mut self, saved: &str) {
        self.throttle = Throttle::import(saved);
    }

    /// When the model allows `operation` next.
    pub fn next_allowed(&mut self, operation: &str) -> DateTime<Utc> {
        let now = self.time.now();
        self.throttle.next_allowed(operation, now)
    }

    /// Whether the client holds an access token good at its current time (for tests).
    pub fn has_fresh_token(&self) -> bool {
        self.lwa.is_fresh(self.time.now())
    }

    /// One `searchOrders` page: orders updated since the watermark, merchant-fulfilled, with
    /// recipient, buyer, fulfilment, packages and proceeds. `pagination_token` is the previous page's
    /// `next_token`; every other parameter is sent unchanged with it.
    pub fn search_orders(
        &mut self,
        q: &SearchQuery,
        pagination_token: Option<&str>,
        obs: &mut dyn Observer,
    ) -> std::result::Result<SearchPage, CallError> {
        let mut query = vec![
            // Every marketplace of the region in one sequence (comma-joined, at most 50).
            ("marketplaceIds", self.creds.marketplaces.join(",")),
            ("lastUpdatedAfter", fmt_time(q.last_updated_after)),
        ];
        if let Some(b) = q.last_updated_before {
            query.push(("lastUpdatedBefore", fmt_time(b)));
        }
        query.push(("fulfilledBy", "MERCHANT".into()));
        query.push(("includedData", INCLUDED_DATA.into()));
        if let Some(n) = q.max_results_per_page {
            query.push(("maxResultsPerPage", n.clamp(1, 100).to_string()));
        }
        if let Some(t) = pagination_token {
            query.push(("paginationToken", t.to_string()));
        }
        let req = Req {
            method: reqwest::Method::GET,
            operation: op::SEARCH_ORDERS,
            path: SEARCH_ORDERS_PATH.into(),
            query,
            headers: Vec::new(),
            body: None,
        };
        match self.call(&req, obs, model::parse_search_orders) {
            Err(CallError::Refused(_, Some(e)))
                if pagination_token.is_some() && mentions_token(&e) =>
            {
                Err(CallError::PaginationExpired)
            }
            r => r,
        }
    }

    /// Sellers API `getMarketplaceParticipations`: every marketplace the seller has a
    /// relationship with (all regions; [`crate::spapi::model::Participation`]).
    pub fn get_marketplace_participations(
        &mut self,
        obs: &mut dyn Observer,
    ) -> std::result::Result<Vec<model::Participation>, CallError> {
        let req = Req {
            method: reqwest::Method::GET,
            operation: op::GET_MARKETPLACE_PARTICIPATIONS,
            path: super::PARTICIPATIONS_PATH.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
        };
        self.call(&req, obs, model::parse_participations)
    }

    /// `getOrder`: one order with recipient, buyer, fulfilment, packages and proceeds.
    pub fn get_order(
        &mut self,
        order_id: &str,
        obs: &mut dyn Observer,
    ) -> std::result::Result<Order, CallError> {
        if !is_order_id(order_id) {
            return Err(CallError::Failed(Error::usage(format!(
                "{order_id:?} is not an Amazon order id (NNN-NNNNNNN-NNNNNNN)"
            ))));
        }
        let req = Req {
            method: reqwest::Method::GET,
            operation: op::GET_ORDER,
            path: format!("{GET_ORDER_PREFIX}{order_id}"),
            query: vec![("includedData", INCLUDED_DATA.into())],
            headers: Vec::new(),
            body: None,
        };
        self.call(&req, obs, model::parse_get_order)
    }

    /// Orders v0 `confirmShipment` for one package of `order_id`: 204 is
    /// [`Verdict::Accepted`]; a 4xx with Amazon's errors is [`Verdict::Rejected`] with its
    /// reason. The request is checked first ([`ConfirmShipmentRequest::validate`]).
    pub fn confirm_shipment(
        &mut self,
        order_id: &str,
        body: &ConfirmShipmentRequest,
        obs: &mut dyn Observer,
    ) -> std::result::Result<Verdict, CallError> {
        if !is_order_id(order_id) {
            return Err(CallError::Failed(Error::usage(format!(
                "{order_id:?} is not an Amazon order id (NNN-NNNNNNN-NNNNNNN)"
            ))));
        }
        if let Err(why) = body.validate() {
            return Ok(Verdict::Rejected {
                code: "InvalidInput".into(),
                reason: format!("not sent: {why}"),
            });
        }
        let req = Req {
            method: reqwest::Method::POST,
            operation: op::CONFIRM_SHIPMENT,
            path: format!("{CONFIRM_PREFIX}{order_id}{CONFIRM_SUFFIX}"),
            query: Vec::new(),
            headers: Vec::new(),
            body: Some(body.to_json()),
        };
        match self.call(&req, obs, |_| Ok(())) {
            Ok(()) => Ok(Verdict::Accepted),
            Err(CallError::Refused(_, Some(e))) if self.maybe_done && says_already_done(&e) => {
                Ok(Verdict::Duplicate {
                    reason: e.summary(),
                })
            }
            Err(CallError::Refused(_, Some(e))) => Ok(Verdict::Rejected {
                code: e.code().to_string(),
                reason: e.summary(),
            }),
            Err(e) => Err(e),
        }
    }

    /// The Amazon Shipping business of the home's marketplace (`x-amzn-shipping-business-id`);
    /// a clear error where Amazon Shipping sells no labels.
    pub fn shipping_business(&self) -> std::result::Result<&'static str, CallError> {
        let m = self
            .shipping_marketplace
            .as_deref()
            .unwrap_or(self.creds.first_marketplace());
        super::shipping_business(m).ok_or_else(|| {
            CallError::Failed(Error::usage(format!(
                "Amazon Shipping (Shipping API v2) has no business for marketplace {}, so \
                 Amazon sells no labels for its orders through this API: buy the label \
                 elsewhere and record it with `fulfill ship`",
                crate::model::marketplace::describe(m)
            )))
        })
    }

    /// Shipping API v2 calls from now on are for an order of marketplace `id`.
    pub fn use_marketplace(&mut self, id: &str) {
        self.shipping_marketplace = Some(id.to_string());
    }

    fn shipping_req(
        &self,
        method: reqwest::Method,
        operation: &'static str,
        path: String,
        query: Vec<(&'static str, String)>,
        body: Option<Vec<u8>>,
    ) -> std::result::Result<Req, CallError> {
        Ok(Req {
            method,
            operation,
            path,
            query,
            headers: vec![(SHIPPING_BUSINESS_HEADER, self.shipping_business()?.into())],
            body,
        })
    }

    /// Shipping v2 `getRates` for one package of an Amazon order.
    pub fn get_rates(
        &mut self,
        body: &RatesRequest,
        obs: &mut dyn Observer,
    ) -> std::result::Result<Rates, CallError> {
        let req = self.shipping_req(
            reqwest::Method::POST,
            op::GET_RATES,
            SHIPPING_RATES_PATH.into(),
            Vec::new(),
            Some(body.to_json()),
        )?;
        self.call(&req, obs, shipping::parse_rates)
    }

    /// Shipping v2 `purchaseShipment` with idempotency key `key`: retried like any call
    /// (after a reset, a timeout or a 5xx), since Amazon answers a repeat of the same key and
    /// body with the first purchase instead of selling another.
    pub fn purchase_shipment(
        &mut self,
        body: &PurchaseRequest,
        key: &str,
        obs: &mut dyn Observer,
    ) -> std::result::Result<Documents, CallError> {
        let mut req = self.shipping_req(
            reqwest::Method::POST,
            op::PURCHASE_SHIPMENT,
            SHIPPING_PURCHASE_PATH.into(),
            Vec::new(),
            Some(body.to_json()),
        )?;
        req.headers.push((IDEMPOTENCY_HEADER, key.to_string()));
        let want = body.requested_document_specification.format.clone();
        self.call(&req, obs, |b| shipping::parse_purchase(b, Some(&want)))
    }

    /// Shipping v2 `getShipmentDocuments`: the label of a bought shipment again.
    pub fn get_shipment_documents(
        &mut self,
        shipment_id: &str,
        reference_id: &str,
        obs: &mut dyn Observer,
    ) -> std::result::Result<Documents, CallError> {
        if !shipping::is_shipment_id(shipment_id) {
            return Err(CallError::Failed(Error::usage(format!(
                "{shipment_id:?} is not a Shipping API v2 shipment id"
            ))));
        }
        let req = self.shipping_req(
            reqwest::Method::GET,
            op::GET_SHIPMENT_DOCUMENTS,
            format!("{SHIPPING_SHIPMENT_PREFIX}{shipment_id}{SHIPPING_DOCUMENTS_SUFFIX}"),
            vec![("packageClientReferenceId", reference_id.to_string())],
            None,
        )?;
        self.call(&req, obs, shipping::parse_documents)
    }

    /// Shipping v2 `cancelShipment`.
    pub fn cancel_shipment(
        &mut self,
        shipment_id: &str,
        obs: &mut dyn Observer,
    ) -> std::result::Result<(), CallError> {
        if !shipping::is_shipment_id(shipment_id) {
            return Err(CallError::Failed(Error::usage(format!(
                "{shipment_id:?} is not a Shipping API v2 shipment id"
            ))));
        }
        let req = self.shipping_req(
            reqwest::Method::PUT,
            op::CANCEL_SHIPMENT,
            format!("{SHIPPING_SHIPMENT_PREFIX}{shipment_id}{SHIPPING_CANCEL_SUFFIX}"),
            Vec::new(),
            None,
        )?;
        self.call(&req, obs, shipping::parse_cancel)
    }

    fn call<T>(
        &mut self,
        req: &Req,
        obs: &mut dyn Observer,
        mut parse: impl FnMut(&[u8]) -> std::result::Result<T, ParseError>,
    ) -> std::result::Result<T, CallError> {
        let operation = req.operation;
        self.maybe_done = false;
        let (mut errors, mut throttled, mut attempt) = (0usize, 0u32, 0u32);
        let mut reauthed = false;
        loop {
            attempt += 1;
            self.wait_for_slot(operation, obs)?;
            self.waits.before_attempt(operation)?;
            let outcome = self.attempt(req, attempt, obs, &mut parse)?;
            let now = self.time.now();
            let mut why = "the back-off after a failure";
            let wait_until = match outcome {
                Outcome::Done(t) => {
                    self.throttle.on_answered(operation);
                    return Ok(t);
                }
                Outcome::Throttled(backoff) => {
                    throttled += 1;
                    if throttled > self.policy.max_throttled {
                        return Err(CallError::Failed(Error::Remote(format!(
                            "Amazon kept throttling {operation} ({throttled} times in a row); try again later"
                        ))));
                    }
                    // The same request again once the model says the bucket holds one; the
                    // jitter (at most a second) is a quarter of the wait at most.
                    why = "Amazon's usage plan, after a 429,";
                    self.throttle.next_allowed(operation, now)
                        + jitter(backoff.min(Duration::seconds(4)) / 4)
                }
                Outcome::Denied(status, errs) => {
                    if reauthed {
                        let why = errs
                            .map(|e| e.summary())
                            .unwrap_or_else(|| format!("HTTP {status}"));
                        return Err(CallError::Failed(Error::Remote(format!(
                            "Amazon denied {operation} (HTTP {status}, {why}): the app's authorisation or role does not cover it; re-authorise the app in Seller Central (with the Direct-to-Consumer Shipping role) and run again"
                        ))));
                    }
                    // Most likely an access token Amazon considers expired: get a new one.
                    reauthed = true;
                    self.lwa.invalidate();
                    now
                }
                Outcome::Retry(why) => {
                    let Some(d) = self.policy.backoff.get(errors).copied() else {
                        return Err(CallError::Failed(Error::Remote(format!(
                            "Amazon {operation} failed after {attempt} attempts ({why}); try again later"
                        ))));
                    };
                    errors += 1;
                    now + d + jitter(d / 4)
                }
            };
            self.waits
                .wait(self.time.as_ref(), operation, wait_until, why, obs)?;
        }
    }

    fn wait_for_slot(&mut self, operation: &str, obs: &mut dyn Observer) -> Result<()> {
        loop {
            let now = self.time.now();
            match self.throttle.try_acquire(operation, now) {
                Ok(()) => return Ok(()),
                Err(at) => self.waits.wait(
                    self.time.as_ref(),
                    operation,
                    at,
                    "Amazon's usage plan",
                    obs,
                )?,
            }
        }
    }

    fn attempt<T>(
        &mut self,
        req: &Req,
        attempt: u32,
        obs: &mut dyn Observer,
        parse: &mut impl FnMut(&[u8]) -> std::result::Result<T, ParseError>,
    ) -> std::result::Result<Outcome<T>, CallError> {
        let now = self.time.now();
        let token = match self.lwa.token(&self.http, &self.creds, now, attempt, obs) {
            Ok(t) => Zeroizing::new(t.expose_secret().to_string()),
            Err(LwaError::Reauthorize) => return Err(CallError::Reauthorize),
            Err(LwaError::Transient(why)) => return Ok(Outcome::Retry(format!("LWA: {why}"))),
            Err(e) => return Err(CallError::Failed(e.into())),
        };
        let mut url = reqwest::Url::parse(&self.creds.endpoint)
            .map_err(|_| Error::usage("the stored SP-API endpoint is not a URL"))?;
        url.set_path(&req.path);
        if !req.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(req.query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut token_header =
            reqwest::header::HeaderValue::from_str(token.as_str()).map_err(|_| {
                Error::Remote(
                    "Login with Amazon sent an access token that is not a valid header value"
                        .into(),
                )
            })?;
        // Kept out of reqwest's `Debug` output.
        token_header.set_sensitive(true);
        // The reply deadline covers the whole reply, body included.
        let mut rb = self
            .http
            .request(req.method.clone(), url)
            .timeout(self.waits.limits.reply)
            .header("x-amz-access-token", token_header)
            .header("Accept", "application/json");
        for (k, v) in &req.headers {
            rb = rb.header(*k, v.as_str());
        }
        if let Some(b) = &req.body {
            rb = rb
                .header("Content-Type", "application/json")
                .body(b.clone());
        }
        let mut rec = CallRecord::new(req.operation, attempt);
        let started = Instant::now();
        let resp = match rb.send() {
            Ok(r) => r,
            Err(e) => {
                rec.latency_ms = started.elapsed().as_millis() as u64;
                rec.error = Some(transport_kind(&e).into());
                obs.call(&rec)?;
                // A refused connection never reached Amazon; anything else may have.
                self.maybe_done |= !e.is_connect();
                return Ok(Outcome::Retry(transport_kind(&e).into()));
            }
        };
        drop(token);
        let status = resp.status().as_u16();
        rec.status = Some(status);
        rec.request_id = request_id(resp.headers());
        if !self.synced && self.time.follows_server() {
            // A sandbox home: follow the sandbox's clock once (its `Date`, as Amazon sends
            // one), so the usage-plan model and token expiry run on the server's time.
            if let Some(t) = resp
                .headers()
                .get("Date")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
            {
                self.time.observe_server_time(t.with_timezone(&Utc));
                self.synced = true;
            }
        }
        if let Some(rate) = resp
            .headers()
            .get("x-amzn-RateLimit-Limit")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
        {
            self.throttle
                .observe_rate(req.operation, rate, self.time.now());
        }
        let mut body = Zeroizing::new(Vec::new());
        let read = resp.take(MAX_BODY as u64 + 1).read_to_end(&mut body);
        rec.latency_ms = started.elapsed().as_millis() as u64;
        if read.is_err() {
            let kind = self.waits.cut_kind(started);
            rec.error = Some(kind.into());
            obs.call(&rec)?;
            self.maybe_done = true;
            return Ok(Outcome::Retry(if kind == "reply_deadline" {
                self.waits.cut_reason()
            } else {
                "the reply was cut off".into()
            }));
        }
        if (200..300).contains(&status) {
            return match parse(&body) {
                Ok(t) => {
                    obs.call(&rec)?;
                    Ok(Outcome::Done(t))
                }
                Err(e @ (ParseError::TooLarge | ParseError::TooDeep)) => {
                    // Asking again would get the same: refuse it.
                    rec.error = Some("oversized_response".into());
                    obs.call(&rec)?;
                    Err(CallError::Failed(Error::Remote(format!(
                        "Amazon's reply to {} was refused: {e}",
                        req.operation
                    ))))
                }
                Err(e) => {
                    // A truncated or malformed page is not used; ask again.
                    rec.error = Some("malformed_response".into());
                    obs.call(&rec)?;
                    self.maybe_done = true;
                    Ok(Outcome::Retry(format!("unreadable reply: {e}")))
                }
            };
        }
        let errs = model::parse_errors(&body);
        rec.error = Some(
            errs.as_ref()
                .map(|e| {
                    e.code()
                        .chars()
                        .filter(|c| c.is_ascii_alphanumeric())
                        .take(40)
                        .collect()
                })
                .filter(|c: &String| !c.is_empty())
                .unwrap_or_else(|| format!("http_{status}")),
        );
        rec.throttled = status == 429;
        obs.call(&rec)?;
        match status {
            429 => Ok(Outcome::Throttled(
                self.throttle.on_throttled(req.operation, self.time.now()),
            )),
            401 | 403 => Ok(Outcome::Denied(status, errs)),
            s if s >= 500 => {
                self.maybe_done = true;
                Ok(Outcome::Retry(format!("HTTP {s}")))
            }
            s => {
                let why = errs
                    .as_ref()
                    .map(ErrorList::summary)
                    .unwrap_or_else(|| format!("HTTP {s}"));
                Err(CallError::Refused(
                    Error::Remote(format!("Amazon refused {}: {why}", req.operation)),
                    errs,
                ))
            }
        }
    }
}

/// Amazon says the package or the order was confirmed already.
fn says_already_done(e: &ErrorList) -> bool {
    e.errors.iter().any(|e| {
        already_done(&format!(
            "{} {} {}",
            e.code,
            e.message,
            e.details.as_deref().unwrap_or("")
        ))
    })
}

/// Whether Amazon's error text says the package or order is already confirmed (asked only
/// when an earlier attempt of the same confirmation may have reached Amazon).
pub fn already_done(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("already fulfilled")
        || t.contains("already shipped")
        || t.contains("already used")
        || t.contains("packagetoupdatenotfound")
        // Nothing of the item is left to ship: the earlier attempt shipped it.
        || t.contains("unshipped quantity (0)")
}

fn mentions_token(e: &ErrorList) -> bool {
    e.errors.iter().any(|e| {
        let t =
            format!("{} {}", e.message, e.details.as_deref().unwrap_or("")).to_ascii_lowercase();
        t.contains("pagination token") || t.contains("paginationtoken") || t.contains("nexttoken")
    })
}

fn jitter(max: Duration) -> Duration {
    let ms = max.num_milliseconds().max(1);
    Duration::milliseconds(rand::rng().random_range(0..ms))
}
