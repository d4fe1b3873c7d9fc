//! The built-in fake Selling Partner API: LWA token endpoint, Orders 2026-01-01
//! (`searchOrders`, `getOrder`) and Orders v0 `confirmShipment`, with Amazon's checks.
//!
//! It reuses the MWS sandbox's machinery rather than a copy: the HTTP server ([`super::http`]),
//! the injected clock, the order generator and its state ([`super::data`], [`super::State`]:
//! the same deterministic orders arrive and change as sandbox time passes), the fault plan
//! ([`super::faults`]), the request log and [`SandboxHandle`]'s ground truth (the handle
//! derefs to it). What is SP-API's own lives here:
//!
//! - **LWA** (`POST /auth/o2/token`): checks the client id and secret (401 `invalid_client`)
//!   and the refresh token (400 `invalid_grant`; [`SpSandboxHandle::revoke_refresh_token`]),
//!   and issues `Atza|…` access tokens that expire after an hour of sandbox time.
//! - **Every operation** checks `x-amz-access-token` (403 `Unauthorized`, "has expired" when
//!   it has) and a `User-Agent` of at most 500 characters, then the usage plan
//!   ([`crate::spapi::throttle`]: 429 `QuotaExceeded`), and answers with `x-amzn-RequestId`
//!   and `x-amzn-RateLimit-Limit`.
//! - **searchOrders**: `marketplaceIds` required; exactly one of `createdAfter` and
//!   `lastUpdatedAfter`; `createdBefore`/`lastUpdatedBefore` only with their partner and at
//!   least 2 minutes before now; `fulfilledBy`, `fulfillmentStatuses`, `includedData`,
//!   `maxResultsPerPage` (1–100) checked. The result is fixed at the first page; a
//!   `paginationToken` is bound to the other parameters (all but `maxResultsPerPage` and
//!   `includedData`) and expires 24 h of sandbox time after it was issued. PII only for
//!   unshipped, partially shipped and shipped orders.
//! - **getOrder**: 404 for an unknown order.
//! - **confirmShipment**: the body rules of [`ConfirmShipmentRequest::validate`]; unknown
//!   order (404), pending, canceled, Amazon-fulfilled or already shipped orders, an item not
//!   in the order, a quantity above what is unshipped and a reused `packageReferenceId` are
//!   refused (400 with Amazon's reason); 204 otherwise. The order's items ship and the
//!   package moves to `DELIVERED` 1–3 days of sandbox time later (which updates the order's
//!   `lastUpdatedTime`).
//! - **Shipping API v2** (`getRates`, `purchaseShipment`, `getShipmentDocuments`,
//!   `cancelShipment`): [`super::spapi_shipping`]; buying a label confirms the shipment as
//!   `confirmShipment` does. Ground truth: [`SpSandboxHandle::labels`],
//!   [`SpSandboxHandle::ship_to_received`], [`SpSandboxHandle::rate_requests`].
//! - **Faults** (`--faults`): `throttle` (429), `internal` (500 `InternalFailure`, nothing
//!   done), `expired-token` (403), `reset`, `truncate`, `slow`, `malformed` (a 2xx body that is
//!   not JSON), `corrupt-token` (a damaged `nextToken`), and the waits that never end by
//!   themselves: `trickle` (the body one byte every `drip`), `endless-token` (the last page
//!   carries a fresh `nextToken` serving it again), `repeat-token` (the `nextToken` is the
//!   one sent) and `tiny-rate` (a 429 with `x-amzn-RateLimit-Limit: 0.000000001`); `refuse`
//!   (a 400 `InvalidInput`, nothing done) and `absurd-numbers` (a listing page whose first
//!   orders carry quantities of 1e20 and 4294967295 and a price of 1e20).
//! - **Rendezvous** ([`SpSandbox::rendezvous`], tests only): each region's first
//!   `searchOrders` is held until every region named has received its own, which shows that a
//!   client fetches the regions at once, not one after the other.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Duration, Utc};
use rand::RngExt;
use serde_json::{Map, Value, json};

use super::data::{SimOrder, fmt_time};
use super::faults::FaultKind;
use super::http::{self, Delivery, HttpRequest, HttpResponse};
use super::spapi_shipping;
pub use super::spapi_shipping::SimLabel;
use super::{RequestRecord, Sandbox, SandboxConfig, SandboxHandle, Shared, State, loopback_addr};
use crate::model::marketplace::Region;
use crate::spapi::model::{ConfirmShipmentRequest, parse_confirm_request};
use crate::spapi::throttle::Throttle;
use crate::spapi::{
    CONFIRM_PREFIX, CONFIRM_SUFFIX, GET_ORDER_PREFIX, LWA_TOKEN_PATH, SEARCH_ORDERS_PATH,
    SHIPPING_CANCEL_SUFFIX, SHIPPING_DOCUMENTS_SUFFIX, SHIPPING_PURCHASE_PATH, SHIPPING_RATES_PATH,
    SHIPPING_SHIPMENT_PREFIX, is_order_id, op,
};
use crate::{Error, Result};

/// How long an access token lives (sandbox time).
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::hours(1);
/// How long a pagination token lives (sandbox time).
pub const PAGINATION_TOKEN_LIFETIME: Duration = Duration::hours(24);
/// `createdBefore`/`lastUpdatedBefore` must be at least this far before now.
pub const BEFORE_MARGIN: Duration = Duration::minutes(2);

const INCLUDED: &[&str] = &[
    "BUYER",
    "RECIPIENT",
    "PROCEEDS",
    "EXPENSE",
    "PROMOTION",
    "CANCELLATION",
    "FULFILLMENT",
    "PACKAGES",
    "TAX",
    "PAYMENT",
    "FULFILLMENT_ORDERS",
];
const STATUSES: &[&str] = &[
    "PENDING_AVAILABILITY",
    "PENDING",
    "UNSHIPPED",
    "PARTIALLY_SHIPPED",
    "SHIPPED",
    "CANCELLED",
    "UNFULFILLABLE",
];

/// The fake credentials the SP-API sandbox accepts (what `fulfill sandbox --api sp-api`
/// prints).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SpSandboxCredentials {
    /// The selling partner id.
    pub seller_id: String,
    /// The first of its marketplaces.
    pub marketplace_id: String,
    /// The region it serves.
    pub region: Region,
    /// Every marketplace of the region it serves (its orders are spread over them).
    pub marketplaces: Vec<String>,
    /// LWA client id.
    pub lwa_client_id: String,
    /// LWA client secret.
    pub lwa_client_secret: String,
    /// The refresh token (`Atzr|…`).
    pub refresh_token: String,
}

/// A package confirmed through `confirmShipment` (ground truth).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimPackage {
    /// The order.
    pub order_id: String,
    /// `packageReferenceId`.
    pub package_reference_id: String,
    /// `carrierCode`.
    pub carrier_code: String,
    /// `carrierName`.
    pub carrier_name: Option<String>,
    /// `shippingMethod`.
    pub shipping_method: Option<String>,
    /// `trackingNumber`.
    pub tracking_number: String,
    /// `shipDate` as sent.
    pub ship_date: String,
    /// (order item id, quantity).
    pub items: Vec<(String, u32)>,
    /// Sandbox time it was confirmed.
    pub confirmed_at: DateTime<Utc>,
    /// Sandbox time it is delivered.
    pub delivered_at: DateTime<Utc>,
}

