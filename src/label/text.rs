//! The text stack for labels, packing slips and pick lists (pure but for reading the system's
//! CJK font once): every script, shaped, in bidirectional order, from real fonts.
//!
//! - **Fonts** ([`FaceId`]): Noto Sans (Latin, Greek, Cyrillic), Noto Sans Arabic, Hebrew,
//!   Devanagari and Thai are bundled in the binary (`assets/fonts/`, SIL OFL 1.1, about 1 MB);
//!   Chinese, Japanese and Korean come from the system's Noto Sans CJK collection (Debian
//!   `fonts-noto-cjk`), read once, its Japanese, Korean, Simplified or Traditional Chinese face
//!   chosen by the order's country (Han characters are drawn in the style readers there expect).
//! - **Fallback**, per character ([`Chain`]): a letter takes the first face of the chain that
//!   has it; anything else (digits, spaces, punctuation, combining marks) stays in the face of
//!   the letter before it when that face has it (Noto Sans Hebrew has no digits: they fall back
//!   to Noto Sans). A character no face has is refused ([`missing`]): never a box or a `?`.
//! - **Bidi**: each line is split into directional runs in visual order (`unicode-bidi`, UAX #9),
//!   so an Arabic street keeps its postcode `12345` left to right.
//! - **Shaping**: each run of one face is shaped by `harfrust` (HarfBuzz's algorithm: Arabic
//!   joining, Indic clusters, Thai marks, kerning), which gives glyph ids and positions.
//!
//! What is drawn: [`Line`], glyphs in visual order with their advances and offsets, its bidi
//! [`Run`]s, and the text each glyph stands for (for a PDF's ToUnicode map): a cluster's whole
//! text on one glyph of it, its carrier, so a base and its marks read back together. PDFs
//! embed the faces used ([`super::pdf`]); ZPL rasterises them ([`raster`]).

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use harfrust::{Buffer, Direction, ShapeOptions, ShaperFont};
use read_fonts::model::Font;
use read_fonts::types::{GlyphId, NameId};

use super::layout::Measure;

/// Noto Sans and the four script faces, bundled.
const BUNDLED: [(&str, &[u8]); 5] = [
    (
        "NotoSans-Regular",
        include_bytes!("../../assets/fonts/NotoSans-Regular.ttf"),
    ),
    (
        "NotoSansArabic-Regular",
        include_bytes!("../../assets/fonts/NotoSansArabic-Regular.ttf"),
    ),
    (
        "NotoSansHebrew-Regular",
        include_bytes!("../../assets/fonts/NotoSansHebrew-Regular.ttf"),
    ),
    (
        "NotoSansDevanagari-Regular",
        include_bytes!("../../assets/fonts/NotoSansDevanagari-Regular.ttf"),
    ),
    (
        "NotoSansThai-Regular",
        include_bytes!("../../assets/fonts/NotoSansThai-Regular.ttf"),
    ),
];

/// The system package that holds the CJK faces, named when one is needed and missing.
pub const CJK_PACKAGE: &str = "fonts-noto-cjk";

/// The file the CJK faces are read from (Debian's name for the collection).
const CJK_FILE: &str = "NotoSansCJK-Regular.ttc";

/// A face: an index into the bundled faces (0..5) or one of the CJK faces (5..9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FaceId(pub(crate) u8);

/// The CJK faces, in the order of their ids (5, 6, 7, 8), by the family name in the file.
const CJK_FAMILIES: [&str; 4] = [
    "Noto Sans CJK JP",
    "Noto Sans CJK KR",
    "Noto Sans CJK SC",
    "Noto Sans CJK TC",
];

/// A loaded face: its font, its bytes (for embedding) and index in them.
pub struct Face {
    /// The font.
    pub font: Font,
    /// The whole file (a collection for CJK).
    pub data: &'static [u8],
    /// The face's index in `data`.
    pub index: u32,
    /// PostScript-ish name, for the PDF (no spaces).
    pub name: String,
    /// Units per em.
    pub upem: f32,
}

impl std::fmt::Debug for Face {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Face({})", self.name)
    }
}

impl Face {
    fn new(data: &'static [u8], index: u32, name: String) -> Option<Face> {
        let font = Font::new(data, index)?;
        let upem = f32::from(font.units_per_em().max(1));
        Some(Face {
            font,
            data,
            index,
            name,
            upem,
        })
    }

