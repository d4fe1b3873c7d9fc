//! PDF rendering (pure: facts + PII -> bytes) with the text stack of [`super::text`]: every
//! script, shaped and in bidirectional order, in embedded, subsetted Noto fonts (Type 0 /
//! Identity-H with a ToUnicode map, so `pdftotext` reads the glyphs back; each line's logical
//! text rides beside its glyphs as a `%` comment, which the leak scan reads), and a Code 128
//! barcode drawn from the `code128` crate's bars.
//!
//! **Text that reads back** ([`Canvas::text`]): glyphs stand where shaping put them, but each
//! line is shown in the order of its text (runs in logical order, a right-to-left run a word
//! at a time from its right end, each word drawn left to right), so `pdftotext -raw` reads
//! every value whole and in logical order in any script. Each cluster's whole text is on one
//! glyph (its carrier, with a width to the cluster's end) and its marks stand for nothing
//! (shown after the word's letters), so Thai and Devanagari read back with every vowel and
//! tone; the marks ending an Arabic or Hebrew cluster stand apart (`marks_apart`). A glyph that stands for two texts
//! gets a second font dictionary over the same embedded program. Plain `pdftotext` sorts by
//! position and cannot give a right-to-left line with Latin or digits in logical order, nor
//! can an `/ActualText` span, which poppler reverses (docs/warehouse.md, and the probe in
//! `tests/it/scripts.rs`).
//!
//! A page is rendered on its own ([`label_page`], and the packing slip's pages in
//! [`super::slip`]) into [`Page`] parts: drawing operators, and glyph runs by their ids in the
//! whole font; [`document`] puts any number of pages into one PDF, subsets each face used to
//! the glyphs the pages use and writes the runs with the subset's ids, so a batch is one
//! multi-page file (one print job) with each font embedded once.

use std::collections::BTreeMap;
use std::io::Write;
use std::ops::Range;

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str};
use zeroize::Zeroizing;

use super::layout::{self, Block, Frame, Measure};
use super::text::{self, Chain, FaceId, Noto};
use super::{LabelFacts, return_lines, ship_to_lines};
use crate::error::{Error, Result};
use crate::model::marketplace::Marketplace;
use crate::model::shipping::ShipFrom;
use crate::pii::BuyerPii;

/// Label width and height: 4 × 6 in, in points.
pub const LABEL_SIZE: (f32, f32) = (288.0, 432.0);

/// A piece of a page's content stream.
pub(crate) enum Part {
    /// Operators as written (zeroized when dropped: the `%` comment holds PII).
    Raw(Zeroizing<Vec<u8>>),
    /// A run of glyphs of one face, by their ids in the whole font (written as a hex string
    /// of the subset's ids).
    Glyphs(FaceId, Vec<u16>),
}

/// What each glyph of a font resource stands for: its cluster's text, or nothing (`None`, a
/// silent glyph: a mark or another part of a cluster whose carrier holds the text); and its
/// width in the PDF (thousandths of an em: a carrier's is its whole cluster's advance).
type UnicodeMap = BTreeMap<u16, (Option<Zeroizing<String>>, i32)>;

/// One finished page: its size in points and its content (zeroized when dropped).
pub struct Page {
    pub(crate) size: (f32, f32),
    pub(crate) parts: Vec<Part>,
    /// The page's font resources, `/F{face}v{variant}`, with what each glyph stands for (a
    /// face needs a second variant when one glyph stands for two texts on the page).
    pub(crate) fonts: BTreeMap<(FaceId, u16), UnicodeMap>,
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Page({} x {} pt, [content])", self.size.0, self.size.1)
    }
}

impl Page {
    /// The content stream with the glyph ids of the whole fonts (for tests and sizes).
    pub fn content(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::new());
        for p in &self.parts {
            match p {
                Part::Raw(b) => out.extend_from_slice(b),
                Part::Glyphs(_, ids) => push_hex(&mut out, ids.iter().copied()),
            }
        }
        out
    }
}

/// The weights a line may be set in.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Font {
    /// Regular.
    Regular,
    /// Bold: the regular face drawn with a thin outline (one face per script is bundled).
    Bold,
}

fn push_hex(out: &mut Vec<u8>, ids: impl Iterator<Item = u16>) {
    out.push(b'<');
    for id in ids {
        let _ = write!(out, "{id:04X}");
    }
    out.push(b'>');
}

/// A page being drawn: shapes and glyph runs.
pub(crate) struct Canvas {
    parts: Vec<Part>,
    /// Shapes since the last text (barcode bars, rules).
    pub(crate) content: Content,
    fonts: BTreeMap<(FaceId, u16), UnicodeMap>,
    /// The fallback chain (the order's country picks the CJK face).
    pub(crate) chain: Chain,
}