struct PageToken {
    key: String,
    ids: Vec<String>,
    offset: usize,
    before: (&'static str, String),
    expires: DateTime<Utc>,
}

#[derive(Default)]
pub(super) struct SpState {
    /// Orders (from the start of the shared list) given their marketplace of this region.
    assigned: usize,
    /// `searchOrders` lists every marketplace's orders, asked for or not (a misbehaving
    /// Amazon, for tests of orders from a marketplace the home did not configure).
    list_every_marketplace: bool,
    access: HashMap<String, DateTime<Utc>>,
    revoked: bool,
    throttle: Throttle,
    pages: HashMap<String, PageToken>,
    pub(super) packages: HashMap<String, Vec<SimPackage>>,
    pub(super) confirmations: Vec<SimPackage>,
    /// Shipping API v2 ([`super::spapi_shipping`]).
    pub(super) shipping: spapi_shipping::ShippingV2,
    /// The [`Rendezvous`] this region takes part in, and its place in it.
    meeting: Option<(Arc<Meeting>, usize)>,
}

/// A test's proof that regions are fetched at once ([`SpSandbox::rendezvous`]): each region's
/// first `searchOrders` is held, unanswered, until every region of the rendezvous has received
/// its own. A client that fetches one region after the other cannot meet it: its first region
/// waits out the patience (real time, a bound and not a synchronisation), is answered anyway,
/// and [`Rendezvous::met`] stays false.
#[derive(Clone)]
pub struct Rendezvous {
    meeting: Arc<Meeting>,
}

impl std::fmt::Debug for Rendezvous {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendezvous")
            .field("met", &self.met())
            .finish()
    }
}

struct Meeting {
    state: Mutex<MeetState>,
    arrived: std::sync::Condvar,
    patience: std::time::Duration,
}

struct MeetState {
    arrived: Vec<bool>,
    gave_up: bool,
}

impl Meeting {
    fn lock(&self) -> MutexGuard<'_, MeetState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Region `i`'s `searchOrders` arrived: the first one waits for every other region's.
    fn arrive(&self, i: usize) {
        let mut st = self.lock();
        if st.arrived[i] {
            return;
        }
        st.arrived[i] = true;
        self.arrived.notify_all();
        let deadline = std::time::Instant::now() + self.patience;
        while !st.gave_up && !st.arrived.iter().all(|a| *a) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                st.gave_up = true;
                self.arrived.notify_all();
                return;
            }
            st = self
                .arrived
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Rendezvous {
    /// Whether every region's first `searchOrders` arrived while the others' were held.
    pub fn met(&self) -> bool {
        let st = self.meeting.lock();
        !st.gave_up && st.arrived.iter().all(|a| *a)
    }

    /// Waits (at most `timeout`) until `n` regions' first `searchOrders` have arrived; whether
    /// they have.
    pub fn wait_arrived(&self, n: usize, timeout: std::time::Duration) -> bool {
        let st = self.meeting.lock();
        let (st, _) = self
            .meeting
            .arrived
            .wait_timeout_while(st, timeout, |st| {
                st.arrived.iter().filter(|a| **a).count() < n
            })
            .unwrap_or_else(|e| e.into_inner());
        st.arrived.iter().filter(|a| **a).count() >= n
    }
}

struct SpShared {
    base: Arc<Shared>,
    creds: SpSandboxCredentials,
    state: Mutex<SpState>,
}

impl SpShared {
    fn lock(&self) -> MutexGuard<'_, SpState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Starts SP-API sandboxes.
pub struct SpSandbox;

/// The marketplaces the sandbox's regions serve (North America: US, CA, MX; Europe: GB, DE,
/// FR, IT); orders are spread over them.
pub fn sandbox_marketplaces(region: Region) -> Vec<String> {
    let ids: &[&str] = match region {
        Region::Na => &["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8"],
        Region::Eu => &[
            "A1F83G8C2ARO7P",
            "A1PA6795UKMFR9",
            "A13V1IB3VIYZZH",
            "APJ6JRA9NG5V4",
        ],
        Region::Fe => &["A1VC38T7YXB528"],
    };
    ids.iter().map(|s| s.to_string()).collect()
}

impl SpSandbox {
    /// Binds the loopback address, generates the orders and serves on a background thread:
    /// North America with the US marketplace alone.
    pub fn start(cfg: SandboxConfig) -> Result<SpSandboxHandle> {
        Self::start_region(
            cfg,
            Region::Na,
            vec![super::data::MARKETPLACE_ID.to_string()],
        )
    }

    /// A North America and a Europe region ([`sandbox_marketplaces`]), each on its own
    /// listener with its own orders (seeds `cfg.seed` and `cfg.seed + 1`), tokens and usage
    /// plans, on one clock. `eu_addr`: where Europe listens.
    pub fn start_regions(
        cfg: SandboxConfig,
        eu_addr: &str,
    ) -> Result<(SpSandboxHandle, SpSandboxHandle)> {
        let eu_cfg = SandboxConfig {
            addr: eu_addr.to_string(),
            orders: cfg.orders,
            seed: cfg.seed.wrapping_add(1),
            time_scale: cfg.time_scale,
            faults: cfg.faults.clone(),
            clock: Arc::clone(&cfg.clock),
        };
        let na = Self::start_region(cfg, Region::Na, sandbox_marketplaces(Region::Na))?;
        let eu = Self::start_region(eu_cfg, Region::Eu, sandbox_marketplaces(Region::Eu))?;
        Ok((na, eu))
    }

    /// Holds each of `regions`' first `searchOrders` until all of them have received theirs,
    /// for at most `patience` of real time ([`Rendezvous`]).
    pub fn rendezvous(regions: &[&SpSandboxHandle], patience: std::time::Duration) -> Rendezvous {
        let meeting = Arc::new(Meeting {
            state: Mutex::new(MeetState {
                arrived: vec![false; regions.len()],
                gave_up: false,
            }),
            arrived: std::sync::Condvar::new(),
            patience,
        });
        for (i, r) in regions.iter().enumerate() {
            r.sp.lock().meeting = Some((Arc::clone(&meeting), i));
        }
        Rendezvous { meeting }
    }

