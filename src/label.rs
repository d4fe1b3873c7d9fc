//! Shipping labels: a 4 × 6 inch ZPL label (ship-to block, the order id as a Code 128 barcode,
//! the service level), and where it goes.
//!
//! **Rendering.** ZPL needs no crate: the printer draws the text and the `^BC` barcode itself.
//! Every text field goes through `^FH` hex escapes, so a `^` or `~` in an address cannot
//! inject printer commands. `^CI28` makes the printer read UTF-8. The label is built in a
//! zeroizing buffer. A PDF label (`--format pdf`) uses the built-in Helvetica, so it shows
//! Latin-1 text only (a non-Latin address is refused with a pointer to ZPL, whose printer
//! draws any script); its Code 128 barcode is drawn from the `code128` crate's bars.
//!
//! **Destinations** ([`Destination`]): a raw TCP printer (`tcp://HOST:PORT`, port 9100 on
//! most label printers), a file the operator names, or by default `spool/ORDERID.zpl`. Every
//! file is written 0600, refused on removable media or in a cloud-sync folder, and tracked
//! per order in the vault so `purge` destroys it with the order's PII (COMPLIANCE R20).

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::audit::{Event, Outcome};
use crate::error::{Error, Result};
use crate::pii::{BuyerPii, Pii};
use crate::role::Capability;
use crate::safety::Environment;
use crate::vault::{Purpose, Session, labels};

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
    fn dots(self) -> u32 {
        match self {
            Dpi::D203 => 203,
            Dpi::D300 => 300,
        }
    }

    /// Scales a 203-dpi coordinate.
    fn s(self, v: u32) -> u32 {
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

/// Appends `text` as `^FH` field data: `_`, `^`, `~` as `_XX` hex, control characters as
/// spaces, everything else as is. Written straight into `out`, so no PII copy is left behind.
fn push_field(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '_' => out.push_str("_5F"),
            '^' => out.push_str("_5E"),
            '~' => out.push_str("_7E"),
            '\\' => out.push_str("_5C"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
}

/// Appends one text field: `^FO` at (x, y), font height `h`, the escaped text.
fn push_text(out: &mut String, dpi: Dpi, (x, y): (u32, u32), h: u32, parts: &[&str]) {
    out.push_str(&format!(
        "^FO{},{}^A0N,{h},{h}^FB{},1,0,L^FH^FD",
        dpi.s(x),
        dpi.s(y),
        dpi.s(770 - x),
        h = dpi.s(h)
    ));
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        push_field(out, p);
    }
    out.push_str("^FS\n");
}

fn value(p: &Option<Pii>) -> Option<&str> {
    p.as_ref()
        .map(Pii::expose_pii)
        .filter(|v| !v.trim().is_empty())
}

/// The ship-to block, line by line, each line as its parts (city, region and postcode share
/// one line); empty lines are left out.
fn address_lines<'a>(facts: &'a LabelFacts, pii: &'a BuyerPii) -> Vec<Vec<&'a str>> {
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

/// Renders one label. Refuses an order without a recipient or first address line.
pub fn render_zpl(facts: &LabelFacts, pii: &BuyerPii, dpi: Dpi) -> Result<Zeroizing<Vec<u8>>> {
    if pii.is_unaddressable() {
        return Err(Error::usage(format!(
            "order {} has no address Amazon released; it cannot be labelled",
            facts.order_id
        )));
    }
    // Sized so it never reallocates (a reallocation would leave an unzeroized copy).
    let mut z = Zeroizing::new(String::with_capacity(16 * 1024));
    let s = |v| dpi.s(v);
    z.push_str(&format!("^XA^CI28^PW{}^LL{}\n", s(812), s(1218)));
    push_text(&mut z, dpi, (40, 40), 28, &["SHIP TO:"]);
    let mut y = 90;
    for l in &address_lines(facts, pii) {
        push_text(&mut z, dpi, (40, y), 40, l);
        y += 50;
    }
    z.push_str(&format!("^FO{},{}^GB{},3,3^FS\n", s(40), s(620), s(730)));
    z.push_str(&format!(
        "^FO{},{}^BY{}^BCN,{},Y,N,N^FD",
        s(60),
        s(660),
        if dpi == Dpi::D300 { 4 } else { 3 },
        s(160)
    ));
    push_field(&mut z, &facts.order_id);
    z.push_str("^FS\n");
    let mut y = 900;
    if let Some(level) = &facts.service_level {
        push_text(&mut z, dpi, (40, y), 34, &["Service:", level]);
        y += 50;
    }
    for item in facts.items.iter().take(5) {
        push_text(&mut z, dpi, (40, y), 26, &[item]);
        y += 36;
    }
    z.push_str("^XZ\n");
    Ok(Zeroizing::new(z.as_bytes().to_vec()))
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
    fn ext(self) -> &'static str {
        match self {
            Format::Zpl => "zpl",
            Format::Pdf => "pdf",
        }
    }
}

/// A text line in WinAnsi bytes for the built-in font (Latin-1 only).
fn win_ansi(text: &str, order_id: &str) -> Result<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(Vec::with_capacity(text.len()));
    for c in text.chars() {
        match c as u32 {
            0x20..=0x7E | 0xA0..=0xFF => out.push(c as u32 as u8),
            _ if c.is_control() => out.push(b' '),
            _ => {
                return Err(Error::usage(format!(
                    "the address of order {order_id} has characters the PDF label's built-in font \
                     cannot show; print it with --format zpl (the printer draws any script)"
                )));
            }
        }
    }
    Ok(out)
}