    /// The glyph for `c`, if the face has one.
    pub fn glyph(&self, c: char) -> Option<GlyphId> {
        self.font
            .charmap()
            .map_unicode(c as u32)
            .filter(|g| g.to_u32() != 0)
    }

    fn has(&self, c: char) -> bool {
        self.glyph(c).is_some()
    }

    /// The advance of glyph `g` in font units.
    pub fn advance(&self, g: u32) -> f32 {
        self.font.glyph_metrics().h_advance(GlyphId::new(g))
    }

    /// True for CFF outlines (embedded as CIDFontType0), false for TrueType (CIDFontType2).
    pub fn is_cff(&self) -> bool {
        read_fonts::FontRef::from_index(self.data, self.index)
            .ok()
            .and_then(|f| f.table_data(read_fonts::types::Tag::new(b"CFF ")).map(drop))
            .is_some()
    }
}

fn bundled(i: usize) -> &'static Face {
    static FACES: OnceLock<Vec<Face>> = OnceLock::new();
    &FACES.get_or_init(|| {
        BUNDLED
            .iter()
            .map(|(name, data)| Face::new(data, 0, (*name).to_string()).expect("bundled font"))
            .collect()
    })[i]
}

/// Where system fonts are looked for: `FULFILL_FONT_DIRS` (colon-separated) when set, else
/// the usual places on Linux.
fn font_dirs() -> Vec<PathBuf> {
    if let Some(v) = std::env::var_os("FULFILL_FONT_DIRS") {
        return std::env::split_paths(&v).collect();
    }
    let mut dirs = vec![
        PathBuf::from("/usr/share/fonts"),
        PathBuf::from("/usr/local/share/fonts"),
    ];
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".local/share/fonts"));
    }
    dirs
}

/// The first file named `name` under `dirs` (depth-first, at most 6 levels, links not followed).
fn find_file(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    fn walk(dir: &Path, name: &str, depth: u32) -> Option<PathBuf> {
        let mut entries: Vec<_> = std::fs::read_dir(dir).ok()?.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let Ok(t) = e.file_type() else { continue };
            if t.is_file() && e.file_name() == name {
                return Some(e.path());
            }
            if t.is_dir()
                && depth < 6
                && let Some(p) = walk(&e.path(), name, depth + 1)
            {
                return Some(p);
            }
        }
        None
    }
    dirs.iter().find_map(|d| walk(d, name, 0))
}

/// The CJK faces (JP, KR, SC, TC), read once; `None` when the system has none.
fn cjk_faces() -> Option<&'static [Option<Face>; 4]> {
    static CJK: OnceLock<Option<[Option<Face>; 4]>> = OnceLock::new();
    CJK.get_or_init(|| {
        let path = find_file(&font_dirs(), CJK_FILE)?;
        let data: &'static [u8] = Box::leak(std::fs::read(path).ok()?.into_boxed_slice());
        let mut faces: [Option<Face>; 4] = [None, None, None, None];
        for index in 0..16 {
            let Some(font) = Font::new(data, index) else {
                break;
            };
            let family: String = font
                .names()
                .get(NameId::FAMILY_NAME)
                .and_then(|n| n.english_or_first())
                .map(|l| l.name().chars().collect())
                .unwrap_or_default();
            if let Some(k) = CJK_FAMILIES.iter().position(|f| *f == family)
                && faces[k].is_none()
            {
                faces[k] = Face::new(data, index, family.replace(' ', ""));
            }
        }
        faces.iter().any(Option::is_some).then_some(faces)
    })
    .as_ref()
}

/// The face `id`, if it is available.
pub fn face(id: FaceId) -> Option<&'static Face> {
    match id.0 {
        i @ 0..=4 => Some(bundled(i as usize)),
        i @ 5..=8 => cjk_faces()?[(i - 5) as usize].as_ref(),
        _ => None,
    }
}

/// The faces a text is set in, in the order they are tried.
#[derive(Debug, Clone)]
pub struct Chain {
    faces: Vec<FaceId>,
}

