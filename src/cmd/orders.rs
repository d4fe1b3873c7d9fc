//! `fulfill orders [ORDER] [--status S] [--late] [--marketplace ID|COUNTRY] [--sort ship-by|purchase|status] [--json]`:
//! stored orders and their items, never PII, the most urgent first.
//!
//! The list is sorted by ship-by time, oldest first ([`crate::model::urgency`]); an order still
//! to ship is flagged `LATE` once that time has passed and `TODAY` when it falls later on the
//! command's day (its clock, in the local time zone). Columns are as wide as their longest
//! value, so no state breaks them. `orders ORDER` shows one order: each item with its id, SKU,
//! quantities and what is left to ship (what `ship --item` takes), and its packages.
//!
//! Every stored value came from Amazon (or whatever answered in its place), so each one goes
//! through [`crate::term`] before it reaches the terminal: escape sequences and bidi overrides
//! are shown as U+FFFD, Amazon's error texts are cut short. `--json` escapes the same
//! characters as `\uXXXX`, so a decoder reads back exactly what is stored.

use chrono::{DateTime, Local};

use crate::cli::{OrderSortArg, OrderStatusArg, OrdersArgs};
use crate::context::Context;
use crate::error::{Error, Exit, Result};
use crate::model::urgency::{self, Key, Sort};
use crate::term::{self, clean};
use crate::vault::orders::{OrderView, list_orders, order_view};

/// What `--status` matches: the lifecycle state of that name (and Amazon's status of the same
/// name), or Amazon's spelling of a status that has no local state.
fn status_query(s: OrderStatusArg) -> &'static str {
    match s {
        OrderStatusArg::Pending => "pending",
        OrderStatusArg::Unshipped => "unshipped",
        OrderStatusArg::Labelled => "labelled",
        OrderStatusArg::PartiallyShipped => "partially_shipped",
        OrderStatusArg::Shipped => "shipped",
        OrderStatusArg::Confirmed => "confirmed",
        OrderStatusArg::ConfirmFailed => "confirm_failed",
        OrderStatusArg::Canceled => "canceled",
        OrderStatusArg::Unfulfillable => "Unfulfillable",
        OrderStatusArg::InvoiceUnconfirmed => "InvoiceUnconfirmed",
        OrderStatusArg::PendingAvailability => "PendingAvailability",
    }
}

fn key(o: &OrderView) -> Key<'_> {
    Key {
        order_id: &o.order_id,
        lifecycle: &o.status,
        ship_by: o.ship_by.as_deref(),
        purchase: o.purchase_date.as_deref(),
    }
}

/// A stored time as the operator reads it: local `YYYY-MM-DD HH:MM` (as stored, cut to the
/// date, when it cannot be read).
fn local_time(s: Option<&str>) -> String {
    match s {
        None => "-".into(),
        Some(s) => match urgency::parse_time(s) {
            Some(t) => t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string(),
            None => clean(s.get(..10).unwrap_or(s)).into_owned(),
        },
    }
}

/// The P, B, ! and M flags (M: a marketplace the home did not configure).
fn flags(o: &OrderView) -> String {
    let mut f = String::new();
    if o.marketplace_unlisted {
        f.push('M');
    }
    if o.prime {
        f.push('P');
    }
    if o.business {
        f.push('B');
    }
    if o.pii_missing {
        f.push('!');
    }
    f
}

/// Rows printed as columns as wide as their widest cell (the last column is not padded).
fn print_table(rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                let pad = widths[c] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        crate::outln!("{}", line.trim_end());
    }
}

/// Runs `orders` (any operator).
pub fn run(ctx: &Context, args: &OrdersArgs) -> Result<Exit> {
    let _s = ctx.unlock()?;
    let now: DateTime<Local> = ctx.now().with_timezone(&Local);
    if let Some(id) = &args.order {
        return one(ctx, id, &now, args.json);
    }
    let mut orders = ctx
        .vault
        .read(|tx| list_orders(tx, args.status.map(status_query)))?;
    for o in &mut orders {
        o.due = urgency::due(&o.status, o.ship_by.as_deref(), &now).map(|d| d.as_str());
    }
    if args.late {
        orders.retain(|o| o.due == Some(urgency::Due::Late.as_str()));
    }
    if let Some(m) = &args.marketplace {
        orders.retain(|o| o.marketplace_id.as_deref() == Some(m.as_str()));
    }
    let by = match args.sort {
        OrderSortArg::ShipBy => Sort::ShipBy,
        OrderSortArg::Purchase => Sort::Purchase,
        OrderSortArg::Status => Sort::Status,
    };
    orders.sort_by(|a, b| urgency::compare(&key(a), &key(b), by));
    if args.json {
        crate::outln!("{}", term::json_pretty(&orders));
        return Ok(Exit::Ok);
    }
    if orders.is_empty() {
        let mut what = Vec::new();
        if let Some(s) = args.status {
            what.push(format!("with status {}", status_query(s)));
        }
        if args.late {
            what.push("late".to_string());
        }
        if let Some(m) = &args.marketplace {
            what.push(format!(
                "in marketplace {}",
                crate::model::marketplace::describe(m)
            ));
        }
        crate::outln!(
            "No orders{}.",
            if what.is_empty() {
                String::new()
            } else {
                format!(" {}", what.join(", "))
            }
        );
        return Ok(Exit::Ok);
    }
    let mut rows = vec![
        [
            "ORDER", "MARKET", "STATUS", "SHIP BY", "DUE", "SERVICE", "FLAGS", "ITEMS",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for o in &orders {
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
        rows.push(vec![
            clean(&o.order_id).into_owned(),
            o.marketplace_id.as_deref().map_or("-".to_string(), |m| {
                term::quote(crate::model::marketplace::short(m), 14)
            }),
            clean(&o.status).into_owned(),
            local_time(o.ship_by.as_deref()),
            due_flag(o),
            term::quote(o.service_level.as_deref().unwrap_or("-"), 12),
            flags(o),
            items,
        ]);
    }
    print_table(&rows);
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
                "{}  {package}{}",
                clean(&o.order_id),
                package_line(p, &items)
            );
        }
    }
    let late = orders
        .iter()
        .filter(|o| o.due == Some(urgency::Due::Late.as_str()))
        .count();
    crate::outln!(
        "\n{} order(s){}. Due: LATE past its ship-by time, TODAY later today. Flags: P Prime, B business, ! no address from Amazon (cannot be labelled).",
        orders.len(),
        if late > 0 {
            format!(", {late} late")
        } else {
            String::new()
        }
    );
    Ok(Exit::Ok)
}

