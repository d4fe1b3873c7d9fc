//! `fulfill orders`: stored orders and their items, never PII.
//!
//! Every stored value came from Amazon (or whatever answered in its place), so each one goes
//! through [`crate::term`] before it reaches the terminal: escape sequences and bidi overrides
//! are shown as U+FFFD, Amazon's error texts are cut short. `--json` escapes the same
//! characters as `\uXXXX`, so a decoder reads back exactly what is stored.

use crate::cli::OrdersArgs;
use crate::context::Context;
use crate::error::{Exit, Result};
use crate::term::{self, clean};
use crate::vault::orders::list_orders;

/// Runs `orders` (any operator).
pub fn run(ctx: &Context, args: &OrdersArgs) -> Result<Exit> {
    let _s = ctx.unlock()?;
    let orders = list_orders(ctx.vault.conn(), args.status.as_deref())?;
    if args.json {
        crate::outln!("{}", term::json_pretty(&orders));
        return Ok(Exit::Ok);
    }
    if orders.is_empty() {
        crate::outln!(
            "No orders{}.",
            args.status
                .as_deref()
                .map(|s| format!(" with status {}", clean(s)))
                .unwrap_or_default()
        );
        return Ok(Exit::Ok);
    }
    crate::outln!(
        "{:<19}  {:<14}  {:<10}  {:<12}  {:<5}  ITEMS",
        "ORDER",
        "STATUS",
        "SHIP BY",
        "SERVICE",
        "FLAGS"
    );
    for o in &orders {
        let mut flags = String::new();
        if o.prime {
            flags.push('P');
        }
        if o.business {
            flags.push('B');
        }
        if o.pii_missing {
            flags.push('!');
        }
        let ship_by = o
            .ship_by
            .as_deref()
            .map(|d| d.get(..10).unwrap_or(d))
            .unwrap_or("-");
        let service = o.service_level.as_deref().unwrap_or("-");
        let items: Vec<String> = o
            .items
            .iter()
            .map(|i| {
                let sku = i.sku.as_deref().unwrap_or(&i.asin);
                format!("{} x{}", term::quote(sku, 40), i.quantity)
            })
            .collect();
        let items = if items.is_empty() {
            "(not fetched yet)".to_string()
        } else {
            items.join(", ")
        };
        crate::outln!(
            "{:<19}  {:<14}  {:<10}  {:<12.12}  {:<5}  {items}",
            clean(&o.order_id),
            clean(&o.status),
            clean(ship_by),
            clean(service),
            flags
        );
    }
    let shipped: Vec<_> = orders
        .iter()
        .filter_map(|o| o.shipment.as_ref().map(|s| (o, s)))
        .collect();
    if !shipped.is_empty() {
        crate::outln!("\nSHIPMENTS");
    }
    for (o, sh) in shipped {
        let several = sh.packages.len() > 1;
        for p in &sh.packages {
            let package = if several {
                format!("#{} ", p.package)
            } else {
                String::new()
            };
            let items = if several {
                format!(
                    " [{}]",
                    p.items
                        .iter()
                        .map(|i| format!("{} x{}", clean(&i.order_item_id), i.quantity))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                String::new()
            };
            crate::outln!(
                "{:<19}  {package}{} {}{items}, confirmation {}{}",
                clean(&o.order_id),
                term::quote(&p.carrier, 40),
                term::quote(&p.tracking, 40),
                clean(&p.state),
                p.error
                    .as_deref()
                    .map(|e| format!(": {}", term::one_line(e)))
                    .unwrap_or_default()
            );
        }
    }
    crate::outln!(
        "\n{} order(s). Flags: P Prime, B business, ! no address from Amazon (cannot be labelled).",
        orders.len()
    );
    Ok(Exit::Ok)
}
