//! The report as a Letter-size PDF (pdf-writer, built-in Helvetica), paginated, "page N of M"
//! at every foot.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

use super::{
    BAR, FAIL, GREY, INK, NO_PII, Rgb, STRIP_ROW, chart, day_counts, day_state, facts, findings,
    status, unusual, verdict,
};
use crate::audit::report::checks::{AuditReport, OPENINGS_PER_DAY, UNUSED_DAYS};
use crate::label::picklist::win_ansi;

const PAGE_W: f32 = 612.0;
const PAGE_H: f32 = 792.0;
const MARGIN: f32 = 40.0;
const TOP: f32 = PAGE_H - MARGIN;
const BOTTOM: f32 = MARGIN + 20.0;
const USABLE: f32 = PAGE_W - 2.0 * MARGIN;
const WHITE: Rgb = Rgb(0xff, 0xff, 0xff);
const MUTED: Rgb = Rgb(0x59, 0x63, 0x6e);

/// A safe over-estimate of a WinAnsi byte's width in Helvetica, in thousandths of an em.
fn glyph(b: u8) -> f32 {
    match b {
        b'i' | b'j' | b'l' | b'.' | b',' | b' ' | b'\'' | b'!' | b'|' | b':' | b';' | b'I' => 300.0,
        b'f' | b't' | b'r' | b'/' | b'(' | b')' | b'[' | b']' | b'-' => 360.0,
        b'M' | b'W' | b'm' | b'w' | b'@' | b'%' => 950.0,
        b'A'..=b'Z' => 740.0,
        _ => 580.0,
    }
}

fn width(bytes: &[u8], size: f32) -> f32 {
    bytes.iter().map(|&b| glyph(b)).sum::<f32>() * size / 1000.0
}

