//! Pick-list rendering: text, CSV and a paginated PDF from a [`PickList`]. Pure functions; the
//! caller writes the bytes.
//!
//! SKUs and bins are remote or typed text, so every renderer strips control characters and
//! bidirectional overrides (no terminal escapes, no reordered lines); the PDF draws any script
//! with the labels' text stack ([`super::text`]: embedded, subsetted fonts with ToUnicode maps,
//! each line's text beside its glyphs as a comment) and writes a character no font has as
//! `<U+XXXX>`; a CSV cell that a spreadsheet would run as a formula is prefixed with `'`.
//!
//! Every order is shown with its marketplace's short name (`111-... DE`), and the heading
//! names each marketplace on the list with its domain and currency.

use super::layout::{self, Measure};
use super::pdf::{Canvas, Font, document};
use super::text::{self, Chain, Noto};
use crate::error::{Error, Result};
use crate::model::marketplace;
use crate::vault::skus::{PickLine, PickList};

/// What the list is for, shown in its heading.
#[derive(Debug, Clone)]
pub struct Heading {
    /// The order states picked for, e.g. "unshipped".
    pub status: String,
    /// When the list was made (RFC 3339, shown as is).
    pub generated: String,
}

/// PDF page sizes, in points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paper {
    /// 612 × 792 pt.
    Letter,
    /// 595 × 842 pt.
    A4,
}

impl Paper {
    fn size(self) -> (f32, f32) {
        match self {
            Paper::Letter => (612.0, 792.0),
            Paper::A4 => (595.0, 842.0),
        }
    }
}

