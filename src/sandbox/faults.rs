//! Faults on demand, reproducible from the seed.
//!
//! Grammar (the `--faults` flag and [`FaultSpec::parse`]): a comma-separated list of
//!
//! * `KIND=RATE`: the fault hits each request with probability `RATE` (0..1);
//! * `KIND@N`: exactly the Nth request the sandbox receives (counting from 1);
//! * `KIND@N-M`: every request from the Nth to the Mth (a storm);
//! * `skew=SECONDS`: the server clock runs this far ahead (negative: behind), so the ±15 min
//!   `Timestamp` check and the `x-mws-timestamp` header use the skewed time;
//! * `delay=SECONDS`: how long a `slow` reply waits (default 5; fractions allowed);
//! * `drip=SECONDS`: how long a `trickle` reply waits between two bytes of its body (default
//!   2; fractions allowed).
//!
//! `KIND` is one of `throttle` (503 `RequestThrottled` whatever the bucket says), `internal`
//! (500 `InternalError`, the action is not carried out), `slow` (correct reply after `delay`),
//! `reset` (the action is carried out but the connection is closed without a reply),
//! `truncate` (status and headers promise the whole body, half of it is sent, then the
//! connection closes), `malformed` (200 with a body that is not well-formed XML),
//! `corrupt-token` (the `NextToken` in the reply is damaged, so using it gives
//! `NextTokenCorrupted`; on the SP-API sandbox the `nextToken` is damaged and refused) and
//! `expired-token` (SP-API sandbox only: 403, the access token has expired). Three faults make
//! a reply that never ends by itself: `trickle` (the status and headers at once, then the body
//! one byte every `drip`, real time), `endless-token` (an order listing's last page carries a
//! fresh paging token anyway, which serves that page again: a listing without an end) and
//! `repeat-token` (a listing page's paging token is the one the request sent: the listing
//! points back at itself); on MWS both token faults also apply to `ListOrderItems`.
//! `tiny-rate` (SP-API sandbox only) is a 429 `QuotaExceeded` whose `x-amzn-RateLimit-Limit`
//! says 1e-9 requests a second (a wait of 31 years). `refuse` is a 400 that refuses the request
//! for what it asks without carrying it out (MWS `InvalidRequest`, SP-API `InvalidInput`), as
//! Amazon answers a purchase it judges afresh after forgetting its idempotency key.
//! `absurd-numbers` (SP-API sandbox only) is a `searchOrders` page whose first order's first
//! item has `quantityOrdered` 1e20, whose second's 4294967295, and whose third's a `unitPrice`
//! of 1e20 (the rest of the page as it is). At most one
//! fault hits a request: the first rule that fires, in the order written. On the SP-API
//! sandbox `throttle` is a 429 `QuotaExceeded` and `internal` a 500 `InternalFailure`. Every
//! rate rule draws from a seeded RNG on every request, so a run with the same seed and the same
//! requests sees the same faults.
//! Example: `throttle=0.1,internal@3,reset@7-9,skew=1200`.

use std::fmt;
use std::str::FromStr;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// 503 `RequestThrottled`.
    Throttle,
    /// 500 `InternalError`.
    Internal,
    /// A correct reply after a delay.
    Slow,
    /// Connection closed without a reply.
    Reset,
    /// Half the body, then the connection closes.
    Truncate,
    /// A body that is not well-formed XML.
    Malformed,
    /// A damaged `NextToken`.
    CorruptToken,
    /// SP-API: 403, "The access token you provided has expired".
    ExpiredToken,
    /// The body one byte every `drip` (real time).
    Trickle,
    /// A listing's last page carries a fresh paging token that serves that page again.
    EndlessToken,
    /// A listing page's paging token is the one the request sent.
    RepeatToken,
    /// SP-API: 429 with `x-amzn-RateLimit-Limit: 1e-9`.
    TinyRate,
    /// A 400 refusing the request, which is not carried out.
    Refuse,
    /// SP-API: a listing page whose first three orders carry absurd numbers.
    AbsurdNumbers,
}