fn due_flag(o: &OrderView) -> String {
    match o.due {
        Some("late") => urgency::Due::Late.flag().into(),
        Some("today") => urgency::Due::Today.flag().into(),
        _ => String::new(),
    }
}

/// A package as one line: carrier, tracking, `items`, confirmation state and Amazon's error.
fn package_line(p: &crate::vault::shipments::PackageView, items: &str) -> String {
    format!(
        "{} {}{items}, confirmation {}{}",
        term::quote(&p.carrier, 40),
        term::quote(&p.tracking, 40),
        clean(&p.state),
        p.error
            .as_deref()
            .map(|e| format!(": {}", term::one_line(e)))
            .unwrap_or_default()
    )
}

/// `orders ORDER`: one order, its items with what is left to ship, and its packages.
fn one(ctx: &Context, id: &str, now: &DateTime<Local>, json: bool) -> Result<Exit> {
    crate::mws::ids::order_id(id.trim()).map_err(|_| {
        Error::usage(format!(
            "{} is not an Amazon order id (3-7-7 digits, e.g. 111-2393723-1586761)",
            term::quote(id, 40)
        ))
    })?;
    let Some(mut o) = ctx.vault.read(|tx| order_view(tx, id.trim()))? else {
        return Err(Error::usage(format!(
            "order {} is not in the vault; run `fulfill fetch` first",
            id.trim()
        )));
    };
    o.due = urgency::due(&o.status, o.ship_by.as_deref(), now).map(|d| d.as_str());
    if json {
        crate::outln!("{}", term::json_pretty(&o));
        return Ok(Exit::Ok);
    }
    let due = due_flag(&o);
    crate::outln!(
        "Order {}: {} (Amazon: {}){}",
        clean(&o.order_id),
        clean(&o.status),
        clean(&o.amazon_status),
        if flags(&o).is_empty() {
            String::new()
        } else {
            format!(", flags {}", flags(&o))
        }
    );
    if let Some(m) = &o.marketplace_id {
        crate::outln!(
            "Sold in {}",
            term::quote(&crate::model::marketplace::describe(m), 60)
        );
    }
    crate::outln!(
        "Purchased {}; ship by {}{}; service {}",
        local_time(o.purchase_date.as_deref()),
        local_time(o.ship_by.as_deref()),
        if due.is_empty() {
            String::new()
        } else {
            format!(" ({due})")
        },
        term::quote(o.service_level.as_deref().unwrap_or("-"), 40)
    );
    if o.items.is_empty() {
        crate::outln!("\nIts items are not fetched yet.");
    } else {
        let mut rows = vec![
            [
                "ITEM ID", "SKU", "ASIN", "ORDERED", "SHIPPED", "LEFT", "TITLE",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for i in &o.items {
            rows.push(vec![
                clean(&i.order_item_id).into_owned(),
                term::quote(i.sku.as_deref().unwrap_or("-"), 40),
                clean(&i.asin).into_owned(),
                i.quantity.to_string(),
                (i.quantity - i.quantity_left.min(i.quantity)).to_string(),
                i.quantity_left.to_string(),
                term::quote(i.title.as_deref().unwrap_or(""), 60),
            ]);
        }
        crate::outln!("");
        print_table(&rows);
    }
    if let Some(sh) = &o.shipment {
        crate::outln!("\nPACKAGES");
        for p in &sh.packages {
            let items = if p.items.is_empty() {
                String::new()
            } else {
                format!(
                    " [{}]",
                    p.items
                        .iter()
                        .map(|i| format!("{} x{}", clean(&i.order_item_id), i.quantity))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            crate::outln!("#{} {}", p.package, package_line(p, &items));
        }
    }
    let left: u32 = o.items.iter().map(|i| i.quantity_left).sum();
    if left > 0 && urgency::to_ship(&o.status) {
        crate::outln!(
            "\n{left} unit(s) left to ship: `fulfill ship {} --item SKU:QTY ...` ships part of them.",
            clean(&o.order_id)
        );
    }
    Ok(Exit::Ok)
}
