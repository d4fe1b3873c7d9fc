//! The built-in fake MWS: a faithful local Orders 2013-09-01 and Feeds 2009-01-01 service.
//!
//! Tests, the demo and the benchmarks start it in-process with [`Sandbox::start`];
//! `fulfill sandbox` runs it as a command. It listens on loopback only, checks every request as
//! Amazon did (Signature V2 over the method, host and path used; ±15 min `Timestamp`; access
//! key; parameter rules; Content-MD5), enforces Amazon's quotas ([`crate::mws::throttle`]),
//! generates deterministic orders that arrive and change as sandbox time passes
//! ([`data`]), processes fulfillment feeds ([`feeds`]), injects faults on demand ([`faults`])
//! and keeps ground truth for tests ([`SandboxHandle::orders`], [`SandboxHandle::requests`],
//! [`SandboxHandle::feeds`]).
//!
//! All sandbox time (order arrival and status changes, quota restore, feed processing) is read
//! from the injected [`Clock`]: a `ManualClock` in tests (advance it instead of sleeping), a
//! `ScaledClock` for the command, which is how `--time-scale` divides every interval.

pub mod api;
pub mod collector;
pub mod data;
pub mod faults;
pub mod feeds;
pub mod http;
pub mod respond;
pub mod shipping;
pub mod spapi;
pub mod spapi_shipping;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::clock::Clock;
use crate::mws::model::{Order, OrderItem, copy_pii};
use crate::{Error, Result};

pub use faults::{FaultKind, FaultSpec};
pub use feeds::FeedRecord;
pub use http::{HttpRequest, HttpResponse};

/// How to start a sandbox.
pub struct SandboxConfig {
    /// Listen address; must be a loopback address (`127.0.0.1:0` picks a free port).
    pub addr: String,
    /// Orders that exist at start, placed over the past three days.
    pub orders: usize,
    /// Seed for data, credentials and faults.
    pub seed: u64,
    /// How much faster than real time the clock runs (reported only; the clock does it).
    pub time_scale: f64,
    /// Faults to inject.
    pub faults: FaultSpec,
    /// Sandbox time.
    pub clock: Arc<dyn Clock>,
}

impl SandboxConfig {
    /// Defaults: `127.0.0.1:0`, 50 orders, seed 1, scale 1, no faults.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        SandboxConfig {
            addr: "127.0.0.1:0".into(),
            orders: 50,
            seed: 1,
            time_scale: 1.0,
            faults: FaultSpec::none(),
            clock,
        }
    }
}

/// The fake credentials the sandbox accepts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Credentials {
    /// `SellerId` / `Merchant`.
    pub seller_id: String,
    /// `AWSAccessKeyId`.
    pub access_key_id: String,
    /// The secret key to sign with.
    pub secret_key: String,
    /// The one marketplace.
    pub marketplace_id: String,
}

/// An order with its items, as ground truth.
#[derive(Debug)]
pub struct SandboxOrder {
    /// The order, PII complete.
    pub order: Order,
    /// Its items.
    pub items: Vec<OrderItem>,
}

/// One request the sandbox received, with its outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RequestRecord {
    /// 1-based sequence number (the `N` of `KIND@N` faults).
    pub seq: u64,
    /// Sandbox time it arrived.
    pub at: DateTime<Utc>,
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// `Action`, if any.
    pub action: Option<String>,
    /// Parameters without `Signature`.
    pub params: Vec<(String, String)>,
    /// HTTP status replied.
    pub status: u16,
    /// MWS error code, if an error was replied.
    pub error_code: Option<String>,
    /// The injected fault, if any.
    pub fault: Option<FaultKind>,
}

/// Mutable sandbox state behind one lock.
pub(crate) struct State {
    pub(crate) orders: Vec<data::SimOrder>,
    pub(crate) index: std::collections::HashMap<String, usize>,
    /// Scheduled status changes, soonest first: (time, order index). Keeps `refresh` from
    /// touching every order on every request.
    pub(crate) events: BinaryHeap<Reverse<(DateTime<Utc>, usize)>>,
    pub(crate) generator: data::Generator,
    pub(crate) throttle: crate::mws::throttle::Throttle,
    pub(crate) tokens: std::collections::HashMap<String, api::Token>,
    pub(crate) rng: StdRng,
    pub(crate) feeds: Vec<FeedRecord>,
    pub(crate) requests: Vec<RequestRecord>,
    pub(crate) faults: faults::FaultPlan,
    pub(crate) seq: u64,
    pub(crate) shipping: shipping::Shipping,
}