/// Where a glyph goes and what it stands for, for [`Canvas::text`].
struct Placed {
    face: FaceId,
    id: u16,
    /// Its cluster (where the cluster's text starts in the line).
    cluster: usize,
    at: (f32, f32),
    /// Its width in the PDF, in thousandths of an em: a carrier's spans its cluster (so an
    /// extractor sees the cluster's characters side by side with no gap), another glyph's is
    /// its own advance.
    units: i32,
    /// The same in points.
    width: f32,
    /// Its cluster's text if it is the carrier (reversed in a right-to-left run), else `None`.
    unicode: Option<Zeroizing<String>>,
}

impl Placed {
    fn carries(&self) -> bool {
        self.unicode.is_some()
    }

    fn blank(&self) -> bool {
        self.unicode
            .as_ref()
            .is_some_and(|t| t.chars().all(char::is_whitespace))
    }

    /// True for a glyph that carries only marks (see `marks_apart`).
    fn marks(&self) -> bool {
        self.unicode
            .as_ref()
            .is_some_and(|t| !t.is_empty() && t.chars().all(is_mark))
    }

    /// True for a carrier with a character an extractor does not count as right to left
    /// inside a right-to-left run: European and Arabic digits and their separators and
    /// terminators (`-`, `+`, `.`, `,`, `/`, `:`, `%`, no-break space), which poppler keeps
    /// in place when it reverses the run around them.
    fn weak(&self) -> bool {
        use unicode_bidi::BidiClass::{AN, CS, EN, ES, ET, L};
        self.unicode.as_ref().is_some_and(|t| {
            t.chars()
                .any(|c| matches!(unicode_bidi::bidi_class(c), L | EN | ES | ET | CS | AN))
        })
    }
}

/// A combining mark (Unicode's bidi class NSM: Arabic and Hebrew vowel signs among them).
fn is_mark(c: char) -> bool {
    unicode_bidi::bidi_class(c) == unicode_bidi::BidiClass::NSM
}

/// In a right-to-left run, a cluster whose text ends in marks (`بُ`) gives them to another
/// glyph of it (the one drawn last in visual order that is not its carrier), which is shown
/// as a word of its own after the base: an extractor that reverses a right-to-left word keeps
/// a mark that begins it in front (`ُب`), so a word ending in a mark cannot read back whole.
/// `placed` is the run, its carriers' text already reversed (the marks first).
fn marks_apart(placed: &mut [Placed]) {
    for c in 0..placed.len() {
        let Some(t) = placed[c].unicode.as_ref() else {
            continue;
        };
        let n = t.chars().take_while(|&ch| is_mark(ch)).count();
        if n == 0 || n == t.chars().count() {
            continue;
        }
        let cluster = placed[c].cluster;
        let Some(m) = (0..placed.len())
            .rev()
            .find(|&i| i != c && placed[i].cluster == cluster && placed[i].unicode.is_none())
        else {
            continue;
        };
        let marks: String = t
            .chars()
            .take(n)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let rest: String = t.chars().skip(n).collect();
        placed[c].unicode = Some(Zeroizing::new(rest));
        placed[m].unicode = Some(Zeroizing::new(marks));
    }
}

/// How sure it is that a text extractor joins carrier `b`, shown right after `a`, into `a`'s
/// word, or splits them. The margins are poppler's (`TextOutputDev`: a word ends where the
/// next character starts more than 0.1 em after the previous one's advance, more than 0.2 em
/// before it, within 0.1 em of the previous one's origin, or on another baseline), widened so
/// a decision never rests on a rounding.
#[derive(Debug, PartialEq)]
enum Join {
    Surely,
    Never,
    Maybe,
}

fn join(a: &Placed, b: &Placed, word_end: f32, size: f32) -> Join {
    let sp = (b.at.0 - word_end) / size;
    let delta = (b.at.0 - a.at.0).abs() / size;
    let rise = (b.at.1 - a.at.1).abs();
    if !(-0.3..=0.2).contains(&sp) || delta < 0.05 || rise > 1.0 {
        Join::Never
    } else if (-0.1..=0.05).contains(&sp) && delta >= 0.15 && rise <= 0.25 && a.face == b.face {
        Join::Surely
    } else {
        Join::Maybe
    }
}

impl Canvas {
    pub(crate) fn new(chain: Chain) -> Self {
        Canvas {
            parts: Vec::new(),
            content: Content::new(),
            fonts: BTreeMap::new(),
            chain,
        }
    }

    fn flush(&mut self) {
        let done = std::mem::replace(&mut self.content, Content::new()).finish();
        if !done.is_empty() {
            self.parts.push(Part::Raw(Zeroizing::new(done.into_vec())));
        }
    }

    fn raw(&mut self, bytes: Vec<u8>) {
        self.parts.push(Part::Raw(Zeroizing::new(bytes)));
    }

