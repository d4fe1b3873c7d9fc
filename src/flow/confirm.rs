//! Confirming shipments one package per call ([`Marketplace::confirm`]), for marketplaces
//! that answer each confirmation at once (SP-API `confirmShipment`); MWS confirms by feed in
//! [`crate::flow::ship`].
//!
//! **Never twice unnoticed.** Each confirmation is written to the vault (a one-shipment batch,
//! `prepared`) before it is sent, and its verdict is stored with its audit record in one
//! transaction. A run killed in between leaves the batch `prepared`: the next run sends the
//! same confirmation again, and Amazon's "already confirmed" is then taken as confirmed
//! ([`Verdict::Duplicate`]).
//!
//! **Verdicts** land per order as with MWS: `confirmed`, or `confirm_failed` with Amazon's
//! code and reason. Audit records: per order `ship.confirmed` or `ship.confirm_failed`.
//!
//! Each package is confirmed with its own items (`packageDetail.orderItems`) and its number
//! as `packageReferenceId`; a whole-order package whose items were not known carries every
//! item still to ship, with the quantity left.

use crate::audit::{Event, Outcome};
use crate::calls::AuditedCalls;
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::flow::ship::{ConfirmFailure, ConfirmReport, confirm_lock, finish};
use crate::market::{MarketError, Marketplace};
use crate::model::order::{Confirmation, Verdict};
use crate::vault::Vault;
use crate::vault::orders;
use crate::vault::shipments::{self, Verdict as Stored};

/// Runs one confirmation pass as `operator` over `market`. Audit records are stamped with
/// `clock`. On failure the report still says what was done.
pub fn confirm(
    vault: &Vault,
    operator: &str,
    market: &mut dyn Marketplace,
    clock: &dyn Clock,
) -> std::result::Result<ConfirmReport, Box<ConfirmFailure>> {
    let _lock = match confirm_lock(vault) {
        Ok(l) => l,
        Err(done) => return done,
    };
    crate::calls::restore_market_quota(vault, market);
    let mut pass = Pass {
        vault,
        operator,
        clock,
        obs: AuditedCalls::new(vault, clock, operator),
        report: ConfirmReport::default(),
    };
    let result = pass.run(market);
    let saved = crate::calls::save_market_quota(vault, market);
    finish(result.and(saved), pass.report, &pass.obs)
}

struct Pass<'a> {
    vault: &'a Vault,
    operator: &'a str,
    clock: &'a dyn Clock,
    obs: AuditedCalls<'a>,
    report: ConfirmReport,
}

impl Pass<'_> {
    fn run(&mut self, market: &mut dyn Marketplace) -> Result<()> {
        // 1. Confirmations an earlier run wrote and may have sent, without a verdict.
        for b in self.vault.read(shipments::prepared_batches)? {
            let c: Confirmation = serde_json::from_slice(&b.body).map_err(|_| {
                Error::Failed(
                    "an MWS confirmation feed written before the switch to SP-API is still \
                     unsent or unanswered: run `fulfill confirm` once more with the MWS \
                     credentials, or ship those orders again"
                        .into(),
                )
            })?;
            self.send(market, b.id, &c, true)?;
        }
        // 2. Everything queued, one package per order.
        for mut q in self.vault.read(shipments::queued)? {
            let order_id = q.order_id.clone();
            let (marketplace_id, rest) =
                self.vault.read(|tx| orders::confirm_facts(tx, &order_id))?;
            let package_items: Vec<(String, u32)> = q
                .items
                .iter()
                .map(|i| (i.order_item_id.clone(), i.quantity))
                .collect();
            let region = self
                .vault
                .read(|tx| orders::fetched_region(tx, &order_id))?;
            let c = Confirmation {
                order_id,
                marketplace_id,
                region,
                package_reference: q.package.to_string(),
                carrier: q
                    .carrier_code
                    .clone()
                    .or_else(|| q.carrier_name.clone())
                    .unwrap_or_default(),
                shipping_method: q.method.clone(),
                tracking_number: q.tracking.clone(),
                ship_date: q.shipped_at.clone(),
                items: if package_items.is_empty() {
                    rest
                } else {
                    package_items
                },
            };
            q.message_id = 1;
            let body = serde_json::to_vec(&c).expect("a confirmation serializes");
            let now = self.clock.now();
            let id = self.vault.write(|tx| {
                let md5 = crate::mws::sign::content_md5(&body);
                shipments::create_batch(tx, &body, &md5, &[q], now)
            })?;
            self.send(market, id, &c, false)?;
        }
        Ok(())
    }

    /// Sends batch `id` (confirmation `c`) and stores Amazon's verdict with its record.
    fn send(
        &mut self,
        market: &mut dyn Marketplace,
        id: i64,
        c: &Confirmation,
        resent: bool,
    ) -> Result<()> {
        let verdict = match market.confirm(c, resent, &mut self.obs) {
            Ok(v) => v,
            Err(MarketError::Refused(e)) => Verdict::Rejected {
                code: "Refused".into(),
                reason: e.to_string(),
            },
            Err(MarketError::Restart) => {
                return Err(Error::Remote(
                    "Amazon refused a confirmation unexpectedly; run confirm again".into(),
                ));
            }
            Err(MarketError::Failed(e)) => return Err(e),
        };
        let (confirmed, code, message) = match verdict {
            Verdict::Accepted => (true, None, None),
            Verdict::Duplicate { reason } => (true, Some("Duplicate".into()), Some(reason)),
            Verdict::Rejected { code, reason } => (false, Some(code), Some(reason)),
        };
        // The batch carries this one package.
        let Some((shipment, _, package, _)) = self
            .vault
            .read(|tx| shipments::batch_packages(tx, id))?
            .into_iter()
            .next()
        else {
            return Err(Error::Integrity(format!(
                "confirmation batch {id} carries no package"
            )));
        };
        let v = Stored {
            order_id: c.order_id.clone(),
            package,
            confirmed,
            code,
            message,
            shipment,
        };
        let ev = Event::new(if v.confirmed {
            "ship.confirmed"
        } else {
            "ship.confirm_failed"
        })
        .operator(self.operator)
        .field("order", v.order_id.as_str())
        .field("package", c.package_reference.as_str());
        let ev = if v.confirmed {
            ev
        } else {
            ev.outcome(Outcome::Failed)
                .field("code", v.code.clone())
                .field("reason", v.message.clone())
        };
        let now = self.clock.now();
        self.vault.record_with(&[ev], now, |tx| {
            crate::vault::progress::apply_verdicts(tx, id, std::slice::from_ref(&v), now)
        })?;
        self.report.shipments_submitted += 1;
        if v.confirmed {
            self.report.confirmed += 1;
        } else {
            self.report.failed += 1;
            self.report.failures.push(v);
        }
        Ok(())
    }
}