/// Splits WinAnsi bytes into lines no wider than `max` points at `size`: at spaces, and
/// inside a word (a long path) only when the word alone is wider than a line.
fn wrap(bytes: &[u8], size: f32, max: f32) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    for mut word in bytes.split(|&b| b == b' ') {
        loop {
            let sep = if cur.is_empty() {
                0.0
            } else {
                width(b" ", size)
            };
            if width(&cur, size) + sep + width(word, size) <= max {
                if !cur.is_empty() {
                    cur.push(b' ');
                }
                cur.extend_from_slice(word);
                break;
            }
            if !cur.is_empty() {
                lines.push(std::mem::take(&mut cur));
                continue;
            }
            let mut n = 0;
            let mut w = 0.0;
            while n < word.len() && w + glyph(word[n]) * size / 1000.0 <= max {
                w += glyph(word[n]) * size / 1000.0;
                n += 1;
            }
            let n = n.max(1);
            lines.push(word[..n].to_vec());
            word = &word[n..];
            if word.is_empty() {
                break;
            }
        }
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

/// Pages being laid out, top to bottom; `y` is the baseline of the last line drawn.
struct Doc {
    pages: Vec<Content>,
    y: f32,
}

impl Doc {
    fn new() -> Doc {
        Doc {
            pages: vec![Content::new()],
            y: TOP,
        }
    }

    fn c(&mut self) -> &mut Content {
        if self.pages.is_empty() {
            self.pages.push(Content::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    /// Starts a new page unless `h` points still fit on this one.
    fn need(&mut self, h: f32) {
        if self.y - h < BOTTOM {
            self.pages.push(Content::new());
            self.y = TOP;
        }
    }

    fn text_at(&mut self, x: f32, y: f32, size: f32, bold: bool, colour: Rgb, bytes: &[u8]) {
        let (r, g, b) = colour.unit();
        let c = self.c();
        c.set_fill_rgb(r, g, b);
        c.begin_text();
        c.set_font(Name(if bold { b"F2" } else { b"F1" }), size);
        c.next_line(x, y);
        c.show(Str(bytes));
        c.end_text();
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, colour: Rgb) {
        let (r, g, b) = colour.unit();
        let c = self.c();
        c.set_fill_rgb(r, g, b);
        c.rect(x, y, w, h);
        c.fill_nonzero();
    }

    fn rule(&mut self, x1: f32, y: f32, x2: f32, colour: Rgb) {
        let (r, g, b) = colour.unit();
        let c = self.c();
        c.set_stroke_rgb(r, g, b);
        c.set_line_width(0.5);
        c.move_to(x1, y);
        c.line_to(x2, y);
        c.stroke();
    }

    /// `text` wrapped to `max` points from `x`, one line after another.
    fn para(&mut self, x: f32, max: f32, size: f32, bold: bool, colour: Rgb, text: &str) {
        let lead = size * 1.3;
        for line in wrap(&win_ansi(text), size, max) {
            self.need(lead);
            self.y -= lead;
            let y = self.y;
            self.text_at(x, y, size, bold, colour, &line);
        }
    }

    fn heading(&mut self, text: &str, room: f32) {
        self.need(30.0 + room);
        self.y -= 14.0;
        self.para(MARGIN, USABLE, 13.0, true, INK, text);
        self.y -= 3.0;
        let y = self.y;
        self.rule(MARGIN, y, PAGE_W - MARGIN, GREY);
        self.y -= 4.0;
    }
}

/// The whole report.
pub fn render_pdf(r: &AuditReport) -> Vec<u8> {
    let mut d = Doc::new();
    d.para(MARGIN, USABLE, 18.0, true, INK, "fulfill audit report");
    d.y -= 8.0;
    // The verdict, white on its colour.
    let colour = if r.findings == 0 { super::PASS } else { FAIL };
    let v = win_ansi(&verdict(r));
    d.need(22.0);
    d.y -= 18.0;
    let y = d.y;
    d.rect(MARGIN, y - 5.0, width(&v, 11.0) + 16.0, 18.0, colour);
    d.text_at(MARGIN + 8.0, y, 11.0, true, WHITE, &v);
    d.y -= 8.0;
    for (k, v) in facts(r) {
        d.need(12.0);
        let y = d.y - 11.7;
        d.text_at(MARGIN, y, 9.0, false, MUTED, &win_ansi(k));
        // Long values (the forms searched) wrap in their column.
        d.para(MARGIN + 130.0, USABLE - 130.0, 9.0, false, INK, &v);
    }

    matrix(&mut d, r);
    strip(&mut d, r);
    operators(&mut d, r);
    openings(&mut d, r);

    d.heading("Findings", 12.0);
    let f = findings(r);
    if f.is_empty() {
        d.para(MARGIN, USABLE, 9.0, false, super::PASS, "No findings.");
    }
    for (i, (id, line)) in f.iter().enumerate() {
        d.para(
            MARGIN,
            USABLE,
            9.0,
            false,
            INK,
            &format!("{}. [{id}] {line}", i + 1),
        );
    }
    d.y -= 10.0;
    d.para(MARGIN, USABLE, 8.0, false, MUTED, NO_PII);
    finish(d, r)
}

const ID_X: f32 = MARGIN;
const BADGE_X: f32 = MARGIN + 62.0;
const TEXT_X: f32 = MARGIN + 110.0;
const TEXT_W: f32 = PAGE_W - MARGIN - TEXT_X;

fn matrix(d: &mut Doc, r: &AuditReport) {
    d.heading("Compliance matrix", 40.0);
    d.y -= 10.0;
    let y = d.y;
    for (x, h) in [
        (ID_X, "REQUIREMENT"),
        (BADGE_X, "RESULT"),
        (TEXT_X, "CHECK"),
    ] {
        d.text_at(x, y, 7.5, true, MUTED, h.as_bytes());
    }
    for c in &r.checks {
        let (label, _, colour) = status(c.status);
        // Keep a check's heading with its first detail.
        d.need(28.0);
        d.y -= 6.0;
        let top = d.y;
        d.para(TEXT_X, TEXT_W, 9.0, true, INK, c.title);
        let first = top - 9.0 * 1.3;
        d.text_at(ID_X, first, 9.0, true, INK, &win_ansi(c.id));
        d.rect(BADGE_X, first - 3.0, 36.0, 12.5, colour);
        d.text_at(BADGE_X + 5.0, first, 8.5, true, WHITE, label.as_bytes());
        for line in &c.details {
            d.para(
                TEXT_X + 8.0,
                TEXT_W - 8.0,
                8.0,
                false,
                INK,
                &format!("- {line}"),
            );
        }
        if let Some(next) = c.next_action {
            d.para(
                TEXT_X + 8.0,
                TEXT_W - 8.0,
                8.0,
                true,
                INK,
                &format!("Next: {next}"),
            );
        }
        d.y -= 4.0;
        let y = d.y;
        d.rule(MARGIN, y, PAGE_W - MARGIN, GREY);
    }
}

const STRIP_X: f32 = MARGIN + 62.0;
const STRIP_PITCH: f32 = 5.0;

fn strip(d: &mut Doc, r: &AuditReport) {
    d.heading("Audit log window", 50.0);
    let days = &r.log_days;
    let summary = super::strip_summary(r);
    d.para(MARGIN, USABLE, 9.0, false, INK, &summary);
    d.y -= 4.0;
    for chunk in days.chunks(STRIP_ROW) {
        d.need(10.0);
        d.y -= 10.0;
        let y = d.y;
        d.text_at(MARGIN, y, 7.5, false, MUTED, &win_ansi(&chunk[0].day));
        for (i, day) in chunk.iter().enumerate() {
            let colour = day_state(day.state).2;
            d.rect(
                STRIP_X + i as f32 * STRIP_PITCH,
                y - 1.0,
                STRIP_PITCH - 1.0,
                7.0,
                colour,
            );
        }
    }
    // The legend, on one line.
    d.need(16.0);
    d.y -= 16.0;
    let y = d.y;
    let mut x = MARGIN;
    for (s, n) in day_counts(r) {
        let (_, text, colour) = day_state(s);
        d.rect(x, y - 1.0, 7.0, 7.0, colour);
        let t = win_ansi(&format!("{text} ({n})"));
        d.text_at(x + 10.0, y, 8.0, false, INK, &t);
        x += 10.0 + width(&t, 8.0) + 10.0;
    }
}

fn operators(d: &mut Doc, r: &AuditReport) {
    d.heading("Operators", 30.0);
    let cols = [
        MARGIN,
        MARGIN + 120.0,
        MARGIN + 195.0,
        MARGIN + 250.0,
        MARGIN + 385.0,
    ];
    let widths = [115.0, 70.0, 50.0, 130.0];
    d.y -= 11.0;
    let y = d.y;
    for (x, h) in cols
        .iter()
        .zip(["OPERATOR", "ROLE", "STATE", "LAST USED", "REVIEW"])
    {
        d.text_at(*x, y, 7.5, true, MUTED, h.as_bytes());
    }
    for o in &r.operators {
        d.need(12.0);
        d.y -= 12.0;
        let y = d.y;
        let review = if o.unused {
            format!("unused {UNUSED_DAYS}+ days: disable it")
        } else {
            "ok".to_string()
        };
        let cells = [
            o.name.as_str(),
            o.role.as_str(),
            o.state,
            o.last_used.as_deref().unwrap_or("never"),
        ];
        for ((x, t), w) in cols.iter().zip(cells).zip(widths) {
            let mut b = win_ansi(t);
            // A long name is cut at its column, not drawn over the next.
            while width(&b, 9.0) > w {
                b.pop();
            }
            d.text_at(*x, y, 9.0, false, INK, &b);
        }
        let colour = if o.unused { FAIL } else { super::PASS };
        d.text_at(cols[4], y, 9.0, o.unused, colour, &win_ansi(&review));
    }
}

const PLOT_H: f32 = 30.0;

fn openings(d: &mut Doc, r: &AuditReport) {
    d.heading("PII openings per operator per day", 60.0);
    let c = chart(r);
    if c.rows.is_empty() {
        d.para(
            MARGIN,
            USABLE,
            9.0,
            false,
            INK,
            "No PII was opened in the window.",
        );
        return;
    }
    d.para(
        MARGIN,
        USABLE,
        9.0,
        false,
        INK,
        &format!(
            "One bar per day of the strip above, on one scale (tallest: {} in a day). More than \
             {OPENINGS_PER_DAY} by one operator in a day is an alarm (R28), drawn red.",
            c.max
        ),
    );
    if let Some(m) = super::openings_by_marketplace(r) {
        d.para(MARGIN, USABLE, 9.0, false, INK, &m);
    }
    let n = r.log_days.len().max(1) as f32;
    let plot_w = STRIP_ROW as f32 * STRIP_PITCH;
    let pitch = (plot_w / n).clamp(0.5, STRIP_PITCH);
    let bar = (pitch * 0.8).max(0.4);
    for (op, counts, total) in &c.rows {
        d.need(PLOT_H + 20.0);
        d.y -= PLOT_H + 10.0;
        let base = d.y;
        d.text_at(MARGIN, base + PLOT_H - 8.0, 9.0, true, INK, &win_ansi(op));
        d.text_at(
            MARGIN,
            base + PLOT_H - 19.0,
            7.5,
            false,
            MUTED,
            &win_ansi(&format!("{total} in all")),
        );
        d.rule(STRIP_X, base, STRIP_X + plot_w, GREY);
        if let (Some(f), Some(l)) = (r.log_days.first(), r.log_days.last()) {
            let last = win_ansi(&l.day);
            d.text_at(STRIP_X, base - 8.0, 6.5, false, MUTED, &win_ansi(&f.day));
            d.text_at(
                STRIP_X + plot_w - width(&last, 6.5),
                base - 8.0,
                6.5,
                false,
                MUTED,
                &last,
            );
        }
        for (i, &k) in counts.iter().enumerate().filter(|(_, k)| **k > 0) {
            let h = (k as f32 / c.max as f32 * PLOT_H).max(1.5);
            let colour = if unusual(k) { FAIL } else { BAR };
            d.rect(STRIP_X + i as f32 * pitch, base, bar, h, colour);
        }
        d.y -= 10.0;
    }
}

/// Footers, then the file.
fn finish(mut d: Doc, r: &AuditReport) -> Vec<u8> {
    let n = d.pages.len();
    for i in 0..n {
        let foot = win_ansi(&format!(
            "fulfill audit report, {}   page {} of {n}",
            r.generated_at,
            i + 1
        ));
        let mut c = std::mem::replace(&mut d.pages[i], Content::new());
        c.set_fill_rgb(0.35, 0.39, 0.43);
        c.begin_text();
        c.set_font(Name(b"F1"), 7.5);
        c.next_line(MARGIN, MARGIN - 10.0);
        c.show(Str(&foot));
        c.end_text();
        d.pages[i] = c;
    }
    let (catalog, tree, font, bold) = (Ref::new(1), Ref::new(2), Ref::new(3), Ref::new(4));
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    let page_refs: Vec<Ref> = (0..n).map(|i| Ref::new(5 + 2 * i as i32)).collect();
    pdf.pages(tree)
        .kids(page_refs.iter().copied())
        .count(n as i32);
    for (content, page) in d.pages.into_iter().zip(&page_refs) {
        let body = Ref::new(page.get() + 1);
        let mut pg = pdf.page(*page);
        pg.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
        pg.parent(tree);
        pg.contents(body);
        let mut res = pg.resources();
        let mut fonts = res.fonts();
        fonts.pair(Name(b"F1"), font);
        fonts.pair(Name(b"F2"), bold);
        fonts.finish();
        res.finish();
        pg.finish();
        pdf.stream(body, &content.finish());
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

    #[test]
    fn lines_wrap_at_spaces_and_inside_words_only_when_they_must() {
        let lines = wrap(b"aaaa bbbb cccc", 10.0, 60.0);
        assert_eq!(lines, vec![b"aaaa bbbb".to_vec(), b"cccc".to_vec()]);
        let long = wrap(&[b'x'; 40], 10.0, 60.0);
        assert!(long.len() > 1 && long.iter().all(|l| width(l, 10.0) <= 60.0));
        assert_eq!(long.concat(), vec![b'x'; 40]);
        assert_eq!(wrap(b"", 10.0, 60.0), vec![Vec::<u8>::new()]);
        // A line narrower than one glyph still makes progress.
        assert_eq!(wrap(b"ab", 10.0, 0.0).len(), 2);
    }
}