    /// The font resource (a variant of `face`) whose map has `id` standing for `unicode`:
    /// the first variant where it already does or where `id` is not mapped yet.
    fn variant(
        &mut self,
        face: FaceId,
        id: u16,
        unicode: &Option<Zeroizing<String>>,
        units: i32,
    ) -> u16 {
        let text = unicode.as_deref().map(String::as_str);
        for v in 0.. {
            let map = self.fonts.entry((face, v)).or_default();
            match map.get(&id) {
                Some((u, w)) if u.as_deref().map(String::as_str) != text || *w != units => {
                    continue;
                }
                Some(_) => {}
                None => {
                    map.insert(id, (unicode.clone(), units));
                }
            }
            return v;
        }
        unreachable!("a variant is always found")
    }

    /// One line of text with its left edge at `x` and baseline at `y`.
    ///
    /// The glyphs stand where shaping put them (bidi runs in visual order), but they are shown
    /// in the order of the text, so an extractor that reads the content stream in order
    /// (`pdftotext -raw`) reads each value whole and in logical order: the runs in logical
    /// order, a left-to-right run left to right, a right-to-left run a word at a time from its
    /// right end, each word drawn left to right (as readers of PDF expect a right-to-left run,
    /// which they reverse). Each cluster's text is on one glyph (its carrier, the first of it
    /// that advances the pen); its marks and other glyphs stand for nothing and are shown after
    /// the word's carriers, so a mark drawn above, below or over its base is neither dropped as
    /// a duplicate nor filed under another line, nor cuts its word (but see [`marks_apart`]).
    pub(crate) fn text(&mut self, (x, y): (f32, f32), size: f32, font: Font, line: &str) {
        let shaped = text::shape(line, &self.chain);
        if shaped.glyphs.is_empty() {
            return;
        }
        self.flush();
        // The line's logical text rides along as a comment (viewers skip it), so a byte scan
        // such as `audit --scan` finds an address in a label; `pdftotext` reads the glyphs
        // through the ToUnicode maps. (An `/ActualText` span would do both, but poppler
        // reverses a right-to-left one: see docs/warehouse.md.)
        let mut head = Zeroizing::new(Vec::with_capacity(16 + line.len()));
        head.extend_from_slice(b"% ");
        head.extend_from_slice(line_text(line, &(0..line.len())).as_bytes());
        head.extend_from_slice(b"\nq\n");
        if let Font::Bold = font {
            let _ = writeln!(head, "2 Tr {} w", fmt(size * 0.035));
        }
        head.extend_from_slice(b"BT\n");
        self.raw(std::mem::take(&mut *head));

        let mut placed: Vec<Placed> = Vec::with_capacity(shaped.glyphs.len());
        let mut pen = x;
        for run in &shaped.runs {
            for g in &shaped.glyphs[run.glyphs.clone()] {
                let unicode = (!g.text.is_empty()).then(|| {
                    let t = line_text(line, &g.text);
                    Zeroizing::new(if run.rtl {
                        t.chars().rev().collect()
                    } else {
                        t
                    })
                });
                let em = if unicode.is_some() {
                    g.extent
                } else {
                    text::face(g.face).map_or(0.0, |f| f.advance(u32::from(g.id)) / f.upem)
                };
                let units = (em * 1000.0).round() as i32;
                placed.push(Placed {
                    face: g.face,
                    id: g.id,
                    cluster: g.cluster,
                    at: (pen + g.offset.0 * size, y + g.offset.1 * size),
                    units,
                    width: units as f32 / 1000.0 * size,
                    unicode,
                });
                pen += g.advance * size;
            }
        }
        for run in shaped.runs.iter().filter(|r| r.rtl) {
            marks_apart(&mut placed[run.glyphs.clone()]);
        }
        let mut order: Vec<usize> = Vec::with_capacity(placed.len());
        let mut runs: Vec<&text::Run> = shaped.runs.iter().collect();
        runs.sort_by_key(|r| r.text.start);
        for run in runs {
            if run.rtl {
                self.rtl_order(&placed, run.glyphs.clone(), size, &mut order);
            } else {
                // Its carriers, then its silent glyphs: an extractor still weighs a glyph
                // that stands for nothing, and a mark off the baseline would cut a word.
                let (carriers, silent): (Vec<usize>, Vec<usize>) =
                    run.glyphs.clone().partition(|&i| placed[i].carries());
                order.extend(carriers.into_iter().chain(silent));
            }
        }
        self.show(&mut placed, &order, size);
        self.raw(b"ET\nQ\n".to_vec());
    }

