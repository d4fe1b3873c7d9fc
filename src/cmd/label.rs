//! `fulfill label ORDER... [--format zpl] [--dpi 203|300] [--to tcp://HOST:PORT | --out FILE]`.

use crate::cli::{LabelArgs, LabelFormat};
use crate::context::Context;
use crate::error::{Exit, Result};
use crate::label::{Destination, Format, LabelRequest, print};
use crate::safety::Environment;

/// Runs `label`.
pub fn run(ctx: &Context, args: &LabelArgs) -> Result<Exit> {
    let req = LabelRequest {
        orders: args.orders.clone(),
        format: match args.format {
            LabelFormat::Zpl => Format::Zpl,
            LabelFormat::Pdf => Format::Pdf,
        },
        dpi: args.dpi.into(),
        destination: Destination::parse(args.output.to.as_deref(), args.output.out.as_deref())?,
    };
    let s = ctx.unlock()?;
    let printed = print(&s, &Environment::system(), &req, ctx.now())?;
    if args.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&printed).expect("serializes")
        );
        return Ok(Exit::Ok);
    }
    for p in &printed {
        crate::outln!("Label for {} -> {} {}", p.order_id, p.destination, p.target);
    }
    Ok(Exit::Ok)
}