impl Chain {
    /// The chain for an order shipping to `country` (ISO code): the bundled faces, then the
    /// CJK face for the country (Japanese unless the country reads Korean or Chinese).
    pub fn for_country(country: Option<&str>) -> Chain {
        let cjk = match country.map(|c| c.trim().to_ascii_uppercase()).as_deref() {
            Some("KR" | "KP") => 6,
            Some("CN" | "SG") => 7,
            Some("TW" | "HK" | "MO") => 8,
            _ => 5,
        };
        let mut faces: Vec<FaceId> = (0..5).map(FaceId).collect();
        faces.push(FaceId(cjk));
        // Any other CJK face the system has, as a last resort for its own characters.
        faces.extend((5..9).filter(|&i| i != cjk).map(FaceId));
        Chain { faces }
    }

    fn faces(&self) -> impl Iterator<Item = (FaceId, &'static Face)> + '_ {
        self.faces
            .iter()
            .filter_map(|&id| face(id).map(|f| (id, f)))
    }

    /// The face for `c` after a character set in `prev` (see the module's fallback rule).
    fn pick(&self, c: char, prev: Option<FaceId>) -> Option<FaceId> {
        if let Some(p) = prev
            && !c.is_alphabetic()
            && face(p).is_some_and(|f| f.has(c) || ignorable(c))
        {
            return Some(p);
        }
        if ignorable(c) {
            return Some(prev.unwrap_or(FaceId(0)));
        }
        self.faces().find(|(_, f)| f.has(c)).map(|(id, _)| id)
    }
}

impl Default for Chain {
    fn default() -> Self {
        Chain::for_country(None)
    }
}

/// Characters no face needs to draw: white space and controls (drawn as spaces), and the
/// invisible format characters (joiners, direction marks, variation selectors).
fn ignorable(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(c as u32, 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0xFE00..=0xFE0F | 0xFEFF)
}

/// The first character of `text` no face of `chain` can draw, if any.
pub fn missing(text: &str, chain: &Chain) -> Option<char> {
    let mut prev = None;
    for c in text.chars() {
        match chain.pick(c, prev) {
            Some(f) => prev = Some(f),
            None => return Some(c),
        }
    }
    None
}

/// True for a character only a CJK face has (Han, kana, Hangul and their punctuation).
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF | 0x2E80..=0x2FDF | 0x3000..=0x303F | 0x3040..=0x30FF | 0x3100..=0x312F
        | 0x3130..=0x318F | 0x31F0..=0x31FF | 0x3200..=0x9FFF | 0xA960..=0xA97F | 0xAC00..=0xD7FF
        | 0xF900..=0xFAFF | 0xFF00..=0xFFEF | 0x20000..=0x3FFFF)
}

/// What to tell the operator about a character no font has (no text of the order in it).
pub fn missing_advice(c: char) -> String {
    if is_cjk(c) {
        format!(
            "has Chinese, Japanese or Korean characters and no CJK font is installed; install the \
             {CJK_PACKAGE} package (apt-get install {CJK_PACKAGE})"
        )
    } else {
        format!(
            "has a character (U+{:04X}) in a script none of fulfill's fonts draw (Latin, Greek, \
             Cyrillic, Arabic, Hebrew, Devanagari, Thai, and CJK from {CJK_PACKAGE})",
            c as u32
        )
    }
}

/// One positioned glyph, in em (multiply by the font size).
#[derive(Debug, Clone)]
pub struct Glyph {
    /// The face it is drawn from.
    pub face: FaceId,
    /// Its id in that face.
    pub id: u16,
    /// How far the pen moves after it.
    pub advance: f32,
    /// Where it is drawn relative to the pen.
    pub offset: (f32, f32),
    /// The byte range of the line's text it stands for: a cluster's whole text (a base with
    /// its marks, a conjunct, a ligature) on one glyph of it, its carrier (the first in visual
    /// order that advances the pen: it stands on the baseline at the cluster's left edge), and
    /// empty on the cluster's other glyphs.
    pub text: Range<usize>,
    /// For a carrier, from where it is drawn to where its cluster ends (the pen after the
    /// cluster); 0 for the other glyphs.
    pub extent: f32,
    /// Where its cluster's text starts in the line (the same for every glyph of a cluster).
    pub cluster: usize,
}

