//! The MWS transport: signing, the quota model, retries, and one audit record per call.
//!
//! - **Throttle-exact.** Before every request the client asks its [`Throttle`] model when the
//!   action's bucket allows one, and waits until then: it never sends a request its model says
//!   will be throttled. A 503 `RequestThrottled`/`QuotaExceeded` anyway empties the model's
//!   bucket (correcting it) and the request waits for the next slot plus jitter: a short step
//!   (a 100th of the restore interval, at least a second, doubling while the 503s go on, never
//!   beyond the interval) when the request took the model's last token and so was early only
//!   by its transit; a whole restore interval when the model held spare tokens
//!   ([`super::throttle`]).
//! - **Retries.** 500s, connection failures, timeouts, truncated or malformed bodies are
//!   retried up to 4 times with back-off (1 s, 4 s, 10 s, 30 s, as Amazon's guide suggests,
//!   jittered). Other 4xx are not retried. `NextTokenCorrupted` is returned to the caller, which
//!   restarts from its watermark. `RequestExpired` means our clock is off: a message says so.
//! - **Time.** All waiting is on a [`Timebase`]: real time in a real home; in a sandbox home the
//!   sandbox's scaled time, synchronised from a reply's `x-mws-timestamp` when the sandbox
//!   says `RequestExpired`; in tests a manual clock that waiting advances, so nothing sleeps.
//! - **Audit.** Every attempt is reported to the [`Observer`] (`mws.call`: action, HTTP status,
//!   latency, request id, throttled, attempt). If it cannot be recorded, the call fails.
//! - **Every wait is bounded** ([`Limits`], shared with the SP-API client): each reply must be
//!   complete [`REPLY_DEADLINE`] after it was sent (a body still trickling in then is cut, like
//!   a timeout, and retried like one); no single wait (a quota slot, a back-off, a throttled
//!   request) is longer than [`MAX_WAIT`]: a longer one is not made and the call stops (exit
//!   4); and a run given a [`RunLimit`] (`fetch`, `confirm`, `buy`) stops at the first wait or
//!   attempt that would take it past its limit.
//!
//! - **Sections.** [`Api::Orders`] and [`Api::Feeds`] share all of the above. A feed upload
//!   ([`Request::upload`]) is not idempotent: a failure that may have reached Amazon (a reset,
//!   a timeout, a 5xx) is not retried but returned, so the caller can check what Amazon holds
//!   before sending again (see [`crate::flow::ship`]). A throttled upload was refused, so it waits
//!   and retries. A reply with a `Content-MD5` header (feed results) is checked against it.
//!
//! - **Hostile replies.** Redirects are never followed (a 3xx would re-send the signed request
//!   elsewhere): a 3xx is a remote error. Every body is read through a cap ([`MAX_BODY`]; error
//!   bodies 1 MiB): a reply over it is a remote error at once, not retried, and nothing from it
//!   reaches the caller. A reply naming an id that is not Amazon's format
//!   ([`super::ids`]) is refused for that request (for a request that may have taken effect,
//!   it is reported as "may have arrived"). Remote text in errors is sanitised and cut short.

use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use rand::RngExt;

use super::credentials::MwsCredentials;
use super::ids;
use super::model::ErrorResponse;
use super::throttle::Throttle;
use super::xml::{XmlError, parse_error_response};
use super::{FEEDS_VERSION, ORDERS_PATH, ORDERS_VERSION, sign};
use crate::clock::{Clock, ManualClock};
use crate::error::{Error, Result};
use crate::term;

/// Largest reply body read (a full `ListOrders` page is about 300 KB; a label reply a few MB).
pub const MAX_BODY: u64 = 16 << 20;
/// Largest error body read.
const MAX_ERROR_BODY: u64 = 1 << 20;

/// Reads at most `cap` bytes of `inner`; past that, fails and remembers it did.
struct Capped<R> {
    inner: R,
    read: u64,
    cap: u64,
    over: bool,
}

impl<R: Read> Capped<R> {
    fn new(inner: R, cap: u64) -> Self {
        Capped {
            inner,
            read: 0,
            cap,
            over: false,
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.read > self.cap {
            self.over = true;
        }
        if self.over {
            return Err(std::io::Error::other("the reply exceeds its size limit"));
        }
        // One byte past the cap tells "exactly the cap" from "more".
        let room = (self.cap + 1 - self.read).min(buf.len() as u64) as usize;
        let n = self.inner.read(&mut buf[..room])?;
        self.read += n as u64;
        if self.read > self.cap {
            self.over = true;
            return Err(std::io::Error::other("the reply exceeds its size limit"));
        }
        Ok(n)
    }
}

/// How long a reply may take, from sending the request to its last byte (real time).
pub const REPLY_DEADLINE: StdDuration = StdDuration::from_secs(120);

/// The longest single wait a client makes (a quota slot, a back-off, a throttled request), in
/// its timebase's time. The longest wait an SP-API plan asks for is below it (`searchOrders`
/// at a tenth of its plan: one request every 30 minutes less 14 seconds); an MWS hourly feed
/// quota used up can ask for more, and the run then stops for the next one to carry on.
pub const MAX_WAIT: Duration = Duration::minutes(30);

/// Time limits of the commands that call Amazon (a [`RunLimit`] each).
pub mod run_limits {
    use chrono::Duration;

