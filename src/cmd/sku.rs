//! `fulfill sku set-location`: bin locations for the pick list (owner or admin; audited).

use crate::audit::Event;
use crate::cli::SkuCmd;
use crate::context::Context;
use crate::error::{Exit, Result};
use crate::role::Capability;
use crate::vault::skus::{check_location, location, set_location};

/// Runs a `sku` subcommand.
pub fn run(ctx: &Context, cmd: &SkuCmd) -> Result<Exit> {
    let s = ctx.unlock()?;
    let now = ctx.now();
    match cmd {
        SkuCmd::SetLocation { sku, bin } => {
            s.require(Capability::ManagePeople, "sku.set-location", now)?;
            check_location(sku, bin)?;
            let old = ctx.vault.read(|tx| location(tx, sku))?;
            let ev = Event::new("sku.location_changed")
                .operator(s.name())
                .field("sku", sku.as_str())
                .field("old", old.clone())
                .field("new", bin.as_str());
            ctx.vault.record_with(&[ev], now, |conn| {
                set_location(conn, sku, bin, s.name(), now)
            })?;
            match old {
                Some(o) if &o == bin => crate::outln!("{sku} is already in bin {bin}."),
                Some(o) => crate::outln!("Moved {sku} from bin {o} to {bin}."),
                None => crate::outln!("Set the bin of {sku} to {bin}."),
            }
        }
    }
    Ok(Exit::Ok)
}
