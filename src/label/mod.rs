//! Shipping labels: a 4 × 6 inch ZPL label (the return address, the ship-to block, the order
//! id as a Code 128 barcode, the service level), and where it goes.
//!
//! **Layout** ([`layout`]): every text block is wrapped to the label's width by the font's real
//! widths and shrunk until it fits its box, never cut; an address that does not fit even at
//! the smallest size refuses its order (a usage error, so the batch leaves it out with one
//! line). The country is its English name in capitals ([`country`]).
//!
//! **Rendering** is pure ([`zpl`], [`pdf`]: facts + PII -> bytes). In ZPL the printer draws
//! the `^BC` barcode and the text its resident font 0 covers (Latin-1; `^CI28` makes it read
//! UTF-8 but adds no glyphs); every text field goes through `^FH` hex escapes, so a `^` or `~`
//! in an address cannot inject printer commands. A block with any other character (Polish,
//! Greek, Cyrillic, CJK, Arabic, Hebrew, Thai, Indic) is drawn by the same text stack as the
//! PDF ([`text`]: Noto, shaped, bidi-ordered) into a 1-bit image sent as a `^GF` field. The
//! label is built in a zeroizing buffer. A PDF label (`--format pdf`) and a packing slip draw
//! every script in embedded fonts; on either format a character no font has refuses its
//! order naming the package to install. The PDF's Code 128 barcode is drawn from the
//! `code128` crate's bars.
//!
//! **Destinations** ([`sink`], [`Destination`]): a raw TCP printer (`tcp://HOST:PORT`, port
//! 9100 on most label printers), a queue of the local CUPS server (`cups:QUEUE`, [`cups`]), a
//! file the operator names, or by default a file in `spool/`.
//! Every file is written 0600, refused on removable media or in a cloud-sync folder, and
//! tracked per order in the vault so `purge` destroys it with the order's PII (COMPLIANCE R20).

pub mod country;
pub mod cups;
pub mod layout;
pub mod manifest;
pub mod pdf;
pub mod picklist;
pub mod sink;
pub mod slip;
pub mod text;
pub mod zpl;

use chrono::{DateTime, Utc};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::model::lifecycle::Lifecycle;
use crate::model::shipping::ShipFrom;
use crate::pii::{BuyerPii, Pii};
use crate::role::Capability;
use crate::safety::Environment;
use crate::vault::{Opened, Purpose, Session, labels};

pub use pdf::render_pdf;
pub use sink::Kind;
pub use sink::{Destination, send_to_printer};
pub(crate) use sink::{Rendering, deliver, prepare};
pub use zpl::render_zpl;

/// Printer resolutions the label is laid out for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dpi {
    /// 8 dots per mm.
    D203,
    /// 12 dots per mm.
    D300,
}

impl From<crate::cli::DpiArg> for Dpi {
    fn from(d: crate::cli::DpiArg) -> Self {
        match d {
            crate::cli::DpiArg::D203 => Dpi::D203,
            crate::cli::DpiArg::D300 => Dpi::D300,
        }
    }
}

impl Dpi {
    pub(crate) fn dots(self) -> u32 {
        match self {
            Dpi::D203 => 203,
            Dpi::D300 => 300,
        }
    }

    /// Scales a 203-dpi coordinate.
    pub(crate) fn s(self, v: u32) -> u32 {
        v * self.dots() / 203
    }
}

/// What a label shows besides the address (no PII).
#[derive(Debug, Clone, Default)]
pub struct LabelFacts {
    /// `AmazonOrderId` (printed and as the barcode).
    pub order_id: String,
    /// `ShipServiceLevel`.
    pub service_level: Option<String>,
    /// Destination country code.
    pub country: Option<String>,
    /// Items, e.g. "SKU-1 x2".
    pub items: Vec<String>,
    /// The marketplace it was sold in (Amazon's id), when known.
    pub marketplace: Option<String>,
}

pub(crate) fn value(p: &Option<Pii>) -> Option<&str> {
    p.as_ref()
        .map(Pii::expose_pii)
        .filter(|v| !v.trim().is_empty())
}