    /// `fetch`: a first fetch of 30 days of a busy seller fits (SP-API: about 14,000 orders;
    /// MWS: the listing and about 10,000 orders' items); what is stored stays, and the next
    /// run goes on.
    pub const FETCH: Duration = Duration::hours(6);
    /// `confirm`: 7,200 packages one by one (SP-API), or a few feeds (MWS).
    pub const CONFIRM: Duration = Duration::hours(1);
    /// `buy`: a quote and a purchase, with their retries.
    pub const BUY: Duration = Duration::minutes(15);
}

/// The bounds a client keeps on every remote wait.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// A reply still arriving this long after its request was sent is cut (real time).
    pub reply: StdDuration,
    /// No single wait is longer: the call stops instead (timebase time).
    pub max_wait: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            reply: REPLY_DEADLINE,
            max_wait: MAX_WAIT,
        }
    }
}

/// A run's time limit. The run's clock is real time, except that the time spent waiting
/// counts at the timebase's length: in a real home that is the wall clock; in a sandbox home
/// (scaled time) or a test (a manual clock) a wait counts as long as it would be for real,
/// while work between the waits counts at real speed.
#[derive(Debug, Clone)]
pub struct RunLimit {
    what: &'static str,
    limit: Duration,
    started: Instant,
    /// Timebase time waited.
    waited: Duration,
    /// Real time those waits took.
    waited_real: StdDuration,
}

impl RunLimit {
    /// A limit of `limit` for the command `what`, starting now.
    pub fn new(what: &'static str, limit: Duration) -> Self {
        RunLimit {
            what,
            limit,
            started: Instant::now(),
            waited: Duration::zero(),
            waited_real: StdDuration::ZERO,
        }
    }

    /// The run's time so far.
    pub fn elapsed(&self) -> Duration {
        let busy = self.started.elapsed().saturating_sub(self.waited_real);
        Duration::from_std(busy).unwrap_or(Duration::MAX) + self.waited
    }

    /// An error unless `ahead` more of the run's time stays within the limit.
    fn check(&self, ahead: Duration, action: &str) -> Result<()> {
        let at = self.elapsed() + ahead;
        if at <= self.limit {
            return Ok(());
        }
        Err(Error::Remote(format!(
            "`{}` stops at its time limit of {} (docs/sp-api.md) before its next {action}              request",
            self.what,
            human(self.limit)
        )))
    }

    fn waited(&mut self, timebase: Duration, real: StdDuration) {
        self.waited += timebase;
        self.waited_real += real;
    }
}