    /// One region's host, serving `marketplaces` (its orders spread over them); a marketplace
    /// of another region is refused as Amazon refuses it.
    pub fn start_region(
        cfg: SandboxConfig,
        region: Region,
        marketplaces: Vec<String>,
    ) -> Result<SpSandboxHandle> {
        let addr = loopback_addr(&cfg.addr)?;
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| Error::Failed(format!("sandbox: cannot listen on {addr}: {e}")))?;
        let addr = listener.local_addr()?;
        let base = Arc::new(Sandbox::shared(&cfg));
        let creds = {
            let mut st = base.lock();
            let mut alnum = |n: usize| -> String {
                const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
                (0..n)
                    .map(|_| char::from(A[st.rng.random_range(0..A.len())]))
                    .collect()
            };
            SpSandboxCredentials {
                seller_id: base.creds.seller_id.clone(),
                marketplace_id: marketplaces[0].clone(),
                region,
                marketplaces: marketplaces.clone(),
                lwa_client_id: format!("amzn1.application-oa2-client.{}", alnum(32)),
                lwa_client_secret: format!("amzn1.oa2-cs.v1.{}", alnum(64)),
                refresh_token: format!("Atzr|IwEB{}+{}/{}", alnum(40), alnum(20), alnum(10)),
            }
        };
        let sp = Arc::new(SpShared {
            base: Arc::clone(&base),
            creds,
            state: Mutex::new(SpState::default()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&sp);
        let thread = http::serve(listener, Arc::clone(&stop), move |req| handle(&s, &req));
        Ok(SpSandboxHandle {
            base: SandboxHandle {
                shared: base,
                addr,
                stop,
                thread: Some(thread),
                time_scale: cfg.time_scale,
            },
            sp,
        })
    }
}

/// A running SP-API sandbox. Derefs to [`SandboxHandle`] for what both sandboxes share
/// (`base_url`, `orders`, `requests`, `set_faults`, `cancel_order`, `pii_marker`, `now`, ...).
pub struct SpSandboxHandle {
    base: SandboxHandle,
    sp: Arc<SpShared>,
}

impl std::ops::Deref for SpSandboxHandle {
    type Target = SandboxHandle;
    fn deref(&self) -> &SandboxHandle {
        &self.base
    }
}

impl SpSandboxHandle {
    /// The credentials it accepts.
    pub fn credentials(&self) -> SpSandboxCredentials {
        self.sp.creds.clone()
    }

    /// The LWA token endpoint, `http://127.0.0.1:PORT/auth/o2/token`.
    pub fn token_url(&self) -> String {
        format!("{}{LWA_TOKEN_PATH}", self.base.base_url())
    }

    /// Ground truth: how many orders it holds per marketplace (every order, any state).
    pub fn orders_by_marketplace(&self) -> std::collections::BTreeMap<String, usize> {
        let now = self.base.now();
        let mut st = self.base.shared.lock();
        st.refresh(now, &self.base.shared.creds.seller_id);
        let mut s = self.sp.lock();
        assign(&self.sp.creds, &mut st, &mut s);
        let mut out = std::collections::BTreeMap::new();
        for o in &st.orders {
            *out.entry(o.order.info.marketplace_id.clone().unwrap_or_default())
                .or_insert(0) += 1;
        }
        out
    }

    /// The sandbox's credentials as `credentials set --api sp-api` stores them in a sandbox
    /// home.
    pub fn spapi_credentials(
        &self,
        time_scale: f64,
    ) -> Result<crate::spapi::credentials::SpApiCredentials> {
        use crate::spapi::credentials::{SpApiCredentials, SpApiCredentialsInput};
        let c = self.credentials();
        SpApiCredentials::new(
            SpApiCredentialsInput {
                seller_id: c.seller_id,
                marketplaces: c.marketplaces,
                lwa_client_id: c.lwa_client_id,
                lwa_client_secret: zeroize::Zeroizing::new(c.lwa_client_secret),
                refresh_token: zeroize::Zeroizing::new(c.refresh_token),
                region: c.region,
                endpoint: Some(self.base.base_url()),
                token_endpoint: Some(self.token_url()),
                time_scale,
            },
            true,
        )
    }

    /// From now on `searchOrders` lists the orders of every marketplace of the region, also
    /// those not asked for (as a misbehaving Amazon would).
    pub fn list_every_marketplace(&self) {
        self.sp.lock().list_every_marketplace = true;
    }

    /// The seller withdraws the app's authorisation: the refresh token is refused from now on
    /// and every access token issued so far stops working.
    pub fn revoke_refresh_token(&self) {
        let mut s = self.sp.lock();
        s.revoked = true;
        s.access.clear();
    }

    /// Every access token issued so far expires now (as an hour passing would).
    pub fn expire_access_tokens(&self) {
        let now = self.base.now();
        for t in self.sp.lock().access.values_mut() {
            *t = (*t).min(now);
        }
    }

    /// Access tokens issued so far.
    pub fn access_tokens_issued(&self) -> usize {
        self.base
            .requests()
            .iter()
            .filter(|r| r.action.as_deref() == Some(op::LWA_TOKEN) && r.status == 200)
            .count()
    }

    /// Makes the sandbox apply (and report in `x-amzn-RateLimit-Limit`) `rate` per second for
    /// `operation`, as Amazon does for a seller with a different usage plan.
    pub fn set_rate_limit(&self, operation: &str, rate: f64) {
        let now = self.base.now();
        self.sp.lock().throttle.observe_rate(operation, rate, now);
    }

    /// Ground truth: the packages confirmed so far, in order.
    pub fn confirmations(&self) -> Vec<SimPackage> {
        self.sp.lock().confirmations.clone()
    }

    /// Ground truth: an order's `lastUpdatedTime` now (package deliveries included).
    pub fn last_updated(&self, order_id: &str) -> Option<DateTime<Utc>> {
        let now = self.base.now();
        let mut st = self.base.shared.lock();
        st.refresh(now, &self.base.shared.creds.seller_id);
        let i = *st.index.get(order_id)?;
        let sp = self.sp.lock();
        Some(last_updated(&st.orders[i], sp.packages.get(order_id), now))
    }

    /// Ground truth: every label bought through Shipping API v2 `purchaseShipment`, in
    /// order, cancelled ones included (`cancelled: true`).
    pub fn labels(&self) -> Vec<SimLabel> {
        self.sp.lock().shipping.labels()
    }

    /// Ground truth: how many `getRates` requests (past the gate) carried a `shipTo` address,
    /// which Amazon ignores for Amazon orders: a client that never sends buyer PII keeps it 0.
    pub fn ship_to_received(&self) -> usize {
        self.sp.lock().shipping.ship_to_received
    }

    /// Ground truth: `getRates` requests that passed the gate (token, User-Agent, faults,
    /// usage plan), whatever their answer.
    pub fn rate_requests(&self) -> usize {
        self.sp.lock().shipping.rate_requests
    }