    /// The order to show a right-to-left run's glyphs in (indices into `placed`, with
    /// `usize::MAX` for a word break): its words from the right, each left to right. A word
    /// is also cut where its face changes or where an extractor might split it (`join`), so
    /// every piece reads as one word; a break (a space glyph, which stands for nothing an
    /// extractor keeps) goes between two pieces it might join.
    fn rtl_order(
        &self,
        placed: &[Placed],
        glyphs: Range<usize>,
        size: f32,
        order: &mut Vec<usize>,
    ) {
        let mut pieces: Vec<Vec<usize>> = Vec::new();
        let mut cur: Vec<usize> = Vec::new();
        let mut last: Option<(usize, f32)> = None;
        // Clusters whose marks stand apart: their base is a piece of its own too.
        let apart: Vec<usize> = glyphs
            .clone()
            .filter(|&i| placed[i].marks())
            .map(|i| placed[i].cluster)
            .collect();
        for i in glyphs {
            let p = &placed[i];
            if p.blank() || p.weak() || p.marks() || (p.carries() && apart.contains(&p.cluster)) {
                pieces.extend([std::mem::take(&mut cur), vec![i]]);
                last = None;
                continue;
            }
            if p.carries() {
                if let Some((l, end)) = last
                    && join(&placed[l], p, end, size) != Join::Surely
                {
                    pieces.push(std::mem::take(&mut cur));
                    last = None;
                }
                let end = last.map_or(f32::MIN, |(_, e)| e).max(p.at.0 + p.width);
                last = Some((i, end));
            }
            cur.push(i);
        }
        pieces.push(cur);
        pieces.retain(|p| !p.is_empty());
        // A cluster's marks (a piece of their own) are shown after their base.
        pieces.reverse();
        for k in 1..pieces.len() {
            let (a, b) = (&pieces[k - 1], &pieces[k]);
            let base = |i: usize| {
                let p = &placed[i];
                p.cluster == placed[a[0]].cluster && p.carries() && !p.marks()
            };
            if a.len() == 1 && placed[a[0]].marks() && b.iter().any(|&i| base(i)) {
                pieces.swap(k - 1, k);
            }
        }
        // Shown from the right: before each piece, a break unless the one shown before it
        // surely ends there (a space, or a gap no extractor bridges).
        let mut before: Option<(usize, f32)> = None;
        for piece in &pieces {
            let first = piece.iter().copied().find(|&i| placed[i].carries());
            if let (Some((l, end)), Some(f)) = (before, first)
                && !placed[f].blank()
                && join(&placed[l], &placed[f], end, size) != Join::Never
            {
                order.push(usize::MAX);
            }
            // Its carriers, then its silent glyphs (see `text`).
            order.extend(piece.iter().copied().filter(|&i| placed[i].carries()));
            order.extend(piece.iter().copied().filter(|&i| !placed[i].carries()));
            before = piece
                .iter()
                .copied()
                .rfind(|&i| placed[i].carries())
                .filter(|&i| !placed[i].blank())
                .map(|l| {
                    let end = piece
                        .iter()
                        .filter(|&&i| placed[i].carries())
                        .map(|&i| placed[i].at.0 + placed[i].width)
                        .fold(f32::MIN, f32::max);
                    (l, end)
                });
        }
    }

    /// Writes `placed` glyphs in `order`: a font resource when it changes, a text matrix where
    /// a glyph does not stand where the one before it left the pen.
    fn show(&mut self, placed: &mut [Placed], order: &[usize], size: f32) {
        let mut expected: Option<(f32, f32)> = None;
        let mut resource: Option<(FaceId, u16)> = None;
        let mut run: Vec<u16> = Vec::new();
        let mut run_face = FaceId(0);
        for &i in order {
            // A break: the space glyph of the face shown last, where the pen is.
            let (face, id, at, units, unicode) = if i == usize::MAX {
                let face = resource.map_or(FaceId(0), |r| r.0);
                let Some((f, space)) = text::face(face).and_then(|f| Some((f, f.glyph(' ')?)))
                else {
                    continue;
                };
                let units = (f.advance(space.to_u32()) / f.upem * 1000.0).round() as i32;
                let at = expected.unwrap_or((0.0, 0.0));
                let text = Some(Zeroizing::new(" ".to_string()));
                (face, space.to_u32() as u16, at, units, text)
            } else {
                let p = &mut placed[i];
                (p.face, p.id, p.at, p.units, p.unicode.take())
            };
            let v = self.variant(face, id, &unicode, units);
            let here = expected.is_some_and(|(ex, ey)| (ex - at.0).abs() < 0.01 && ey == at.1);
            if !here || resource != Some((face, v)) {
                if !run.is_empty() {
                    self.parts
                        .push(Part::Glyphs(run_face, std::mem::take(&mut run)));
                    self.raw(b" Tj\n".to_vec());
                }
                let mut ops = Vec::new();
                if resource != Some((face, v)) {
                    let _ = write!(ops, "/F{}v{v} {} Tf ", face.0, fmt(size));
                    resource = Some((face, v));
                }
                if !here {
                    let _ = write!(ops, "1 0 0 1 {} {} Tm ", fmt(at.0), fmt(at.1));
                }
                self.raw(ops);
                run_face = face;
            }
            run.push(id);
            expected = Some((at.0 + units as f32 / 1000.0 * size, at.1));
        }
        if !run.is_empty() {
            self.parts.push(Part::Glyphs(run_face, run));
            self.raw(b" Tj\n".to_vec());
        }
    }

    /// The finished page.
    pub(crate) fn finish(mut self, size: (f32, f32)) -> Page {
        self.flush();
        Page {
            size,
            parts: self.parts,
            fonts: self.fonts,
        }
    }
}