/// A duration for people: `6 h`, `15 min`, `90 s`.
pub fn human(d: Duration) -> String {
    let s = d.num_seconds();
    if s >= 3600 && s % 3600 == 0 {
        format!("{} h", s / 3600)
    } else if s >= 60 && s % 60 == 0 {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

/// What a client needs to bound its waits: the limits, the run's limit if any, and where time
/// comes from. Both clients wait through [`Waits::wait`].
#[derive(Debug, Clone)]
pub struct Waits {
    /// The limits.
    pub limits: Limits,
    /// The run's limit, if the caller gave one.
    pub run: Option<RunLimit>,
}

impl Waits {
    /// Bounds for a client: the default limits, no run limit yet.
    pub fn new() -> Self {
        Waits {
            limits: Limits::default(),
            run: None,
        }
    }

    /// Before an attempt at `action`: an error once the run's limit has passed.
    pub fn before_attempt(&self, action: &str) -> Result<()> {
        self.run
            .as_ref()
            .map_or(Ok(()), |r| r.check(Duration::zero(), action))
    }

    /// Waits on `time` until `until` for `action` (telling `obs`), unless the wait is longer
    /// than [`Limits::max_wait`] or would take the run past its limit: then an error (exit 4)
    /// and no wait. `why` says what the wait is for.
    pub fn wait(
        &mut self,
        time: &dyn Timebase,
        action: &str,
        until: DateTime<Utc>,
        why: &str,
        obs: &mut dyn Observer,
    ) -> Result<()> {
        let now = time.now();
        let d = until - now;
        if d <= Duration::zero() {
            return Ok(());
        }
        if d > self.limits.max_wait {
            return Err(Error::Remote(format!(
                "{why} for {action} would take {} (until {}), longer than the {} fulfill waits                  at most; nothing more was sent: run it again later",
                human(Duration::seconds(d.num_seconds())),
                until.format("%Y-%m-%dT%H:%M:%SZ"),
                human(self.limits.max_wait)
            )));
        }
        if let Some(r) = &self.run {
            r.check(d, action)?;
        }
        obs.waiting(action, until, now);
        let started = Instant::now();
        time.wait_until(until);
        if let Some(r) = &mut self.run {
            r.waited(d, started.elapsed());
        }
        Ok(())
    }

    /// "the reply took longer than 120 s": why a reply was cut at its deadline.
    pub fn cut_reason(&self) -> String {
        let secs = self.limits.reply.as_secs_f64();
        if secs.fract() == 0.0 {
            format!("the reply took longer than {secs:.0} s")
        } else {
            format!("the reply took longer than {secs:.1} s")
        }
    }

    /// The transport kind of a failed read of a reply sent at `sent`: cut at the reply
    /// deadline, or otherwise cut off.
    pub fn cut_kind(&self, sent: Instant) -> &'static str {
        if sent.elapsed() >= self.limits.reply {
            "reply_deadline"
        } else {
            "truncated_response"
        }
    }
}

impl Default for Waits {
    fn default() -> Self {
        Self::new()
    }
}

/// Where the client's time comes from and how it waits.
pub trait Timebase: Send + Sync {
    /// The time requests are signed with and the quota model runs on.
    fn now(&self) -> DateTime<Utc>;
    /// Blocks until `t` (in this timebase).
    fn wait_until(&self, t: DateTime<Utc>);
    /// A reply's `x-mws-timestamp`: a sandbox timebase follows it; real time ignores it.
    fn observe_server_time(&self, _server_now: DateTime<Utc>) {}
    /// Whether `RequestExpired` can be fixed by following the server's clock (sandbox only).
    fn follows_server(&self) -> bool {
        false
    }
    /// The longest a request takes to reach Amazon, in this timebase. Amazon's bucket starts
    /// its refill clock when a request *arrives*; the quota model anchors there too
    /// ([`Throttle::try_acquire_sent`]), so a request timed to a slot is never early. It shifts
    /// the schedule once; it does not slow the rate.
    fn margin(&self) -> Duration {
        Duration::zero()
    }
}

/// Real time: a real home.
#[derive(Debug, Default)]
pub struct RealTime;

impl Timebase for RealTime {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn margin(&self) -> Duration {
        Duration::milliseconds(300)
    }
    fn wait_until(&self, t: DateTime<Utc>) {
        if let Ok(d) = (t - Utc::now()).to_std() {
            std::thread::sleep(d);
        }
    }
}

/// A sandbox's time: runs `scale` times faster than real time from an anchor that each reply's
/// `x-mws-timestamp` moves, so signing and the quota model agree with the sandbox.
#[derive(Debug)]
pub struct SandboxTime {
    anchor: Mutex<(DateTime<Utc>, Instant)>,
    scale: f64,
}

impl SandboxTime {
    /// Sandbox time starting at `start`, `scale` times faster than real time.
    pub fn new(start: DateTime<Utc>, scale: f64) -> Self {
        SandboxTime {
            anchor: Mutex::new((start, Instant::now())),
            scale: scale.max(1.0),
        }
    }
}

impl Timebase for SandboxTime {
    fn now(&self) -> DateTime<Utc> {
        let (t, at) = *self.anchor.lock().unwrap_or_else(|e| e.into_inner());
        t + Duration::microseconds((at.elapsed().as_secs_f64() * self.scale * 1e6) as i64)
    }
    fn wait_until(&self, t: DateTime<Utc>) {
        let ahead = (t - self.now()).num_microseconds().unwrap_or(i64::MAX);
        if ahead > 0 {
            std::thread::sleep(StdDuration::from_secs_f64(ahead as f64 / 1e6 / self.scale));
        }
    }
    fn observe_server_time(&self, server_now: DateTime<Utc>) {
        *self.anchor.lock().unwrap_or_else(|e| e.into_inner()) = (server_now, Instant::now());
    }
    fn follows_server(&self) -> bool {
        true
    }
    fn margin(&self) -> Duration {
        // Loopback transit on a loaded machine (measured: 3 ms was too little at load 3 to 4
        // on two cores, and one request in 41 met a 429 at the end of a burst), in sandbox
        // time. It shifts the schedule once; it does not slow the rate.
        Duration::microseconds((25_000.0 * self.scale) as i64)
    }
}

/// Tests: a manual clock shared with an in-process sandbox; waiting advances it.
#[derive(Debug)]
pub struct ManualTime(pub Arc<ManualClock>);

impl Timebase for ManualTime {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
    fn wait_until(&self, t: DateTime<Utc>) {
        if t > self.0.now() {
            self.0.set(t);
        }
    }
}

/// One attempt, as recorded in the audit log (no PII: no parameters, no bodies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// The MWS action.
    pub action: String,
    /// HTTP status (`None`: no response, e.g. connection reset).
    pub status: Option<u16>,
    /// Time to the response, in milliseconds of real time.
    pub latency_ms: u64,
    /// Amazon's request id.
    pub request_id: Option<String>,
    /// Amazon answered `RequestThrottled` or `QuotaExceeded`.
    pub throttled: bool,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Amazon's error code or our failure kind, when the attempt failed.
    pub error: Option<String>,
}