impl State {
    /// Brings orders and feeds up to `now`.
    pub(crate) fn refresh(&mut self, now: DateTime<Utc>, seller_id: &str) {
        for o in self.generator.arrivals(now) {
            let i = self.orders.len();
            self.index.insert(o.order.info.amazon_order_id.clone(), i);
            if let Some(t) = o.next_event() {
                self.events.push(Reverse((t, i)));
            }
            self.orders.push(o);
        }
        while let Some(Reverse((t, i))) = self.events.peek().copied() {
            if t > now {
                break;
            }
            self.events.pop();
            let o = &mut self.orders[i];
            o.advance(now);
            if let Some(next) = o.next_event() {
                self.events.push(Reverse((next, i)));
            }
        }
        let index = &self.index;
        let find = |id: &str| index.get(id).copied();
        for f in &mut self.feeds {
            if f.report.is_none() && f.done <= now {
                let report = feeds::process(f, seller_id, &mut self.orders, &find);
                f.report_bytes = Some(respond::processing_report(seller_id, &report));
                f.report = Some(report);
            }
        }
    }
}

pub(crate) struct Shared {
    pub(crate) creds: Credentials,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) state: Mutex<State>,
    /// Notified after each request is logged ([`SandboxHandle::wait_for_requests`]).
    pub(crate) served: Condvar,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Starts sandboxes.
pub struct Sandbox;

impl Sandbox {
    /// Binds the loopback address, generates the orders and serves on a background thread.
    pub fn start(cfg: SandboxConfig) -> Result<SandboxHandle> {
        let addr = loopback_addr(&cfg.addr)?;
        let listener = TcpListener::bind(addr)
            .map_err(|e| Error::Failed(format!("sandbox: cannot listen on {addr}: {e}")))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Self::shared(&cfg));
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&shared);
        let thread = http::serve(listener, Arc::clone(&stop), move |req| {
            api::handle(&s, &req)
        });
        Ok(SandboxHandle {
            shared,
            addr,
            stop,
            thread: Some(thread),
            time_scale: cfg.time_scale,
        })
    }

    pub(crate) fn shared(cfg: &SandboxConfig) -> Shared {
        let now = cfg.clock.now();
        let mut rng = StdRng::seed_from_u64(cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5A17);
        let mut alnum = |n: usize| -> String {
            const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
            (0..n)
                .map(|_| char::from(A[rng.random_range(0..A.len())]))
                .collect()
        };
        let creds = Credentials {
            seller_id: format!("A{}", alnum(13)),
            access_key_id: format!("AKIASANDBOX{}", alnum(9)),
            secret_key: format!("sandbox/{}+{}", alnum(20), alnum(11)),
            marketplace_id: data::MARKETPLACE_ID.to_owned(),
        };
        let mut generator = data::Generator::new(cfg.seed, now);
        let orders = generator.initial(cfg.orders, now);
        let index = orders
            .iter()
            .enumerate()
            .map(|(i, o)| (o.order.info.amazon_order_id.clone(), i))
            .collect();
        let events = orders
            .iter()
            .enumerate()
            .filter_map(|(i, o)| o.next_event().map(|t| Reverse((t, i))))
            .collect();
        Shared {
            creds,
            clock: Arc::clone(&cfg.clock),
            state: Mutex::new(State {
                orders,
                index,
                events,
                generator,
                throttle: crate::mws::throttle::Throttle::new(),
                tokens: Default::default(),
                rng,
                feeds: Vec::new(),
                requests: Vec::new(),
                faults: faults::FaultPlan::new(cfg.faults.clone(), cfg.seed),
                seq: 0,
                shipping: shipping::Shipping::default(),
            }),
            served: Condvar::new(),
        }
    }
}

/// Resolves `addr` and refuses anything that is not loopback.
pub fn loopback_addr(addr: &str) -> Result<SocketAddr> {
    let resolved: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| Error::usage(format!("sandbox: bad --addr {addr:?}: {e}")))?
        .collect();
    match resolved.first() {
        Some(a) if resolved.iter().all(|a| a.ip().is_loopback()) => Ok(*a),
        _ => Err(Error::usage(format!(
            "sandbox: --addr {addr:?} is not a loopback address; the sandbox listens on loopback only (e.g. 127.0.0.1:0)"
        ))),
    }
}

/// A running sandbox; stops its server thread when dropped.
pub struct SandboxHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    time_scale: f64,
}

impl SandboxHandle {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The credentials it accepts.
    pub fn credentials(&self) -> Credentials {
        self.shared.creds.clone()
    }