/// A directional run of a shaped line: its glyphs (a range of [`Line::glyphs`], in visual
/// order) and the text they stand for.
#[derive(Debug, Clone)]
pub struct Run {
    /// Its glyphs' indices in [`Line::glyphs`].
    pub glyphs: Range<usize>,
    /// The byte range of the line's text (runs are in visual order; sort by this for logical).
    pub text: Range<usize>,
    /// Right to left (an odd bidi level).
    pub rtl: bool,
}

/// A shaped line: glyphs in visual order (left to right).
#[derive(Debug, Clone, Default)]
pub struct Line {
    /// The glyphs.
    pub glyphs: Vec<Glyph>,
    /// The directional runs, in visual order.
    pub runs: Vec<Run>,
    /// The advance of the whole line in em.
    pub width: f32,
}

/// Control characters are set as spaces, as the old fonts did.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Shapes one line of `text` with `chain`. A character no face has is drawn from the first
/// face as its missing glyph (callers refuse such text first, see [`missing`]).
pub fn shape(text: &str, chain: &Chain) -> Line {
    let text = zeroize::Zeroizing::new(clean(text));
    let mut line = Line::default();
    if text.is_empty() {
        return line;
    }
    let bidi = unicode_bidi::BidiInfo::new(&text, None);
    for para in &bidi.paragraphs {
        let (levels, runs) = bidi.visual_runs(para, para.range.clone());
        for run in runs {
            let rtl = levels[run.start].is_rtl();
            // Split the run by face, in logical order.
            let mut segments: Vec<(FaceId, Range<usize>)> = Vec::new();
            let mut prev = None;
            for (i, c) in text[run.clone()].char_indices() {
                let at = run.start + i;
                let f = chain.pick(c, prev).unwrap_or(FaceId(0));
                prev = Some(f);
                match segments.last_mut() {
                    Some((g, r)) if *g == f => r.end = at + c.len_utf8(),
                    _ => segments.push((f, at..at + c.len_utf8())),
                }
            }
            if rtl {
                segments.reverse();
            }
            let first = line.glyphs.len();
            for (f, r) in segments {
                shape_segment(&text, f, r, rtl, &mut line);
            }
            line.runs.push(Run {
                glyphs: first..line.glyphs.len(),
                text: run.clone(),
                rtl,
            });
        }
    }
    line
}

fn shape_segment(text: &str, id: FaceId, range: Range<usize>, rtl: bool, line: &mut Line) {
    let Some(face) = face(id).or_else(|| face(FaceId(0))) else {
        return;
    };
    let sf = ShaperFont::new(&face.font);
    let mut buf = Buffer::new();
    buf.push_str(&text[range.clone()]);
    buf.guess_segment_properties();
    buf.set_direction(if rtl {
        Direction::RightToLeft
    } else {
        Direction::LeftToRight
    });
    if harfrust::shape(&sf, &mut buf, ShapeOptions::new()).is_err() {
        return;
    }
    let infos = buf.glyph_infos();
    let pos = buf.glyph_positions();
    // Cluster starts (byte offsets in the segment), to find each cluster's end.
    let mut starts: Vec<u32> = infos.iter().map(|g| g.cluster).collect();
    starts.sort_unstable();
    starts.dedup();
    let len = (range.end - range.start) as u32;
    // Each cluster's carrier (the first glyph that advances, else its first) and advance.
    let mut carrier: std::collections::HashMap<u32, (usize, i32)> = Default::default();
    for (i, (g, p)) in infos.iter().zip(pos).enumerate() {
        let c = carrier.entry(g.cluster).or_insert((usize::MAX, 0));
        if c.0 == usize::MAX || (p.x_advance != 0 && pos[c.0].x_advance == 0) {
            c.0 = i;
        }
        c.1 += p.x_advance;
    }
    for (i, (g, p)) in infos.iter().zip(pos).enumerate() {
        let end = starts
            .iter()
            .find(|&&s| s > g.cluster)
            .copied()
            .unwrap_or(len);
        let (text, extent) = match carrier[&g.cluster] {
            (c, advance) if c == i => (
                range.start + g.cluster as usize..range.start + end as usize,
                (advance - p.x_offset) as f32 / face.upem,
            ),
            _ => (0..0, 0.0),
        };
        let advance = p.x_advance as f32 / face.upem;
        line.width += advance;
        line.glyphs.push(Glyph {
            face: id,
            id: g.glyph_id.min(u32::from(u16::MAX)) as u16,
            advance,
            offset: (p.x_offset as f32 / face.upem, p.y_offset as f32 / face.upem),
            text,
            extent,
            cluster: range.start + g.cluster as usize,
        });
    }
}

