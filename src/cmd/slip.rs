//! `fulfill slip ORDER...|--all-unshipped|--status S [--size 4x6|letter|a4]
//! [--to tcp://HOST:PORT | --out FILE]`: packing slips, every order in one PDF.

use crate::cli::{SlipArgs, SlipSize};
use crate::cmd::label::{report, selected};
use crate::context::Context;
use crate::error::{Exit, Result};
use crate::label::slip::Paper;
use crate::label::{Destination, SlipRequest, print_slips};
use crate::safety::Environment;

/// Runs `slip`.
pub fn run(ctx: &Context, args: &SlipArgs) -> Result<Exit> {
    let destination = Destination::parse(args.output.to.as_deref(), args.output.out.as_deref())?;
    let s = ctx.unlock()?;
    let req = SlipRequest {
        orders: selected(&s, &args.select)?,
        paper: match args.size {
            SlipSize::Label4x6 => Paper::Label4x6,
            SlipSize::Letter => Paper::Letter,
            SlipSize::A4 => Paper::A4,
        },
        destination,
    };
    if req.orders.is_empty() {
        crate::outln!("No orders in that state: nothing to print.");
        return Ok(Exit::Ok);
    }
    let batch = print_slips(&s, &Environment::system(), &req, ctx.now())?;
    Ok(report(&batch, args.json, "Slip"))
}