/// The ship-to block, line by line (city, region and postcode share one line; the country is
/// its English name in capitals); empty lines are left out. Each line is a paragraph the
/// layout may wrap.
pub(crate) fn address_lines(facts: &LabelFacts, pii: &BuyerPii) -> Vec<Zeroizing<String>> {
    let one = |p: &Option<Pii>| value(p).map(|v| Zeroizing::new(v.to_string()));
    let place: Vec<&str> = [&pii.city, &pii.state_or_region, &pii.postal_code]
        .into_iter()
        .filter_map(value)
        .collect();
    [
        one(&pii.recipient_name),
        one(&pii.address_line1),
        one(&pii.address_line2),
        one(&pii.address_line3),
        one(&pii.district),
        one(&pii.county),
        (!place.is_empty()).then(|| Zeroizing::new(place.join(" "))),
        facts
            .country
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .map(|c| Zeroizing::new(country::country_name(c))),
        one(&pii.phone),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// True when every letter of `text` is Latin (Basic Latin, Latin-1, Latin Extended A/B and
/// Additional, IPA; digits, spaces and punctuation count for nothing).
pub(crate) fn is_latin(text: &str) -> bool {
    text.chars().filter(|c| c.is_alphabetic()).all(|c| {
        matches!(c as u32, 0x0041..=0x024F | 0x0250..=0x02AF | 0x1E00..=0x1EFF | 0x2C60..=0x2C7F
            | 0xA720..=0xA7FF | 0xAB30..=0xAB6F | 0xFB00..=0xFB06)
    })
}

/// Whether a label crosses a border: the destination's country differs from the ship-from's
/// (`None` when either is unknown: no `[ship_from]`, or an order without a country).
pub(crate) fn crosses_border(facts: &LabelFacts, from: Option<&ShipFrom>) -> Option<bool> {
    let to = facts.country.as_deref()?.trim();
    let from = from?.country.trim();
    if to.is_empty() || from.is_empty() {
        return None;
    }
    let norm = |c: &str| match c.to_ascii_uppercase().as_str() {
        "UK" => "GB".to_string(),
        c => c.to_string(),
    };
    Some(norm(to) != norm(from))
}

/// The ship-to block of a label, for the carrier (issue 21 item 4). Domestic, or when the
/// origin is unknown, it is [`address_lines`] as it always was: the address as Amazon gave it,
/// in the buyer's script, and the country's English name. An international parcel whose address
/// is not in Latin script gets what an international carrier reads: the address as Amazon gave
/// it (the destination's last mile reads that), then the destination country's English name in
/// capitals as the block's LAST line, on its own (UPU and USPS IMM 122: the country of
/// destination in roman capitals, last), so the phone moves above it.
pub(crate) fn ship_to_lines(
    facts: &LabelFacts,
    pii: &BuyerPii,
    from: Option<&ShipFrom>,
) -> Vec<Zeroizing<String>> {
    let mut lines = address_lines(facts, pii);
    let abroad = crosses_border(facts, from) == Some(true);
    if !abroad || lines.iter().all(|l| is_latin(l)) {
        return lines;
    }
    if let Some(code) = facts.country.as_deref() {
        let name = country::country_name(code);
        lines.retain(|l| l.as_str() != name);
        lines.push(Zeroizing::new(name));
    }
    lines
}

/// The return address block from the seller's `[ship_from]` (no PII): name, street lines,
/// city/region/postcode, the country in capitals.
pub(crate) fn return_lines(from: &ShipFrom) -> Vec<String> {
    let place: Vec<&str> = [
        Some(&from.city),
        from.state.as_ref(),
        Some(&from.postal_code),
    ]
    .into_iter()
    .flatten()
    .map(|s| s.trim())
    .filter(|s| !s.is_empty())
    .collect();
    [
        Some(from.name.clone()),
        Some(from.address_line1.clone()),
        from.address_line2.clone(),
        Some(place.join(" ")),
        Some(country::country_name(&from.country)),
    ]
    .into_iter()
    .flatten()
    .filter(|l| !l.trim().is_empty())
    .collect()
}

/// The refusal of an order whose address does not fit `on` (the 4x6 label) even at `min`, the
/// smallest size (ids only: no address text).
pub(crate) fn does_not_fit(order_id: &str, on: &str, why: layout::Misfit, min: &str) -> Error {
    Error::usage(format!(
        "the address of order {order_id} does not fit {on} even at {min} ({}); it was not \
         printed: buy its label from Amazon with `fulfill buy` (Amazon prints the address) or \
         write it by hand",
        why.reason()
    ))
}

/// The refusal of a return address (`[ship_from]`) that does not fit the label's return block.
pub(crate) fn return_does_not_fit(why: layout::Misfit) -> Error {
    Error::usage(format!(
        "the return address (ship_from in config.toml) does not fit the label's return block \
         ({}); shorten it with `fulfill config set ship_from.FIELD VALUE`",
        why.reason()
    ))
}

/// Label file formats the tool renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Zebra ZPL II: the printer draws the barcode and Latin-1 text (its resident font 0);
    /// other scripts are rasterised into `^GF` images.
    Zpl,
    /// PDF with embedded Noto fonts (any script) and a drawn Code 128 barcode.
    Pdf,
}

impl Format {
    pub(crate) fn ext(self) -> &'static str {
        match self {
            Format::Zpl => "zpl",
            Format::Pdf => "pdf",
        }
    }
}