/// What a refusal for characters no font draws is about.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Refusal {
    /// A label's address.
    Label,
    /// A packing slip's address or gift message.
    Slip,
}

/// Refuses `text` when a character of it has no font (one line naming the order and what to
/// install; never the text). PDF and ZPL labels and packing slips refuse alike.
pub(crate) fn check(
    text: &str,
    chain: &Chain,
    order_id: &str,
    why: Refusal,
) -> crate::error::Result<()> {
    match missing(text, chain) {
        None => Ok(()),
        Some(c) => Err(crate::error::Error::usage(format!(
            "{} {}; it was not printed",
            match why {
                Refusal::Label => format!("the address of order {order_id}"),
                Refusal::Slip => format!("order {order_id} (its address or a gift message)"),
            },
            missing_advice(c)
        ))),
    }
}

/// Refuses a return address (`[ship_from]`) with a character no font draws, naming the
/// package to install (PDF and ZPL labels alike).
pub(crate) fn check_return(lines: &[String], chain: &Chain) -> crate::error::Result<()> {
    for l in lines {
        if let Some(c) = missing(l, chain) {
            return Err(crate::error::Error::usage(format!(
                "the return address (ship_from in config.toml) {}",
                missing_advice(c)
            )));
        }
    }
    Ok(())
}

/// A 1-bit image: `width` × `height` dots, rows top to bottom, each [`Bitmap::row_bytes`]
/// bytes with the leftmost dot in the high bit, 1 for ink. Zeroized when dropped (it shows
/// an address).
pub struct Bitmap {
    /// Dots across.
    pub width: u32,
    /// Dots down.
    pub height: u32,
    /// The rows.
    pub bits: zeroize::Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Bitmap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bitmap({} x {}, [dots])", self.width, self.height)
    }
}

impl Bitmap {
    /// Bytes in one row.
    pub fn row_bytes(&self) -> usize {
        self.width.div_ceil(8) as usize
    }

    /// One row's bytes.
    pub fn row(&self, y: u32) -> &[u8] {
        let n = self.row_bytes();
        &self.bits[y as usize * n..(y as usize + 1) * n]
    }

    /// True when the dot at (x, y) is ink.
    pub fn ink(&self, x: u32, y: u32) -> bool {
        x < self.width && y < self.height && self.row(y)[x as usize / 8] & (0x80 >> (x % 8)) != 0
    }
}

/// Where a rasterised block's lines go in its image, in dots.
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    /// The lines' left edge.
    pub left: f32,
    /// The first baseline, from the image's top.
    pub baseline: f32,
    /// From one baseline to the next.
    pub advance: f32,
    /// The image's size (ink outside it is clipped).
    pub size: (u32, u32),
}

/// The share of a dot an outline must cover for the dot to be ink: a little under half, so
/// a stroke thinner than a dot (a Han character's hairline at 22 dots per em) still prints.
const INK: u8 = 100;

/// Draws a glyph outline, placed at the pen and flipped (font y up, image y down), into a
/// path.
struct Pen<'a> {
    path: &'a mut tiny_skia::PathBuilder,
    at: (f32, f32),
}

impl read_fonts::model::glyph::outline::PathSink for Pen<'_> {
    fn move_to(&mut self, x: f32, y: f32) {
        self.path.move_to(self.at.0 + x, self.at.1 - y);
    }
    fn line_to(&mut self, x: f32, y: f32) {
        self.path.line_to(self.at.0 + x, self.at.1 - y);
    }
    fn quad_to(&mut self, cx: f32, cy: f32, x: f32, y: f32) {
        let (ax, ay) = self.at;
        self.path.quad_to(ax + cx, ay - cy, ax + x, ay - y);
    }
    fn curve_to(&mut self, cx0: f32, cy0: f32, cx1: f32, cy1: f32, x: f32, y: f32) {
        let (ax, ay) = self.at;
        self.path
            .cubic_to(ax + cx0, ay - cy0, ax + cx1, ay - cy1, ax + x, ay - y);
    }
    fn close(&mut self) {
        self.path.close();
    }
}

