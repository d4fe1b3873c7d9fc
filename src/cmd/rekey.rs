//! `fulfill rekey [--json]`: rotate the vault's PII and secrets keys (owner).

use crate::cli::RekeyArgs;
use crate::context::Context;
use crate::error::{Exit, Result};
use crate::vault::RekeyReport;

/// Runs `rekey`.
pub fn run(ctx: &Context, args: &RekeyArgs) -> Result<Exit> {
    let mut s = ctx.unlock()?;
    let r = s.rekey("manual", ctx.now())?;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&r).expect("serializes"));
    } else {
        print_report(&r);
    }
    Ok(Exit::Ok)
}

/// The human summary of a rotation (also printed by `operator disable`).
pub fn print_report(r: &RekeyReport) {
    crate::outln!(
        "Keys rotated to epoch {}: re-sealed {} order(s), {} gift message(s), {} credential set(s).",
        r.epoch,
        r.orders,
        r.gift_messages,
        r.credentials
    );
    if !r.delivered.is_empty() {
        crate::outln!(
            "New keys wait for {} at their next unlock.",
            r.delivered.join(", ")
        );
    }
    if !r.not_delivered.is_empty() {
        crate::outln!(
            "Not delivered (added before key rotation existed; disable and add them again): {}",
            r.not_delivered.join(", ")
        );
    }
}
