//! `fulfill station --carrier C [--method M] [--to tcp://HOST:PORT] [--dpi 203|300]`: the
//! packing station loop (see [`crate::station`]). Scans come one per line on stdin (a barcode
//! scanner types them); each gets one line back.

use std::io::BufRead;

use chrono::Duration;

use crate::cli::StationArgs;
use crate::context::Context;
use crate::error::{Error, Exit, Result};
use crate::label::{Destination, Format, LabelRequest};
use crate::safety::Environment;
use crate::station::{Scan, Station, StationConfig};

/// Runs `station`.
pub fn run(ctx: &Context, args: &StationArgs) -> Result<Exit> {
    let label = LabelRequest {
        orders: Vec::new(),
        format: Format::Zpl,
        dpi: args.dpi.into(),
        destination: Destination::parse(args.to.as_deref(), None)?,
    };
    let cfg = StationConfig {
        carrier: args.carrier.clone(),
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
        args.carrier
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
            session = ctx.unlock()?;
            station.unlocked(ctx.now());
            answer = station.scan(&session, &env, &line, ctx.now());
        }
        match answer {
            Scan::Labelled(o) => crate::outln!("label printed for {o}; scan its tracking number"),
            Scan::Shipped { order, tracking } => {
                crate::outln!("shipped {order} (tracking {tracking}); scan the next order")
            }
            Scan::NoOrder => crate::outln!("scan an order first: a tracking number needs an order"),
            Scan::Failed(e) => crate::outln!("error: {e}"),
            Scan::Locked => return Err(Error::Denied("the station stayed locked".into())),
            Scan::Done => break,
        }
    }
    if let Some(o) = station.current() {
        crate::outln!("{o} was labelled but not shipped.");
    }
    crate::outln!(
        "Shift over: {} shipped, {} failed scan(s).",
        station.shipped,
        station.failed
    );
    Ok(if station.failed > 0 {
        Exit::Failed
    } else {
        Exit::Ok
    })
}