/// The text a glyph stands for: the line's text of its cluster, controls as spaces (as drawn).
fn line_text(line: &str, r: &std::ops::Range<usize>) -> String {
    let clean: String = line
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    clean.get(r.clone()).unwrap_or_default().to_string()
}

/// A number as a PDF writes it (at most 3 decimals, no exponent).
fn fmt(v: f32) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// Writes one line of text at (x, y).
pub(crate) fn text(canvas: &mut Canvas, at: (f32, f32), size: f32, font: Font, line: &str) {
    canvas.text(at, size, font, line);
}

/// Draws `data` as Code 128 with its left edge at `x`, its bars from `y` up `height` points,
/// at most `max_width` wide (at most 1.5 pt per module). One filled rectangle per bar.
pub(crate) fn barcode(
    content: &mut Content,
    data: &str,
    (x, y): (f32, f32),
    max_width: f32,
    height: f32,
) {
    let code = code128::Code128::encode(data.as_bytes());
    let module = (max_width / code.len() as f32).min(1.5);
    for bar in code.bar_coordinates() {
        content.rect(
            x + bar.x as f32 * module,
            y,
            f32::from(bar.width) * module,
            height,
        );
    }
    content.fill_nonzero();
}

/// Margin on every side of a label, in points.
const MARGIN: f32 = 18.0;
/// The first baseline sits this far below the top of its block (in em).
const ASCENT: f32 = text::ASCENT;
/// The barcode's top, in points from the bottom: the address block ends above it.
const BARCODE_TOP: f32 = 210.0;

/// The return address block: the label's top, small.
fn return_frame() -> Frame {
    Frame {
        width: LABEL_SIZE.0 - 2.0 * MARGIN,
        height: 52.0,
        max_size: 9.0,
        min_size: 6.0,
        step: 0.5,
        leading: 1.15,
    }
}

/// The ship-to block, below its heading, down to just above the barcode; taller when there
/// is no return address above it.
fn address_frame(with_return: bool) -> Frame {
    let top = address_top(with_return);
    Frame {
        width: LABEL_SIZE.0 - 2.0 * MARGIN,
        height: top - (BARCODE_TOP + 12.0),
        max_size: 14.0,
        min_size: MIN_ADDRESS_PT,
        step: 0.5,
        leading: 1.2,
    }
}

/// The smallest size an address is set at, in points.
const MIN_ADDRESS_PT: f32 = 8.0;

/// Where the "SHIP TO:" heading's top is, in points from the bottom.
fn heading_top(with_return: bool) -> f32 {
    let (_, h) = LABEL_SIZE;
    if with_return {
        h - MARGIN - return_frame().height - 8.0
    } else {
        h - MARGIN
    }
}

/// Where the ship-to block's top is (below its 10 pt heading).
fn address_top(with_return: bool) -> f32 {
    heading_top(with_return) - 16.0
}

/// Draws a fitted block with its top at `top`: each line on its own baseline.
fn draw_block(canvas: &mut Canvas, block: &Block, frame: &Frame, top: f32) {
    let mut y = top - ASCENT * block.size;
    for l in &block.lines {
        canvas.text((MARGIN, y), block.size, Font::Regular, l);
        y -= block.advance(frame);
    }
}

/// Refuses a return address that does not fit the PDF label's return block (or has a
/// character no font draws).
pub(crate) fn check_return(from: &ShipFrom) -> Result<()> {
    let lines = return_lines(from);
    let chain = Chain::for_country(Some(&from.country));
    text::check_return(&lines, &chain)?;
    let paragraphs: Vec<&str> = lines.iter().map(String::as_str).collect();
    layout::fit(&Noto { chain }, &paragraphs, &return_frame())
        .map(drop)
        .map_err(super::return_does_not_fit)
}