/// Renders one label as a 4 × 6 inch PDF page. Refuses an order without an address, or one
/// whose address is not Latin-1 (the built-in font has no other glyphs; ZPL has).
///
/// pdf-writer's own buffers are not zeroized; the finished file is.
pub fn render_pdf(facts: &LabelFacts, pii: &BuyerPii) -> Result<Zeroizing<Vec<u8>>> {
    use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};
    if pii.is_unaddressable() {
        return Err(Error::usage(format!(
            "order {} has no address Amazon released; it cannot be labelled",
            facts.order_id
        )));
    }
    let (w, h) = (288.0_f32, 432.0_f32);
    let mut content = Content::new();
    let text = |content: &mut Content, x: f32, y: f32, size: f32, line: &str| -> Result<()> {
        let bytes = win_ansi(line, &facts.order_id)?;
        content.begin_text();
        content.set_font(Name(b"F1"), size);
        content.next_line(x, y);
        content.show(Str(&bytes));
        content.end_text();
        Ok(())
    };
    text(&mut content, 18.0, h - 30.0, 10.0, "SHIP TO:")?;
    let mut y = h - 52.0;
    for parts in address_lines(facts, pii) {
        let line = Zeroizing::new(parts.join(" "));
        text(&mut content, 18.0, y, 14.0, &line)?;
        y -= 18.0;
    }
    // The order id as Code 128, 1 pt per module, above its text.
    let code = code128::Code128::encode(facts.order_id.as_bytes());
    let module = ((w - 36.0) / code.len() as f32).min(1.5);
    for bar in code.bar_coordinates() {
        content.rect(
            18.0 + bar.x as f32 * module,
            150.0,
            f32::from(bar.width) * module,
            60.0,
        );
    }
    content.fill_nonzero();
    text(&mut content, 18.0, 136.0, 10.0, &facts.order_id)?;
    if let Some(level) = &facts.service_level {
        text(
            &mut content,
            18.0,
            110.0,
            11.0,
            &format!("Service: {level}"),
        )?;
    }
    for (i, item) in facts.items.iter().take(5).enumerate() {
        text(&mut content, 18.0, 92.0 - 12.0 * i as f32, 9.0, item)?;
    }
    let stream = Zeroizing::new(content.finish().into_vec());
    let (catalog, tree, page, font, body) = (
        Ref::new(1),
        Ref::new(2),
        Ref::new(3),
        Ref::new(4),
        Ref::new(5),
    );
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids([page]).count(1);
    let mut p = pdf.page(page);
    p.media_box(Rect::new(0.0, 0.0, w, h));
    p.parent(tree);
    p.contents(body);
    p.resources().fonts().pair(Name(b"F1"), font);
    p.finish();
    pdf.type1_font(font)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.stream(body, &stream);
    Ok(Zeroizing::new(pdf.finish()))
}

