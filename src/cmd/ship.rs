//! `fulfill ship ORDER --carrier C --tracking T [--method M]`: record a shipment (packer or
//! owner). The confirmation is queued; `fulfill confirm` (cron) sends it to Amazon in a batch.

use crate::cli::ShipArgs;
use crate::context::Context;
use crate::error::{Exit, Result};
use crate::vault::shipments::{self, NewShipment, Recorded};

/// Runs `ship`.
pub fn run(ctx: &Context, args: &ShipArgs) -> Result<Exit> {
    let s = ctx.unlock()?;
    let now = ctx.now();
    let new = NewShipment {
        order_id: args.order.clone(),
        carrier: args.carrier.clone(),
        tracking: args.tracking.clone(),
        method: args.method.clone(),
    };
    let recorded = crate::confirm::ship(&s, &new, now)?;
    let view = shipments::shipment(ctx.vault.conn(), &new.order_id)?;
    if args.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&view).expect("serializes")
        );
        return Ok(Exit::Ok);
    }
    let verb = match recorded {
        Recorded::New => "Shipped",
        Recorded::Corrected => "Corrected the shipment of",
    };
    crate::outln!(
        "{verb} {} via {} (tracking {}); the confirmation to Amazon is queued for `fulfill confirm`.",
        new.order_id,
        args.carrier.trim(),
        new.tracking.trim()
    );
    Ok(Exit::Ok)
}
