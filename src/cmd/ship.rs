//! `fulfill ship ORDER [--item ITEM:QTY ...] --carrier C --tracking T [--method M]`: record
//! a shipment (packer or owner): the whole order, or one package holding the items given. The
//! confirmation is queued; `fulfill confirm` (cron) sends it to Amazon in a batch.

use serde::Serialize;

use crate::cli::ShipArgs;
use crate::context::Context;
use crate::error::{Exit, Result};
use crate::model::package::ItemQty;
use crate::vault::shipments::{self, NewShipment, PackageView, Recorded};

/// `ship --json`: the package recorded, the order's state, what is left to ship.
#[derive(Debug, Serialize)]
struct Shipped<'a> {
    order_id: &'a str,
    #[serde(flatten)]
    package: &'a PackageView,
    order_status: &'a str,
    left: &'a [ItemQty],
}

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
    let packed = crate::flow::ship::ship_package(&s, &new, &args.items, args.package, now)?;
    let packages = shipments::packages(ctx.vault.conn(), &new.order_id)?;
    let view = packages.iter().find(|p| p.package == packed.package);
    if args.json {
        let out = view.map(|p| Shipped {
            order_id: &new.order_id,
            package: p,
            order_status: packed.lifecycle.as_str(),
            left: &packed.left,
        });
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&out).expect("serializes")
        );
        return Ok(Exit::Ok);
    }
    let what = if args.items.is_empty() && args.package.is_none() {
        new.order_id.clone()
    } else {
        format!(
            "package {} of {} ({})",
            packed.package,
            new.order_id,
            packed
                .items
                .iter()
                .map(|i| format!("item {} x{}", i.order_item_id, i.quantity))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let verb = match packed.recorded {
        Recorded::New => "Shipped",
        Recorded::Corrected => "Corrected the shipment of",
    };
    let left = if packed.left.is_empty() {
        String::new()
    } else {
        format!(
            " Still to ship: {}.",
            packed
                .left
                .iter()
                .map(|i| format!("item {} x{}", i.order_item_id, i.quantity))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    crate::outln!(
        "{verb} {what} via {} (tracking {}); the confirmation to Amazon is queued for `fulfill confirm`.{left}",
        crate::term::quote(args.carrier.trim(), 40),
        crate::term::quote(new.tracking.trim(), 64)
    );
    Ok(Exit::Ok)
}