/// Where labels go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `spool/RANDOM.zpl` in the home (the default).
    Spool,
    /// A file the operator named (all labels of the run, one after another).
    File(PathBuf),
    /// A raw TCP label printer.
    Printer(String),
}

impl Destination {
    /// From `--to URI` / `--out FILE`.
    pub fn parse(to: Option<&str>, out: Option<&Path>) -> Result<Destination> {
        match (to, out) {
            (Some(_), Some(_)) => Err(Error::usage("give --to or --out, not both")),
            (None, Some(f)) => Ok(Destination::File(f.to_path_buf())),
            (None, None) => Ok(Destination::Spool),
            (Some(uri), None) => {
                let addr = uri.strip_prefix("tcp://").ok_or_else(|| {
                    Error::usage(format!(
                        "--to {uri:?}: only raw TCP printers are supported, as tcp://HOST:PORT"
                    ))
                })?;
                if !addr.contains(':') {
                    return Err(Error::usage(format!(
                        "--to {uri:?}: give the port too (label printers listen on 9100)"
                    )));
                }
                Ok(Destination::Printer(addr.to_string()))
            }
        }
    }

    /// What the audit record says.
    pub fn kind(&self) -> &'static str {
        match self {
            Destination::Spool => "spool",
            Destination::File(_) => "file",
            Destination::Printer(_) => "printer",
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

/// Checks a destination and returns its folder (spool, created 0700) or file path.
pub(crate) fn prepare(s: &Session<'_>, env: &Environment, dest: &Destination) -> Result<PathBuf> {
    match dest {
        Destination::Spool => {
            let spool = s.vault().home().spool_dir();
            if !spool.exists() {
                std::fs::DirBuilder::new().mode(0o700).create(&spool)?;
            }
            env.check_location(&spool)?;
            Ok(spool)
        }
        Destination::File(p) => out_path(env, p),
        Destination::Printer(_) => Ok(PathBuf::new()),
    }
}

/// What the label files are.
pub(crate) struct Rendering {
    /// File extension in spool/, and the format in the record (`zpl`, `pdf`, `png`).
    pub(crate) ext: &'static str,
    /// Resolution, when the tool rendered it.
    pub(crate) dpi: Option<u32>,
}

/// Sends finished labels (order id, bytes) to `dest` (`target` from [`prepare`]), each
/// recorded as `label.printed` and tracked; see [`print`].
pub(crate) fn deliver(
    s: &Session<'_>,
    dest: &Destination,
    target: &Path,
    files: &[(String, Zeroizing<Vec<u8>>)],
    how: &Rendering,
    now: DateTime<Utc>,
) -> Result<Vec<Printed>> {
    let printed = |order: &str, t: &str| Printed {
        order_id: order.to_string(),
        destination: dest.kind(),
        target: t.to_string(),
    };
    let event = |p: &Printed| {
        Event::new("label.printed")
            .operator(s.name())
            .field("order", p.order_id.as_str())
            .field("format", how.ext)
            .field("dpi", how.dpi)
            .field("destination", p.destination)
            .field("target", p.target.as_str())
    };
    let mut out = Vec::new();
    match dest {
        Destination::Spool => {
            for (order, z) in files {
                // Named by the tool, never after the order id Amazon sent: tracked in the
                // vault, which is how purge and audit find it.
                // A label printed again replaces its earlier spool file (one per order and
                // format), as a reprint should.
                let earlier = labels::files_of(s.vault().conn(), std::slice::from_ref(order))?
                    .into_iter()
                    .map(|t| t.path)
                    .find(|p| {
                        p.parent() == Some(target)
                            && p.extension().is_some_and(|e| e == how.ext)
                            && p.file_stem()
                                .is_some_and(|n| is_spool_name(&n.to_string_lossy()))
                    });
                let path =
                    earlier.unwrap_or_else(|| target.join(format!("{}.{}", spool_name(), how.ext)));
                let p = printed(order, &path.to_string_lossy());
                write_tracked(s, &[(p.clone(), event(&p))], &path, z, now)?;
                out.push(p);
            }
        }
        Destination::File(_) => {
            let mut all =
                Zeroizing::new(Vec::with_capacity(files.iter().map(|(_, z)| z.len()).sum()));
            for (_, z) in files {
                all.extend_from_slice(z);
            }
            let t = target.to_string_lossy();
            let ps: Vec<(Printed, Event)> = files
                .iter()
                .map(|(order, _)| {
                    let p = printed(order, &t);
                    let e = event(&p);
                    (p, e)
                })
                .collect();
            write_tracked(s, &ps, target, &all, now)?;
            out.extend(ps.into_iter().map(|(p, _)| p));
        }
        Destination::Printer(addr) => {
            for (order, z) in files {
                let p = printed(order, addr);
                // Recorded before it is sent: a label never prints unrecorded.
                s.vault().record_with(&[event(&p)], now, |tx| {
                    labels::track(tx, None, order, s.name(), now)
                })?;
                if let Err(e) = send_to_printer(addr, z) {
                    let failed = Event::new("label.failed")
                        .operator(s.name())
                        .outcome(Outcome::Failed)
                        .field("order", order.as_str())
                        .field("target", addr.as_str());
                    s.vault().record(&[failed], now)?;
                    return Err(e);
                }
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// A fresh `spool/` file name: 128 random bits in hex.
fn spool_name() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Whether a file stem is one [`spool_name`] made.
fn is_spool_name(stem: &str) -> bool {
    stem.len() == 32 && stem.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Writes `bytes` to `path` (0600, atomically) and records and tracks it for every order in
/// `labels`; removes the file again if the records cannot be written.
fn write_tracked(
    s: &Session<'_>,
    labels: &[(Printed, Event)],
    path: &Path,
    bytes: &[u8],
    now: DateTime<Utc>,
) -> Result<()> {
    let id = crate::home::write_identified(path, bytes)?;
    let events: Vec<Event> = labels.iter().map(|(_, e)| e.clone()).collect();
    let recorded = s.vault().record_with(&events, now, |tx| {
        for (p, _) in labels {
            labels::track(tx, Some((&p.target, id)), &p.order_id, s.name(), now)?;
        }
        Ok(())
    });
    if recorded.is_err() {
        let _ = std::fs::remove_file(path);
    }
    recorded
}

/// An `--out FILE` path made absolute, refused on removable media or in a cloud-sync folder.
fn out_path(env: &Environment, p: &Path) -> Result<PathBuf> {
    let name = p
        .file_name()
        .ok_or_else(|| Error::usage(format!("--out {}: not a file name", p.display())))?;
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let parent = std::fs::canonicalize(&parent)
        .map_err(|e| Error::usage(format!("--out {}: {e}", p.display())))?;
    env.check_location(&parent)?;
    Ok(parent.join(name))
}

/// Sends bytes to a raw TCP printer (5 s to connect, 30 s to write).
pub fn send_to_printer(addr: &str, bytes: &[u8]) -> Result<()> {
    let fail = |e: std::io::Error| Error::Failed(format!("printer {addr}: {e}"));
    let sock = addr
        .to_socket_addrs()
        .map_err(fail)?
        .next()
        .ok_or_else(|| Error::Failed(format!("printer {addr}: no such address")))?;
    let mut s = TcpStream::connect_timeout(&sock, Duration::from_secs(5)).map_err(fail)?;
    s.set_write_timeout(Some(Duration::from_secs(30)))
        .map_err(fail)?;
    s.write_all(bytes).and_then(|()| s.flush()).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pii() -> BuyerPii {
        BuyerPii {
            recipient_name: Some(Pii::new("Zoë ^XZ~JR_Evil")),
            address_line1: Some(Pii::new("1 Main St")),
            city: Some(Pii::new("Springfield")),
            state_or_region: Some(Pii::new("IL")),
            postal_code: Some(Pii::new("62704")),
            ..Default::default()
        }
    }

    #[test]
    fn printer_commands_in_an_address_are_escaped() {
        let facts = LabelFacts {
            order_id: "111-2223334-4455566".into(),
            ..Default::default()
        };
        let z = render_zpl(&facts, &pii(), Dpi::D203).unwrap();
        let text = String::from_utf8(z.to_vec()).unwrap();
        assert!(text.contains("Zoë _5EXZ_7EJR_5FEvil"), "{text}");
        assert_eq!(text.matches("^XZ").count(), 1, "only the label's own end");
        assert!(text.contains("^BCN,160,Y,N,N^FD111-2223334-4455566^FS"));
        assert!(text.contains("Springfield IL 62704"));
        let big =
            String::from_utf8(render_zpl(&facts, &pii(), Dpi::D300).unwrap().to_vec()).unwrap();
        assert!(big.contains("^PW1200^LL1800"), "{big}");
    }

    #[test]
    fn a_pdf_label_has_the_address_in_win_ansi_and_one_rectangle_per_bar() {
        let facts = LabelFacts {
            order_id: "111-2223334-4455566".into(),
            service_level: Some("Std".into()),
            ..Default::default()
        };
        let pdf = render_pdf(&facts, &pii()).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        let has = |needle: &[u8]| pdf.windows(needle.len()).any(|w| w == needle);
        // ë is one WinAnsi byte (0xEB): in a hex string, or octal-escaped in a literal one.
        assert!(has(b"5A6FEB") || has(br"Zo\353"), "ë as one WinAnsi byte");
        assert!(has(b"/WinAnsiEncoding"));
        let bars = code128::Code128::encode(facts.order_id.as_bytes())
            .bars()
            .count();
        let rects = pdf.windows(3).filter(|w| w == b" re").count();
        assert_eq!(rects, bars);
        let greek = BuyerPii {
            recipient_name: Some(Pii::new("Ζωή Παπαδοπούλου")),
            address_line1: Some(Pii::new("Οδός Ερμού 15")),
            ..Default::default()
        };
        let e = render_pdf(&facts, &greek).unwrap_err().to_string();
        assert!(e.contains("--format zpl"), "{e}");
        assert!(!e.contains("Ζωή"), "no PII in the error");
    }

    #[test]
    fn an_order_without_an_address_is_refused() {
        let facts = LabelFacts::default();
        assert!(render_zpl(&facts, &BuyerPii::default(), Dpi::D203).is_err());
    }

    #[test]
    fn destinations_parse() {
        assert_eq!(Destination::parse(None, None).unwrap(), Destination::Spool);
        assert_eq!(
            Destination::parse(Some("tcp://10.0.0.5:9100"), None).unwrap(),
            Destination::Printer("10.0.0.5:9100".into())
        );
        assert!(Destination::parse(Some("lpr://x"), None).is_err());
        assert!(Destination::parse(Some("tcp://x"), None).is_err());
        assert!(Destination::parse(Some("tcp://x:1"), Some(Path::new("f"))).is_err());
    }
}
