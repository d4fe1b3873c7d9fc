//! `fulfill manifest [--date D] [--carrier C] --out FILE.pdf|csv`: the day's parcels per
//! carrier for the driver's pickup scan (packer or owner, as DESIGN.md's command table has it:
//! the people who hand parcels over).
//!
//! Reads no PII and needs no PII key: order ids, parcel numbers and tracking numbers only. The
//! day is the operator's local day (the `TZ` of the process, as `orders` shows times), taken
//! from the command's clock; its bounds are converted to UTC once, here. The file is written
//! 0600 by the crate's one private-file writer, then recorded (`manifest.written`: day,
//! carrier, format, parcel and order counts, the file's path); if the record cannot be
//! written, the file is removed again.

use chrono::{DateTime, Local, NaiveDate, TimeZone, Utc};

use crate::audit::Event;
use crate::cli::{ManifestArgs, PaperArg};
use crate::context::Context;
use crate::error::{Error, Exit, Result};
use crate::label::manifest::{Manifest, render_csv, render_pdf};
use crate::label::picklist::Paper;
use crate::model::tracking::{Carrier, parse_carrier};
use crate::role::Capability;
use crate::vault::shipments::{ManifestParcel, shipped_between};

/// The UTC bounds `[from, to)` of local day `date` in time zone `tz` (a day that starts in a
/// DST gap starts at the first instant that exists).
pub fn day_bounds<Tz: TimeZone>(
    tz: &Tz,
    date: NaiveDate,
) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let start = |d: NaiveDate| -> Result<DateTime<Utc>> {
        let midnight = d.and_hms_opt(0, 0, 0).expect("midnight exists");
        (0..=180)
            .step_by(15)
            .find_map(|m| {
                tz.from_local_datetime(&(midnight + chrono::Duration::minutes(m)))
                    .earliest()
            })
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| Error::usage(format!("{d} has no start in the local time zone")))
    };
    let next = date
        .succ_opt()
        .ok_or_else(|| Error::usage(format!("--date {date}: out of range")))?;
    Ok((start(date)?, start(next)?))
}

/// Whether a parcel's recorded carrier is the one asked for: one of Amazon's codes in any
/// spelling `ship` takes (`ups`, `Royal-Mail`), or an Other carrier's name (case-insensitive).
fn carrier_filter(given: &str) -> impl Fn(&ManifestParcel) -> bool {
    let want = match parse_carrier(given, None) {
        Ok(Carrier::Code(code)) => code.to_string(),
        _ => given.trim().to_string(),
    };
    move |p: &ManifestParcel| p.carrier.eq_ignore_ascii_case(&want)
}

/// Runs `manifest`.
pub fn run(ctx: &Context, args: &ManifestArgs) -> Result<Exit> {
    let csv = match args
        .out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("csv") => true,
        Some("pdf") => false,
        _ => {
            return Err(Error::usage(format!(
                "--out {}: name a .pdf or .csv file (the format follows the name)",
                args.out.display()
            )));
        }
    };
    let s = ctx.unlock()?;
    let now = ctx.now();
    s.require(Capability::Ship, "manifest", now)?;
    let local = now.with_timezone(&Local);
    let date = args.date.unwrap_or_else(|| local.date_naive());
    let (from, to) = day_bounds(&Local, date)?;
    let mut parcels = s.vault().read(|tx| shipped_between(tx, from, to))?;
    if let Some(c) = &args.carrier {
        let keep = carrier_filter(c);
        parcels.retain(|p| keep(p));
    }
    let only = args
        .carrier
        .as_deref()
        .map(|c| format!(" for carrier {}", crate::term::quote(c.trim(), 40)))
        .unwrap_or_default();
    if parcels.is_empty() {
        crate::outln!("No parcels shipped on {date}{only}: no manifest written.");
        return Ok(Exit::Ok);
    }
    let m = Manifest::new(
        date,
        local.format("%Y-%m-%d %H:%M %:z").to_string(),
        parcels,
    );
    let bytes = if csv {
        render_csv(&m)?
    } else {
        render_pdf(
            &m,
            match args.paper {
                PaperArg::Letter => Paper::Letter,
                PaperArg::A4 => Paper::A4,
            },
        )
        .to_vec()
    };
    crate::home::write_private(&args.out, &bytes)?;
    let target = std::fs::canonicalize(&args.out).unwrap_or_else(|_| args.out.clone());
    // Each carrier with its parcel count, as "UPS 2".
    let counts: Vec<String> = m
        .carriers
        .iter()
        .map(|g| format!("{} {}", g.carrier, g.parcels.len()))
        .collect();
    let ev = Event::new("manifest.written")
        .operator(s.name())
        .field("date", date.to_string())
        .field("carrier", args.carrier.as_deref().map(str::trim))
        .field("format", if csv { "csv" } else { "pdf" })
        .field("target", target.to_string_lossy().into_owned())
        .field("parcels", m.parcels() as u64)
        .field("orders", m.orders() as u64)
        .field("carriers", counts);
    if let Err(e) = s.vault().record(&[ev], now) {
        let _ = std::fs::remove_file(&args.out);
        return Err(e);
    }
    if args.json {
        let v = serde_json::json!({
            "date": date.to_string(),
            "target": target.to_string_lossy(),
            "parcels": m.parcels(),
            "orders": m.orders(),
            "carriers": m.carriers.iter().map(|g| serde_json::json!({
                "carrier": g.carrier,
                "parcels": g.parcels,
            })).collect::<Vec<_>>(),
        });
        crate::outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        crate::outln!(
            "Manifest for {date}{only}: {} parcel(s) of {} order(s) ({}) -> {}",
            m.parcels(),
            m.orders(),
            m.per_carrier(),
            target.display()
        );
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    #[test]
    fn a_local_day_is_its_utc_bounds() {
        let berlin = FixedOffset::east_opt(3600).unwrap();
        let d = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let (from, to) = day_bounds(&berlin, d).unwrap();
        assert_eq!(from.to_rfc3339(), "2026-03-01T23:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-03-02T23:00:00+00:00");
        let (from, _) = day_bounds(&Utc, d).unwrap();
        assert_eq!(from.to_rfc3339(), "2026-03-02T00:00:00+00:00");
    }

    #[test]
    fn the_carrier_filter_takes_any_spelling_of_a_code_and_other_names() {
        let p = |c: &str| ManifestParcel {
            carrier: c.into(),
            order_id: "111-0000000-0000001".into(),
            package: 1,
            tracking: "X".into(),
            shipped_at: String::new(),
        };
        assert!(carrier_filter("ups")(&p("UPS")));
        assert!(!carrier_filter("UPS")(&p("USPS")));
        assert!(carrier_filter("hermes")(&p("Hermes")));
    }
}