/// Rasterises `lines` into a 1-bit image: each line shaped, bidi-ordered and set from
/// `chain` exactly as [`shape`] sets it for a PDF (so it is as wide as [`Noto`] measured it),
/// at `size` (dots per em), where `at` places it; each glyph's outline (from `read-fonts`) is
/// filled with the non-zero rule (`tiny-skia`, anti-aliased), and a dot is ink when the outline
/// covers about 40% of it or more. A character no face has is drawn as the first face's
/// missing glyph: callers refuse such text first ([`missing`]).
pub fn raster(lines: &[&str], chain: &Chain, size: f32, at: &Placement) -> Bitmap {
    let (width, height) = at.size;
    let row = width.div_ceil(8) as usize;
    let mut bits = zeroize::Zeroizing::new(vec![0u8; row * height as usize]);
    let Some(mut mask) = tiny_skia::Mask::new(width.max(1), height.max(1)) else {
        return Bitmap {
            width,
            height,
            bits,
        };
    };
    let options = read_fonts::model::glyph::outline::DrawOptions::new().with_ppem(Some(size));
    for (i, line) in lines.iter().enumerate() {
        let shaped = shape(line, chain);
        let baseline = at.baseline + at.advance * i as f32;
        let mut pen = at.left;
        let mut path = tiny_skia::PathBuilder::new();
        let mut last: Option<FaceId> = None;
        for g in &shaped.glyphs {
            // One path per face: outlines of one face wind alike (TrueType clockwise, CFF
            // counter-clockwise), so the non-zero rule never cancels two faces' overlaps.
            if last.is_some_and(|f| f != g.face) {
                fill(&mut mask, std::mem::take(&mut path));
            }
            last = Some(g.face);
            if let Some(outline) = face(g.face)
                .and_then(|f| f.font.outline_glyphs().get(GlyphId::new(u32::from(g.id))))
            {
                let mut sink = Pen {
                    path: &mut path,
                    at: (pen + g.offset.0 * size, baseline - g.offset.1 * size),
                };
                let _ = outline.draw(&options, Default::default(), &mut sink);
            }
            pen += g.advance * size;
        }
        fill(&mut mask, path);
    }
    let mut coverage = mask.take();
    for (y, dots) in coverage
        .chunks(width.max(1) as usize)
        .take(height as usize)
        .enumerate()
    {
        for (x, &c) in dots.iter().enumerate().take(width as usize) {
            if c >= INK {
                bits[y * row + x / 8] |= 0x80 >> (x % 8);
            }
        }
    }
    zeroize::Zeroize::zeroize(&mut coverage);
    Bitmap {
        width,
        height,
        bits,
    }
}

fn fill(mask: &mut tiny_skia::Mask, path: tiny_skia::PathBuilder) {
    if let Some(p) = path.finish() {
        mask.fill_path(
            &p,
            tiny_skia::FillRule::Winding,
            true,
            tiny_skia::Transform::identity(),
        );
    }
}

/// The widths of text set by this stack (for [`super::layout`]).
#[derive(Debug, Clone, Default)]
pub struct Noto {
    /// The fallback chain.
    pub chain: Chain,
}

impl Noto {
    /// The measurer for an order shipping to `country`.
    pub fn for_country(country: Option<&str>) -> Noto {
        Noto {
            chain: Chain::for_country(country),
        }
    }
}

impl Measure for Noto {
    fn width(&self, text: &str, size: f32) -> f32 {
        shape(text, &self.chain).width * size
    }
}

