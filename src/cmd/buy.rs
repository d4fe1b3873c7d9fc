//! `fulfill buy ORDER --package DIMS --weight W [--service ID] [--to URI | --out FILE]`: quote
//! or buy a label from Amazon (see [`crate::flow::buy`]).

use crate::cli::{BuyArgs, ExperienceArg};
use crate::config::Config;
use crate::context::Context;
use crate::error::{Error, Exit, Result};
use crate::flow::buy::{BuyRequest, buy, quote};
use crate::label::Destination;
use crate::model::shipping::{Package, Weight};
use crate::safety::Environment;

/// Runs `buy`.
pub fn run(ctx: &Context, args: &BuyArgs) -> Result<Exit> {
    if args.cancel {
        let s = ctx.unlock()?;
        let mut client = ctx.market_client(&s, "buy")?;
        let mut market = client.market_for_order(&ctx.vault, &args.order)?;
        let c = crate::flow::buy::cancel(&s, &mut *market, ctx.clock.as_ref(), &args.order)?;
        if args.json {
            crate::outln!("{}", serde_json::to_string_pretty(&c).expect("serializes"));
        } else {
            let kept = if c.label_files_kept.is_empty() {
                String::new()
            } else {
                format!(
                    " Kept {}: {} is marked cancelled there and will not be printed from it again.",
                    c.label_files_kept
                        .iter()
                        .map(|k| format!(
                            "{} ({} other order(s))",
                            crate::term::quote(&k.path, 200),
                            k.other_orders
                        ))
                        .collect::<Vec<_>>()
                        .join(", "),
                    c.order_id
                )
            };
            crate::outln!(
                "Cancelled the label of {} (shipment {}, {}); {} label file(s) destroyed.{kept} The order is unshipped again.",
                c.order_id,
                c.shipment_id,
                c.status,
                c.label_files_removed
            );
        }
        return Ok(Exit::Ok);
    }
    let required = |v: &Option<String>, what: &str| {
        v.clone()
            .ok_or_else(|| Error::usage(format!("--{what} is required")))
    };
    let req = BuyRequest {
        order_id: args.order.clone(),
        package: Package::parse(&required(&args.package, "package")?).map_err(Error::Usage)?,
        weight: Weight::parse(&required(&args.weight, "weight")?).map_err(Error::Usage)?,
        experience: match args.experience {
            ExperienceArg::NoSignature => "DeliveryConfirmationWithoutSignature",
            ExperienceArg::Signature => "DeliveryConfirmationWithSignature",
            ExperienceArg::AdultSignature => "DeliveryConfirmationWithAdultSignature",
            ExperienceArg::NoTracking => "NoTracking",
        },
    };
    let dest = Destination::parse(args.output.to.as_deref(), args.output.out.as_deref())?;
    let cfg = Config::load(&ctx.vault.home().config_path(), ctx.vault.profile())?;
    let from = cfg.ship_from()?.clone();
    let s = ctx.unlock()?;
    let mut client = ctx.market_client(&s, "buy")?;
    let mut market = client.market_for_order(&ctx.vault, &req.order_id)?;
    let clock = ctx.clock.as_ref();
    let Some(service) = &args.service else {
        let q = quote(&s, &mut *market, clock, &req, &from)?;
        if args.json {
            crate::outln!("{}", serde_json::to_string_pretty(&q).expect("serializes"));
            return Ok(Exit::Ok);
        }
        crate::outln!(
            "{:<24}  {:<8}  {:>10}  {:<10}  NAME",
            "SERVICE",
            "CARRIER",
            "RATE",
            "BY"
        );
        for o in &q.offers {
            let rate = o
                .rate
                .as_ref()
                .map_or("-".to_string(), |(c, a)| format!("{a} {c}"));
            let by = o
                .latest_delivery
                .as_deref()
                .map_or("-", |d| d.get(..10).unwrap_or(d));
            crate::outln!(
                "{:<24}  {:<8}  {:>10}  {:<10}  {}",
                o.service_id,
                o.carrier,
                rate,
                by,
                o.service_name
            );
        }
        for (id, code, why) in &q.rejected {
            crate::outln!("not offered: {id} ({code}: {why})");
        }
        if !q.terms_not_accepted.is_empty() {
            crate::outln!(
                "accept the carrier terms in Seller Central first: {}",
                q.terms_not_accepted.join(", ")
            );
        }
        crate::outln!("\nBuy one with --service SERVICE.");
        return Ok(Exit::Ok);
    };
    let b = buy(
        &s,
        &Environment::system(),
        &mut *market,
        clock,
        &req,
        &from,
        service,
        &dest,
    )?;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&b).expect("serializes"));
        return Ok(Exit::Ok);
    }
    crate::outln!(
        "{} {} via {} {} (tracking {}){}; Amazon has confirmed the shipment.",
        if b.reprint {
            "Fetched again the label bought earlier for"
        } else if b.recovered {
            "Found the label already bought for"
        } else {
            "Bought the label for"
        },
        b.order_id,
        b.carrier,
        b.service_id,
        b.tracking,
        b.rate
            .as_ref()
            .map(|(c, a)| format!(" for {a} {c}"))
            .unwrap_or_default()
    );
    for p in &b.printed {
        crate::outln!("Label -> {} {}", p.destination, p.target);
    }
    Ok(Exit::Ok)
}