impl CallRecord {
    /// The record of attempt `attempt` at `action`, before any answer.
    pub fn new(action: impl Into<String>, attempt: u32) -> Self {
        CallRecord {
            action: action.into(),
            status: None,
            latency_ms: 0,
            request_id: None,
            throttled: false,
            attempt,
            error: None,
        }
    }
}

/// Receives what the client does.
pub trait Observer {
    /// Every attempt. An error aborts the call (the audit log could not record it).
    fn call(&mut self, rec: &CallRecord) -> Result<()>;
    /// The client is waiting for a throttle slot or a back-off until `until` (timebase time).
    fn waiting(&mut self, _action: &str, _until: DateTime<Utc>, _now: DateTime<Utc>) {}
}

/// Why a call failed.
#[derive(Debug)]
pub enum CallError {
    /// Amazon could not decode the NextToken: restart from the watermark.
    NextTokenCorrupted,
    /// Amazon refused this request for what it asked (a 4xx other than the clock or a
    /// token): not retried; the caller decides whether it concerns one order or the run.
    Refused(Error, Option<Box<ErrorResponse>>),
    /// Given up: retries used up, a non-retryable error, or the audit log failed.
    Failed(Error),
}

impl From<CallError> for Error {
    /// For callers with no restart to make: a corrupted `NextToken` is then an Amazon failure.
    fn from(e: CallError) -> Self {
        match e {
            CallError::Refused(e, _) | CallError::Failed(e) => e,
            CallError::NextTokenCorrupted => {
                Error::Remote("Amazon could not read its own NextToken".into())
            }
        }
    }
}

impl From<Error> for CallError {
    fn from(e: Error) -> Self {
        CallError::Failed(e)
    }
}

/// Retry settings.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Back-off before each retry after an error (not counting throttling).
    pub backoff: Vec<Duration>,
    /// Most 503 throttled answers tolerated in one call.
    pub max_throttled: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            backoff: [1, 4, 10, 30].into_iter().map(Duration::seconds).collect(),
            max_throttled: 20,
        }
    }
}

/// The MWS section a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Orders 2013-09-01.
    Orders,
    /// Feeds 2009-01-01 (shipment confirmations).
    Feeds,
    /// Merchant Fulfillment 2015-06-01 (buying labels).
    MerchantFulfillment,
}

impl Api {
    /// The request path. Feeds go to `/`, as Amazon's own client libraries send them.
    fn path(self) -> &'static str {
        match self {
            Api::Orders => ORDERS_PATH,
            Api::Feeds => "/",
            Api::MerchantFulfillment => super::merchant::MF_PATH,
        }
    }

    fn version(self) -> &'static str {
        match self {
            Api::Orders => ORDERS_VERSION,
            Api::Feeds => FEEDS_VERSION,
            Api::MerchantFulfillment => super::merchant::MF_VERSION,
        }
    }

    /// The parameter naming the seller (Feeds still use the older `Merchant`).
    fn seller_param(self) -> &'static str {
        match self {
            Api::Orders | Api::MerchantFulfillment => "SellerId",
            Api::Feeds => "Merchant",
        }
    }
}

/// One request: the section, the action, its parameters and, for an upload, the body.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The section.
    pub api: Api,
    /// The action.
    pub action: &'a str,
    /// Parameters besides the common ones (empty values are left out).
    pub params: Vec<(&'a str, String)>,
    /// A feed upload: the exact body bytes, sent as `text/xml` with the parameters (and a
    /// signed `ContentMD5Value`) in the query string.
    pub upload: Option<&'a [u8]>,
    /// Not idempotent (an upload, a label purchase): after a failure that may have reached
    /// Amazon it is not retried but returned, for the caller to check what Amazon holds.
    pub once: bool,
}

