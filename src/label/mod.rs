//! Shipping labels: a 4 × 6 inch ZPL label (ship-to block, the order id as a Code 128 barcode,
//! the service level), and where it goes.
//!
//! **Rendering** is pure ([`zpl`], [`pdf`]: facts + PII -> bytes). ZPL needs no crate: the
//! printer draws the text and the `^BC` barcode itself. Every text field goes through `^FH`
//! hex escapes, so a `^` or `~` in an address cannot inject printer commands. `^CI28` makes the
//! printer read UTF-8. The label is built in a zeroizing buffer. A PDF label (`--format pdf`)
//! uses the built-in Helvetica, so it shows Latin-1 text only (a non-Latin address is refused
//! with a pointer to ZPL, whose printer draws any script); its Code 128 barcode is drawn from
//! the `code128` crate's bars.
//!
//! **Destinations** ([`sink`], [`Destination`]): a raw TCP printer (`tcp://HOST:PORT`, port
//! 9100 on most label printers), a file the operator names, or by default a file in `spool/`.
//! Every file is written 0600, refused on removable media or in a cloud-sync folder, and
//! tracked per order in the vault so `purge` destroys it with the order's PII (COMPLIANCE R20).

pub mod pdf;
pub mod sink;
pub mod zpl;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::Result;
use crate::pii::{BuyerPii, Pii};
use crate::role::Capability;
use crate::safety::Environment;
use crate::vault::{Purpose, Session, labels};

pub use pdf::render_pdf;
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
}

pub(crate) fn value(p: &Option<Pii>) -> Option<&str> {
    p.as_ref()
        .map(Pii::expose_pii)
        .filter(|v| !v.trim().is_empty())
}

/// The ship-to block, line by line, each line as its parts (city, region and postcode share
/// one line); empty lines are left out.
pub(crate) fn address_lines<'a>(facts: &'a LabelFacts, pii: &'a BuyerPii) -> Vec<Vec<&'a str>> {
    let one = |p: &'a Option<Pii>| value(p).into_iter().collect::<Vec<_>>();
    let lines = vec![
        one(&pii.recipient_name),
        one(&pii.address_line1),
        one(&pii.address_line2),
        one(&pii.address_line3),
        one(&pii.district),
        one(&pii.county),
        [&pii.city, &pii.state_or_region, &pii.postal_code]
            .into_iter()
            .filter_map(value)
            .collect(),
        facts.country.as_deref().into_iter().collect(),
        one(&pii.phone),
    ];
    lines.into_iter().filter(|l| !l.is_empty()).collect()
}

/// Label file formats the tool renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Zebra ZPL II: the printer draws text (any script, `^CI28`) and the barcode.
    Zpl,
    /// PDF with the built-in Helvetica (Latin-1 text only) and a drawn Code 128 barcode.
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
    /// The orders, in order.
    pub orders: Vec<String>,
    /// ZPL or PDF.
    pub format: Format,
    /// The printer's resolution (ZPL).
    pub dpi: Dpi,
    /// Where the labels go.
    pub destination: Destination,
}

/// One label printed (`label --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Printed {
    /// `AmazonOrderId`.
    pub order_id: String,
    /// `spool`, `file` or `printer`.
    pub destination: &'static str,
    /// The file's absolute path, or the printer's address.
    pub target: String,
}

/// Prints the labels of `req.orders` as `s` (packer or owner, who hold the PII key).
///
/// Every order is checked before any address is opened; each opening is recorded
/// (`pii.opened`, purpose `label`); each label is recorded (`label.printed`, with where it
/// went) in the same transaction that tracks its file and moves an unshipped order to
/// `labelled`. A file whose record cannot be written is removed again.
pub fn print(
    s: &Session<'_>,
    env: &Environment,
    req: &LabelRequest,
    now: DateTime<Utc>,
) -> Result<Vec<Printed>> {
    s.require(Capability::Ship, "label", now)?;
    let vault = s.vault();
    let facts = req
        .orders
        .iter()
        .map(|o| labels::facts(vault.conn(), o))
        .collect::<Result<Vec<_>>>()?;
    // Where it goes is checked before any address is opened.
    let target = prepare(s, env, &req.destination)?;
    let mut rendered = Vec::with_capacity(facts.len());
    for f in &facts {
        let pii = s.open_pii(&f.order_id, Purpose::Label, now)?;
        let file = match req.format {
            Format::Zpl => render_zpl(f, &pii, req.dpi)?,
            Format::Pdf => render_pdf(f, &pii)?,
        };
        rendered.push((f.order_id.clone(), file));
    }
    let how = Rendering {
        ext: req.format.ext(),
        dpi: (req.format == Format::Zpl).then(|| req.dpi.dots()),
    };
    deliver(s, &req.destination, &target, &rendered, &how, now)
}