/// One 4 × 6 inch label page: the return address (when set) at the top, the ship-to block
/// wrapped and, if need be, shrunk (14 pt down to 8 pt) to fit above the barcode, the order id
/// as Code 128, the service level and the items. Refuses an order without an address, one
/// with a character no font draws (naming the package to install), and one whose address does
/// not fit even at 8 pt (nothing is ever cut).
pub fn label_page(facts: &LabelFacts, pii: &BuyerPii, from: Option<&ShipFrom>) -> Result<Page> {
    if pii.is_unaddressable() {
        return Err(Error::usage(format!(
            "order {} has no address Amazon released; it cannot be labelled",
            facts.order_id
        )));
    }
    let (w, h) = LABEL_SIZE;
    let id = facts.order_id.as_str();
    let measure = Noto::for_country(facts.country.as_deref());
    let mut canvas = Canvas::new(measure.chain.clone());
    // Every address line is checked against the fonts before it is measured.
    let lines = ship_to_lines(facts, pii, from);
    for l in &lines {
        text::check(l, &measure.chain, id, text::Refusal::Label)?;
    }
    if let Some(from) = from {
        let from_lines = return_lines(from);
        let paragraphs: Vec<&str> = from_lines.iter().map(String::as_str).collect();
        let frame = return_frame();
        let block =
            layout::fit(&measure, &paragraphs, &frame).map_err(super::return_does_not_fit)?;
        draw_block(&mut canvas, &block, &frame, h - MARGIN);
        // A rule between the return address and the ship-to block.
        canvas.content.rect(
            MARGIN,
            h - MARGIN - frame.height - 4.0,
            w - 2.0 * MARGIN,
            0.75,
        );
        canvas.content.fill_nonzero();
    }
    let top = heading_top(from.is_some());
    canvas.text(
        (MARGIN, top - ASCENT * 10.0),
        10.0,
        Font::Regular,
        "SHIP TO:",
    );
    let frame = address_frame(from.is_some());
    let paragraphs: Vec<&str> = lines.iter().map(|l| l.as_str()).collect();
    let block = layout::fit(&measure, &paragraphs, &frame).map_err(|why| {
        super::does_not_fit(id, "the 4x6 label", why, &format!("{MIN_ADDRESS_PT} pt"))
    })?;
    draw_block(&mut canvas, &block, &frame, address_top(from.is_some()));
    // The order id as Code 128 above its text.
    barcode(
        &mut canvas.content,
        id,
        (MARGIN, BARCODE_TOP - 60.0),
        w - 2.0 * MARGIN,
        60.0,
    );
    canvas.text((MARGIN, 136.0), 10.0, Font::Regular, id);
    // The marketplace's domain, right-aligned on the order id's line (below the barcode, away
    // from the address); left out when the two would not keep a clear gap.
    if let Some(m) = facts.marketplace.as_deref().and_then(Marketplace::by_id) {
        let width = measure.width(m.domain, 10.0);
        let right = w - MARGIN;
        if MARGIN + measure.width(id, 10.0) + 18.0 <= right - width {
            canvas.text((right - width, 136.0), 10.0, Font::Regular, m.domain);
        }
    }
    if let Some(level) = &facts.service_level {
        let service = format!("Service: {level}");
        let frame = Frame {
            width: w - 2.0 * MARGIN,
            height: 14.0,
            max_size: 11.0,
            min_size: 6.0,
            step: 0.5,
            leading: 1.2,
        };
        // Not PII: what does not fit (or has no font) is left to the packing slip.
        if text::missing(&service, &measure.chain).is_none()
            && let Ok(b) = layout::fit(&measure, &[&service], &frame)
        {
            draw_block(&mut canvas, &b, &frame, 110.0 + ASCENT * b.size);
        }
    }
    let items: Vec<&str> = facts
        .items
        .iter()
        .take(5)
        .map(String::as_str)
        .filter(|i| text::missing(i, &measure.chain).is_none())
        .collect();
    if !items.is_empty() {
        let frame = Frame {
            width: w - 2.0 * MARGIN,
            height: 62.0,
            max_size: 9.0,
            min_size: 6.0,
            step: 0.5,
            leading: 1.33,
        };
        let many = format!("{} items: see the packing slip", facts.items.len());
        let block = layout::fit(&measure, &items, &frame)
            .or_else(|_| layout::fit(&measure, &[&many], &frame));
        if let Ok(b) = block {
            draw_block(&mut canvas, &b, &frame, 92.0 + ASCENT * b.size);
        }
    }
    Ok(canvas.finish((w, h)))
}

/// A subset tag for face `f` in this document (six capitals, as PDF wants before a subset's
/// name), from the glyphs it keeps.
fn subset_tag(f: FaceId, glyphs: &[u16]) -> String {
    let mut h: u32 = 2166136261 ^ u32::from(f.0);
    for g in glyphs {
        h = (h ^ u32::from(*g)).wrapping_mul(16777619);
    }
    (0..6)
        .map(|i| (b'A' + ((h >> (i * 5)) % 26) as u8) as char)
        .collect()
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

/// One font dictionary of a face: what each glyph stands for and its width (see [`Page`]).
type Dict<'a> = BTreeMap<u16, (Option<&'a str>, i32)>;