    /// The sandbox's credentials as `credentials set` stores them in a sandbox home.
    pub fn mws_credentials(
        &self,
        time_scale: f64,
    ) -> Result<crate::mws::credentials::MwsCredentials> {
        let c = self.credentials();
        crate::mws::credentials::MwsCredentials::new(
            crate::mws::credentials::CredentialsInput {
                seller_id: c.seller_id,
                access_key_id: c.access_key_id,
                secret_key: zeroize::Zeroizing::new(c.secret_key),
                auth_token: None,
                marketplaces: vec![c.marketplace_id],
                endpoint: self.base_url(),
                time_scale,
            },
            true,
        )
    }

    /// The time scale it was started with.
    pub fn time_scale(&self) -> f64 {
        self.time_scale
    }

    /// The substring every generated PII value contains (for leak scans).
    pub fn pii_marker(&self) -> String {
        self.shared.lock().generator.marker().to_owned()
    }

    /// Sandbox time now.
    pub fn now(&self) -> DateTime<Utc> {
        self.shared.clock.now()
    }

    /// Ground truth: every order that exists now, with items and PII.
    pub fn orders(&self) -> Vec<SandboxOrder> {
        let now = self.now();
        let mut st = self.shared.lock();
        st.refresh(now, &self.shared.creds.seller_id);
        st.orders
            .iter()
            .map(|o| SandboxOrder {
                order: Order {
                    info: o.order.info.clone(),
                    pii: copy_pii(&o.order.pii),
                },
                items: o.items.iter().map(OrderItem::duplicate).collect(),
            })
            .collect()
    }

    /// The buyer cancels an order now, as Amazon would (only `Pending` or `Unshipped` orders;
    /// true if it was canceled). For tests and training: a feed confirming it is then refused.
    pub fn cancel_order(&self, order_id: &str) -> bool {
        let now = self.now();
        let mut st = self.shared.lock();
        st.refresh(now, &self.shared.creds.seller_id);
        let Some(o) = st
            .orders
            .iter_mut()
            .find(|o| o.order.info.amazon_order_id == order_id)
        else {
            return false;
        };
        if !matches!(o.order.info.order_status.as_str(), "Pending" | "Unshipped") {
            return false;
        }
        o.cancel_at = None;
        o.set_status("Canceled", now);
        true
    }

    /// Sends an order to the sandbox's place in `country` ([`data::SimOrder::move_to`]: a name
    /// and address in that country's script, and its marketplace), as if the buyer had ordered
    /// so; for tests and training, before the order is fetched. False for an unknown order or
    /// country, or an order without an address.
    pub fn ship_to(&self, order_id: &str, country: &str) -> bool {
        let now = self.now();
        let marker = self.pii_marker();
        let mut st = self.shared.lock();
        st.refresh(now, &self.shared.creds.seller_id);
        st.orders
            .iter_mut()
            .find(|o| o.order.info.amazon_order_id == order_id)
            .is_some_and(|o| o.move_to(country, &marker))
    }

    /// Ground truth: labels bought through Merchant Fulfillment, as (ShipmentId, order id,
    /// tracking, status).
    pub fn labels_bought(&self) -> Vec<(String, String, String, String)> {
        self.shared
            .lock()
            .shipping
            .shipments
            .iter()
            .map(|s| {
                (
                    s.id.clone(),
                    s.order_id.clone(),
                    s.tracking.clone(),
                    s.status.clone(),
                )
            })
            .collect()
    }

    /// Ground truth: the requests received so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.lock().requests.clone()
    }

    /// How many requests the sandbox has logged.
    pub fn request_count(&self) -> usize {
        self.shared.lock().requests.len()
    }

    /// Blocks until at least `n` requests are logged or `timeout` (real time) passes; true if
    /// they were. Lets a test act at an exact point of a client's run without sleeping.
    pub fn wait_for_requests(&self, n: usize, timeout: std::time::Duration) -> bool {
        let st = self.shared.lock();
        let (st, _) = self
            .shared
            .served
            .wait_timeout_while(st, timeout, |st| st.requests.len() < n)
            .unwrap_or_else(|e| e.into_inner());
        st.requests.len() >= n
    }

    /// Ground truth: the feeds submitted so far (processed up to now).
    pub fn feeds(&self) -> Vec<FeedRecord> {
        let now = self.now();
        let mut st = self.shared.lock();
        st.refresh(now, &self.shared.creds.seller_id);
        st.feeds.clone()
    }

    /// Replaces the fault spec (decisions stay reproducible from the seed).
    pub fn set_faults(&self, spec: FaultSpec, seed: u64) {
        self.shared.lock().faults = faults::FaultPlan::new(spec, seed);
    }

    /// Handles one request in-process, without HTTP (same code path as the server).
    pub fn call(&self, req: &HttpRequest) -> HttpResponse {
        api::handle(&self.shared, req)
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        http::wake(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