/// `text` without control characters or bidirectional embedding and override marks.
pub fn clean(text: &str) -> String {
    text.chars()
        .filter(|&c| !c.is_control() && !matches!(c, '\u{200E}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
        .collect()
}

fn bin_label(line: &PickLine) -> String {
    line.bin.as_deref().map(clean).unwrap_or_else(|| "-".into())
}

/// The list as aligned text columns, with a heading and a summary.
pub fn render_text(list: &PickList, h: &Heading) -> String {
    let rows: Vec<(String, String, String, String)> = list
        .lines
        .iter()
        .map(|l| {
            (
                bin_label(l),
                clean(&l.sku),
                l.quantity.to_string(),
                orders_shown(l).join(", "),
            )
        })
        .collect();
    let width = |f: fn(&(String, String, String, String)) -> &String, min: usize| {
        rows.iter()
            .map(|r| f(r).chars().count())
            .max()
            .unwrap_or(0)
            .max(min)
    };
    let (wb, ws, wq) = (width(|r| &r.0, 3), width(|r| &r.1, 3), width(|r| &r.2, 3));
    let mut out = format!(
        "Pick list: {} orders, generated {}\n",
        h.status, h.generated
    );
    let markets = marketplaces(list);
    if !markets.is_empty() {
        out.push_str(&format!("Marketplaces: {}\n", markets.join("; ")));
    }
    out.push('\n');
    out.push_str(&format!(
        "{:<wb$}  {:<ws$}  {:>wq$}  ORDERS\n",
        "BIN", "SKU", "QTY"
    ));
    for (b, s, q, o) in &rows {
        out.push_str(&format!("{b:<wb$}  {s:<ws$}  {q:>wq$}  {o}\n"));
    }
    out.push_str(&summary(list));
    out.push('\n');
    out
}

fn summary(list: &PickList) -> String {
    let units: u64 = list.lines.iter().map(|l| l.quantity).sum();
    let mut s = format!(
        "{} SKU(s), {units} unit(s), {} order(s).",
        list.lines.len(),
        list.orders
    );
    if list.orders_without_items > 0 {
        s.push_str(&format!(
            " {} order(s) are not on the list: their items are not fetched yet (run `fulfill fetch`).",
            list.orders_without_items
        ));
    }
    s
}

/// A CSV cell a spreadsheet would not run as a formula, without control characters (the pick
/// list's and the manifest's).
pub(crate) fn cell(text: &str) -> String {
    let t = clean(text);
    if t.starts_with(['=', '+', '-', '@']) {
        format!("'{t}")
    } else {
        t
    }
}

/// The list as CSV: `bin,sku,quantity,orders,marketplaces` (orders separated by spaces; each
/// order's marketplace id in the same place of `marketplaces`, `-` for none).
pub fn render_csv(list: &PickList) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| Error::Failed(format!("pick list CSV: {e}"));
    w.write_record(["bin", "sku", "quantity", "orders", "marketplaces"])
        .map_err(fail)?;
    for l in &list.lines {
        w.write_record([
            cell(l.bin.as_deref().unwrap_or("")),
            cell(&l.sku),
            l.quantity.to_string(),
            l.orders.join(" "),
            l.marketplaces
                .iter()
                .map(|m| cell(m.as_deref().unwrap_or("-")))
                .collect::<Vec<_>>()
                .join(" "),
        ])
        .map_err(fail)?;
    }
    w.into_inner()
        .map_err(|e| Error::Failed(format!("pick list CSV: {e}")))
}

/// The WinAnsi byte for `c`, if the encoding has one.
fn win_ansi_byte(c: char) -> Option<u8> {
    const HIGH: [(char, u8); 27] = [
        ('€', 0x80),
        ('‚', 0x82),
        ('ƒ', 0x83),
        ('„', 0x84),
        ('…', 0x85),
        ('†', 0x86),
        ('‡', 0x87),
        ('ˆ', 0x88),
        ('‰', 0x89),
        ('Š', 0x8A),
        ('‹', 0x8B),
        ('Œ', 0x8C),
        ('Ž', 0x8E),
        ('‘', 0x91),
        ('’', 0x92),
        ('“', 0x93),
        ('”', 0x94),
        ('•', 0x95),
        ('–', 0x96),
        ('—', 0x97),
        ('˜', 0x98),
        ('™', 0x99),
        ('š', 0x9A),
        ('›', 0x9B),
        ('œ', 0x9C),
        ('ž', 0x9E),
        ('Ÿ', 0x9F),
    ];
    match c as u32 {
        0x20..=0x7E | 0xA0..=0xFF => Some(c as u32 as u8),
        _ => HIGH.iter().find(|(h, _)| *h == c).map(|&(_, b)| b),
    }
}

/// `text` in WinAnsi bytes for the built-in Helvetica (the audit report's PDF, which keeps it): control characters dropped, any
/// character the encoding lacks written as `<U+XXXX>` so the picker still sees which it was.
pub fn win_ansi(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in clean(text).chars() {
        match win_ansi_byte(c) {
            Some(b) => out.push(b),
            None => out.extend_from_slice(format!("<U+{:04X}>", c as u32).as_bytes()),
        }
    }
    out
}

/// `text` cleaned, with any character no font of `chain` draws written as `<U+XXXX>`, so the
/// picker still sees which it was (never a box).
fn drawable(text: &str, chain: &Chain) -> String {
    let text = clean(text);
    if text::missing(&text, chain).is_none() {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let mut one = [0u8; 4];
        if text::missing(c.encode_utf8(&mut one), chain).is_some() {
            out.push_str(&format!("<U+{:04X}>", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Splits `text` into lines no wider than `width` points at `size`: at spaces where words fit,
/// else between characters (a SKU is one long word).
fn wrap(m: &Noto, text: &str, size: f32, width: f32) -> Vec<String> {
    if let Ok(lines) = layout::wrap(m, text, size, width) {
        return lines.iter().map(|l| l.to_string()).collect();
    }
    let mut lines = vec![String::new()];
    for c in text.chars() {
        let line = lines.last_mut().expect("one line");
        line.push(c);
        if m.width(line, size) > width && line.chars().count() > 1 {
            line.pop();
            lines.push(c.to_string());
        }
    }
    lines
}

/// The marketplaces of a list's orders, each once as a person reads it ("US (amazon.com,
/// USD)"), for the heading; empty when no order names one.
pub fn marketplaces(list: &PickList) -> Vec<String> {
    let mut ids: Vec<&str> = list
        .lines
        .iter()
        .flat_map(|l| l.marketplaces.iter().flatten())
        .map(String::as_str)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut named: Vec<String> = ids.into_iter().map(marketplace::describe).collect();
    named.sort();
    named
}

/// Each order of a line as shown: its id and its marketplace's short name (`111-... DE`).
fn orders_shown(line: &PickLine) -> Vec<String> {
    line.orders
        .iter()
        .enumerate()
        .map(
            |(i, o)| match line.marketplaces.get(i).and_then(Option::as_deref) {
                Some(m) => format!("{o} {}", marketplace::short(m)),
                None => o.clone(),
            },
        )
        .collect()
}

const MARGIN: f32 = 40.0;
const SIZE: f32 = 9.0;
const LEAD: f32 = 11.5;

/// The list as a paginated PDF (Letter or A4) in the labels' embedded fonts (any script: a
/// SKU or bin in Japanese, Arabic or Thai prints as such), the column heading on every page and
/// "page N of M" at the foot.
pub fn render_pdf(list: &PickList, h: &Heading, paper: Paper) -> Vec<u8> {
    let (pw, ph) = paper.size();
    let usable = pw - 2.0 * MARGIN;
    let m = Noto::default();
    // Columns: bin, SKU, quantity, orders (x offsets and widths in points).
    let cols = [
        (MARGIN, usable * 0.15),
        (MARGIN + usable * 0.16, usable * 0.33),
        (MARGIN + usable * 0.50, usable * 0.06),
        (MARGIN + usable * 0.57, usable * 0.43),
    ];
    // Lay the rows out first, so the page count is known for the footer.
    let mut rows: Vec<[Vec<String>; 4]> = Vec::new();
    for l in &list.lines {
        let orders: Vec<String> = orders_shown(l)
            .chunks(2)
            .map(|c| drawable(&c.join("   "), &m.chain))
            .collect();
        rows.push([
            wrap(&m, &drawable(&bin_label(l), &m.chain), SIZE, cols[0].1),
            wrap(&m, &drawable(&l.sku, &m.chain), SIZE, cols[1].1),
            vec![l.quantity.to_string()],
            orders,
        ]);
    }
    let mut head = vec![drawable(
        &format!("Pick list: {} orders, generated {}", h.status, h.generated),
        &m.chain,
    )];
    let markets = marketplaces(list);
    if !markets.is_empty() {
        let line = drawable(&format!("Marketplaces: {}", markets.join("; ")), &m.chain);
        head.extend(wrap(&m, &line, SIZE, usable));
    }
    let head_h = 2.0 * LEAD + head.len().saturating_sub(1) as f32 * LEAD;
    let top = ph - MARGIN - head_h - LEAD;
    let bottom = MARGIN + 2.0 * LEAD;
    let per_page = ((top - bottom) / LEAD).floor() as usize;
    let mut pages: Vec<Vec<usize>> = vec![Vec::new()];
    let mut used = 0;
    for (i, r) in rows.iter().enumerate() {
        let height = r.iter().map(Vec::len).max().unwrap_or(1).max(1);
        if used + height > per_page && !pages.last().is_some_and(Vec::is_empty) {
            pages.push(Vec::new());
            used = 0;
        }
        pages.last_mut().expect("a page").push(i);
        used += height;
    }
    let n = pages.len();
    let mut out = Vec::with_capacity(n);
    for (p, rows_here) in pages.iter().enumerate() {
        let mut c = Canvas::new(m.chain.clone());
        c.text((MARGIN, ph - MARGIN), 12.0, Font::Bold, &head[0]);
        for (k, line) in head.iter().enumerate().skip(1) {
            let y = ph - MARGIN - LEAD * 0.5 - k as f32 * LEAD;
            c.text((MARGIN, y), SIZE, Font::Regular, line);
        }
        let mut y = top + LEAD;
        for (name, (x, _)) in ["BIN", "SKU", "QTY", "ORDERS"].iter().zip(cols) {
            c.text((x, y), SIZE, Font::Bold, name);
        }
        c.content.move_to(MARGIN, y - 3.0);
        c.content.line_to(pw - MARGIN, y - 3.0);
        c.content.stroke();
        y -= LEAD;
        for &i in rows_here {
            let r = &rows[i];
            for (col, (x, _)) in r.iter().zip(cols) {
                for (k, line) in col.iter().enumerate() {
                    c.text((x, y - k as f32 * LEAD), SIZE, Font::Regular, line);
                }
            }
            y -= LEAD * r.iter().map(Vec::len).max().unwrap_or(1).max(1) as f32;
        }
        let mut foot = format!("Page {} of {n}", p + 1);
        if p + 1 == n {
            foot = format!("{}   {foot}", summary(list));
        }
        for (k, line) in wrap(&m, &foot, 8.0, usable).iter().enumerate() {
            c.text((MARGIN, MARGIN - k as f32 * 10.0), 8.0, Font::Regular, line);
        }
        out.push(c.finish((pw, ph)));
    }
    // No PII in a pick list: the zeroizing buffer is handed on as a plain one.
    std::mem::take(&mut *document(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(n: usize) -> PickList {
        PickList {
            lines: (0..n)
                .map(|i| PickLine {
                    bin: (i % 2 == 0).then(|| format!("A-{i:03}")),
                    sku: format!("SKU-{i}"),
                    quantity: i as u64 + 1,
                    orders: vec![format!("111-0000000-{i:07}")],
                    marketplaces: vec![Some(
                        if i % 3 == 0 {
                            "A1PA6795UKMFR9"
                        } else {
                            "ATVPDKIKX0DER"
                        }
                        .into(),
                    )],
                })
                .collect(),
            orders: n,
            orders_without_items: 0,
        }
    }

    fn heading() -> Heading {
        Heading {
            status: "unshipped".into(),
            generated: "2026-03-01T09:00:00Z".into(),
        }
    }

    #[test]
    fn what_no_font_draws_is_named_by_its_code_point_and_controls_are_dropped() {
        let c = Chain::default();
        assert_eq!(drawable("Zoë €5 Łódź Κούπα", &c), "Zoë €5 Łódź Κούπα");
        assert_eq!(drawable("a\u{1b}[31mb\nc", &c), "a[31mbc");
        assert_eq!(drawable("ሰ-1", &c), "<U+1230>-1");
        assert_eq!(drawable("x\u{202E}y", &c), "xy");
    }

    #[test]
    fn csv_cells_that_would_be_formulas_are_quoted_and_control_characters_dropped() {
        let mut l = list(1);
        l.lines[0].sku = "=HYPERLINK(\"x\")\r\n".into();
        let out = String::from_utf8(render_csv(&l).unwrap()).unwrap();
        let mut r = csv::Reader::from_reader(out.as_bytes());
        let row = r.records().next().unwrap().unwrap();
        assert_eq!(&row[1], "'=HYPERLINK(\"x\")");
        assert_eq!(&row[2], "1");
        assert_eq!(&row[4], "A1PA6795UKMFR9");
        // Positive control: an ordinary SKU is kept as it is.
        assert_eq!(&cell("SKU-1"), "SKU-1");
    }

    #[test]
    fn every_order_shows_its_marketplace_and_the_heading_names_them() {
        let text = render_text(&list(2), &heading());
        assert!(
            text.contains("Marketplaces: DE (amazon.de, EUR); US (amazon.com, USD)\n"),
            "{text}"
        );
        assert!(text.contains("111-0000000-0000000 DE\n"), "{text}");
        assert!(text.contains("111-0000000-0000001 US\n"), "{text}");
        let pdf = render_pdf(&list(2), &heading(), Paper::Letter);
        let has = |s: &[u8]| pdf.windows(s.len()).any(|w| w == s);
        assert!(has(
            b"% Marketplaces: DE (amazon.de, EUR); US (amazon.com, USD)\n"
        ));
        assert!(has(b"% 111-0000000-0000000 DE\n"));
    }

    #[test]
    fn a_long_list_is_paginated_and_every_page_counts_them_all() {
        let h = heading();
        let one = render_pdf(&list(3), &h, Paper::Letter);
        let has = |pdf: &[u8], s: &[u8]| pdf.windows(s.len()).any(|w| w == s);
        assert!(has(&one, b"/Count 1") && has(&one, b"Page 1 of 1"));
        let many = render_pdf(&list(200), &h, Paper::A4);
        assert!(has(&many, b"/Count 4"), "200 rows on A4 need 4 pages");
        assert!(has(&many, b"Page 4 of 4") && !has(&many, b"Page 5"));
        assert!(has(&many, b"/MediaBox [0 0 595 842]"));
        assert!(has(&many, b"% SKU-199\n"));
        // Embedded fonts, no built-in one.
        assert!(has(&many, b"/FontFile2") && has(&many, b"/ToUnicode"));
        assert!(!has(&many, b"/Helvetica"));
    }

    #[test]
    fn any_script_prints_and_long_skus_wrap_within_the_column() {
        let mut l = list(3);
        l.lines[0].sku = "マグカップ-赤".into();
        l.lines[1].sku = "كوب-أحمر-12".into();
        l.lines[2].bin = Some("ชั้น-3".into());
        let pdf = render_pdf(&l, &heading(), Paper::Letter);
        let has = |s: &str| pdf.windows(s.len()).any(|w| w == s.as_bytes());
        assert!(has("% マグカップ-赤\n") && has("% كوب-أحمر-12\n") && has("% ชั้น-3\n"));
        assert!(!has("<U+"), "every script has a font");
        let m = Noto::default();
        let lines = wrap(&m, &"W".repeat(40), 10.0, 100.0);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| m.width(l, 10.0) <= 100.0));
        assert_eq!(lines.concat().len(), 40);
    }
}