impl<'a> Request<'a> {
    /// A request without a body.
    pub fn new(api: Api, action: &'a str, params: Vec<(&'a str, String)>) -> Self {
        Request {
            api,
            action,
            params,
            upload: None,
            once: false,
        }
    }
}

/// An MWS client for one seller.
pub struct Client {
    http: reqwest::blocking::Client,
    creds: MwsCredentials,
    time: Arc<dyn Timebase>,
    throttle: Throttle,
    policy: RetryPolicy,
    waits: Waits,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.creds.endpoint)
            .finish_non_exhaustive()
    }
}

enum Attempt<T> {
    Done(T),
    Retry { error: String, throttled: bool },
}

impl Client {
    /// A client for `creds` on `time`. HTTPS uses rustls (ring) with TLS 1.2 as the minimum;
    /// plain HTTP is possible only because the credentials' endpoint was validated for it.
    pub fn new(creds: MwsCredentials, time: Arc<dyn Timebase>) -> Result<Client> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let https_only = creds.endpoint.starts_with("https://");
        let http = reqwest::blocking::Client::builder()
            .user_agent(concat!(
                "fulfill/",
                env!("CARGO_PKG_VERSION"),
                " (Language=Rust; Platform=Linux)"
            ))
            .min_tls_version(reqwest::tls::Version::TLS_1_2)
            .https_only(https_only)
            // A redirect would re-send the signed request (and its parameters) elsewhere.
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
            waits: Waits::new(),
        })
    }

    /// Replaces the bounds on its waits ([`Limits`]).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.waits.limits = limits;
        self
    }

    /// Gives the run this client serves a time limit, from now ([`RunLimit`]).
    pub fn limit_run(&mut self, what: &'static str, limit: Duration) {
        self.waits.run = Some(RunLimit::new(what, limit));
    }

    /// The quota model's state, to keep between runs ([`Throttle::export`]).
    pub fn throttle_state(&self) -> String {
        self.throttle.export()
    }

    /// `stored` with this client's state for the quota groups it used
    /// ([`Throttle::merge_into`]).
    pub fn merged_throttle_state(&self, stored: &str) -> String {
        self.throttle.merge_into(stored)
    }

    /// Continues from a quota model saved by an earlier run ([`Throttle::import`]).
    pub fn restore_throttle_state(&mut self, saved: &str) {
        self.throttle = Throttle::import(saved);
    }

    /// Replaces the retry policy.
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The credentials in use.
    pub fn credentials(&self) -> &MwsCredentials {
        &self.creds
    }

    /// The client's current time (sandbox time in a sandbox home).
    pub fn now(&self) -> DateTime<Utc> {
        self.time.now()
    }

    /// When the quota model allows `action` next.
    pub fn next_allowed(&mut self, action: &str) -> DateTime<Utc> {
        let now = self.time.now();
        self.throttle.next_allowed(action, now)
    }

    /// Calls an Orders action with `params` (besides the common ones) and parses a 200 reply
    /// with `parse`, streaming. Retries as the module doc says.
    pub fn call_orders<T>(
        &mut self,
        action: &str,
        params: &[(&str, String)],
        obs: &mut dyn Observer,
        parse: impl FnMut(&mut dyn BufRead) -> std::result::Result<T, XmlError>,
    ) -> std::result::Result<T, CallError> {
        self.call(
            &Request::new(Api::Orders, action, params.to_vec()),
            obs,
            parse,
        )
    }

    /// Sends `req` and parses a 200 reply with `parse`. Retries as the module doc says.
    pub fn call<T>(
        &mut self,
        req: &Request<'_>,
        obs: &mut dyn Observer,
        mut parse: impl FnMut(&mut dyn BufRead) -> std::result::Result<T, XmlError>,
    ) -> std::result::Result<T, CallError> {
        let action = req.action;
        let mut errors = 0usize;
        let mut throttled = 0u32;
        let mut attempt = 0u32;
        let mut resynced = false;
        loop {
            attempt += 1;
            self.wait_for_slot(action, obs)?;
            self.waits.before_attempt(action)?;
            match self.attempt(req, attempt, obs, &mut parse, &mut resynced)? {
                Attempt::Done(t) => {
                    self.throttle.on_answered(action);
                    return Ok(t);
                }
                Attempt::Retry {
                    error,
                    throttled: was_throttled,
                } => {
                    let now = self.time.now();
                    let why = if was_throttled {
                        "Amazon's throttle"
                    } else {
                        "the back-off after a failure"
                    };
                    let wait_until = if was_throttled {
                        throttled += 1;
                        if throttled > self.policy.max_throttled {
                            return Err(CallError::Failed(Error::Remote(format!(
                                "Amazon kept throttling {action} ({throttled} times) although our quota model allowed it"
                            ))));
                        }
                        // The model now says when; add jitter so several clients do not align.
                        self.next_allowed(action) + jitter(Duration::seconds(2))
                    } else if error == "resynced" {
                        now
                    } else if req.once || req.upload.is_some() {
                        // It may have arrived: the caller checks before sending it again.
                        return Err(CallError::Failed(Error::Remote(format!(
                            "Amazon call {action} failed ({error}); it may or may not have arrived"
                        ))));
                    } else {
                        let Some(b) = self.policy.backoff.get(errors).copied() else {
                            return Err(CallError::Failed(Error::Remote(format!(
                                "Amazon call {action} failed after {attempt} attempts (last: {error})"
                            ))));
                        };
                        errors += 1;
                        now + b + jitter(b / 4)
                    };
                    self.waits
                        .wait(self.time.as_ref(), action, wait_until, why, obs)?;
                }
            }
        }
    }

    fn wait_for_slot(&mut self, action: &str, obs: &mut dyn Observer) -> Result<()> {
        loop {
            let now = self.time.now();
            match self
                .throttle
                .try_acquire_sent(action, now, self.time.margin())
            {
                Ok(()) => return Ok(()),
                Err(d) => self.waits.wait(
                    self.time.as_ref(),
                    action,
                    d.retry_at(),
                    "Amazon's quota",
                    obs,
                )?,
            }
        }
    }

    fn attempt<T>(
        &mut self,
        req: &Request<'_>,
        attempt: u32,
        obs: &mut dyn Observer,
        parse: &mut dyn FnMut(&mut dyn BufRead) -> std::result::Result<T, XmlError>,
        resynced: &mut bool,
    ) -> std::result::Result<Attempt<T>, CallError> {
        let action = req.action;
        let path = req.api.path();
        let started = Instant::now();
        let url = format!("{}{}", self.creds.endpoint, path);
        let host = reqwest::Url::parse(&url)
            .ok()
            .and_then(|u| {
                u.host_str().map(|h| match u.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h.to_string(),
                })
            })
            .unwrap_or_default();
        let ts = sign::timestamp(self.time.now());
        let mut all: Vec<(&str, String)> = vec![
            ("AWSAccessKeyId", self.creds.access_key_id.clone()),
            ("Action", action.to_string()),
            (req.api.seller_param(), self.creds.seller_id.clone()),
            ("SignatureMethod", sign::SIGNATURE_METHOD.to_string()),
            ("SignatureVersion", "2".to_string()),
            ("Timestamp", ts),
            ("Version", req.api.version().to_string()),
        ];
        if let Some(t) = self.creds.expose_auth_token() {
            all.push(("MWSAuthToken", t.to_string()));
        }
        if let Some(body) = req.upload {
            all.push(("ContentMD5Value", sign::content_md5(body)));
        }
        all.extend(
            req.params
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (*k, v.clone())),
        );
        let signature = sign::sign(
            self.creds.expose_secret_key(),
            "POST",
            &host,
            path,
            all.iter().map(|(k, v)| (*k, v.as_str())),
        );
        all.push(("Signature", signature));
        let encoded = sign::encode_params(all.iter().map(|(k, v)| (*k, v.as_str())));
        let mut rec = CallRecord::new(action, attempt);
        // The reply deadline covers the whole reply, body included (reqwest's per-request
        // timeout runs until the last byte, not only between two bytes).
        let sent = match req.upload {
            Some(body) => self
                .http
                .post(format!("{url}?{encoded}"))
                .timeout(self.waits.limits.reply)
                .header(reqwest::header::CONTENT_TYPE, "text/xml")
                .body(body.to_vec())
                .send(),
            None => self
                .http
                .post(&url)
                .timeout(self.waits.limits.reply)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded; charset=utf-8",
                )
                .body(encoded)
                .send(),
        };
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                rec.latency_ms = started.elapsed().as_millis() as u64;
                rec.error = Some(transport_kind(&e).to_string());
                obs.call(&rec)?;
                return Ok(Attempt::Retry {
                    error: transport_kind(&e).to_string(),
                    throttled: false,
                });
            }
        };
        rec.status = Some(resp.status().as_u16());
        rec.request_id = ids::request_id(
            resp.headers()
                .get("x-mws-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        );
        // Kept for a RequestExpired in a sandbox home. The clock is not re-anchored on every
        // reply: the varying transit time would jitter it, and the quota model needs a steady
        // clock (a constant offset from the server's does no harm).
        let server_now = resp
            .headers()
            .get("x-mws-timestamp")
            .and_then(|v| v.to_str().ok())
            .and_then(super::model::parse_mws_time);
        let status = resp.status().as_u16();
        if (300..400).contains(&status) {
            rec.latency_ms = started.elapsed().as_millis() as u64;
            rec.error = Some(format!("http_{status}"));
            obs.call(&rec)?;
            return Err(CallError::Failed(Error::Remote(format!(
                "the endpoint answered {action} with a redirect (HTTP {status}); redirects are \
                 never followed, so nothing was sent on and nothing stored: check the \
                 credentials' endpoint"
            ))));
        }
        if status == 200 {
            let md5 = resp
                .headers()
                .get("content-md5")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let mut body = BufReader::new(Capped::new(resp, MAX_BODY));
            let parsed = match md5 {
                // A feed result: check the exact bytes before reading them.
                Some(md5) if req.api == Api::Feeds => {
                    let mut raw = Vec::new();
                    match body.read_to_end(&mut raw) {
                        Ok(_) if sign::content_md5(&raw) == md5 => parse(&mut raw.as_slice()),
                        Ok(_) => Err(XmlError::Malformed(
                            "the reply does not match its Content-MD5".into(),
                        )),
                        Err(e) => Err(XmlError::Malformed(format!("reading the reply: {e}"))),
                    }
                }
                _ => parse(&mut body),
            };
            rec.latency_ms = started.elapsed().as_millis() as u64;
            if body.get_ref().over {
                // Whatever was parsed is dropped here: the caller stores nothing of it.
                drop(parsed);
                rec.error = Some("reply_too_large".into());
                obs.call(&rec)?;
                return Err(CallError::Failed(Error::Remote(format!(
                    "the reply to {action} is larger than {} MiB; it was not read further and \
                     nothing from it was stored",
                    MAX_BODY >> 20
                ))));
            }
            return match parsed {
                Ok(t) => {
                    obs.call(&rec)?;
                    Ok(Attempt::Done(t))
                }
                Err(XmlError::Mws(e)) => self.mws_error(status, e, rec, obs, resynced, server_now),
                Err(e @ (XmlError::BadId(_) | XmlError::Implausible(_))) => {
                    let bad = e.to_string();
                    rec.error = Some(
                        match e {
                            XmlError::BadId(_) => "bad_identifier",
                            _ => "implausible_value",
                        }
                        .into(),
                    );
                    obs.call(&rec)?;
                    if req.once || req.upload.is_some() {
                        Err(CallError::Failed(Error::Remote(format!(
                            "the reply to {action} was refused: {bad}; the request may or may \
                             not have taken effect"
                        ))))
                    } else {
                        Err(CallError::Refused(
                            Error::Remote(format!("the reply to {action} was refused: {bad}")),
                            None,
                        ))
                    }
                }
                Err(e) if started.elapsed() >= self.waits.limits.reply => {
                    // Cut at the reply deadline: nothing of it is stored; ask again.
                    rec.error = Some("reply_deadline".into());
                    obs.call(&rec)?;
                    Ok(Attempt::Retry {
                        error: format!(
                            "{}: {}",
                            self.waits.cut_reason(),
                            term::one_line(&e.to_string())
                        ),
                        throttled: false,
                    })
                }
                Err(e) => {
                    // A truncated or malformed body: the page is not stored; ask again.
                    rec.error = Some("malformed_response".into());
                    obs.call(&rec)?;
                    Ok(Attempt::Retry {
                        error: format!("unreadable reply: {}", term::one_line(&e.to_string())),
                        throttled: false,
                    })
                }
            };
        }
        let mut raw = Vec::new();
        let read = resp.take(MAX_ERROR_BODY).read_to_end(&mut raw);
        rec.latency_ms = started.elapsed().as_millis() as u64;
        let parsed = read
            .ok()
            .and_then(|_| parse_error_response(raw.as_slice()).ok());
        match parsed {
            Some(e) => self.mws_error(status, e, rec, obs, resynced, server_now),
            None => {
                rec.error = Some(format!("http_{status}"));
                obs.call(&rec)?;
                if status >= 500 {
                    Ok(Attempt::Retry {
                        error: format!("HTTP {status}"),
                        throttled: false,
                    })
                } else {
                    Err(CallError::Refused(
                        Error::Remote(format!("Amazon refused {action}: HTTP {status}")),
                        None,
                    ))
                }
            }
        }
    }

    fn mws_error<T>(
        &mut self,
        status: u16,
        e: ErrorResponse,
        mut rec: CallRecord,
        obs: &mut dyn Observer,
        resynced: &mut bool,
        server_now: Option<DateTime<Utc>>,
    ) -> std::result::Result<Attempt<T>, CallError> {
        let action = rec.action.clone();
        rec.error = Some(e.code.clone());
        if rec.request_id.is_none() {
            rec.request_id = e.request_id.clone();
        }
        let throttled = matches!(e.code.as_str(), "RequestThrottled" | "QuotaExceeded");
        rec.throttled = throttled;
        obs.call(&rec)?;
        if throttled {
            // Amazon's bucket was empty when our request arrived, up to a transit later.
            let now = self.time.now() + self.time.margin();
            self.throttle.on_throttled(&action, now);
            return Ok(Attempt::Retry {
                error: e.code,
                throttled: true,
            });
        }
        match e.code.as_str() {
            "NextTokenCorrupted" => Err(CallError::NextTokenCorrupted),
            "RequestExpired"
                if self.time.follows_server() && !*resynced && server_now.is_some() =>
            {
                *resynced = true;
                if let Some(t) = server_now {
                    self.time.observe_server_time(t);
                }
                Ok(Attempt::Retry {
                    error: "resynced".into(),
                    throttled: false,
                })
            }
            "RequestExpired" => Err(CallError::Failed(Error::Remote(format!(
                "Amazon refused {action}: our clock differs from Amazon's by more than 15 minutes \
                 (this machine says {}); fix the system clock (enable NTP) and run again",
                Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
            )))),
            "InternalError" | "ServiceUnavailable" => Ok(Attempt::Retry {
                error: e.code,
                throttled: false,
            }),
            _ if status >= 500 => Ok(Attempt::Retry {
                error: e.code,
                throttled: false,
            }),
            code => Err(CallError::Refused(
                Error::Remote(format!(
                    "Amazon refused {action}: {code}: {}",
                    one_line(&e.message)
                )),
                Some(Box::new(e.clone())),
            )),
        }
    }
}

