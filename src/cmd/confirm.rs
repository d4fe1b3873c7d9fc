//! `fulfill confirm`: send queued shipment confirmations and apply Amazon's verdicts. Cron runs
//! it next to `fetch`; it makes no call when there is nothing to send or check.

use crate::cli::ConfirmArgs;
use crate::context::{Context, MarketClient};
use crate::error::{Error, Exit, Result};
use crate::flow::ship::{ConfirmReport, confirm};
use crate::role::Capability;
use crate::vault::shipments;

/// Runs `confirm`.
pub fn run(ctx: &Context, args: &ConfirmArgs) -> Result<Exit> {
    let s = ctx.unlock()?;
    let now = ctx.now();
    s.require(Capability::Fetch, "confirm", now)?;
    let report = if ctx.vault.read(shipments::pending_work)? {
        let mut client = ctx.market_client(&s, "confirm")?;
        let outcome = match &mut client {
            // MWS confirms by feed; SP-API one package per call, through the seam.
            MarketClient::Mws(c) => confirm(&ctx.vault, s.name(), c, ctx.clock.as_ref()),
            MarketClient::SpApi(_) => crate::flow::confirm::confirm(
                &ctx.vault,
                s.name(),
                &mut *client.market(),
                ctx.clock.as_ref(),
            ),
        };
        match outcome {
            Ok(r) => r,
            Err(f) => {
                print(&f.report, args.json);
                return Err(f.error);
            }
        }
    } else {
        ConfirmReport::default()
    };
    print(&report, args.json);
    if report.failed > 0 {
        return Err(Error::Failed(format!(
            "Amazon refused {} shipment confirmation(s) (first: {}); fix the carrier or tracking \
             with `fulfill ship` and they are sent again",
            report.failed,
            report
                .failures
                .first()
                .map(|f| format!(
                    "{} package {}: {}",
                    f.order_id,
                    f.package,
                    f.message.as_deref().unwrap_or("no reason given")
                ))
                .unwrap_or_default()
        )));
    }
    Ok(Exit::Ok)
}

fn print(r: &ConfirmReport, json: bool) {
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(r).expect("serializes"));
        return;
    }
    if r.already_running {
        crate::outln!("Another confirm is running; nothing done (the next run carries on).");
        return;
    }
    if r.feeds_submitted + r.feeds_in_flight + r.feeds_adopted + r.feeds_done == 0
        && r.shipments_submitted > 0
    {
        // Confirmed one package per call (SP-API): no feeds.
        crate::outln!(
            "Confirmations: {} shipment(s) sent; {} confirmed, {} refused.",
            r.shipments_submitted,
            r.confirmed,
            r.failed
        );
        return;
    }
    crate::outln!(
        "Confirmations: {} feed(s) sent with {} shipment(s){}; {} confirmed, {} refused{}; {} feed(s) still processing at Amazon.",
        r.feeds_submitted,
        r.shipments_submitted,
        if r.feeds_adopted > 0 {
            format!(
                ", {} found at Amazon after an interrupted run",
                r.feeds_adopted
            )
        } else {
            String::new()
        },
        r.confirmed,
        r.failed,
        if r.requeued > 0 {
            format!(", {} re-queued (Amazon cancelled their feed)", r.requeued)
        } else {
            String::new()
        },
        r.feeds_in_flight
    );
}
