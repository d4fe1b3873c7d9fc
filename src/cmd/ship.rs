//! `fulfill ship ORDER [--item ITEM:QTY|SKU:QTY ...] --carrier C [--carrier-name NAME]
//! --tracking T [--no-verify] [--method M]`: record a shipment (packer or owner): the whole
//! order, or one package holding the items given. The confirmation is queued; `fulfill
//! confirm` (cron) sends it to Amazon in a batch.

use serde::Serialize;

use crate::cli::ShipArgs;
use crate::context::Context;
use crate::error::{Error, Exit, Result};
use crate::flow::ship::Declared;
use crate::model::package::ItemQty;
use crate::model::tracking;
use crate::vault::shipments::{self, PackageView, Recorded};

/// `ship --json`: the package recorded, the order's state, what is left to ship.
#[derive(Debug, Serialize)]
struct Shipped<'a> {
    order_id: &'a str,
    #[serde(flatten)]
    package: &'a PackageView,
    order_status: &'a str,
    left: &'a [ItemQty],
}

/// Runs `ship`. The carrier and the tracking number are checked before the vault is
/// unlocked: a refused one costs one line and exit 2, and nothing is recorded.
pub fn run(ctx: &Context, args: &ShipArgs) -> Result<Exit> {
    let declared = Declared {
        order_id: args.order.clone(),
        carrier: tracking::parse_carrier(&args.carrier, args.carrier_name.as_deref())
            .map_err(Error::Usage)?,
        tracking: args.tracking.clone(),
        method: args.method.clone(),
        no_verify: args.no_verify,
    };
    let (new, _) = declared.checked()?;
    let s = ctx.unlock()?;
    let now = ctx.now();
    let packed = crate::flow::ship::ship_package(&s, &declared, &args.items, args.package, now)?;
    let packages = ctx
        .vault
        .read(|tx| shipments::packages(tx, &new.order_id))?;
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
        crate::term::quote(&declared.carrier.to_string(), 80),
        crate::term::quote(new.tracking.trim(), 64)
    );
    Ok(Exit::Ok)
}
