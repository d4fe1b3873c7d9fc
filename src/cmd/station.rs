//! `fulfill station --carrier C [--carrier-name NAME] [--no-verify] [--method M] [--to
//! tcp://HOST:PORT] [--dpi 203|300] [--verify]`: the packing station loop (see
//! [`crate::flow::station`]). Scans come one per line on stdin (a barcode scanner types them);
//! each gets one line back, an empty line none. After an idle lock the passphrase is asked on
//! the terminal, never read again from `--passphrase-file`; with no terminal the shift ends
//! (exit 3). Ctrl-C lets the scan in hand finish, prints the shift's summary and exits 130.

use std::io::{BufRead, IsTerminal};
use std::sync::{Arc, Mutex};

use chrono::Duration;

use crate::cli::StationArgs;
use crate::context::Context;
use crate::error::{Error, Exit, Result};
use crate::flow::station::{Scan, Station, StationConfig, unlock_again};
use crate::label::{Destination, Format, LabelRequest};
use crate::model::packing::ItemScan;
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
        verify: args.verify,
    };
    let env = Environment::system();
    let mut session = ctx.unlock()?;
    session.require(crate::role::Capability::Ship, "station", ctx.now())?;
    let mut station = Station::new(cfg, ctx.now());
    // What Ctrl-C prints: the summary as of the last scan answered.
    let summary = Arc::new(Mutex::new(station.summary()));
    let shown = summary.clone();
    crate::interrupt::on_interrupt(move || {
        crate::outln!("Shift ended by Ctrl-C.");
        for l in shown.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            crate::outln!("{l}");
        }
    })?;
    let then = if args.verify {
        "its items, then its tracking number"
    } else {
        "its tracking number"
    };
    crate::outln!(
        "Station open for {} ({}). Scan an order to print its label, then {then}; `done` ends the shift.",
        session.name(),
        crate::term::quote(&carrier.to_string(), 80)
    );
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        // A scan and its answer are one step Ctrl-C waits for.
        let gate = crate::interrupt::hold();
        let mut answer = station.scan(&session, &env, &line, ctx.now());
        if let Scan::Locked = answer {
            drop(gate);
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
                    print_summary(&station);
                    return Err(e);
                }
            };
            station.unlocked(ctx.now());
            let _gate = crate::interrupt::hold();
            answer = station.scan(&session, &env, &line, ctx.now());
            let done = answer_line(answer)?;
            *summary.lock().unwrap_or_else(|e| e.into_inner()) = station.summary();
            if done {
                break;
            }
            continue;
        }
        let done = answer_line(answer)?;
        *summary.lock().unwrap_or_else(|e| e.into_inner()) = station.summary();
        drop(gate);
        if done {
            break;
        }
    }
    print_summary(&station);
    Ok(if station.failed > 0 {
        Exit::Failed
    } else {
        Exit::Ok
    })
}

/// Prints the one line a scan gets; true when the shift ends.
fn answer_line(answer: Scan) -> Result<bool> {
    let left = |o: Option<String>| {
        o.map(|o| format!(" ({o} is left waiting for its tracking number)"))
            .unwrap_or_default()
    };
    let next = |items: Option<String>| match items {
        Some(m) if !m.is_empty() => format!("scan its items: {m}"),
        _ => "scan its tracking number".to_string(),
    };
    match answer {
        Scan::Ignored => {}
        Scan::Labelled {
            order,
            items,
            left_behind,
        } => crate::outln!(
            "label printed for {order}; {}{}",
            next(items),
            left(left_behind)
        ),
        Scan::Again {
            order,
            items,
            left_behind,
        } => crate::outln!(
            "{order} is labelled already (not printed again; `reprint` prints it); {}{}",
            next(items),
            left(left_behind)
        ),
        Scan::AlreadyShipped(o) => {
            crate::outln!("{o} was shipped this shift; nothing printed; scan the next order")
        }
        Scan::Reprinted(o) => crate::outln!("label printed again for {o}"),
        Scan::Item {
            order,
            scan,
            missing,
        } => {
            let still = if missing.is_empty() {
                String::new()
            } else {
                format!("; still to scan: {missing}")
            };
            match scan {
                ItemScan::Packed { item, left: 0, .. } => {
                    crate::outln!("ok {item}; {order} is complete: scan its tracking number")
                }
                ItemScan::Packed {
                    item,
                    scanned,
                    wanted,
                    ..
                } => crate::outln!("ok {item} ({scanned} of {wanted}){still}"),
                ItemScan::Extra { item, wanted } => crate::outln!(
                    "extra item: {order} takes {wanted} of {item}, all scanned; put it back{still}"
                ),
                ItemScan::Wrong => crate::outln!("wrong item: not in {order}; put it back{still}"),
                ItemScan::Misread => crate::outln!(
                    "misread: a UPC/EAN with a wrong check digit; scan it again{still}"
                ),
            }
        }
        Scan::Shipped { order, tracking } => {
            crate::outln!("shipped {order} (tracking {tracking}); scan the next order")
        }
        Scan::NoOrder => crate::outln!("scan an order first: a tracking number needs an order"),
        Scan::Refused { order, reason } => crate::outln!(
            "refused: {}; {order} still waits for its tracking number",
            crate::term::clean(&reason)
        ),
        Scan::Failed(e) => crate::outln!("error: {}", crate::term::clean(&e.to_string())),
        Scan::Locked => return Err(Error::Denied("the station stayed locked".into())),
        Scan::Done => return Ok(true),
    }
    Ok(false)
}

/// The shift's last lines.
fn print_summary(station: &Station) {
    for l in station.summary() {
        crate::outln!("{l}");
    }
}
