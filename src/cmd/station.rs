//! `fulfill station --carrier C [--carrier-name NAME] [--no-verify] [--method M] [--to
//! tcp://HOST:PORT] [--dpi 203|300]`: the packing station loop (see [`crate::flow::station`]).
//! Scans come one per line on stdin (a barcode scanner types them); each gets one line back. After an idle lock the passphrase is asked on
//! the terminal, never read again from `--passphrase-file`; with no terminal the shift ends
//! (exit 3).

use std::io::{BufRead, IsTerminal};

use chrono::Duration;

use crate::cli::StationArgs;
use crate::context::Context;
use crate::error::{Error, Exit, Result};
use crate::flow::station::{Scan, Station, StationConfig, unlock_again};
use crate::label::{Destination, Format, LabelRequest};
use crate::safety::Environment;
use crate::vault::key::Passphrase;

/// Runs `station`.
pub fn run(ctx: &Context, args: &StationArgs) -> Result<Exit> {
    let label = LabelRequest {
        orders: Vec::new(),
        format: Format::Zpl,
        dpi: args.dpi.into(),
        destination: Destination::parse(args.to.as_deref(), None)?,
        return_address: super::label::return_address(ctx)?,
    };
    let carrier =
        crate::model::tracking::parse_carrier(&args.carrier, args.carrier_name.as_deref())
            .map_err(Error::Usage)?;
    if args.no_verify && carrier.has_rule() {
        return Err(Error::usage(format!(
            "{carrier} tracking numbers are checked by their published format; --no-verify is \
             for carriers whose numbers the tool does not know"
        )));
    }
    let cfg = StationConfig {
        carrier: carrier.clone(),
        no_verify: args.no_verify,
        method: args.method.clone(),
        label,
        idle: Duration::minutes(i64::from(args.idle_minutes)),
    };
    let env = Environment::system();
    let mut session = ctx.unlock()?;
    session.require(crate::role::Capability::Ship, "station", ctx.now())?;
    let mut station = Station::new(cfg, ctx.now());
    crate::outln!(
        "Station open for {} ({}). Scan an order to print its label, then its tracking number; `done` ends the shift.",
        session.name(),
        crate::term::quote(&carrier.to_string(), 80)
    );
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let mut answer = station.scan(&session, &env, &line, ctx.now());
        if let Scan::Locked = answer {
            crate::outln!(
                "Locked after {} idle minute(s): unlock to go on.",
                args.idle_minutes
            );
            drop(session);
            let name = ctx.operator_name()?;
            let mut prompt = || {
                rpassword::prompt_password(format!("Passphrase for {name}: ")).map(Passphrase::new)
            };
            let terminal: Option<&mut dyn FnMut() -> std::io::Result<Passphrase>> =
                if std::io::stdin().is_terminal() {
                    Some(&mut prompt)
                } else {
                    None
                };
            session = match unlock_again(&ctx.vault, &name, terminal, ctx.now()) {
                Ok(s) => s,
                Err(e) => {
                    summary(&station);
                    return Err(e);
                }
            };
            station.unlocked(ctx.now());
            answer = station.scan(&session, &env, &line, ctx.now());
        }
        match answer {
            Scan::Labelled(o) => crate::outln!("label printed for {o}; scan its tracking number"),
            Scan::Shipped { order, tracking } => {
                crate::outln!("shipped {order} (tracking {tracking}); scan the next order")
            }
            Scan::NoOrder => crate::outln!("scan an order first: a tracking number needs an order"),
            Scan::Refused { order, reason } => crate::outln!(
                "refused: {}; {order} still waits for its tracking number",
                crate::term::clean(&reason)
            ),
            Scan::Failed(e) => crate::outln!("error: {e}"),
            Scan::Locked => return Err(Error::Denied("the station stayed locked".into())),
            Scan::Done => break,
        }
    }
    summary(&station);
    Ok(if station.failed > 0 {
        Exit::Failed
    } else {
        Exit::Ok
    })
}

/// The shift's last lines.
fn summary(station: &Station) {
    if let Some(o) = station.current() {
        crate::outln!("{o} was labelled but not shipped.");
    }
    crate::outln!(
        "Shift over: {} shipped, {} failed scan(s).",
        station.shipped,
        station.failed
    );
}
