//! `fulfill label ORDER...|--all-unshipped|--status S [--format zpl|pdf] [--dpi 203|300]
//! [--to tcp://HOST:PORT | --out FILE]`: every order in one print job.

use crate::cli::{LabelArgs, LabelFormat, OrderSelection, PickStatusArg};
use crate::config::Config;
use crate::context::Context;
use crate::error::{Exit, Result};
use crate::label::{Batch, Destination, Format, LabelRequest, orders_in, print};
use crate::model::lifecycle::Lifecycle;
use crate::model::shipping::ShipFrom;
use crate::safety::Environment;
use crate::vault::Session;

/// Runs `label`.
pub fn run(ctx: &Context, args: &LabelArgs) -> Result<Exit> {
    let destination = Destination::parse(args.output.to.as_deref(), args.output.out.as_deref())?;
    let return_address = return_address(ctx)?;
    let s = ctx.unlock()?;
    let mut req = LabelRequest {
        orders: Vec::new(),
        format: match args.format {
            LabelFormat::Zpl => Format::Zpl,
            LabelFormat::Pdf => Format::Pdf,
        },
        dpi: args.dpi.into(),
        destination,
        return_address,
    };
    req.orders = selected(&s, &args.select)?;
    if req.orders.is_empty() {
        crate::outln!("No orders in that state: nothing to print.");
        return Ok(Exit::Ok);
    }
    let batch = print(&s, &Environment::system(), &req, ctx.now())?;
    Ok(report(&batch, args.json, "Label"))
}

/// The return address labels print (`[ship_from]` in config.toml), if set (a home without a
/// config file has none; a file that cannot be read or is invalid is refused, as `config`
/// refuses it).
pub(crate) fn return_address(ctx: &Context) -> Result<Option<ShipFrom>> {
    let path = ctx.vault.home().config_path();
    if !path.exists() {
        return Ok(None);
    }
    let cfg = Config::load(&path, ctx.vault.profile())?;
    Ok(cfg.return_address()?.cloned())
}

/// The orders a selection names: the ids given, or every order in the state asked for.
pub(crate) fn selected(s: &Session<'_>, select: &OrderSelection) -> Result<Vec<String>> {
    let status = match (select.all_unshipped, select.status) {
        (true, _) => Some(PickStatusArg::Unshipped),
        (false, st) => st,
    };
    match status {
        None => Ok(select.orders.clone()),
        Some(PickStatusArg::Unshipped) => orders_in(s, &[Lifecycle::Unshipped]),
        Some(PickStatusArg::Labelled) => orders_in(s, &[Lifecycle::Labelled]),
        Some(PickStatusArg::Open) => orders_in(s, &[Lifecycle::Unshipped, Lifecycle::Labelled]),
    }
}

/// Prints what a print job did (one line per order left out, on stderr) and its exit code:
/// 0 all printed, 1 some left out and the rest printed, 2 nothing printed.
pub(crate) fn report(batch: &Batch, json: bool, what: &str) -> Exit {
    for sk in &batch.skipped {
        eprintln!("fulfill: {}", crate::term::clean(&sk.reason));
    }
    if json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&batch.printed).unwrap_or_default()
        );
    } else {
        for p in &batch.printed {
            crate::outln!(
                "{what} for {} -> {} {}",
                p.order_id,
                p.destination,
                p.target
            );
        }
        if batch.printed.len() > 1 {
            crate::outln!(
                "{} orders in one print job{}",
                batch.printed.len(),
                if batch.skipped.is_empty() {
                    String::new()
                } else {
                    format!("; {} left out (above)", batch.skipped.len())
                }
            );
        }
    }
    batch.exit()
}
