//! What every command that calls Amazon shares: one `mws.call` audit record per attempt, and
//! the quota model kept in the vault between runs (cron starts a new process each time, so the
//! next run must never send what Amazon would throttle).

use chrono::{DateTime, Utc};

use crate::audit::{Event, Outcome};
use crate::clock::Clock;
use crate::error::Result;
use crate::mws::client::{CallRecord, Client, Observer};
use crate::vault::{Vault, store};

/// Where the MWS quota model is kept between runs (vault meta).
pub const THROTTLE_KEY: &str = "mws_throttle";

/// The `mws.call` record of one attempt (no parameters, no bodies: no PII).
fn call_event(operator: &str, rec: &CallRecord) -> Event {
    let outcome = if rec.error.is_none() {
        Outcome::Ok
    } else {
        Outcome::Failed
    };
    Event::new("mws.call")
        .operator(operator)
        .outcome(outcome)
        .field("action", rec.action.as_str())
        .field("status", rec.status.map(u32::from))
        .field("latency_ms", rec.latency_ms)
        .field("request_id", rec.request_id.clone())
        .field("throttled", rec.throttled)
        .field("attempt", rec.attempt)
        .field("error", rec.error.clone())
}

/// Continues the quota model from the last run.
pub fn restore_quota(vault: &Vault, client: &mut Client) {
    if let Ok(Some(saved)) = vault.read(|tx| store::meta_get(tx, THROTTLE_KEY)) {
        client.restore_throttle_state(&saved);
    }
}

/// Saves the quota model for the next run: the groups this run used, over what is stored (a
/// `fetch` and a `confirm` running side by side each keep the other's use).
pub fn save_quota(vault: &Vault, client: &Client) -> Result<()> {
    vault.write(|tx| {
        let stored = store::meta_get(tx, THROTTLE_KEY)?.unwrap_or_else(|| "[]".into());
        store::meta_set(tx, THROTTLE_KEY, &client.merged_throttle_state(&stored))
    })
}

/// Continues a marketplace's quota model from the last run.
pub fn restore_market_quota(vault: &Vault, market: &mut dyn crate::market::Marketplace) {
    for key in market.quota_keys() {
        if let Ok(Some(saved)) = vault.read(|tx| store::meta_get(tx, &key)) {
            market.restore_quota(&key, &saved);
        }
    }
}

/// Saves a marketplace's quota model for the next run, over what is stored.
pub fn save_market_quota(vault: &Vault, market: &dyn crate::market::Marketplace) -> Result<()> {
    vault.write(|tx| {
        for key in market.quota_keys() {
            let stored = store::meta_get(tx, &key)?.unwrap_or_else(|| "[]".into());
            store::meta_set(tx, &key, &market.merged_quota(&key, &stored))?;
        }
        Ok(())
    })
}

/// An [`Observer`] that records every attempt and counts calls and throttles.
pub struct AuditedCalls<'a> {
    vault: &'a Vault,
    clock: &'a dyn Clock,
    operator: &'a str,
    /// Attempts made.
    pub calls: u64,
    /// Attempts Amazon throttled.
    pub throttled: u64,
}

impl<'a> AuditedCalls<'a> {
    /// Records as `operator`, stamped with the command's `clock`.
    pub fn new(vault: &'a Vault, clock: &'a dyn Clock, operator: &'a str) -> Self {
        AuditedCalls {
            vault,
            clock,
            operator,
            calls: 0,
            throttled: 0,
        }
    }
}

impl AuditedCalls<'_> {
    /// The command's clock (what the records are stamped with).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

impl Observer for AuditedCalls<'_> {
    fn call(&mut self, rec: &CallRecord) -> Result<()> {
        self.calls += 1;
        self.throttled += u64::from(rec.throttled);
        // Audit time is the command's clock; the client's (sandbox) time is only for Amazon.
        self.vault
            .record(&[call_event(self.operator, rec)], self.clock.now())
    }
}
