//! SP-API usage plans as data: one token bucket per operation (SP-API.md §1.8), `now` injected.
//!
//! A bucket holds up to `burst` requests and refills at `rate` per second, continuously. The
//! sandbox enforces it; the client asks it "when may I send next?" ([`Throttle::next_allowed`]),
//! adopts the rate Amazon reports in `x-amzn-RateLimit-Limit` ([`Throttle::observe_rate`]),
//! held to the plan's order of magnitude (a tenth to ten times the plan's rate, [`RATE_SPAN`]:
//! a server saying 1e-9 must not make a client wait 31 years, nor keep that rate in the vault
//! for later runs), and empties the bucket after a 429 ([`Throttle::on_throttled`]). The state is JSON
//! ([`Throttle::export`], [`Throttle::import`], [`Throttle::merge_into`]) so a caller can keep it
//! between cron runs, as the MWS model is kept.
//!
//! **After a 429** the model backs off as the MWS model does ([`Backoff`]): a 429 on a request
//! that took the bucket's last token (typically the first page past the burst, timed to the
//! first refilled token) means the model was early by the request's transit: Amazon's bucket
//! holds the token a moment later, so the next request comes after a short step
//! ([`throttle_step`]: a 100th of the refill period, at least a second; 1.8 s for
//! `searchOrders`, whose period is 179 s), doubling while the 429s go on, never beyond the
//! refill period. A 429 while the model held spare tokens (another client on the same quota)
//! empties the bucket: the next request waits a whole refill period, as does every one after
//! it while Amazon keeps refusing. A request Amazon answers ends the streak
//! ([`Throttle::on_answered`]).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};

use super::op;
pub use crate::mws::throttle::{Backoff, throttle_step};

/// One operation's usage plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UsagePlan {
    /// The operation.
    pub operation: &'static str,
    /// Requests restored per second.
    pub rate: f64,
    /// Bucket size.
    pub burst: u32,
}

/// The usage plans of the operations fulfill calls (SP-API.md §1.8).
pub const USAGE_PLANS: &[UsagePlan] = &[
    // Sellers API: 0.016 rps, burst 15 (SCRIPTS-AND-MARKETPLACES.md B1, [M-SELLERS]).
    UsagePlan {
        operation: op::GET_MARKETPLACE_PARTICIPATIONS,
        rate: 0.016,
        burst: 15,
    },
    UsagePlan {
        operation: op::SEARCH_ORDERS,
        rate: 0.0056,
        burst: 20,
    },
    UsagePlan {
        operation: op::GET_ORDER,
        rate: 0.5,
        burst: 30,
    },
    UsagePlan {
        operation: op::CONFIRM_SHIPMENT,
        rate: 2.0,
        burst: 10,
    },
    // Shipping API v2: "nearly all operations" 80 rps, burst 100.
    UsagePlan {
        operation: op::GET_RATES,
        rate: 80.0,
        burst: 100,
    },
    UsagePlan {
        operation: op::PURCHASE_SHIPMENT,
        rate: 80.0,
        burst: 100,
    },
    UsagePlan {
        operation: op::GET_SHIPMENT_DOCUMENTS,
        rate: 80.0,
        burst: 100,
    },
    UsagePlan {
        operation: op::CANCEL_SHIPMENT,
        rate: 80.0,
        burst: 100,
    },
];

/// How far a reported rate may be from the plan's: at least the plan's rate divided by this,
/// at most multiplied by it.
pub const RATE_SPAN: f64 = 10.0;

/// `rate` held to a tenth to ten times `plan`'s ([`RATE_SPAN`]); `None` for what is not a
/// positive number.
pub fn clamp_rate(plan: UsagePlan, rate: f64) -> Option<f64> {
    (rate.is_finite() && rate > 0.0)
        .then(|| rate.clamp(plan.rate / RATE_SPAN, plan.rate * RATE_SPAN))
}

/// The plan for `operation`, if it has one.
pub fn plan(operation: &str) -> Option<UsagePlan> {
    USAGE_PLANS
        .iter()
        .find(|p| p.operation == operation)
        .copied()
}

/// One token bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: DateTime<Utc>,
    /// The last request taken was the bucket's last token (it held less than two).
    took_last: bool,
    backoff: Backoff,
}

fn secs(d: Duration) -> f64 {
    d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
}

