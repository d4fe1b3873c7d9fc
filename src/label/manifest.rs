//! The end-of-day pickup manifest: each carrier's parcels of one day (order id, parcel number,
//! tracking number; never a buyer's name or address), as CSV or as a paginated PDF with each
//! tracking number as a Code 128 barcode for the driver's scanner. Pure functions; the caller
//! writes the bytes.
//!
//! Carrier names and tracking numbers are typed text (an `Other` carrier's name, a number taken
//! with `--no-verify`), so they go through the pick list's cleaning: no control characters in
//! either format, no formula in a CSV cell, `<U+XXXX>` for what the PDF's font cannot show. A
//! tracking number is drawn as a barcode only when it is 1 to 48 printable ASCII characters
//! (what Code 128 and a scanner take); otherwise its text stands alone.

use chrono::NaiveDate;
use zeroize::Zeroizing;

use super::pdf::{Canvas, Font, barcode, document};
use super::picklist::{Paper, cell, clean};
use super::text::Chain;
use crate::error::{Error, Result};
use crate::vault::shipments::ManifestParcel;

/// One carrier's parcels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarrierGroup {
    /// The carrier as recorded.
    pub carrier: String,
    /// Its parcels, in the order they shipped.
    pub parcels: Vec<ManifestParcel>,
}

/// A day's manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The operator's local day it covers.
    pub date: NaiveDate,
    /// When it was made, as shown (local time).
    pub generated: String,
    /// Carriers by name, each with its parcels.
    pub carriers: Vec<CarrierGroup>,
}

impl Manifest {
    /// Groups `parcels` (sorted by carrier, as [`crate::vault::shipments::shipped_between`]
    /// returns them) by carrier.
    pub fn new(date: NaiveDate, generated: String, parcels: Vec<ManifestParcel>) -> Manifest {
        let mut carriers: Vec<CarrierGroup> = Vec::new();
        for p in parcels {
            match carriers.last_mut() {
                Some(g) if g.carrier == p.carrier => g.parcels.push(p),
                _ => carriers.push(CarrierGroup {
                    carrier: p.carrier.clone(),
                    parcels: vec![p],
                }),
            }
        }
        Manifest {
            date,
            generated,
            carriers,
        }
    }

    /// Parcels on it.
    pub fn parcels(&self) -> usize {
        self.carriers.iter().map(|g| g.parcels.len()).sum()
    }

    /// Orders on it (an order with two parcels counts once).
    pub fn orders(&self) -> usize {
        let mut ids: Vec<&str> = self
            .carriers
            .iter()
            .flat_map(|g| g.parcels.iter().map(|p| p.order_id.as_str()))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }

    /// "UPS 2, DHL 1": each carrier's parcel count.
    pub fn per_carrier(&self) -> String {
        self.carriers
            .iter()
            .map(|g| format!("{} {}", clean(&g.carrier), g.parcels.len()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The manifest as CSV: `date,carrier,order_id,parcel,tracking`, one row per parcel.
pub fn render_csv(m: &Manifest) -> Result<Vec<u8>> {
    let fail = |e: csv::Error| Error::Failed(format!("manifest CSV: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["date", "carrier", "order_id", "parcel", "tracking"])
        .map_err(fail)?;
    let date = m.date.to_string();
    for g in &m.carriers {
        for p in &g.parcels {
            w.write_record([
                date.clone(),
                cell(&g.carrier),
                cell(&p.order_id),
                p.package.to_string(),
                cell(&p.tracking),
            ])
            .map_err(fail)?;
        }
    }
    w.into_inner()
        .map_err(|e| Error::Failed(format!("manifest CSV: {e}")))
}

/// Whether a tracking number can be drawn as Code 128 for a scanner.
fn scannable(tracking: &str) -> bool {
    (1..=48).contains(&tracking.len()) && tracking.bytes().all(|b| b.is_ascii_graphic())
}

const MARGIN: f32 = 40.0;
const ROW: f32 = 44.0;
const HEAD: f32 = 30.0;

/// What goes on a page, top to bottom.
enum Block<'a> {
    /// A carrier's heading (its name, its parcel count; "continued" on a later page).
    Carrier(&'a CarrierGroup, bool),
    /// One parcel.
    Parcel(&'a ManifestParcel),
}

/// The manifest as a paginated PDF (Letter or A4, the labels' embedded fonts): per carrier its parcel
/// count, then each parcel's order id, parcel number, tracking number and its barcode; the
/// totals and a line for the driver's signature at the end.
pub fn render_pdf(m: &Manifest, paper: Paper) -> Zeroizing<Vec<u8>> {
    let (pw, ph) = match paper {
        Paper::Letter => (612.0, 792.0),
        Paper::A4 => (595.0, 842.0),
    };
    let top = ph - MARGIN - 46.0;
    let bottom = MARGIN + 70.0;
    // Lay the blocks out on pages first, so the page count is known for the footer.
    let mut pages: Vec<Vec<Block<'_>>> = vec![Vec::new()];
    let mut y = top;
    for g in &m.carriers {
        let mut first = true;
        for p in &g.parcels {
            let need = if first { HEAD + ROW } else { ROW };
            if y - need < bottom {
                pages.push(Vec::new());
                y = top;
                first = true;
            }
            if first {
                let continued = pages
                    .iter()
                    .flatten()
                    .any(|b| matches!(b, Block::Carrier(c, _) if std::ptr::eq(*c, g)));
                pages
                    .last_mut()
                    .expect("a page")
                    .push(Block::Carrier(g, continued));
                y -= HEAD;
                first = false;
            }
            pages.last_mut().expect("a page").push(Block::Parcel(p));
            y -= ROW;
        }
    }
    let n = pages.len();
    let text = |c: &mut Canvas, x: f32, y: f32, size: f32, bold: bool, s: &str| {
        let font = if bold { Font::Bold } else { Font::Regular };
        c.text((x, y), size, font, s);
    };
    let mut out = Vec::with_capacity(n);
    for (i, blocks) in pages.iter().enumerate() {
        let mut c = Canvas::new(Chain::default());
        text(
            &mut c,
            MARGIN,
            ph - MARGIN - 4.0,
            15.0,
            true,
            &format!("Pickup manifest {}", m.date),
        );
        text(
            &mut c,
            MARGIN,
            ph - MARGIN - 22.0,
            9.0,
            false,
            &format!(
                "{} parcel(s), {} order(s): {}. Generated {}.",
                m.parcels(),
                m.orders(),
                m.per_carrier(),
                m.generated
            ),
        );
        let mut y = top;
        for b in blocks {
            match b {
                Block::Carrier(g, continued) => {
                    let more = if *continued { " (continued)" } else { "" };
                    text(
                        &mut c,
                        MARGIN,
                        y - 16.0,
                        12.0,
                        true,
                        &format!("{}: {} parcel(s){more}", g.carrier, g.parcels.len()),
                    );
                    text(&mut c, MARGIN, y - 27.0, 8.0, true, "ORDER");
                    text(&mut c, MARGIN + 120.0, y - 27.0, 8.0, true, "PARCEL");
                    text(&mut c, MARGIN + 165.0, y - 27.0, 8.0, true, "TRACKING");
                    c.content.move_to(MARGIN, y - HEAD + 1.0);
                    c.content.line_to(pw - MARGIN, y - HEAD + 1.0);
                    c.content.stroke();
                    y -= HEAD;
                }
                Block::Parcel(p) => {
                    text(&mut c, MARGIN, y - 14.0, 9.0, false, &p.order_id);
                    text(
                        &mut c,
                        MARGIN + 120.0,
                        y - 14.0,
                        9.0,
                        false,
                        &p.package.to_string(),
                    );
                    text(&mut c, MARGIN + 165.0, y - 14.0, 9.0, false, &p.tracking);
                    if scannable(&p.tracking) {
                        let x = MARGIN + 165.0;
                        barcode(
                            &mut c.content,
                            &p.tracking,
                            (x, y - 40.0),
                            pw - MARGIN - x,
                            22.0,
                        );
                    }
                    y -= ROW;
                }
            }
        }
        if i + 1 == n {
            if m.carriers.is_empty() {
                text(
                    &mut c,
                    MARGIN,
                    top - 16.0,
                    11.0,
                    false,
                    "No parcels shipped this day.",
                );
            }
            text(
                &mut c,
                MARGIN,
                MARGIN + 44.0,
                10.0,
                false,
                &format!(
                    "Total: {} parcel(s). Received by driver: ____________________   \
                     Time: ________",
                    m.parcels()
                ),
            );
        }
        text(
            &mut c,
            MARGIN,
            MARGIN,
            8.0,
            false,
            &format!("Page {} of {n}", i + 1),
        );
        out.push(c.finish((pw, ph)));
    }
    document(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parcel(carrier: &str, order: &str, package: u32, tracking: &str) -> ManifestParcel {
        ManifestParcel {
            carrier: carrier.into(),
            order_id: order.into(),
            package,
            tracking: tracking.into(),
            shipped_at: "2026-03-02T10:00:00.000Z".into(),
        }
    }

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()
    }

    #[test]
    fn parcels_are_grouped_by_carrier_and_counted() {
        let m = Manifest::new(
            day(),
            "2026-03-02 17:00".into(),
            vec![
                parcel("DHL", "111-0000000-0000001", 1, "JJD000390007123456789"),
                parcel("UPS", "111-0000000-0000002", 1, "1Z999AA10123456784"),
                parcel("UPS", "111-0000000-0000002", 2, "1Z999AA10123456793"),
            ],
        );
        assert_eq!(m.carriers.len(), 2);
        assert_eq!((m.parcels(), m.orders()), (3, 2));
        assert_eq!(m.per_carrier(), "DHL 1, UPS 2");
    }

    #[test]
    fn csv_cells_are_cleaned_and_never_formulas() {
        let m = Manifest::new(
            day(),
            String::new(),
            vec![parcel(
                "=cmd|' /C calc'!A0",
                "111-0000000-0000001",
                1,
                "AB\u{1b}[2J12",
            )],
        );
        let csv = String::from_utf8(render_csv(&m).unwrap()).unwrap();
        assert_eq!(
            csv,
            "date,carrier,order_id,parcel,tracking\n\
             2026-03-02,'=cmd|' /C calc'!A0,111-0000000-0000001,1,AB[2J12\n"
        );
    }

    #[test]
    fn a_long_day_is_paginated_and_its_last_parcel_shown() {
        let parcels: Vec<ManifestParcel> = (0..40)
            .map(|i| {
                parcel(
                    "UPS",
                    &format!("111-0000000-{i:07}"),
                    1,
                    &format!("1Z{i:016}"),
                )
            })
            .collect();
        let m = Manifest::new(day(), String::new(), parcels);
        let pdf = render_pdf(&m, Paper::Letter);
        let has = |s: &[u8]| pdf.windows(s.len()).any(|w| w == s);
        // 596 pt between the heading and the foot: a carrier heading (30 pt) and 12 rows of 44 pt
        // a page.
        assert!(has(b"/Count 4"), "40 rows need 4 Letter pages");
        assert!(has(b"Page 4 of 4") && has(b"(continued)") && !has(b"Page 5"));
        assert!(has(b"1Z0000000000000039"));
        // An unscannable number is shown as text, without bars.
        assert!(!scannable("") && !scannable("AB CD") && !scannable(&"9".repeat(49)));
        assert!(scannable("1Z999AA10123456784"));
    }
}