/// What to print.
#[derive(Debug, Clone)]
pub struct LabelRequest {
    /// The orders, in order (a repeated id is printed once).
    pub orders: Vec<String>,
    /// ZPL or PDF.
    pub format: Format,
    /// The printer's resolution (ZPL).
    pub dpi: Dpi,
    /// Where the labels go.
    pub destination: Destination,
    /// The seller's return address (`[ship_from]`), printed atop the label when set.
    pub return_address: Option<ShipFrom>,
}

/// One label (or slip) printed (`label --json`, `slip --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Printed {
    /// `AmazonOrderId`.
    pub order_id: String,
    /// `spool`, `file` or `printer`.
    pub destination: &'static str,
    /// The file's absolute path, or the printer's address.
    pub target: String,
}

/// An order left out of a print job, and why (one line, ids only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The order id as given.
    pub order_id: String,
    /// Why it was left out.
    pub reason: String,
}

/// What a print job did: the orders printed (all in one job) and those left out.
#[derive(Debug, Default)]
pub struct Batch {
    /// One per order printed, all with the same target.
    pub printed: Vec<Printed>,
    /// Orders that could not be printed, each with its one-line reason.
    pub skipped: Vec<Skipped>,
}

impl Batch {
    /// The exit code a command gives: 0 all printed, 1 some left out (the rest printed),
    /// 2 nothing printed.
    pub fn exit(&self) -> crate::error::Exit {
        use crate::error::Exit;
        match (self.printed.is_empty(), self.skipped.is_empty()) {
            (_, true) => Exit::Ok,
            (false, false) => Exit::Failed,
            (true, false) => Exit::Usage,
        }
    }
}

/// The orders in these lifecycle states (`--all-unshipped`, `--status`), by id.
pub fn orders_in(s: &Session<'_>, lifecycles: &[Lifecycle]) -> Result<Vec<String>> {
    s.vault().read(|tx| labels::orders_in(tx, lifecycles))
}

/// Prints the labels of `req.orders` as `s` (packer or owner, who hold the PII key) as ONE
/// print job: one ZPL stream or one multi-page PDF, to one file or one printer connection.
///
/// Every order is checked before any address is opened: one that is not in the vault, was
/// purged, came without an address (`Pending`, withheld) or is canceled is left out with its
/// reason ([`Batch::skipped`]), and so is one whose address the PDF font cannot show. The
/// addresses of the rest are opened with ONE `pii.opened` record (purpose `label`, `count`,
/// `orders`), and the job is recorded with ONE `label.printed` (`count`, `orders`, where it
/// went) in the transaction that tracks its file for every order and moves unshipped orders to
/// `labelled`. A file whose record cannot be written is removed again; nothing is printed when
/// every order is left out.
pub fn print(
    s: &Session<'_>,
    env: &Environment,
    req: &LabelRequest,
    now: DateTime<Utc>,
) -> Result<Batch> {
    s.require(Capability::Ship, "label", now)?;
    let from = req.return_address.as_ref();
    // A return address that does not fit would refuse every order: refused once, up front.
    if let Some(from) = from {
        match req.format {
            Format::Zpl => zpl::check_return(from, req.dpi)?,
            Format::Pdf => pdf::check_return(from)?,
        }
    }
    let how = Rendering {
        ext: req.format.ext(),
        dpi: (req.format == Format::Zpl).then(|| req.dpi.dots()),
        kind: Kind::Label,
    };
    let job = Job {
        orders: &req.orders,
        destination: &req.destination,
        purpose: Purpose::Label,
        gift_messages: false,
        how,
    };
    run(
        s,
        env,
        &job,
        labels::facts,
        |f, opened| match req.format {
            Format::Zpl => render_zpl(f, &opened.pii, req.dpi, from).map(Piece::Zpl),
            Format::Pdf => pdf::label_page(f, &opened.pii, from).map(|p| Piece::Pages(vec![p])),
        },
        now,
    )
}