/// Puts pages into one PDF: one page object per page, and each face any page uses embedded
/// once as a subset with the glyphs all pages use (Type 0, Identity-H, with a ToUnicode map).
/// A face whose glyph stands for two texts (a Thai base alone and with its mark, a mark that
/// is silent in one cluster and a carrier in another) gets a second font dictionary over the
/// same embedded program, with its own ToUnicode map; pages name the dictionaries they use.
///
/// pdf-writer's own buffers are not zeroized; the finished file is.
pub fn document(pages: &[Page]) -> Zeroizing<Vec<u8>> {
    // Every face used, with its glyphs renumbered for the subset (glyph 0 first).
    let mut remap: BTreeMap<FaceId, subsetter::GlyphRemapper> = BTreeMap::new();
    for page in pages {
        for part in &page.parts {
            if let Part::Glyphs(f, ids) = part {
                let r = remap.entry(*f).or_insert_with(|| {
                    let mut r = subsetter::GlyphRemapper::new();
                    r.remap(0);
                    r
                });
                for id in ids {
                    r.remap(*id);
                }
            }
        }
    }
    // The document's font dictionaries per face: the pages' variants merged where their maps
    // agree. `chosen[page][(face, variant)]` is the dictionary the page's resource names.
    let mut dicts: BTreeMap<FaceId, Vec<Dict>> = BTreeMap::new();
    let mut chosen: Vec<BTreeMap<(FaceId, u16), usize>> = Vec::with_capacity(pages.len());
    for page in pages {
        let mut here = BTreeMap::new();
        for ((f, v), map) in &page.fonts {
            let list = dicts.entry(*f).or_default();
            let fits = |d: &Dict| {
                map.iter().all(|(g, (u, w))| {
                    d.get(g)
                        .is_none_or(|t| *t == (u.as_deref().map(String::as_str), *w))
                })
            };
            let k = match list.iter().position(fits) {
                Some(k) => k,
                None => {
                    list.push(BTreeMap::new());
                    list.len() - 1
                }
            };
            for (g, (u, w)) in map {
                list[k].insert(*g, (u.as_deref().map(String::as_str), *w));
            }
            here.insert((*f, *v), k);
        }
        chosen.push(here);
    }
    let (catalog, tree) = (Ref::new(1), Ref::new(2));
    let page_ref = |i: usize| Ref::new(3 + 2 * i as i32);
    let body_ref = |i: usize| Ref::new(4 + 2 * i as i32);
    let mut next = 3 + 2 * pages.len() as i32;
    let mut alloc = || {
        next += 1;
        Ref::new(next - 1)
    };
    // Per face: its descriptor and program; per dictionary: Type 0, CID font and ToUnicode.
    let mut face_refs: BTreeMap<FaceId, (Ref, Ref)> = BTreeMap::new();
    let mut dict_refs: BTreeMap<(FaceId, usize), (Ref, Ref, Ref)> = BTreeMap::new();
    for (f, list) in &dicts {
        face_refs.insert(*f, (alloc(), alloc()));
        for k in 0..list.len() {
            dict_refs.insert((*f, k), (alloc(), alloc(), alloc()));
        }
    }
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids((0..pages.len()).map(page_ref))
        .count(pages.len() as i32);
    for (i, page) in pages.iter().enumerate() {
        let mut p = pdf.page(page_ref(i));
        p.media_box(Rect::new(0.0, 0.0, page.size.0, page.size.1));
        p.parent(tree);
        p.contents(body_ref(i));
        let mut res = p.resources();
        let mut fonts = res.fonts();
        for ((f, v), k) in &chosen[i] {
            fonts.pair(
                Name(format!("F{}v{v}", f.0).as_bytes()),
                dict_refs[&(*f, *k)].0,
            );
        }
        fonts.finish();
        res.finish();
        p.finish();
        let mut content = Zeroizing::new(Vec::new());
        for part in &page.parts {
            match part {
                Part::Raw(b) => content.extend_from_slice(b),
                Part::Glyphs(f, ids) => {
                    let r = &remap[f];
                    push_hex(&mut content, ids.iter().map(|g| r.get(*g).unwrap_or(0)));
                }
            }
        }
        pdf.stream(body_ref(i), &content);
    }
    let info = SystemInfo {
        registry: Str(b"Adobe"),
        ordering: Str(b"Identity"),
        supplement: 0,
    };
    for (f, r) in &remap {
        let Some(face) = text::face(*f) else { continue };
        let Some(&(desc, file)) = face_refs.get(f) else {
            continue;
        };
        let old: Vec<u16> = r.remapped_gids().collect();
        let name = format!("{}+{}", subset_tag(*f, &old), face.name);
        let cff = face.is_cff();
        let scale = 1000.0 / face.upem;
        for (k, map) in dicts[f].iter().enumerate() {
            // Each glyph's width as the page uses it (a carrier's spans its cluster).
            let widths: Vec<f32> = old
                .iter()
                .map(|g| {
                    map.get(g)
                        .map_or(face.advance(u32::from(*g)) * scale, |(_, w)| *w as f32)
                })
                .collect();
            let (base, cid, cmap) = dict_refs[&(*f, k)];
            pdf.type0_font(base)
                .base_font(Name(name.as_bytes()))
                .encoding_predefined(Name(b"Identity-H"))
                .descendant_font(cid)
                .to_unicode(cmap);
            let mut c = pdf.cid_font(cid);
            c.subtype(if cff {
                CidFontType::Type0
            } else {
                CidFontType::Type2
            });
            c.base_font(Name(name.as_bytes()));
            c.system_info(info);
            c.font_descriptor(desc);
            c.default_width(0.0);
            if !cff {
                c.cid_to_gid_map_predefined(Name(b"Identity"));
            }
            c.widths().consecutive(0, widths);
            c.finish();
            let mut unicode = UnicodeCmap::new(Name(b"Custom"), info);
            let mut pairs = 0;
            for (g, (t, _)) in map {
                if let Some(t) = t.filter(|t| !t.is_empty()) {
                    unicode.pair_with_multiple(r.get(*g).unwrap_or(0), t.chars());
                    pairs += 1;
                }
            }
            if pairs == 0 {
                // A dictionary of silent glyphs only: with an empty map poppler would read
                // each glyph's id as a character, so .notdef (never shown) stands for U+FFFD.
                unicode.pair(0, '\u{FFFD}');
            }
            pdf.cmap(cmap, &unicode.finish());
        }
        let m = face.font.metrics();
        let b = &m.bounds;
        pdf.font_descriptor(desc)
            .name(Name(name.as_bytes()))
            .flags(FontFlags::SYMBOLIC)
            .bbox(Rect::new(
                b.x_min.to_f32() * scale,
                b.y_min.to_f32() * scale,
                b.x_max.to_f32() * scale,
                b.y_max.to_f32() * scale,
            ))
            .italic_angle(0.0)
            .ascent(ASCENT * 1000.0)
            .descent(-(1.0 - ASCENT) * 1000.0)
            .cap_height(700.0)
            .stem_v(80.0)
            .pair(Name(if cff { b"FontFile3" } else { b"FontFile2" }), file);
        let subset = subsetter::subset(face.data, face.index, r).unwrap_or_default();
        let program = if cff {
            read_fonts::FontRef::new(&subset)
                .ok()
                .and_then(|f| {
                    f.table_data(read_fonts::types::Tag::new(b"CFF "))
                        .map(|d| d.as_bytes().to_vec())
                })
                .unwrap_or_default()
        } else {
            subset
        };
        let packed = deflate(&program);
        let mut s = pdf.stream(file, &packed);
        s.filter(Filter::FlateDecode);
        if cff {
            s.pair(Name(b"Subtype"), Name(b"CIDFontType0C"));
        }
        s.finish();
    }
    Zeroizing::new(pdf.finish())
}

