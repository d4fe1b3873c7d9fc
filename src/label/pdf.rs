//! PDF rendering (pure: facts + PII -> bytes) with the text stack of [`super::text`]: every
//! script, shaped and in bidirectional order, in embedded, subsetted Noto fonts (Type 0 /
//! Identity-H with a ToUnicode map, so `pdftotext` reads the glyphs back; each line's logical
//! text rides beside its glyphs as a `%` comment, which the leak scan reads), and a Code 128
//! barcode drawn from the `code128` crate's bars.
//!
//! A page is rendered on its own ([`label_page`], and the packing slip's pages in
//! [`super::slip`]) into [`Page`] parts: drawing operators, and glyph runs by their ids in the
//! whole font; [`document`] puts any number of pages into one PDF, subsets each face used to
//! the glyphs the pages use and writes the runs with the subset's ids, so a batch is one
//! multi-page file (one print job) with each font embedded once.

use std::collections::BTreeMap;
use std::io::Write;

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
    /// Operators as written (zeroized when dropped: `/ActualText` holds PII).
    Raw(Zeroizing<Vec<u8>>),
    /// A run of glyphs of one face, by their ids in the whole font (written as a hex string
    /// of the subset's ids).
    Glyphs(FaceId, Vec<u16>),
}

/// One finished page: its size in points and its content (zeroized when dropped).
pub struct Page {
    pub(crate) size: (f32, f32),
    pub(crate) parts: Vec<Part>,
    /// What each glyph stands for (face, glyph id, text), for the ToUnicode maps.
    pub(crate) unicode: Vec<(FaceId, u16, Zeroizing<String>)>,
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
    unicode: Vec<(FaceId, u16, Zeroizing<String>)>,
    /// The fallback chain (the order's country picks the CJK face).
    pub(crate) chain: Chain,
}

impl Canvas {
    pub(crate) fn new(chain: Chain) -> Self {
        Canvas {
            parts: Vec::new(),
            content: Content::new(),
            unicode: Vec::new(),
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

    /// One line of text with its left edge at `x` and baseline at `y`.
    pub(crate) fn text(&mut self, (x, y): (f32, f32), size: f32, font: Font, line: &str) {
        let shaped = text::shape(line, &self.chain);
        if shaped.glyphs.is_empty() {
            return;
        }
        self.flush();
        // The line's logical text rides along as a comment (viewers skip it), so a byte scan
        // such as `audit --scan` finds an address in a label; `pdftotext` reads the glyphs
        // through the ToUnicode maps. (An `/ActualText` span would do both, but poppler then
        // gives the whole line one empty box.)
        let mut head = Zeroizing::new(Vec::with_capacity(16 + line.len()));
        head.extend_from_slice(b"% ");
        head.extend_from_slice(line_text(line, &(0..line.len())).as_bytes());
        head.extend_from_slice(b"\nq\n");
        if let Font::Bold = font {
            let _ = writeln!(head, "2 Tr {} w", fmt(size * 0.035));
        }
        head.extend_from_slice(b"BT\n");
        self.raw(std::mem::take(&mut *head));
        let mut pen = x;
        let mut expected: Option<(f32, f32)> = None;
        let mut face: Option<FaceId> = None;
        let mut run: Vec<u16> = Vec::new();
        let mut run_face = FaceId(0);
        for g in &shaped.glyphs {
            let gx = pen + g.offset.0 * size;
            let gy = y + g.offset.1 * size;
            let here = expected.is_some_and(|(ex, ey)| (ex - gx).abs() < 0.01 && ey == gy);
            if !here || face != Some(g.face) {
                if !run.is_empty() {
                    self.parts
                        .push(Part::Glyphs(run_face, std::mem::take(&mut run)));
                    self.raw(b" Tj\n".to_vec());
                }
                let mut ops = Vec::new();
                if face != Some(g.face) {
                    let _ = write!(ops, "/F{} {} Tf ", g.face.0, fmt(size));
                    face = Some(g.face);
                }
                let _ = write!(ops, "1 0 0 1 {} {} Tm ", fmt(gx), fmt(gy));
                self.raw(ops);
                run_face = g.face;
            }
            run.push(g.id);
            if !g.text.is_empty() {
                self.unicode
                    .push((g.face, g.id, Zeroizing::new(line_text(line, &g.text))));
            }
            let natural = text::face(g.face).map_or(0.0, |f| f.advance(u32::from(g.id)) / f.upem);
            expected = Some((gx + natural * size, gy));
            pen += g.advance * size;
        }
        if !run.is_empty() {
            self.parts.push(Part::Glyphs(run_face, run));
            self.raw(b" Tj\n".to_vec());
        }
        self.raw(b"ET\nQ\n".to_vec());
    }

    /// The finished page.
    pub(crate) fn finish(mut self, size: (f32, f32)) -> Page {
        self.flush();
        Page {
            size,
            parts: self.parts,
            unicode: self.unicode,
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

/// Puts pages into one PDF: one page object per page, and each face any page uses embedded
/// once as a subset with the glyphs all pages use (Type 0, Identity-H, with a ToUnicode map).
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
    let (catalog, tree) = (Ref::new(1), Ref::new(2));
    let page_ref = |i: usize| Ref::new(3 + 2 * i as i32);
    let body_ref = |i: usize| Ref::new(4 + 2 * i as i32);
    let mut next = 3 + 2 * pages.len() as i32;
    let mut font_refs: BTreeMap<FaceId, Ref> = BTreeMap::new();
    for f in remap.keys() {
        font_refs.insert(*f, Ref::new(next));
        next += 5;
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
        for (f, r) in &font_refs {
            fonts.pair(Name(format!("F{}", f.0).as_bytes()), *r);
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
    for (f, r) in &remap {
        let Some(face) = text::face(*f) else { continue };
        let base = font_refs[f];
        let (cid, desc, file, cmap) = (
            Ref::new(base.get() + 1),
            Ref::new(base.get() + 2),
            Ref::new(base.get() + 3),
            Ref::new(base.get() + 4),
        );
        let old: Vec<u16> = r.remapped_gids().collect();
        let name = format!("{}+{}", subset_tag(*f, &old), face.name);
        let cff = face.is_cff();
        let scale = 1000.0 / face.upem;
        pdf.type0_font(base)
            .base_font(Name(name.as_bytes()))
            .encoding_predefined(Name(b"Identity-H"))
            .descendant_font(cid)
            .to_unicode(cmap);
        let info = SystemInfo {
            registry: Str(b"Adobe"),
            ordering: Str(b"Identity"),
            supplement: 0,
        };
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
        let widths: Vec<f32> = old
            .iter()
            .map(|g| face.advance(u32::from(*g)) * scale)
            .collect();
        c.widths().consecutive(0, widths);
        c.finish();
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
        let mut map = UnicodeCmap::new(Name(b"Custom"), info);
        let mut seen = std::collections::HashSet::new();
        for page in pages {
            for (g, id, t) in &page.unicode {
                if g == f && seen.insert(*id) && !t.is_empty() {
                    map.pair_with_multiple(r.get(*id).unwrap_or(0), t.chars());
                }
            }
        }
        pdf.cmap(cmap, &map.finish());
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