impl FaultKind {
    /// All kinds, with their names in the grammar.
    pub const ALL: &'static [(&'static str, FaultKind)] = &[
        ("throttle", FaultKind::Throttle),
        ("internal", FaultKind::Internal),
        ("slow", FaultKind::Slow),
        ("reset", FaultKind::Reset),
        ("truncate", FaultKind::Truncate),
        ("malformed", FaultKind::Malformed),
        ("corrupt-token", FaultKind::CorruptToken),
        ("expired-token", FaultKind::ExpiredToken),
        ("trickle", FaultKind::Trickle),
        ("endless-token", FaultKind::EndlessToken),
        ("repeat-token", FaultKind::RepeatToken),
        ("tiny-rate", FaultKind::TinyRate),
        ("refuse", FaultKind::Refuse),
        ("absurd-numbers", FaultKind::AbsurdNumbers),
    ];

    /// The kind's name in the grammar.
    pub fn name(self) -> &'static str {
        FaultKind::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// When a rule fires.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trigger {
    /// With this probability per request.
    Rate(f64),
    /// Requests `from..=to` (1-based).
    Requests(u64, u64),
}

/// One rule of a fault spec.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultRule {
    /// What happens.
    pub kind: FaultKind,
    /// When.
    pub trigger: Trigger,
}

/// A parsed `--faults` value.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    /// The rules, in the order written.
    pub rules: Vec<FaultRule>,
    /// Server clock skew in seconds.
    pub skew_secs: i64,
    /// How long a `slow` reply waits (real time).
    pub slow_delay: std::time::Duration,
    /// How long a `trickle` reply waits between two bytes of its body (real time).
    pub drip: std::time::Duration,
}

impl Default for FaultSpec {
    fn default() -> Self {
        FaultSpec {
            rules: Vec::new(),
            skew_secs: 0,
            slow_delay: std::time::Duration::from_secs(5),
            drip: std::time::Duration::from_secs(2),
        }
    }
}

impl FaultSpec {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses the grammar in the module docs.
    pub fn parse(spec: &str) -> Result<FaultSpec, String> {
        let mut out = FaultSpec::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if let Some((key, value)) = part.split_once('=') {
                let (key, value) = (key.trim(), value.trim());
                match key {
                    "skew" => {
                        out.skew_secs = value
                            .parse()
                            .map_err(|_| format!("skew takes whole seconds, got {value:?}"))?;
                    }
                    "delay" => {
                        let s: f64 = value
                            .parse()
                            .map_err(|_| format!("delay takes seconds, got {value:?}"))?;
                        if !(0.0..=600.0).contains(&s) {
                            return Err(format!("delay must be 0..600 seconds, got {value}"));
                        }
                        out.slow_delay = std::time::Duration::from_secs_f64(s);
                    }
                    "drip" => {
                        let s: f64 = value
                            .parse()
                            .map_err(|_| format!("drip takes seconds, got {value:?}"))?;
                        if !(0.001..=600.0).contains(&s) {
                            return Err(format!("drip must be 0.001..600 seconds, got {value}"));
                        }
                        out.drip = std::time::Duration::from_secs_f64(s);
                    }
                    _ => {
                        let kind = kind(key)?;
                        let rate: f64 = value.parse().map_err(|_| {
                            format!("{key}: rate must be a number 0..1, got {value:?}")
                        })?;
                        if !(0.0..=1.0).contains(&rate) {
                            return Err(format!("{key}: rate must be 0..1, got {value}"));
                        }
                        out.rules.push(FaultRule {
                            kind,
                            trigger: Trigger::Rate(rate),
                        });
                    }
                }
            } else if let Some((key, n)) = part.split_once('@') {
                let kind = kind(key.trim())?;
                let bad =
                    || format!("{key}@{n}: expected a request number N or a range N-M (from 1)");
                let (from, to) = match n.split_once('-') {
                    Some((a, b)) => (
                        a.trim().parse().map_err(|_| bad())?,
                        b.trim().parse().map_err(|_| bad())?,
                    ),
                    None => {
                        let v: u64 = n.trim().parse().map_err(|_| bad())?;
                        (v, v)
                    }
                };
                if from == 0 || to < from {
                    return Err(bad());
                }
                out.rules.push(FaultRule {
                    kind,
                    trigger: Trigger::Requests(from, to),
                });
            } else {
                return Err(format!(
                    "fault {part:?}: use KIND=RATE, KIND@N, KIND@N-M, skew=SECONDS, delay=SECONDS or drip=SECONDS"
                ));
            }
        }
        Ok(out)
    }
}

