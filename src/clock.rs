//! The clock is a parameter.
//!
//! Code that decides by time takes a `now` (or a [`Clock`]) from its caller, so tests move time
//! forward by calling [`ManualClock::advance`] instead of sleeping. Only the binary's entry point
//! picks [`SystemClock`], or a fixed time from the hidden `--now` flag in a sandbox home.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};

/// A source of the current UTC time.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to; for tests and for `--now`.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock standing at `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t += by;
    }

    /// Sets the clock to `at`.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

/// A clock that runs `scale` times faster than real time from a starting point.
///
/// The sandbox and a sandbox home's quota model use it so that Amazon's real ratios (a bucket
/// restoring one request a minute) hold at any speed.
#[derive(Debug)]
pub struct ScaledClock {
    origin: DateTime<Utc>,
    started: Instant,
    scale: f64,
    jumped: Mutex<Duration>,
}

impl ScaledClock {
    /// A clock that reads `origin` now and then runs `scale` times faster than real time.
    pub fn new(origin: DateTime<Utc>, scale: f64) -> Self {
        Self {
            origin,
            started: Instant::now(),
            scale,
            jumped: Mutex::new(Duration::zero()),
        }
    }

    /// Jumps the clock forward by `by` (tests: "fifteen minutes later" without waiting).
    pub fn advance(&self, by: Duration) {
        *self.jumped.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> DateTime<Utc> {
        let real = self.started.elapsed().as_secs_f64() * self.scale;
        let jumped = *self.jumped.lock().unwrap_or_else(|e| e.into_inner());
        self.origin + jumped + Duration::microseconds((real * 1e6) as i64)
    }
}

/// Parses a user-supplied time: RFC 3339 (`2026-11-29T10:00:00Z`) or a date (`2026-11-29`,
/// midnight UTC).
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(format!(
        "not a time: {s:?} (use RFC 3339 like 2026-11-29T10:00:00Z, or a date like 2026-11-29)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let t0 = parse_time("2026-01-01T00:00:00Z").unwrap();
        let c = ManualClock::new(t0);
        assert_eq!(c.now(), t0);
        c.advance(Duration::days(31));
        assert_eq!(c.now(), parse_time("2026-02-01").unwrap());
    }

    #[test]
    fn parse_time_rejects_garbage_with_a_hint() {
        let e = parse_time("yesterday").unwrap_err();
        assert!(e.contains("RFC 3339"), "{e}");
    }
}