/// Noto Sans's ascender (1069/1000 em) is taller than Latin capitals need; a line's first
/// baseline is set this far below the top of its block.
pub const ASCENT: f32 = 0.8;

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(line: &Line, s: &str) -> String {
        line.glyphs.iter().map(|g| &s[g.text.clone()]).collect()
    }

    #[test]
    fn bundled_faces_load_and_each_script_finds_its_face() {
        let c = Chain::default();
        assert_eq!(c.pick('A', None), Some(FaceId(0)));
        assert_eq!(c.pick('Ж', None), Some(FaceId(0)));
        assert_eq!(c.pick('ع', None), Some(FaceId(1)));
        assert_eq!(c.pick('א', None), Some(FaceId(2)));
        assert_eq!(c.pick('क', None), Some(FaceId(3)));
        assert_eq!(c.pick('ก', None), Some(FaceId(4)));
        // Hebrew has no digits: they fall back to Noto Sans.
        assert_eq!(c.pick('1', Some(FaceId(2))), Some(FaceId(0)));
        assert_eq!(missing("Ethiopic ሰላም", &c), Some('ሰ'));
        assert_eq!(missing("Zoë Łódź İstanbul", &c), None);
    }

    #[test]
    fn an_arabic_line_keeps_its_postcode_left_to_right_and_joins_its_letters() {
        let s = "الرياض 12345";
        let line = shape(s, &Chain::default());
        // Visual order: the digits come first (left), in their own order.
        let digits: String = line
            .glyphs
            .iter()
            .map(|g| &s[g.text.clone()])
            .filter(|t| t.chars().all(|c| c.is_ascii_digit()) && !t.is_empty())
            .collect();
        assert_eq!(digits, "12345");
        let first_digit = line.glyphs.iter().position(|g| &s[g.text.clone()] == "1");
        let first_arabic = line
            .glyphs
            .iter()
            .position(|g| s[g.text.clone()].contains('ض'));
        assert!(
            first_digit < first_arabic,
            "the postcode is left of the city"
        );
        // Joined: ي between ر and ا takes its initial form, not the isolated glyph of the
        // cmap; ض after ا (which joins nothing after it) stays isolated.
        let face = face(FaceId(1)).unwrap();
        let glyph_of = |c: char| {
            line.glyphs
                .iter()
                .find(|g| s[g.text.clone()].contains(c))
                .unwrap()
                .id
        };
        assert_ne!(glyph_of('ي'), face.glyph('ي').unwrap().to_u32() as u16);
        assert_eq!(glyph_of('ض'), face.glyph('ض').unwrap().to_u32() as u16);
        // Every character is accounted for once.
        let mut got: Vec<char> = text_of(&line, s).chars().collect();
        let mut want: Vec<char> = s.chars().collect();
        got.sort();
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn each_cluster_has_one_carrier_on_the_baseline_with_its_whole_text_and_extent() {
        // Thai vowels and tones above and below, a Devanagari conjunct with a reph and a vowel
        // sign drawn before its consonant, Arabic with a vowel mark and the lam-alef ligature.
        for s in ["สุขุมวิท ใจดี", "शर्मा किताब", "بَيت سلام"]
        {
            let line = shape(s, &Chain::default());
            let mut carriers: Vec<&Glyph> =
                line.glyphs.iter().filter(|g| !g.text.is_empty()).collect();
            carriers.sort_by_key(|g| g.text.start);
            let text: String = carriers.iter().map(|g| &s[g.text.clone()]).collect();
            assert_eq!(text, s, "every character on exactly one carrier");
            assert!(
                carriers.len() < s.chars().count(),
                "{s}: some cluster holds several characters"
            );
            for g in &carriers {
                assert!(
                    g.advance > 0.0 && g.offset.1 == 0.0,
                    "{s}: a carrier advances"
                );
            }
            let extents: f32 = carriers.iter().map(|g| g.extent + g.offset.0).sum();
            assert!(
                (extents - line.width).abs() < 1e-3,
                "{s}: {extents} of {}",
                line.width
            );
            assert!(
                line.glyphs
                    .iter()
                    .all(|g| !g.text.is_empty() || g.extent == 0.0)
            );
        }
        // The runs: visual order, their text in logical order, Arabic right to left.
        let s = "شارع 12";
        let line = shape(s, &Chain::default());
        let runs: Vec<(bool, &str)> = line
            .runs
            .iter()
            .map(|r| (r.rtl, &s[r.text.clone()]))
            .collect();
        assert_eq!(runs, [(false, "12"), (true, "شارع ")]);
    }

    #[test]
    fn latin_widths_are_the_fonts_and_shaping_kerns() {
        let n = Noto::default();
        let w = n.width("Hello World", 10.0);
        assert!(w > 40.0 && w < 70.0, "{w}");
        assert_eq!(n.width("", 10.0), 0.0);
        assert!(n.width("AV", 10.0) <= n.width("A", 10.0) + n.width("V", 10.0));
    }
}