    /// Handles one request in-process, without HTTP (same code path as the server).
    pub fn call(&self, req: &HttpRequest) -> HttpResponse {
        handle(&self.sp, req)
    }
}

// ---- the pipeline ----

pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) body: Vec<u8>,
    pub(super) code: Option<String>,
}

pub(super) fn ok_json(v: &Value) -> Reply {
    Reply {
        status: 200,
        body: serde_json::to_vec(v).expect("json"),
        code: None,
    }
}

pub(super) fn err(status: u16, code: &str, message: &str, details: Option<&str>) -> Reply {
    let mut e = json!({"code": code, "message": message});
    if let Some(d) = details {
        e["details"] = json!(d);
    }
    Reply {
        status,
        body: serde_json::to_vec(&json!({ "errors": [e] })).expect("json"),
        code: Some(code.to_string()),
    }
}

pub(super) fn invalid(message: &str) -> Reply {
    err(400, "InvalidInput", message, None)
}

fn lwa_err(status: u16, code: &str, description: &str) -> Reply {
    Reply {
        status,
        body: serde_json::to_vec(&json!({"error": code, "error_description": description}))
            .expect("json"),
        code: Some(code.to_string()),
    }
}

enum Route<'a> {
    Token,
    Participations,
    Search,
    Get(&'a str),
    Confirm(&'a str),
    Rates,
    Purchase,
    Documents(&'a str),
    CancelLabel(&'a str),
    Unknown,
}

fn route(req: &HttpRequest) -> (Route<'_>, Option<&'static str>) {
    let path = req.path();
    match req.method.as_str() {
        "POST" if path == LWA_TOKEN_PATH => (Route::Token, Some(op::LWA_TOKEN)),
        "GET" if path == SEARCH_ORDERS_PATH => (Route::Search, Some(op::SEARCH_ORDERS)),
        "GET" if path == crate::spapi::PARTICIPATIONS_PATH => (
            Route::Participations,
            Some(op::GET_MARKETPLACE_PARTICIPATIONS),
        ),
        "GET"
            if path.starts_with(GET_ORDER_PREFIX)
                && !path[GET_ORDER_PREFIX.len()..].contains('/') =>
        {
            (
                Route::Get(&path[GET_ORDER_PREFIX.len()..]),
                Some(op::GET_ORDER),
            )
        }
        "POST" if path == SHIPPING_RATES_PATH => (Route::Rates, Some(op::GET_RATES)),
        "POST" if path == SHIPPING_PURCHASE_PATH => (Route::Purchase, Some(op::PURCHASE_SHIPMENT)),
        "GET" => match path
            .strip_prefix(SHIPPING_SHIPMENT_PREFIX)
            .and_then(|p| p.strip_suffix(SHIPPING_DOCUMENTS_SUFFIX))
        {
            Some(id) if !id.is_empty() && !id.contains('/') => {
                (Route::Documents(id), Some(op::GET_SHIPMENT_DOCUMENTS))
            }
            _ => (Route::Unknown, None),
        },
        "PUT" => match path
            .strip_prefix(SHIPPING_SHIPMENT_PREFIX)
            .and_then(|p| p.strip_suffix(SHIPPING_CANCEL_SUFFIX))
        {
            Some(id) if !id.is_empty() && !id.contains('/') => {
                (Route::CancelLabel(id), Some(op::CANCEL_SHIPMENT))
            }
            _ => (Route::Unknown, None),
        },
        "POST" => match path
            .strip_prefix(CONFIRM_PREFIX)
            .and_then(|p| p.strip_suffix(CONFIRM_SUFFIX))
        {
            Some(id) if !id.contains('/') => (Route::Confirm(id), Some(op::CONFIRM_SHIPMENT)),
            _ => (Route::Unknown, None),
        },
        _ => (Route::Unknown, None),
    }
}

fn handle(sp: &SpShared, req: &HttpRequest) -> HttpResponse {
    if req.method == "GET" && req.path() == SEARCH_ORDERS_PATH {
        // Before any lock: a held request must not stop this region's other requests.
        let meeting = sp.lock().meeting.clone();
        if let Some((m, i)) = meeting {
            m.arrive(i);
        }
    }
    let now = sp.base.clock.now();
    let mut st = sp.base.lock();
    st.seq += 1;
    let seq = st.seq;
    let fault = st.faults.decide(seq);
    let slow_delay = st.faults.spec().slow_delay;
    let skew = st.faults.spec().skew_secs;
    st.refresh(now, &sp.base.creds.seller_id);
    let rid = super::api::uuid(&mut st);
    let mut s = sp.lock();
    assign(&sp.creds, &mut st, &mut s);
    let (route, operation) = route(req);
    let query = crate::mws::sign::parse_query(req.query(), true);
    let reply = match (&route, &query) {
        (Route::Unknown, _) => err(404, "NotFound", "Resource not found.", None),
        (_, None) => invalid("The query string has a malformed percent-encoded parameter."),
        (Route::Token, Some(_)) => match fault {
            Some(FaultKind::Internal) => lwa_err(500, "server_error", "Internal error"),
            Some(FaultKind::Throttle) => lwa_err(429, "slow_down", "Too many requests"),
            _ => token(sp, &mut st, &mut s, req, now),
        },
        (_, Some(q)) => {
            let operation = operation.expect("routed");
            match gate(&mut s, req, operation, fault, now) {
                Some(r) => r,
                None => match route {
                    Route::Search => search(&sp.creds, &mut st, &mut s, q, now, fault),
                    Route::Participations => participations(&sp.creds),
                    Route::Get(id) => get_order(&st, &s, id, q, now),
                    Route::Confirm(id) => confirm(&sp.creds, &mut st, &mut s, id, req, now),
                    Route::Rates => spapi_shipping::get_rates(&mut st, &mut s, req, now),
                    Route::Purchase => spapi_shipping::purchase(&mut st, &mut s, req, now),
                    Route::Documents(id) => spapi_shipping::documents(&st, &s, id, req, q),
                    Route::CancelLabel(id) => spapi_shipping::cancel(&mut st, &mut s, id, req, now),
                    Route::Token | Route::Unknown => unreachable!("handled above"),
                },
            }
        }
    };
    let Reply {
        status,
        mut body,
        code,
    } = reply;
    let drip = st.faults.spec().drip;
    let mut delivery = Delivery::Normal;
    match fault {
        Some(FaultKind::Slow) => delivery = Delivery::Slow(slow_delay),
        Some(FaultKind::Trickle) => delivery = Delivery::Trickle(drip),
        Some(FaultKind::Reset) => delivery = Delivery::Reset,
        Some(FaultKind::Truncate) => delivery = Delivery::Truncate,
        Some(FaultKind::Malformed) if (200..300).contains(&status) => {
            body.truncate(body.len() / 2);
            body.extend_from_slice(b"{\"\x01");
        }
        _ => {}
    }
    let server_now = now + Duration::seconds(skew);
    let mut headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("x-amzn-RequestId".to_string(), rid),
        (
            "Date".to_string(),
            server_now.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        ),
    ];
    if let Some(rate) = operation.and_then(|o| s.throttle.rate(o))
        && operation != Some(op::LWA_TOKEN)
    {
        let rate = if fault == Some(FaultKind::TinyRate) && status == 429 {
            "0.000000001".to_string()
        } else {
            format!("{rate}")
        };
        headers.push(("x-amzn-RateLimit-Limit".into(), rate));
    }
    let logged = match (&route, query) {
        (Route::Token, _) | (_, None) => Vec::new(),
        (_, Some(q)) => q,
    };
    st.requests.push(RequestRecord {
        seq,
        at: now,
        method: req.method.clone(),
        path: req.path().to_owned(),
        action: operation.map(str::to_string),
        params: logged,
        status,
        error_code: code,
        fault,
    });
    sp.base.served.notify_all();
    HttpResponse {
        status,
        headers,
        body,
        delivery,
    }
}

/// Access token, User-Agent, faults that refuse, the usage plan: `Some` refuses.
fn gate(
    s: &mut SpState,
    req: &HttpRequest,
    operation: &str,
    fault: Option<FaultKind>,
    now: DateTime<Utc>,
) -> Option<Reply> {
    const DENIED: &str = "Access to requested resource is denied.";
    match req.header("User-Agent") {
        None | Some("") => return Some(invalid("A User-Agent header is required.")),
        Some(ua) if ua.len() > 500 => {
            return Some(invalid(
                "The User-Agent header is longer than 500 characters.",
            ));
        }
        _ => {}
    }
    let Some(token) = req.header("x-amz-access-token").filter(|t| !t.is_empty()) else {
        return Some(err(
            403,
            "Unauthorized",
            DENIED,
            Some("The request has no access token."),
        ));
    };
    match s.access.get(token) {
        None => {
            return Some(err(
                403,
                "Unauthorized",
                DENIED,
                Some("The access token you provided is revoked, malformed or invalid."),
            ));
        }
        Some(exp) if *exp <= now || fault == Some(FaultKind::ExpiredToken) => {
            return Some(err(
                403,
                "Unauthorized",
                DENIED,
                Some("The access token you provided has expired."),
            ));
        }
        Some(_) => {}
    }
    let quota = || {
        err(
            429,
            "QuotaExceeded",
            "You exceeded your quota for the requested resource.",
            None,
        )
    };
    if matches!(fault, Some(FaultKind::Throttle | FaultKind::TinyRate)) {
        return Some(quota());
    }
    if s.throttle.try_acquire(operation, now).is_err() {
        return Some(quota());
    }
    if fault == Some(FaultKind::Refuse) {
        return Some(invalid(
            "The request cannot be processed for this seller now.",
        ));
    }
    if fault == Some(FaultKind::Internal) {
        return Some(err(
            500,
            "InternalFailure",
            "We encountered an internal error. Please try again.",
            None,
        ));
    }
    None
}

fn token(
    sp: &SpShared,
    st: &mut State,
    s: &mut SpState,
    req: &HttpRequest,
    now: DateTime<Utc>,
) -> Reply {
    let form = req.header("Content-Type").is_some_and(|c| {
        c.to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    let fields = std::str::from_utf8(&req.body)
        .ok()
        .filter(|_| form)
        .and_then(|b| crate::mws::sign::parse_query(b, true));
    let Some(fields) = fields else {
        return lwa_err(
            400,
            "invalid_request",
            "The request is missing a required parameter or is malformed",
        );
    };
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("grant_type") != Some("refresh_token") {
        return lwa_err(
            400,
            "unsupported_grant_type",
            "The authorization grant type is not supported",
        );
    }
    if get("client_id") != Some(sp.creds.lwa_client_id.as_str())
        || get("client_secret") != Some(sp.creds.lwa_client_secret.as_str())
    {
        return lwa_err(401, "invalid_client", "Client authentication failed");
    }
    if s.revoked || get("refresh_token") != Some(sp.creds.refresh_token.as_str()) {
        return lwa_err(
            400,
            "invalid_grant",
            "The request has an invalid grant parameter : refresh_token",
        );
    }
    let raw: [u8; 48] = st.rng.random();
    use base64::Engine;
    let token = format!(
        "Atza|{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    );
    s.access.insert(token.clone(), now + ACCESS_TOKEN_LIFETIME);
    ok_json(&json!({
        "access_token": token,
        "refresh_token": sp.creds.refresh_token,
        "token_type": "bearer",
        "expires_in": ACCESS_TOKEN_LIFETIME.num_seconds(),
    }))
}

/// Gives the orders generated since the last call their marketplace of this region (spread
/// over the region's marketplaces by order id, so the same seed gives the same spread).
fn assign(creds: &SpSandboxCredentials, st: &mut State, s: &mut SpState) {
    let n = creds.marketplaces.len().max(1);
    for o in st.orders.iter_mut().skip(s.assigned) {
        let h = o.order.info.amazon_order_id.bytes().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        if let Some(m) = creds.marketplaces.get(h % n) {
            o.order.info.marketplace_id = Some(m.clone());
        }
    }
    s.assigned = st.orders.len();
}

// ---- parameters ----

type Query = Vec<(String, String)>;

/// Every value of `name`, comma lists split (SP-API sends arrays comma-separated).
fn values<'a>(q: &'a Query, name: &str) -> Vec<&'a str> {
    q.iter()
        .filter(|(k, _)| k == name)
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect()
}

fn single<'a>(q: &'a Query, name: &str) -> std::result::Result<Option<&'a str>, Reply> {
    let mut it = q.iter().filter(|(k, _)| k == name);
    let first = it.next().map(|(_, v)| v.as_str());
    if it.next().is_some() {
        return Err(invalid(&format!("{name} is given more than once.")));
    }
    Ok(first)
}

fn time(q: &Query, name: &str) -> std::result::Result<Option<DateTime<Utc>>, Reply> {
    match single(q, name)? {
        None => Ok(None),
        Some(v) => DateTime::parse_from_rfc3339(v)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| invalid(&format!("{name} is not an ISO 8601 date-time."))),
    }
}

fn included(q: &Query) -> std::result::Result<BTreeSet<String>, Reply> {
    let mut out = BTreeSet::new();
    for v in values(q, "includedData") {
        if !INCLUDED.contains(&v) {
            return Err(invalid(&format!(
                "includedData value {v:?} is not supported."
            )));
        }
        out.insert(v.to_string());
    }
    Ok(out)
}

macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

fn status_of(o: &SimOrder) -> &'static str {
    match o.order.info.order_status.as_str() {
        "Pending" => "PENDING",
        "Unshipped" => "UNSHIPPED",
        "PartiallyShipped" => "PARTIALLY_SHIPPED",
        "Shipped" => "SHIPPED",
        "Canceled" => "CANCELLED",
        _ => "UNFULFILLABLE",
    }
}