impl Bucket {
    /// A full bucket for `plan` at `now`.
    pub fn new(plan: UsagePlan, now: DateTime<Utc>) -> Self {
        Bucket {
            rate: plan.rate,
            burst: plan.burst as f64,
            tokens: plan.burst as f64,
            at: now,
            took_last: false,
            backoff: Backoff::default(),
        }
    }

    fn refill(&mut self, now: DateTime<Utc>) {
        if now > self.at {
            self.tokens = (self.tokens + secs(now - self.at) * self.rate).min(self.burst);
            self.at = now;
        }
    }

    /// Requests available at `now` (fractional).
    pub fn available(&mut self, now: DateTime<Utc>) -> f64 {
        self.refill(now);
        self.tokens
    }

    /// The rate in force.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Takes one request, or says when one will be there.
    pub fn try_take(&mut self, now: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.took_last = self.tokens < 2.0;
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(self.next_allowed(now))
        }
    }

    /// The earliest time a request is allowed (`now` if one is).
    pub fn next_allowed(&mut self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.refill(now);
        if self.tokens >= 1.0 {
            return now;
        }
        let wait = (1.0 - self.tokens) / self.rate.max(1e-6);
        // Round up to the microsecond so the bucket really holds one then.
        self.at + Duration::microseconds((wait * 1e6).ceil() as i64 + 1)
    }

    /// The time the bucket takes to restore one request.
    pub fn period(&self) -> Duration {
        Duration::microseconds((1e6 / self.rate.max(1e-6)).ceil() as i64)
    }

    /// Amazon answered 429: its bucket was empty at `now`. The next request comes back after
    /// the [`Backoff`]'s wait, which is returned.
    pub fn on_throttled(&mut self, now: DateTime<Utc>) -> Duration {
        self.refill(now);
        let period = self.period();
        let d = self.backoff.on_throttled(period, self.took_last);
        // One request `d` from now: the bucket holds what it refills in the rest of a period.
        self.tokens = (1.0 - secs(d) * self.rate).clamp(0.0, 1.0);
        self.at = self.at.max(now);
        d
    }

    /// Amazon answered a request of this bucket: a 429 streak is over.
    pub fn on_answered(&mut self) {
        self.backoff.reset();
    }
}

/// Buckets for every planned operation, created full on first use.
#[derive(Debug, Clone, Default)]
pub struct Throttle {
    buckets: HashMap<String, Bucket>,
    touched: HashSet<String>,
}

impl Throttle {
    /// An empty model (every bucket full).
    pub fn new() -> Self {
        Self::default()
    }

    fn bucket(&mut self, operation: &str, now: DateTime<Utc>) -> Option<&mut Bucket> {
        let p = plan(operation)?;
        Some(
            self.buckets
                .entry(operation.to_string())
                .or_insert_with(|| Bucket::new(p, now)),
        )
    }