impl FromStr for FaultSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        FaultSpec::parse(s)
    }
}

fn kind(name: &str) -> Result<FaultKind, String> {
    FaultKind::ALL
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, k)| *k)
        .ok_or_else(|| {
            let names: Vec<&str> = FaultKind::ALL.iter().map(|(n, _)| *n).collect();
            format!("unknown fault kind {name:?} (known: {})", names.join(", "))
        })
}

/// The spec plus its seeded RNG: decides, request by request, which fault hits.
#[derive(Debug)]
pub struct FaultPlan {
    spec: FaultSpec,
    rng: StdRng,
}

impl FaultPlan {
    /// A plan for `spec`, reproducible from `seed`.
    pub fn new(spec: FaultSpec, seed: u64) -> Self {
        FaultPlan {
            spec,
            rng: StdRng::seed_from_u64(seed ^ 0xFA17_5EED_0000_0001),
        }
    }

    /// The spec in force.
    pub fn spec(&self) -> &FaultSpec {
        &self.spec
    }

    /// The fault for the `n`th request (1-based), if any.
    pub fn decide(&mut self, n: u64) -> Option<FaultKind> {
        let mut hit = None;
        for rule in &self.spec.rules {
            let fires = match rule.trigger {
                Trigger::Rate(p) => self.rng.random::<f64>() < p,
                Trigger::Requests(a, b) => (a..=b).contains(&n),
            };
            if fires && hit.is_none() {
                hit = Some(rule.kind);
            }
        }
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        let s = FaultSpec::parse(
            "throttle=0.5, internal@3,reset@7-9,skew=-1200,delay=0.01,corrupt-token=1",
        )
        .unwrap();
        assert_eq!(s.rules.len(), 4);
        assert_eq!(s.skew_secs, -1200);
        assert_eq!(s.slow_delay, std::time::Duration::from_millis(10));
        assert_eq!(s.drip, std::time::Duration::from_secs(2));
        let t = FaultSpec::parse("trickle@3,drip=0.25,endless-token=1,repeat-token@2,tiny-rate@4")
            .unwrap();
        assert_eq!(t.drip, std::time::Duration::from_millis(250));
        assert_eq!(
            t.rules.iter().map(|r| r.kind).collect::<Vec<_>>(),
            [
                FaultKind::Trickle,
                FaultKind::EndlessToken,
                FaultKind::RepeatToken,
                FaultKind::TinyRate
            ]
        );
        assert_eq!(s.rules[2].trigger, Trigger::Requests(7, 9));
        for bad in [
            "boom=0.1",
            "throttle=2",
            "throttle@0",
            "reset@5-3",
            "skew=abc",
            "throttle",
            "drip=0",
            "drip=x",
        ] {
            assert!(FaultSpec::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(FaultSpec::parse("").unwrap(), FaultSpec::none());
    }

    #[test]
    fn decisions_repeat_for_a_seed() {
        let spec = FaultSpec::parse("internal=0.3,slow=0.3").unwrap();
        let run = |seed| {
            let mut p = FaultPlan::new(spec.clone(), seed);
            (1..=200).map(|n| p.decide(n)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let hits = run(7).iter().filter(|f| f.is_some()).count();
        assert!((60..160).contains(&hits), "{hits}");
        let mut p = FaultPlan::new(FaultSpec::parse("reset@2").unwrap(), 1);
        assert_eq!(
            (p.decide(1), p.decide(2), p.decide(3)),
            (None, Some(FaultKind::Reset), None)
        );
    }
}