fn is_afn(o: &SimOrder) -> bool {
    o.order.info.fulfillment_channel.as_deref() == Some("AFN")
}

fn last_updated(o: &SimOrder, pk: Option<&Vec<SimPackage>>, now: DateTime<Utc>) -> DateTime<Utc> {
    pk.into_iter()
        .flatten()
        .map(|p| p.delivered_at)
        .filter(|t| *t <= now)
        .fold(o.last_update, DateTime::max)
}

// ---- operations ----

/// Sellers API `getMarketplaceParticipations`: the region's marketplaces, and (as Amazon lists
/// every region's) one of another region and Japan, not participating.
fn participations(creds: &SpSandboxCredentials) -> Reply {
    let entry = |id: &str, on: bool| {
        let m = crate::model::marketplace::Marketplace::by_id(id);
        json!({
            "marketplace": {
                "id": id,
                "countryCode": m.map_or("", |m| m.country),
                "name": m.map_or(id, |m| m.domain),
                "defaultCurrencyCode": m.map_or("", |m| m.currency),
                "defaultLanguageCode": "en_US",
                "domainName": m.map_or(String::new(), |m| format!("www.{}", m.domain)),
            },
            "participation": {"isParticipating": on, "hasSuspendedListings": false},
            "storeName": "Sandbox Store",
        })
    };
    let mut payload: Vec<Value> = creds.marketplaces.iter().map(|m| entry(m, true)).collect();
    // Amazon lists every region's: one where the seller sells elsewhere, one where it does not.
    let elsewhere = if creds.region == Region::Na {
        "A1F83G8C2ARO7P"
    } else {
        "ATVPDKIKX0DER"
    };
    payload.push(entry(elsewhere, true));
    payload.push(entry("A1VC38T7YXB528", false));
    ok_json(&json!({ "payload": payload }))
}

