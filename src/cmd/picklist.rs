//! `fulfill picklist`: what to pick for the open orders, by bin then SKU (any operator).
//!
//! Reads no PII and needs no PII key: a picker runs it. Nothing is recorded (nothing secret is
//! opened) and nothing is left to purge.

use std::io::IsTerminal;

use crate::cli::{PaperArg, PickStatusArg, PicklistArgs, PicklistFormat};
use crate::context::Context;
use crate::error::{Error, Exit, Result};
use crate::label::picklist::{Heading, Paper, render_csv, render_pdf, render_text};
use crate::vault::skus::pick_list;

/// Runs `picklist`.
pub fn run(ctx: &Context, args: &PicklistArgs) -> Result<Exit> {
    let _s = ctx.unlock()?;
    use crate::model::lifecycle::Lifecycle::{Labelled, PartiallyShipped, Unshipped};
    let (states, status): (&[_], &str) = match args.status {
        // A partly shipped order's items still in no package are to pick as well.
        PickStatusArg::Unshipped => (&[Unshipped, PartiallyShipped], "unshipped"),
        PickStatusArg::Labelled => (&[Labelled], "labelled"),
        PickStatusArg::Open => (
            &[Unshipped, Labelled, PartiallyShipped],
            "unshipped and labelled",
        ),
    };
    if args.format == PicklistFormat::Pdf && args.out.is_none() && std::io::stdout().is_terminal() {
        return Err(Error::usage(
            "picklist: a PDF goes to a file or a pipe: add --out FILE or pipe it to lp",
        ));
    }
    let list = ctx.vault.read(|tx| pick_list(tx, states))?;
    let heading = Heading {
        status: status.into(),
        generated: ctx.now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    let bytes = match args.format {
        PicklistFormat::Text => render_text(&list, &heading).into_bytes(),
        PicklistFormat::Csv => render_csv(&list)?,
        PicklistFormat::Pdf => render_pdf(
            &list,
            &heading,
            match args.paper {
                PaperArg::Letter => Paper::Letter,
                PaperArg::A4 => Paper::A4,
            },
        ),
    };
    match &args.out {
        Some(path) => {
            crate::home::write_private(path, &bytes)?;
            eprintln!(
                "Wrote the pick list ({} SKU(s), {} order(s)) to {}.",
                list.lines.len(),
                list.orders,
                path.display()
            );
        }
        None => super::write_stdout(&bytes)?,
    }
    Ok(Exit::Ok)
}