    /// Takes a request for `operation` at `now`; operations without a plan always pass.
    pub fn try_acquire(
        &mut self,
        operation: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DateTime<Utc>> {
        let Some(b) = self.bucket(operation, now) else {
            return Ok(());
        };
        let r = b.try_take(now);
        if r.is_ok() {
            self.touched.insert(operation.to_string());
        }
        r
    }

    /// When a request for `operation` may be sent next.
    pub fn next_allowed(&mut self, operation: &str, now: DateTime<Utc>) -> DateTime<Utc> {
        self.bucket(operation, now)
            .map_or(now, |b| b.next_allowed(now))
    }

    /// Records a 429 for `operation`; returns the wait before its next request ([`Backoff`];
    /// zero for an operation without a plan).
    pub fn on_throttled(&mut self, operation: &str, now: DateTime<Utc>) -> Duration {
        let Some(b) = self.bucket(operation, now) else {
            return Duration::zero();
        };
        let d = b.on_throttled(now);
        self.touched.insert(operation.to_string());
        d
    }

    /// Records that Amazon answered a request for `operation` (not a 429).
    pub fn on_answered(&mut self, operation: &str) {
        if let Some(b) = self.buckets.get_mut(operation) {
            b.on_answered();
        }
    }

    /// Adopts the rate Amazon reported in `x-amzn-RateLimit-Limit`, held to a tenth to ten
    /// times the plan's ([`clamp_rate`]; ignored unless it is a positive number).
    pub fn observe_rate(&mut self, operation: &str, rate: f64, now: DateTime<Utc>) {
        let Some(rate) = plan(operation).and_then(|p| clamp_rate(p, rate)) else {
            return;
        };
        if let Some(b) = self.bucket(operation, now) {
            b.refill(now);
            b.rate = rate;
            self.touched.insert(operation.to_string());
        }
    }

    /// The rate in force for `operation` (the plan's until Amazon says otherwise).
    pub fn rate(&self, operation: &str) -> Option<f64> {
        self.buckets
            .get(operation)
            .map(|b| b.rate)
            .or_else(|| plan(operation).map(|p| p.rate))
    }

    /// Requests available for `operation` at `now`.
    pub fn available(&mut self, operation: &str, now: DateTime<Utc>) -> Option<f64> {
        self.bucket(operation, now).map(|b| b.available(now))
    }
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SavedBucket {
    operation: String,
    rate: f64,
    tokens: f64,
    at: DateTime<Utc>,
}

impl Throttle {
    /// The model's state as JSON, to store between runs.
    pub fn export(&self) -> String {
        let mut saved: Vec<SavedBucket> = self
            .buckets
            .iter()
            .map(|(op, b)| SavedBucket {
                operation: op.clone(),
                rate: b.rate,
                tokens: b.tokens,
                at: b.at,
            })
            .collect();
        saved.sort_by(|a, b| a.operation.cmp(&b.operation));
        serde_json::to_string(&saved).expect("throttle state serializes")
    }

    /// Reads [`Throttle::export`]'s output; anything unreadable or unknown is dropped (its
    /// bucket starts full, and a 429 corrects it).
    pub fn import(saved: &str) -> Throttle {
        let list: Vec<SavedBucket> = serde_json::from_str(saved).unwrap_or_default();
        let mut t = Throttle::new();
        for s in list {
            let Some(p) = plan(&s.operation) else {
                continue;
            };
            // A rate kept by an earlier version (or edited) is held to the plan's span too.
            let Some(rate) = clamp_rate(p, s.rate).filter(|_| s.tokens.is_finite()) else {
                continue;
            };
            t.buckets.insert(
                s.operation,
                Bucket {
                    rate,
                    burst: p.burst as f64,
                    tokens: s.tokens.clamp(0.0, p.burst as f64),
                    at: s.at,
                    took_last: false,
                    backoff: Backoff::default(),
                },
            );
        }
        t
    }

    /// `stored` with this model's state for the operations it used (so `fetch` and `confirm`
    /// running side by side do not erase each other's use).
    pub fn merge_into(&self, stored: &str) -> String {
        let mut merged = Throttle::import(stored);
        for op in &self.touched {
            if let Some(b) = self.buckets.get(op) {
                merged.buckets.insert(op.clone(), b.clone());
            }
        }
        merged.export()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        crate::clock::parse_time("2026-03-01T00:00:00Z").unwrap()
    }

    #[test]
    fn burst_then_rate() {
        let mut t = Throttle::new();
        let now = t0();
        for _ in 0..10 {
            t.try_acquire(op::CONFIRM_SHIPMENT, now).unwrap();
        }
        let next = t.try_acquire(op::CONFIRM_SHIPMENT, now).unwrap_err();
        assert!((next - now).num_milliseconds() >= 500 && (next - now).num_milliseconds() < 502);
        t.try_acquire(op::CONFIRM_SHIPMENT, next).unwrap();
        assert!(t.try_acquire("lwaToken", now).is_ok());
    }

    #[test]
    fn throttled_header_and_persistence() {
        let mut t = Throttle::new();
        let now = t0();
        t.on_throttled(op::GET_ORDER, now);
        assert_eq!((t.next_allowed(op::GET_ORDER, now) - now).num_seconds(), 2);
        t.observe_rate(op::GET_ORDER, 0.25, now);
        assert_eq!(t.rate(op::GET_ORDER), Some(0.25));
        t.observe_rate(op::GET_ORDER, f64::NAN, now);
        assert_eq!(t.rate(op::GET_ORDER), Some(0.25));
        let saved = t.export();
        let mut back = Throttle::import(&saved);
        assert_eq!(back.rate(op::GET_ORDER), Some(0.25));
        assert!(back.try_acquire(op::GET_ORDER, now).is_err());
        let merged = Throttle::new().merge_into(&saved);
        assert_eq!(Throttle::import(&merged).rate(op::GET_ORDER), Some(0.25));
        assert!(Throttle::import("garbage").export() == "[]");
    }

    #[test]
    fn a_429_on_the_last_token_backs_off_from_a_short_step_to_the_period() {
        let mut t = Throttle::new();
        let start = t0();
        for _ in 0..20 {
            t.try_acquire(op::SEARCH_ORDERS, start).unwrap();
        }
        // The first page past the burst, timed to the first refilled token: a 429 there costs
        // a 100th of the period (1.79 s), then twice that, ..., never more than the period.
        let period = Duration::microseconds(178_571_429);
        let mut now = t.next_allowed(op::SEARCH_ORDERS, start);
        assert_eq!(now - start, period + Duration::microseconds(1));
        let mut want = throttle_step(period);
        assert_eq!(want, Duration::nanoseconds(1_785_714_290));
        for _ in 0..10 {
            t.try_acquire(op::SEARCH_ORDERS, now).unwrap();
            assert_eq!(t.on_throttled(op::SEARCH_ORDERS, now), want);
            let next = t.next_allowed(op::SEARCH_ORDERS, now);
            let early = next - Duration::milliseconds(1);
            assert!(t.try_acquire(op::SEARCH_ORDERS, early).is_err());
            assert!((next - now - want).num_microseconds().unwrap().abs() <= 2);
            now = next;
            want = (want * 2).min(period);
        }
        assert_eq!(want, period);
        // Answered: the streak ends, and the next 429 on a last token is a short step again.
        t.try_acquire(op::SEARCH_ORDERS, now).unwrap();
        t.on_answered(op::SEARCH_ORDERS);
        now = t.next_allowed(op::SEARCH_ORDERS, now);
        t.try_acquire(op::SEARCH_ORDERS, now).unwrap();
        assert_eq!(
            t.on_throttled(op::SEARCH_ORDERS, now),
            throttle_step(period)
        );
        // A 429 while the model held spare tokens: the whole period.
        let mut t = Throttle::new();
        t.try_acquire(op::SEARCH_ORDERS, start).unwrap();
        assert_eq!(t.on_throttled(op::SEARCH_ORDERS, start), period);
        assert_eq!(
            t.next_allowed(op::SEARCH_ORDERS, start) - start,
            period + Duration::microseconds(1)
        );
        // A fast plan: the step is the period (0.5 s for confirmShipment).
        let mut t = Throttle::new();
        for _ in 0..10 {
            t.try_acquire(op::CONFIRM_SHIPMENT, start).unwrap();
        }
        let now = t.next_allowed(op::CONFIRM_SHIPMENT, start);
        t.try_acquire(op::CONFIRM_SHIPMENT, now).unwrap();
        assert_eq!(
            t.on_throttled(op::CONFIRM_SHIPMENT, now),
            Duration::milliseconds(500)
        );
    }

    #[test]
    fn reported_rates_are_held_to_a_tenth_to_ten_times_the_plan() {
        let now = t0();
        let search = plan(op::SEARCH_ORDERS).unwrap().rate;
        let mut t = Throttle::new();
        t.observe_rate(op::SEARCH_ORDERS, 1e-9, now);
        assert_eq!(t.rate(op::SEARCH_ORDERS), Some(search / 10.0));
        t.on_throttled(op::SEARCH_ORDERS, now);
        let wait = t.next_allowed(op::SEARCH_ORDERS, now) - now;
        assert!(wait <= Duration::seconds(1786), "{wait}");
        assert!(wait < crate::mws::client::MAX_WAIT);
        t.observe_rate(op::SEARCH_ORDERS, 1e9, now);
        assert_eq!(t.rate(op::SEARCH_ORDERS), Some(search * 10.0));
        // Positive control: a rate within the span is adopted as reported.
        t.observe_rate(op::SEARCH_ORDERS, 0.002, now);
        assert_eq!(t.rate(op::SEARCH_ORDERS), Some(0.002));
        // A rate kept in the vault by an earlier version is held too.
        let kept = format!(
            r#"[{{"operation":"{}","rate":1e-9,"tokens":0.0,"at":"2026-03-01T00:00:00Z"}}]"#,
            op::GET_ORDER
        );
        assert_eq!(Throttle::import(&kept).rate(op::GET_ORDER), Some(0.05));
        // The longest wait any plan asks for, at a tenth of its rate, is under the cap.
        for p in USAGE_PLANS {
            let mut t = Throttle::new();
            t.observe_rate(p.operation, 1e-12, now);
            t.on_throttled(p.operation, now);
            assert!(t.next_allowed(p.operation, now) - now < crate::mws::client::MAX_WAIT);
        }
    }
}