fn search(
    creds: &SpSandboxCredentials,
    st: &mut State,
    s: &mut SpState,
    q: &Query,
    now: DateTime<Utc>,
    fault: Option<FaultKind>,
) -> Reply {
    let corrupt = fault == Some(FaultKind::CorruptToken);
    let markets = values(q, "marketplaceIds");
    if markets.is_empty() {
        return invalid("marketplaceIds is required.");
    }
    if markets.len() > 50 {
        return invalid("marketplaceIds takes at most 50 marketplaces.");
    }
    // Amazon refuses a marketplace its host does not serve, and one the seller does not sell in.
    if let Some(m) = markets.iter().find(|m| {
        crate::model::marketplace::Marketplace::by_id(m).is_some_and(|k| k.region != creds.region)
    }) {
        return invalid(&format!(
            "Invalid marketplaceIds: {m} is not served by this endpoint's region."
        ));
    }
    if markets
        .iter()
        .any(|m| !creds.marketplaces.iter().any(|c| c == m))
    {
        return invalid(
            "Invalid marketplaceIds: the seller does not sell in every marketplace given.",
        );
    }
    let created_after = tri!(time(q, "createdAfter"));
    let created_before = tri!(time(q, "createdBefore"));
    let updated_after = tri!(time(q, "lastUpdatedAfter"));
    let updated_before = tri!(time(q, "lastUpdatedBefore"));
    let (by_created, after, before) = match (created_after, updated_after) {
        (Some(a), None) => {
            if updated_before.is_some() {
                return invalid("lastUpdatedBefore can only be used with lastUpdatedAfter.");
            }
            (true, a, created_before)
        }
        (None, Some(a)) => {
            if created_before.is_some() {
                return invalid("createdBefore can only be used with createdAfter.");
            }
            (false, a, updated_before)
        }
        _ => return invalid("Exactly one of createdAfter and lastUpdatedAfter is required."),
    };
    let latest = now - BEFORE_MARGIN;
    let name = if by_created {
        "createdBefore"
    } else {
        "lastUpdatedBefore"
    };
    if let Some(b) = before
        && b > latest
    {
        return invalid(&format!(
            "{name} must be at least 2 minutes before the time of the request."
        ));
    }
    let before = before.unwrap_or(latest);
    if after >= before {
        return invalid(&format!(
            "{} must be before {name}.",
            if by_created {
                "createdAfter"
            } else {
                "lastUpdatedAfter"
            }
        ));
    }
    let by = values(q, "fulfilledBy");
    if let Some(bad) = by.iter().find(|v| !matches!(**v, "MERCHANT" | "AMAZON")) {
        return invalid(&format!("fulfilledBy value {bad:?} is not supported."));
    }
    let statuses = values(q, "fulfillmentStatuses");
    if let Some(bad) = statuses.iter().find(|v| !STATUSES.contains(v)) {
        return invalid(&format!(
            "fulfillmentStatuses value {bad:?} is not supported."
        ));
    }
    let inc = tri!(included(q));
    let page = match tri!(single(q, "maxResultsPerPage")) {
        None => 100,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => return invalid("maxResultsPerPage must be between 1 and 100."),
        },
    };
    let mut bound: Vec<&(String, String)> = q
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "maxResultsPerPage" | "includedData" | "paginationToken"
            )
        })
        .collect();
    bound.sort();
    let key = serde_json::to_string(&bound).expect("json");
    let given = tri!(single(q, "paginationToken"));
    let (ids, offset, before_field) = match given {
        Some(tok) => match s.pages.get(tok) {
            None => return invalid("The pagination token is invalid."),
            Some(p) if p.expires <= now => {
                return invalid(
                    "The pagination token has expired; pagination tokens expire after 24 hours.",
                );
            }
            Some(p) if p.key != key => {
                return invalid(
                    "The pagination token does not match the request: re-send every other parameter unchanged.",
                );
            }
            Some(p) => (p.ids.clone(), p.offset, p.before.clone()),
        },
        None => {
            let mut hits: Vec<(DateTime<Utc>, String)> = st
                .orders
                .iter()
                .filter(|o| {
                    let afn = is_afn(o);
                    by.is_empty() || by.contains(&if afn { "AMAZON" } else { "MERCHANT" })
                })
                .filter(|o| statuses.is_empty() || statuses.contains(&status_of(o)))
                .filter(|o| {
                    s.list_every_marketplace
                        || o.order
                            .info
                            .marketplace_id
                            .as_deref()
                            .is_none_or(|m| markets.contains(&m))
                })
                .filter_map(|o| {
                    let id = &o.order.info.amazon_order_id;
                    let t = if by_created {
                        o.purchase
                    } else {
                        last_updated(o, s.packages.get(id), now)
                    };
                    (t >= after && t < before).then(|| (t, id.clone()))
                })
                .collect();
            hits.sort();
            let ids = hits.into_iter().map(|(_, id)| id).collect();
            (
                ids,
                0,
                (
                    if by_created {
                        "createdBefore"
                    } else {
                        "lastUpdatedBefore"
                    },
                    fmt_time(before),
                ),
            )
        }
    };
    let end = (offset + page).min(ids.len());
    let orders: Vec<Value> = ids[offset.min(end)..end]
        .iter()
        .filter_map(|id| st.index.get(id).map(|i| (id, *i)))
        .map(|(id, i)| render(&st.orders[i], s.packages.get(id), &inc, now))
        .collect();
    let mut orders = orders;
    if fault == Some(FaultKind::AbsurdNumbers) {
        absurd_numbers(&mut orders);
    }
    let mut out = Map::new();
    out.insert("orders".into(), Value::Array(orders));
    // The token faults: the listing points back at itself (`repeat-token`), or its last page
    // comes with a fresh token that serves it again (`endless-token`).
    let repeat = fault == Some(FaultKind::RepeatToken);
    if let (true, Some(tok)) = (repeat, given) {
        out.insert("pagination".into(), json!({ "nextToken": tok }));
    } else if end < ids.len() || repeat || fault == Some(FaultKind::EndlessToken) {
        let next = if end < ids.len() && !repeat {
            end
        } else {
            offset
        };
        use base64::Engine;
        let raw: [u8; 30] = st.rng.random();
        let tok = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let shown = if corrupt {
            format!("{}{}", &tok[..4], &tok[8..])
        } else {
            tok.clone()
        };
        s.pages.insert(
            tok,
            PageToken {
                key,
                ids,
                offset: next,
                before: before_field.clone(),
                expires: now + PAGINATION_TOKEN_LIFETIME,
            },
        );
        out.insert("pagination".into(), json!({ "nextToken": shown }));
    }
    out.insert(before_field.0.into(), json!(before_field.1));
    ok_json(&Value::Object(out))
}

