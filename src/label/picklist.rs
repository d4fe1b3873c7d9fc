//! Pick-list rendering: text, CSV and a paginated PDF from a [`PickList`]. Pure functions; the
//! caller writes the bytes.
//!
//! SKUs and bins are remote or typed text, so every renderer strips control characters and
//! bidirectional overrides (no terminal escapes, no reordered lines); the PDF shows what its
//! built-in font's WinAnsi encoding can and writes any other character as `<U+XXXX>`; a CSV
//! cell that a spreadsheet would run as a formula is prefixed with `'`.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

use crate::error::{Error, Result};
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
                l.orders.join(" "),
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
        "Pick list: {} orders, generated {}\n\n",
        h.status, h.generated
    );
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

/// The list as CSV: `bin,sku,quantity,orders` (orders separated by spaces).
pub fn render_csv(list: &PickList) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| Error::Failed(format!("pick list CSV: {e}"));
    w.write_record(["bin", "sku", "quantity", "orders"])
        .map_err(fail)?;
    for l in &list.lines {
        w.write_record([
            cell(l.bin.as_deref().unwrap_or("")),
            cell(&l.sku),
            l.quantity.to_string(),
            l.orders.join(" "),
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

/// `text` in WinAnsi bytes for the built-in Helvetica: control characters dropped, any
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

/// A safe over-estimate of a WinAnsi byte's width in Helvetica, in thousandths of an em.
fn glyph_width(b: u8) -> f32 {
    match b {
        b'i' | b'j' | b'l' | b'.' | b',' | b' ' | b'\'' | b'!' | b'|' => 280.0,
        b'M' | b'W' | b'm' | b'w' | b'@' | b'%' => 950.0,
        b'0'..=b'9' | b'a'..=b'z' | b'-' | b'_' => 560.0,
        _ => 780.0,
    }
}

/// Splits WinAnsi bytes into lines no wider than `width` points at `size`.
fn wrap(bytes: &[u8], size: f32, width: f32) -> Vec<Vec<u8>> {
    let mut lines = vec![Vec::new()];
    let mut w = 0.0;
    for &b in bytes {
        let g = glyph_width(b) * size / 1000.0;
        if w + g > width && !lines.last().is_some_and(Vec::is_empty) {
            lines.push(Vec::new());
            w = 0.0;
        }
        lines.last_mut().expect("one line").push(b);
        w += g;
    }
    lines
}

const MARGIN: f32 = 40.0;
const SIZE: f32 = 9.0;
const LEAD: f32 = 11.5;

/// The list as a paginated PDF (Letter or A4, built-in Helvetica), the column heading on every
/// page and "page N of M" at the foot.
pub fn render_pdf(list: &PickList, h: &Heading, paper: Paper) -> Vec<u8> {
    let (pw, ph) = paper.size();
    let usable = pw - 2.0 * MARGIN;
    // Columns: bin, SKU, quantity, orders (x offsets and widths in points).
    let cols = [
        (MARGIN, usable * 0.16),
        (MARGIN + usable * 0.17, usable * 0.36),
        (MARGIN + usable * 0.54, usable * 0.07),
        (MARGIN + usable * 0.62, usable * 0.38),
    ];
    // Lay the rows out first, so the page count is known for the footer.
    let mut rows: Vec<[Vec<Vec<u8>>; 4]> = Vec::new();
    for l in &list.lines {
        let orders: Vec<Vec<u8>> = l
            .orders
            .chunks(2)
            .map(|c| win_ansi(&c.join("  ")))
            .collect();
        rows.push([
            wrap(&win_ansi(&bin_label(l)), SIZE, cols[0].1),
            wrap(&win_ansi(&l.sku), SIZE, cols[1].1),
            vec![l.quantity.to_string().into_bytes()],
            orders,
        ]);
    }
    let top = ph - MARGIN - 3.0 * LEAD;
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
    let text = |c: &mut Content, x: f32, y: f32, size: f32, font: &[u8], bytes: &[u8]| {
        c.begin_text();
        c.set_font(Name(font), size);
        c.next_line(x, y);
        c.show(Str(bytes));
        c.end_text();
    };
    let (catalog, tree, font, bold) = (Ref::new(1), Ref::new(2), Ref::new(3), Ref::new(4));
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    let page_refs: Vec<Ref> = (0..n).map(|i| Ref::new(5 + 2 * i as i32)).collect();
    pdf.pages(tree)
        .kids(page_refs.iter().copied())
        .count(n as i32);
    for (p, rows_here) in pages.iter().enumerate() {
        let mut c = Content::new();
        let title = win_ansi(&format!(
            "Pick list: {} orders, generated {}",
            h.status, h.generated
        ));
        text(&mut c, MARGIN, ph - MARGIN, 12.0, b"F2", &title);
        let mut y = ph - MARGIN - 2.0 * LEAD;
        for (head, (x, _)) in ["BIN", "SKU", "QTY", "ORDERS"].iter().zip(cols) {
            text(&mut c, x, y, SIZE, b"F2", head.as_bytes());
        }
        c.move_to(MARGIN, y - 3.0);
        c.line_to(pw - MARGIN, y - 3.0);
        c.stroke();
        y -= LEAD;
        for &i in rows_here {
            let r = &rows[i];
            for (col, (x, _)) in r.iter().zip(cols) {
                for (k, line) in col.iter().enumerate() {
                    text(&mut c, x, y - k as f32 * LEAD, SIZE, b"F1", line);
                }
            }
            y -= LEAD * r.iter().map(Vec::len).max().unwrap_or(1).max(1) as f32;
        }
        let mut foot = format!("Page {} of {n}", p + 1);
        if p + 1 == n {
            foot = format!("{}   {foot}", summary(list));
        }
        for (k, line) in wrap(&win_ansi(&foot), 8.0, usable).iter().enumerate() {
            text(&mut c, MARGIN, MARGIN - k as f32 * 10.0, 8.0, b"F1", line);
        }
        let page = page_refs[p];
        let body = Ref::new(page.get() + 1);
        let mut pg = pdf.page(page);
        pg.media_box(Rect::new(0.0, 0.0, pw, ph));
        pg.parent(tree);
        pg.contents(body);
        let mut res = pg.resources();
        let mut fonts = res.fonts();
        fonts.pair(Name(b"F1"), font);
        fonts.pair(Name(b"F2"), bold);
        fonts.finish();
        res.finish();
        pg.finish();
        pdf.stream(body, &c.finish());
    }
    for (r, name) in [(font, &b"Helvetica"[..]), (bold, &b"Helvetica-Bold"[..])] {
        pdf.type1_font(r)
            .base_font(Name(name))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    pdf.finish()
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
                })
                .collect(),
            orders: n,
            orders_without_items: 0,
        }
    }

    #[test]
    fn win_ansi_keeps_latin_maps_cp1252_and_escapes_the_rest() {
        assert_eq!(win_ansi("Zoë €5"), b"Zo\xEB \x805");
        assert_eq!(win_ansi("a\u{1b}[31mb\nc"), b"a[31mbc");
        assert_eq!(win_ansi("中"), b"<U+4E2D>");
        assert_eq!(win_ansi("x\u{202E}y"), b"xy");
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
        // Positive control: an ordinary SKU is kept as it is.
        assert_eq!(&cell("SKU-1"), "SKU-1");
    }

    #[test]
    fn a_long_list_is_paginated_and_every_page_counts_them_all() {
        let h = Heading {
            status: "unshipped".into(),
            generated: "2026-03-01T09:00:00Z".into(),
        };
        let one = render_pdf(&list(3), &h, Paper::Letter);
        let has = |pdf: &[u8], s: &[u8]| pdf.windows(s.len()).any(|w| w == s);
        assert!(has(&one, b"/Count 1") && has(&one, b"Page 1 of 1"));
        let many = render_pdf(&list(200), &h, Paper::A4);
        assert!(has(&many, b"/Count 4"), "200 rows on A4 need 4 pages");
        assert!(has(&many, b"Page 4 of 4") && !has(&many, b"Page 5"));
        assert!(has(&many, b"/MediaBox [0 0 595 842]"));
        assert!(has(&many, b"SKU-199") && has(&many, b"/Helvetica"));
    }

    #[test]
    fn wrap_breaks_long_text_within_the_column() {
        let lines = wrap(&[b'W'; 40], 10.0, 100.0);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| l.len() as f32 * 9.5 <= 100.0));
        assert_eq!(lines.concat().len(), 40);
    }
}