/// Renders one label as a 4 × 6 inch PDF (one [`label_page`]).
pub fn render_pdf(
    facts: &LabelFacts,
    pii: &BuyerPii,
    from: Option<&ShipFrom>,
) -> Result<Zeroizing<Vec<u8>>> {
    Ok(document(&[label_page(facts, pii, from)?]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pii::Pii;

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
    fn a_pdf_label_embeds_its_fonts_writes_the_text_and_one_rectangle_per_bar() {
        let facts = LabelFacts {
            order_id: "111-2223334-4455566".into(),
            service_level: Some("Std".into()),
            ..Default::default()
        };
        let pdf = render_pdf(&facts, &pii(), None).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        let has = |needle: &[u8]| pdf.windows(needle.len()).any(|w| w == needle);
        // The name's logical text, UTF-16BE: "Zoë" = 005A 006F 00EB.
        assert!(
            has("% Zoë ^XZ~JR_Evil\n".as_bytes()),
            "the name as its line's text"
        );
        assert!(has(b"/Identity-H") && has(b"/FontFile2") && has(b"/ToUnicode"));
        assert!(!has(b"/Helvetica"));
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
        assert!(render_pdf(&facts, &greek, None).is_ok());
        // Thai: one glyph stands for a base alone and, elsewhere, for the base with its mark
        // (its cluster's whole text): two font dictionaries over the one embedded program.
        let thai = BuyerPii {
            recipient_name: Some(Pii::new("ดี ด")),
            address_line1: Some(Pii::new("1 Main St")),
            ..Default::default()
        };
        let page = label_page(&facts, &thai, None).unwrap();
        let face = text::Chain::default();
        let d = text::shape("ด", &face).glyphs[0].id;
        let texts: Vec<Option<&str>> = page
            .fonts
            .values()
            .filter_map(|map| map.get(&d))
            .map(|(t, _)| t.as_deref().map(String::as_str))
            .collect();
        assert_eq!(texts, [Some("ดี"), Some("ด")]);
        let pdf = document(&[page]);
        let has = |needle: &[u8]| pdf.windows(needle.len()).any(|w| w == needle);
        assert_eq!(
            pdf.windows(b"/FontFile2".len())
                .filter(|w| w == b"/FontFile2")
                .count(),
            2,
            "Noto Sans and Noto Sans Thai, each embedded once"
        );
        assert!(has(b"/F4v1"));
        let ethiopic = BuyerPii {
            recipient_name: Some(Pii::new("ሰላም")),
            address_line1: Some(Pii::new("1 Main St")),
            ..Default::default()
        };
        let e = render_pdf(&facts, &ethiopic, None).unwrap_err().to_string();
        assert!(e.contains("U+1230") && !e.contains("--format zpl"), "{e}");
        assert!(!e.contains("ሰላም"), "no PII in the error");
    }
}