/// The `absurd-numbers` fault: the first three orders' first items say 1e20 units, 4294967295
/// units, and a unit price of 1e20.
fn absurd_numbers(orders: &mut [Value]) {
    for (n, o) in orders.iter_mut().take(3).enumerate() {
        let Some(item) = o
            .get_mut("orderItems")
            .and_then(|i| i.get_mut(0))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        match n {
            0 => {
                item.insert("quantityOrdered".into(), json!(1e20));
            }
            1 => {
                item.insert("quantityOrdered".into(), json!(4_294_967_295u64));
            }
            _ => {
                item.insert(
                    "product".into(),
                    json!({"price": {"unitPrice": {"amount": "1e20", "currencyCode": "USD"}}}),
                );
            }
        }
    }
}

fn get_order(st: &State, s: &SpState, id: &str, q: &Query, now: DateTime<Utc>) -> Reply {
    if !is_order_id(id) {
        return invalid("Invalid orderId: it must look like 123-1234567-1234567.");
    }
    let inc = tri!(included(q));
    match st.index.get(id) {
        None => err(404, "NotFound", "The order was not found.", None),
        Some(&i) => {
            ok_json(&json!({ "order": render(&st.orders[i], s.packages.get(id), &inc, now) }))
        }
    }
}

fn confirm(
    creds: &SpSandboxCredentials,
    st: &mut State,
    s: &mut SpState,
    id: &str,
    req: &HttpRequest,
    now: DateTime<Utc>,
) -> Reply {
    if !is_order_id(id) {
        return invalid("Invalid orderId: it must look like 123-1234567-1234567.");
    }
    let body: ConfirmShipmentRequest = match parse_confirm_request(&req.body) {
        Ok(b) => b,
        Err(_) => return invalid("Invalid Input"),
    };
    if let Err(why) = body.validate() {
        return invalid(&why);
    }
    let Some(&i) = st.index.get(id) else {
        return err(404, "NotFound", "The order was not found.", None);
    };
    if Some(&body.marketplace_id) != st.orders[i].order.info.marketplace_id.as_ref()
        || !creds.marketplaces.contains(&body.marketplace_id)
    {
        return invalid("Invalid marketplaceId for this order.");
    }
    let delay = Duration::seconds(st.rng.random_range(86_400..3 * 86_400));
    let o = &mut st.orders[i];
    if is_afn(o) {
        return invalid(
            "The order is fulfilled by Amazon; only seller-fulfilled orders can be confirmed.",
        );
    }
    match o.order.info.order_status.as_str() {
        "Canceled" => return invalid("The order has been canceled and cannot be confirmed."),
        "Pending" => return invalid("The order is pending and cannot be confirmed yet."),
        "Shipped" => return invalid("PackageToUpdateNotFound: the order is already fulfilled."),
        _ => {}
    }
    let d = &body.package_detail;
    let pkgs = s.packages.entry(id.to_string()).or_default();
    if pkgs
        .iter()
        .any(|p| p.package_reference_id == d.package_reference_id)
    {
        return invalid(&format!(
            "packageReferenceId {} is already used in this order.",
            d.package_reference_id
        ));
    }
    let mut want: Vec<(usize, u32)> = Vec::new();
    for it in &d.order_items {
        let Some(k) = o
            .items
            .iter()
            .position(|x| x.info.order_item_id == it.order_item_id)
        else {
            return invalid(&format!(
                "OrderItemId {} is invalid for this order.",
                it.order_item_id
            ));
        };
        match want.iter_mut().find(|(j, _)| *j == k) {
            Some((_, q)) => *q += it.quantity,
            None => want.push((k, it.quantity)),
        }
    }
    for (k, q) in &want {
        let x = &o.items[*k].info;
        let left = x.quantity_ordered - x.quantity_shipped.unwrap_or(0).min(x.quantity_ordered);
        if *q > left {
            return invalid(&format!(
                "The quantity for OrderItemId {} exceeds its unshipped quantity ({left}).",
                x.order_item_id
            ));
        }
    }
    for (k, q) in &want {
        let x = &mut o.items[*k].info;
        x.quantity_shipped = Some(x.quantity_shipped.unwrap_or(0) + q);
    }
    let all = o
        .items
        .iter()
        .all(|x| x.info.quantity_shipped.unwrap_or(0) >= x.info.quantity_ordered);
    o.cancel_at = None;
    o.set_status(if all { "Shipped" } else { "PartiallyShipped" }, now);
    let p = SimPackage {
        order_id: id.to_string(),
        package_reference_id: d.package_reference_id.clone(),
        carrier_code: d.carrier_code.clone(),
        carrier_name: d.carrier_name.clone(),
        shipping_method: d.shipping_method.clone(),
        tracking_number: d.tracking_number.clone(),
        ship_date: d.ship_date.clone(),
        items: d
            .order_items
            .iter()
            .map(|i| (i.order_item_id.clone(), i.quantity))
            .collect(),
        confirmed_at: now,
        delivered_at: now + delay,
    };
    pkgs.push(p.clone());
    s.confirmations.push(p);
    Reply {
        status: 204,
        body: Vec::new(),
        code: None,
    }
}

// ---- rendering (the shapes of `orders_2026-01-01.*.json`) ----

fn cents(amount: &str) -> Option<u64> {
    let (a, b) = amount.split_once('.').unwrap_or((amount, "0"));
    Some(a.parse::<u64>().ok()? * 100 + format!("{b:0<2}")[..2].parse::<u64>().ok()?)
}

fn money(amount: &str, currency: &str) -> Value {
    json!({"amount": amount, "currencyCode": currency})
}