fn one_line(s: &str) -> String {
    term::one_line(s)
}

fn transport_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect_failed"
    } else {
        "connection_error"
    }
}

fn jitter(max: Duration) -> Duration {
    let ms = max.num_milliseconds().max(1);
    Duration::milliseconds(rand::rng().random_range(0..ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Quiet;
    impl Observer for Quiet {
        fn call(&mut self, _: &CallRecord) -> Result<()> {
            Ok(())
        }
    }

    #[test]
    fn no_wait_passes_the_cap_or_the_runs_limit() {
        let t0 = crate::clock::parse_time("2026-03-01T00:00:00Z").unwrap();
        let clock = Arc::new(ManualClock::new(t0));
        let time = ManualTime(clock.clone());
        let mut w = Waits::new();
        // Positive control: a wait within the cap is made (the manual clock moves).
        w.wait(
            &time,
            "ListOrders",
            t0 + Duration::minutes(29),
            "quota",
            &mut Quiet,
        )
        .unwrap();
        assert_eq!(clock.now(), t0 + Duration::minutes(29));
        // One past the cap is not made: exit 4, the clock where it was.
        let now = clock.now();
        let e = w
            .wait(
                &time,
                "ListOrders",
                now + Duration::minutes(31),
                "quota",
                &mut Quiet,
            )
            .unwrap_err();
        assert_eq!(e.exit(), crate::Exit::Remote);
        assert!(e.to_string().contains("30 min"), "{e}");
        assert_eq!(clock.now(), now);
        // A run's limit counts the waits at the timebase's length.
        w.run = Some(RunLimit::new("fetch", Duration::hours(1)));
        let mut wait = |m: i64| {
            let until = clock.now() + Duration::minutes(m);
            w.wait(&time, "ListOrders", until, "quota", &mut Quiet)
        };
        wait(20).unwrap();
        wait(20).unwrap();
        let before = clock.now();
        let e = wait(25).unwrap_err();
        assert!(e.to_string().contains("time limit of 1 h"), "{e}");
        assert_eq!(clock.now(), before);
        wait(19).unwrap();
        assert!(w.before_attempt("ListOrders").is_ok());
        assert!(w.run.as_ref().unwrap().elapsed() >= Duration::minutes(59));
        let until = clock.now() + Duration::minutes(2);
        assert!(
            w.wait(&time, "ListOrders", until, "quota", &mut Quiet)
                .is_err()
        );
        assert_eq!(human(Duration::minutes(15)), "15 min");
        assert_eq!(human(Duration::seconds(90)), "90 s");
    }

    #[test]
    fn the_cap_lets_exactly_the_cap_through_and_stops_one_byte_later() {
        let mut exact = Capped::new(&[7u8; 100][..], 100);
        let mut out = Vec::new();
        assert_eq!(exact.read_to_end(&mut out).unwrap(), 100);
        assert!(!exact.over);
        let mut over = Capped::new(std::io::repeat(b'A'), 100);
        let mut out = Vec::new();
        assert!(over.read_to_end(&mut out).is_err());
        assert!(over.over && out.len() <= 101, "{}", out.len());
        assert!(over.read(&mut [0; 8]).is_err(), "stays refused");
    }
}