/// A rendered order: ZPL bytes, or PDF pages.
pub(crate) enum Piece {
    /// One `^XA ... ^XZ` label.
    Zpl(zeroize::Zeroizing<Vec<u8>>),
    /// One or more pages.
    Pages(Vec<pdf::Page>),
}

/// A print job before it runs.
pub(crate) struct Job<'a> {
    pub(crate) orders: &'a [String],
    pub(crate) destination: &'a Destination,
    pub(crate) purpose: Purpose,
    pub(crate) gift_messages: bool,
    pub(crate) how: Rendering,
}

/// The print flow shared by labels and slips: vet every order (`facts_of`; a usage error
/// leaves the order out), check the destination, open the rest with one record, render
/// (`render`; a usage error leaves the order out), and deliver one job.
pub(crate) fn run<F>(
    s: &Session<'_>,
    env: &Environment,
    job: &Job<'_>,
    facts_of: impl Fn(&crate::vault::Tx<'_>, &str) -> Result<F>,
    render: impl Fn(&F, &Opened) -> Result<Piece>,
    now: DateTime<Utc>,
) -> Result<Batch> {
    let mut batch = Batch::default();
    let mut seen = std::collections::HashSet::new();
    let mut vetted = Vec::new();
    for id in job.orders {
        if !seen.insert(id.as_str()) {
            continue;
        }
        match s.vault().read(|tx| facts_of(tx, id)) {
            Ok(f) => vetted.push((id.clone(), f)),
            Err(Error::Usage(reason)) => batch.skipped.push(Skipped {
                order_id: id.clone(),
                reason,
            }),
            Err(e) => return Err(e),
        }
    }
    // Where it goes is checked before any address is opened.
    let target = prepare(s, env, job.destination)?;
    if matches!(job.destination, Destination::File(_)) {
        // A batch file an order was cancelled out of (`buy --cancel`) is reprinted without it.
        let mut kept = Vec::new();
        for (id, f) in vetted {
            if s.vault()
                .read(|tx| labels::cancelled_in(tx, &target, &id))?
            {
                batch.skipped.push(Skipped {
                    reason: format!(
                        "order {id} was cancelled out of {} (its bought label was cancelled) and \
                         is not printed into that batch again; print it on its own",
                        target.display()
                    ),
                    order_id: id,
                });
            } else {
                kept.push((id, f));
            }
        }
        vetted = kept;
    }
    if vetted.is_empty() {
        return Ok(batch);
    }
    let ids: Vec<String> = vetted.iter().map(|(id, _)| id.clone()).collect();
    // The opening is recorded by `deliver_opened`, before any of the PII leaves this process
    // (or here, if nothing is left to print).
    let (opened, opening) = s.open_pii_deferred(&ids, job.purpose, job.gift_messages, now)?;
    let mut zpl = Vec::new();
    let mut pages = Vec::new();
    let mut orders = Vec::new();
    for ((id, f), o) in vetted.iter().zip(&opened) {
        match render(f, o) {
            Ok(Piece::Zpl(z)) => zpl.push(z),
            Ok(Piece::Pages(p)) => pages.extend(p),
            Err(Error::Usage(reason)) => {
                batch.skipped.push(Skipped {
                    order_id: id.clone(),
                    reason,
                });
                continue;
            }
            Err(e) => return Err(e),
        }
        orders.push(id.clone());
    }
    drop(opened);
    if orders.is_empty() {
        s.vault().record(&[opening], now)?;
        return Ok(batch);
    }
    let bytes = if pages.is_empty() {
        // Sized once, so it never reallocates (a reallocation would leave an unzeroized copy).
        let mut all =
            zeroize::Zeroizing::new(Vec::with_capacity(zpl.iter().map(|z| z.len()).sum()));
        for z in &zpl {
            all.extend_from_slice(z);
        }
        all
    } else {
        pdf::document(&pages)
    };
    let one = sink::Job {
        orders,
        bytes,
        bought: None,
    };
    batch.printed = sink::deliver_opened(
        s,
        job.destination,
        &target,
        &one,
        &job.how,
        Some(opening),
        now,
    )?;
    Ok(batch)
}

/// What packing slips to print.
#[derive(Debug, Clone)]
pub struct SlipRequest {
    /// The orders, in order (a repeated id is printed once).
    pub orders: Vec<String>,
    /// Paper size.
    pub paper: slip::Paper,
    /// Where the slips go.
    pub destination: Destination,
}

/// Prints the packing slips of `req.orders` as `s` (packer or owner) as ONE print job: one
/// PDF, a page or more per order. The same checks, records and tracking as [`print`], with
/// purpose `slip`: ONE `pii.opened` for the batch (addresses and gift messages,
/// `fields` says so) and ONE `slip.printed`; slip files are tracked with the order like
/// labels (so `purge` destroys them), and an order's lifecycle does not change.
pub fn print_slips(
    s: &Session<'_>,
    env: &Environment,
    req: &SlipRequest,
    now: DateTime<Utc>,
) -> Result<Batch> {
    s.require(Capability::Ship, "slip", now)?;
    let job = Job {
        orders: &req.orders,
        destination: &req.destination,
        purpose: Purpose::PackingSlip,
        gift_messages: true,
        how: Rendering {
            ext: "pdf",
            dpi: None,
            kind: Kind::Slip,
        },
    };
    run(
        s,
        env,
        &job,
        labels::slip_facts,
        |f, opened| {
            slip::slip_pages(f, &opened.pii, &opened.gift_messages, req.paper).map(Piece::Pages)
        },
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn japanese() -> BuyerPii {
        BuyerPii {
            recipient_name: Some(Pii::new("山田 太郎")),
            address_line1: Some(Pii::new("丸の内2丁目7-2")),
            city: Some(Pii::new("千代田区")),
            postal_code: Some(Pii::new("100-0001")),
            phone: Some(Pii::new("+81 3 5555 0101")),
            ..Default::default()
        }
    }

    fn from(country: &str) -> ShipFrom {
        ShipFrom {
            country: country.into(),
            ..Default::default()
        }
    }

    fn texts(lines: &[Zeroizing<String>]) -> Vec<&str> {
        lines.iter().map(|l| l.as_str()).collect()
    }

    #[test]
    fn abroad_a_non_latin_address_ends_with_the_country_in_english_capitals() {
        let facts = LabelFacts {
            country: Some("JP".into()),
            ..Default::default()
        };
        let pii = japanese();
        // From the US: as Amazon gave it, then JAPAN last, on its own line.
        let abroad = ship_to_lines(&facts, &pii, Some(&from("US")));
        assert_eq!(
            texts(&abroad),
            [
                "山田 太郎",
                "丸の内2丁目7-2",
                "千代田区 100-0001",
                "+81 3 5555 0101",
                "JAPAN"
            ]
        );
        // Domestic (and without a known origin): as it always was.
        for origin in [Some(from("jp")), None] {
            let home = ship_to_lines(&facts, &pii, origin.as_ref());
            assert_eq!(texts(&home), texts(&address_lines(&facts, &pii)));
            assert_eq!(texts(&home)[3], "JAPAN");
        }
        // A Latin address abroad is left as it is (its country line was already English).
        let latin = BuyerPii {
            recipient_name: Some(Pii::new("Zoë Łódź")),
            phone: Some(Pii::new("+48 1")),
            ..Default::default()
        };
        let pl = LabelFacts {
            country: Some("PL".into()),
            ..Default::default()
        };
        assert_eq!(
            texts(&ship_to_lines(&pl, &latin, Some(&from("DE")))),
            ["Zoë Łódź", "POLAND", "+48 1"]
        );
        assert_eq!(crosses_border(&pl, Some(&from("UK"))), Some(true));
        assert_eq!(
            crosses_border(&LabelFacts::default(), Some(&from("DE"))),
            None
        );
        assert!(is_latin("Zoë Łódź İstanbul Ağrı 12") && !is_latin("Αθήνα 10563"));
    }
}