fn render(
    o: &SimOrder,
    pk: Option<&Vec<SimPackage>>,
    inc: &BTreeSet<String>,
    now: DateTime<Utc>,
) -> Value {
    let i = &o.order.info;
    let p = &o.order.pii;
    let has = |k: &str| inc.contains(k);
    let status = status_of(o);
    let show_pii = matches!(status, "UNSHIPPED" | "PARTIALLY_SHIPPED" | "SHIPPED");
    let mut m = Map::new();
    m.insert("orderId".into(), json!(i.amazon_order_id));
    let aliases: Vec<Value> = i
        .seller_order_id
        .iter()
        .map(|s| json!({"aliasId": s, "aliasType": "SELLER_ORDER_ID"}))
        .collect();
    m.insert("orderAliases".into(), Value::Array(aliases));
    m.insert("createdTime".into(), json!(fmt_time(o.purchase)));
    m.insert(
        "lastUpdatedTime".into(),
        json!(fmt_time(last_updated(o, pk, now))),
    );
    let mut programs = Vec::new();
    if i.is_prime == Some(true) {
        programs.push("PRIME");
    }
    if i.is_business_order == Some(true) {
        programs.push("AMAZON_BUSINESS");
    }
    m.insert("programs".into(), json!(programs));
    m.insert("associatedOrders".into(), json!([]));
    m.insert(
        "salesChannel".into(),
        json!({"channelName": "AMAZON", "marketplaceId": i.marketplace_id, "marketplaceName": i
        .marketplace_id
        .as_deref()
        .and_then(crate::model::marketplace::Marketplace::by_id)
        .map_or("Amazon.com".to_string(), |m| {
            let mut d = m.domain.to_string();
            d[..1].make_ascii_uppercase();
            d
        })}),
    );
    let text = |f: &Option<crate::pii::Pii>| {
        f.as_ref()
            .map(|v| v.expose_pii())
            .filter(|v| !v.is_empty())
            .map(|v| json!(v))
    };
    let put = |obj: &mut Map<String, Value>, k: &str, v: Option<Value>| {
        if let Some(v) = v {
            obj.insert(k.into(), v);
        }
    };
    if has("BUYER") && show_pii {
        let mut b = Map::new();
        put(&mut b, "buyerName", text(&p.buyer_name));
        put(&mut b, "buyerEmail", text(&p.buyer_email));
        put(
            &mut b,
            "buyerPurchaseOrderNumber",
            i.purchase_order_number.as_ref().map(|v| json!(v)),
        );
        m.insert("buyer".into(), Value::Object(b));
    }
    if has("RECIPIENT") && show_pii {
        let mut a = Map::new();
        put(&mut a, "name", text(&p.recipient_name));
        put(&mut a, "addressLine1", text(&p.address_line1));
        put(&mut a, "addressLine2", text(&p.address_line2));
        put(&mut a, "addressLine3", text(&p.address_line3));
        put(&mut a, "city", text(&p.city));
        put(&mut a, "districtOrCounty", text(&p.county));
        put(&mut a, "stateOrRegion", text(&p.state_or_region));
        put(&mut a, "postalCode", text(&p.postal_code));
        put(
            &mut a,
            "countryCode",
            i.ship_country_code.as_ref().map(|v| json!(v)),
        );
        put(&mut a, "phone", text(&p.phone));
        put(
            &mut a,
            "addressType",
            i.address_type
                .as_ref()
                .map(|v| json!(v.to_ascii_uppercase())),
        );
        m.insert("recipient".into(), json!({ "deliveryAddress": a }));
    }
    if has("PROCEEDS")
        && let Some(t) = &i.order_total
    {
        m.insert(
            "proceeds".into(),
            json!({"grandTotal": money(&t.amount, &t.currency_code)}),
        );
    }
    let afn = is_afn(o);
    if has("FULFILLMENT") {
        let prime = i.is_prime == Some(true);
        let (d0, d1) = if prime { (1, 2) } else { (3, 7) };
        let mut f = Map::new();
        f.insert("fulfillmentStatus".into(), json!(status));
        f.insert(
            "fulfilledBy".into(),
            json!(if afn { "AMAZON" } else { "MERCHANT" }),
        );
        f.insert(
            "fulfillmentServiceLevel".into(),
            json!(if prime { "EXPEDITED" } else { "STANDARD" }),
        );
        let mut ship = Map::new();
        put(
            &mut ship,
            "earliestDateTime",
            i.earliest_ship_date.as_ref().map(|v| json!(v)),
        );
        put(
            &mut ship,
            "latestDateTime",
            i.latest_ship_date.as_ref().map(|v| json!(v)),
        );
        f.insert("shipByWindow".into(), Value::Object(ship));
        f.insert(
            "deliverByWindow".into(),
            json!({
                "earliestDateTime": fmt_time(o.purchase + Duration::days(d0)),
                "latestDateTime": fmt_time(o.purchase + Duration::days(d1)),
            }),
        );
        m.insert("fulfillment".into(), Value::Object(f));
    }
    let items: Vec<Value> = o
        .items
        .iter()
        .map(|it| {
            let x = &it.info;
            let shipped = x.quantity_shipped.unwrap_or(0).min(x.quantity_ordered);
            let mut product = Map::new();
            product.insert("asin".into(), json!(x.asin));
            put(&mut product, "title", x.title.as_ref().map(|v| json!(v)));
            put(
                &mut product,
                "sellerSku",
                x.seller_sku.as_ref().map(|v| json!(v)),
            );
            product.insert(
                "condition".into(),
                json!({"conditionType": "NEW", "conditionSubtype": "NEW"}),
            );
            if let Some(pr) = &x.item_price
                && let Some(c) = cents(&pr.amount)
            {
                let unit = c / u64::from(x.quantity_ordered.max(1));
                let amount = format!("{}.{:02}", unit / 100, unit % 100);
                product.insert(
                    "price".into(),
                    json!({"unitPrice": money(&amount, &pr.currency_code)}),
                );
            }
            let mut f = Map::new();
            f.insert("quantityFulfilled".into(), json!(shipped));
            f.insert(
                "quantityUnfulfilled".into(),
                json!(x.quantity_ordered - shipped),
            );
            if show_pii && let Some(g) = text(&it.gift_message_text) {
                f.insert("packing".into(), json!({"giftOption": {"giftMessage": g}}));
            }
            json!({
                "orderItemId": x.order_item_id,
                "quantityOrdered": x.quantity_ordered,
                "product": product,
                "fulfillment": f,
            })
        })
        .collect();
    m.insert("orderItems".into(), Value::Array(items));
    if has("PACKAGES") && !afn {
        let pkgs: Vec<Value> = pk
            .into_iter()
            .flatten()
            .map(|k| {
                let delivered = k.delivered_at <= now;
                let mut v = json!({
                    "packageReferenceId": k.package_reference_id,
                    "createdTime": fmt_time(k.confirmed_at),
                    "packageStatus": {
                        "status": if delivered { "DELIVERED" } else { "IN_TRANSIT" },
                        "detailedStatus": if delivered { "DELIVERED" } else { "IN_TRANSIT" },
                    },
                    "carrier": k.carrier_name.as_deref().unwrap_or(&k.carrier_code),
                    "shipTime": k.ship_date,
                    "trackingNumber": k.tracking_number,
                    "packageItems": k.items.iter().map(|(id, q)| json!({"orderItemId": id, "quantity": q})).collect::<Vec<_>>(),
                });
                if let Some(sm) = &k.shipping_method {
                    v["shippingService"] = json!(sm);
                }
                v
            })
            .collect();
        m.insert("packages".into(), Value::Array(pkgs));
    }
    Value::Object(m)
}
