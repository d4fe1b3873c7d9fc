//! ZPL II rendering (pure: facts + PII + dpi -> bytes). The printer draws the barcode and
//! the text its resident font covers; every other block is rasterised by the label text stack
//! ([`super::text`]) and sent as an image.
//!
//! **Which text stays printer text** ([`resident`]): font 0 (`^A0`, CG Triumvirate Bold
//! Condensed) under `^CI28` (UTF-8) is trusted with Latin-1 only: U+0020 to U+007E and U+00A0
//! to U+00FF. Zebra's ZPL II Programming Guide documents font 0 with its single-byte character
//! sets (`^CI0`..`^CI13`: Zebra Code Page 850 and its national variants; Zebra Code Page 1252
//! from x.14 firmware), whose letters are those of Latin-1; it makes no promise that a stock
//! printer's font 0 has Latin Extended (Polish ł, Turkish ş, Czech ř), Greek, Cyrillic or
//! anything further, and a glyph the font lacks prints as a box or nothing. So a block is
//! printer text (`^FB`, as before) only when every character of it is Latin-1; anything else
//! is rasterised, which a printer of any firmware prints as it was drawn here.
//!
//! **Rasterised blocks**: laid out with the fonts' real advances ([`Noto`] through the same
//! [`layout::fit`]), shaped and bidi-ordered by [`text::raster`], one 1-bit image per block at
//! the label's dpi (the layout's sizes are printer dots), sent as `^GFA` in Zebra's ASCII
//! compression (`push_graphic`). Above each image, each line's text is written in a `^FX`
//! comment (which prints nothing, see the guide's `^FX`) so a byte scan of the label
//! (`audit --scan`) still finds the buyer's name in it, as the PDF's `%` comments do.

use zeroize::Zeroizing;

use super::layout::{self, Block, Frame, Misfit, ZplFont0};
use super::text::{self, Bitmap, Chain, Noto, Placement, Refusal};
use super::{Dpi, LabelFacts, return_lines, ship_to_lines};
use crate::error::{Error, Result};
use crate::model::shipping::ShipFrom;
use crate::pii::BuyerPii;

/// Appends `text` as `^FH` field data: `_`, `^`, `~` as `_XX` hex, control characters as
/// spaces, everything else as is. Written straight into `out`, so no PII copy is left behind.
/// In a `^FB` block a backslash starts an escape (`\&` is a line break), so there it is
/// written `\\` (hex-escaped), which the block prints as one backslash.
fn push_field(out: &mut String, text: &str, block: bool) {
    for c in text.chars() {
        match c {
            '_' => out.push_str("_5F"),
            '^' => out.push_str("_5E"),
            '~' => out.push_str("_7E"),
            '\\' if block => out.push_str("_5C_5C"),
            '\\' => out.push_str("_5C"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
}

/// True for a character the printer's resident font 0 is trusted to draw under `^CI28`:
/// printable Latin-1 (see the module doc for why no more). A control character is printed as
/// a space, so it counts as covered.
pub fn resident(c: char) -> bool {
    c.is_control() || matches!(c as u32, 0x20..=0x7E | 0xA0..=0xFF)
}

/// The label's left margin and its text width, on the 203-dpi grid (scaled by [`Dpi::s`]).
const LEFT: u32 = 40;
const TEXT_WIDTH: u32 = 730;
/// The return address block: top, height, largest and smallest font height (203-dpi dots).
const RETURN: (u32, u32, u32, u32) = (30, 100, 24, 16);
/// The rule between the ship-to block and the barcode.
const RULE_Y: u32 = 620;
/// The address's largest and smallest font height (203-dpi dots; 22 dots is 7.8 pt).
const ADDRESS_SIZES: (u32, u32) = (40, 22);

/// A frame on the 203-dpi grid, in the printer's own dots. Sizes step one dot at a time; the
/// line advance is at most 1.2 × the height (see [`spacing`]).
fn frame(dpi: Dpi, height: u32, (max, min): (u32, u32)) -> Frame {
    Frame {
        width: dpi.s(TEXT_WIDTH) as f32,
        height: dpi.s(height) as f32,
        max_size: dpi.s(max) as f32,
        min_size: dpi.s(min) as f32,
        step: 1.0,
        leading: 1.2,
    }
}

/// The `^FB` line spacing for font height `h`: the gap added below each line, so a line
/// advances `h + spacing` <= 1.2 × `h`, which is what the layout measured.
fn spacing(h: u32) -> u32 {
    h / 5
}

/// A block laid out: in font 0's measure (printer text) or the text stack's (an image).
struct Laid {
    block: Block,
    frame: Frame,
    /// The fallback chain the block was measured with, when it is rasterised.
    raster: Option<Chain>,
}

/// Sets `paragraphs` in `frame`: with font 0's measure when the printer draws every character
/// of them, else with the text stack's real advances in `chain`'s faces (to be rasterised).
fn fit(paragraphs: &[&str], frame: &Frame, chain: &Chain) -> std::result::Result<Laid, Misfit> {
    if paragraphs.iter().all(|p| p.chars().all(resident)) {
        let block = layout::fit(&ZplFont0, paragraphs, frame)?;
        return Ok(Laid {
            block,
            frame: *frame,
            raster: None,
        });
    }
    let measure = Noto {
        chain: chain.clone(),
    };
    let block = layout::fit(&measure, paragraphs, frame)?;
    Ok(Laid {
        block,
        frame: *frame,
        raster: Some(measure.chain),
    })
}

/// Appends one fitted block as ONE `^FB` field: origin (x, y) in the printer's dots, font 0 at
/// the block's size, a block as wide as the frame with exactly as many lines as were fitted
/// (broken with `\&`, so the printer never wraps on its own; a line it would wrap is measured
/// wider than it prints, see [`ZplFont0`]).
fn push_block(out: &mut String, (x, y): (u32, u32), block: &Block, frame: &Frame) {
    let h = block.size.floor() as u32;
    out.push_str(&format!(
        "^FO{x},{y}^A0N,{h},{h}^FB{},{},{},L,0^FH^FD",
        frame.width as u32,
        block.lines.len(),
        spacing(h)
    ));
    for (i, l) in block.lines.iter().enumerate() {
        if i > 0 {
            out.push_str("\\&");
        }
        push_field(out, l, true);
    }
    out.push_str("^FS\n");
}

/// The most bytes one `^GF` field may describe (its byte counts are 1 to 99999 in Zebra's
/// guide); a taller image is sent as several fields, one below the other.
const GF_MAX: usize = 99_999;

/// Appends Zebra's ASCII compression of `bitmap`'s rows `rows` (ZPL II Programming Guide,
/// `^GF` and "Alternative Data Compression Scheme for ~DG and ~DB Commands"): each row is
/// `row_bytes` bytes as hex digits, where a run of one digit is written as its count before
/// it (`G`..`Y` for 1 to 19, `g`..`z` for 20 to 400 in twenties, added up), a row's zeros from
/// a byte boundary to its end are one `,`, and a row equal to the one before is one `:`.
pub fn compress(out: &mut String, bitmap: &Bitmap, rows: std::ops::Range<u32>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut hex = Zeroizing::new(Vec::with_capacity(2 * bitmap.row_bytes()));
    let mut prev: Option<&[u8]> = None;
    for y in rows {
        let row = bitmap.row(y);
        if prev == Some(row) {
            out.push(':');
            continue;
        }
        prev = Some(row);
        hex.clear();
        for b in row {
            hex.push(HEX[usize::from(b >> 4)]);
            hex.push(HEX[usize::from(b & 15)]);
        }
        // Trailing zeros from a byte boundary on become one ','.
        let mut end = hex.len();
        while end > 0 && hex[end - 1] == b'0' {
            end -= 1;
        }
        if end % 2 == 1 {
            end += 1;
        }
        let mut i = 0;
        while i < end {
            let c = hex[i];
            let mut n = 1;
            while i + n < end && hex[i + n] == c {
                n += 1;
            }
            i += n;
            let mut left = n;
            while left > 0 {
                let k = left.min(419);
                if k < 3 {
                    for _ in 0..k {
                        out.push(c as char);
                    }
                } else {
                    if k >= 20 {
                        out.push((b'g' + (k / 20 - 1) as u8) as char);
                    }
                    if k % 20 > 0 {
                        out.push((b'G' + (k % 20 - 1) as u8) as char);
                    }
                    out.push(c as char);
                }
                left -= k;
            }
        }
        if end < hex.len() {
            out.push(',');
        }
    }
}

/// The most characters [`push_graphic`] writes for `bitmap` and `lines` (compression never
/// writes more than two hex digits a byte).
fn graphic_len(bitmap: &Bitmap, lines: &[Zeroizing<String>]) -> usize {
    let data = bitmap.row_bytes() * bitmap.height as usize * 2;
    let bands = (bitmap.row_bytes() * bitmap.height as usize)
        .div_ceil(GF_MAX)
        .max(1);
    let text: usize = lines.iter().map(|l| 8 + 3 * l.len()).sum();
    data + 64 * bands + text
}

/// Appends a rasterised block: each line's text as a `^FX` comment (non-printing; for the leak
/// scan, `^` and `~` hex-escaped as in `^FH` data so the comment cannot end early), then the
/// image at (x, y) as `^GFA` fields of at most [`GF_MAX`] bytes each.
fn push_graphic(
    out: &mut String,
    (x, y): (u32, u32),
    bitmap: &Bitmap,
    lines: &[Zeroizing<String>],
) {
    for l in lines {
        out.push_str("^FX ");
        push_field(out, l, false);
        out.push('\n');
    }
    let row = bitmap.row_bytes().max(1);
    let band = (GF_MAX / row).max(1) as u32;
    let mut top = 0;
    while top < bitmap.height {
        let rows = band.min(bitmap.height - top);
        let bytes = row * rows as usize;
        out.push_str(&format!("^FO{x},{}^GFA,{bytes},{bytes},{row},", y + top));
        compress(out, bitmap, top..top + rows);
        out.push_str("^FS\n");
        top += rows;
    }
}

/// A field ready to write: printer text, or a rasterised block already encoded.
enum Field {
    Text((u32, u32), Laid),
    Graphic(Zeroizing<String>),
}

impl Field {
    /// Lays out `laid` at (x, y); a rasterised block is drawn and encoded now. Its image
    /// reaches 0.3 em above the block and below it, and 0.15 em left and right of it, so
    /// accents, Thai marks and Arabic descenders are not clipped.
    fn at((x, y): (u32, u32), laid: Laid) -> Field {
        let Some(chain) = &laid.raster else {
            return Field::Text((x, y), laid);
        };
        let size = laid.block.size;
        let advance = laid.block.advance(&laid.frame);
        let pad_y = (size * 0.3).ceil();
        let pad_x = (size * 0.15).ceil();
        let lines: Vec<&str> = laid.block.lines.iter().map(|l| l.as_str()).collect();
        let height = (lines.len() as f32 * advance + 2.0 * pad_y).ceil() as u32;
        let width = (laid.frame.width + 2.0 * pad_x).ceil() as u32;
        let place = Placement {
            left: pad_x,
            baseline: pad_y + text::ASCENT * size,
            advance,
            size: (width, height),
        };
        let bitmap = text::raster(&lines, chain, size, &place);
        let mut out = Zeroizing::new(String::with_capacity(graphic_len(
            &bitmap,
            &laid.block.lines,
        )));
        push_graphic(
            &mut out,
            (
                x.saturating_sub(pad_x as u32),
                y.saturating_sub(pad_y as u32),
            ),
            &bitmap,
            &laid.block.lines,
        );
        Field::Graphic(out)
    }

    /// The most bytes [`Field::push`] writes.
    fn len(&self) -> usize {
        match self {
            Field::Text(_, l) => 96 + l.block.lines.iter().map(|t| 6 * t.len() + 2).sum::<usize>(),
            Field::Graphic(g) => g.len(),
        }
    }

    fn push(&self, out: &mut String) {
        match self {
            Field::Text(at, l) => push_block(out, *at, &l.block, &l.frame),
            Field::Graphic(g) => out.push_str(g),
        }
    }
}

/// The return address block at `dpi`, or why it cannot be printed.
fn return_block(from: &ShipFrom, dpi: Dpi) -> Result<Laid> {
    let lines = return_lines(from);
    let chain = Chain::for_country(Some(&from.country));
    if !lines.iter().all(|l| l.chars().all(resident)) {
        text::check_return(&lines, &chain)?;
    }
    let paragraphs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let (_, height, max, min) = RETURN;
    let f = frame(dpi, height, (max, min));
    fit(&paragraphs, &f, &chain).map_err(super::return_does_not_fit)
}

/// Refuses a return address that does not fit the ZPL label's return block at `dpi` (or has a
/// character no font draws).
pub(crate) fn check_return(from: &ShipFrom, dpi: Dpi) -> Result<()> {
    return_block(from, dpi).map(drop)
}

/// Renders one label: the return address (when set), the ship-to block wrapped and, if need
/// be, shrunk to fit above the barcode (one field, from 40 down to 22 dots at 203 dpi, scaled
/// at 300: font 0 when the printer draws all of it, else one image), the order id as Code 128,
/// the service level and the items. Refuses an order without a recipient or first address
/// line, one with a character no font draws (naming the package to install), and one whose
/// address does not fit even at the smallest size (nothing is ever cut).
pub fn render_zpl(
    facts: &LabelFacts,
    pii: &BuyerPii,
    dpi: Dpi,
    from: Option<&ShipFrom>,
) -> Result<Zeroizing<Vec<u8>>> {
    if pii.is_unaddressable() {
        return Err(Error::usage(format!(
            "order {} has no address Amazon released; it cannot be labelled",
            facts.order_id
        )));
    }
    let s = |v| dpi.s(v);
    let chain = Chain::for_country(facts.country.as_deref());
    let one_line = |text: &str, h: u32| {
        let f = Frame {
            width: s(TEXT_WIDTH) as f32,
            height: s(h) as f32 * 1.2,
            max_size: s(h) as f32,
            min_size: (s(h) * 3 / 5) as f32,
            step: 1.0,
            leading: 1.2,
        };
        fit(&[text], &f, &chain)
    };
    // Laid out (and rasterised) before anything is written, so a refusal leaves no partial
    // label.
    let returned = from.map(|f| return_block(f, dpi)).transpose()?;
    let heading_y = if returned.is_some() { 155 } else { 40 };
    let address_y = heading_y + 50;
    // Abroad, a non-Latin address ends with the destination's name in English (as the PDF).
    let lines = ship_to_lines(facts, pii, from);
    for l in &lines {
        if !l.chars().all(resident) {
            text::check(l, &chain, &facts.order_id, Refusal::Label)?;
        }
    }
    let paragraphs: Vec<&str> = lines.iter().map(|l| l.as_str()).collect();
    let af = frame(dpi, RULE_Y - 20 - address_y, ADDRESS_SIZES);
    let address = fit(&paragraphs, &af, &chain).map_err(|why| {
        super::does_not_fit(
            &facts.order_id,
            "the 4x6 label",
            why,
            &format!("{} dots ({} dpi)", af.min_size, dpi.dots()),
        )
    })?;
    let mut fields = Vec::new();
    if let Some(laid) = returned {
        fields.push(Field::at((s(LEFT), s(RETURN.0)), laid));
    }
    if let Ok(b) = one_line("SHIP TO:", 28) {
        fields.push(Field::at((s(LEFT), s(heading_y)), b));
    }
    fields.push(Field::at((s(LEFT), s(address_y)), address));
    // The fields up to here go above the barcode.
    let head = fields.len();
    let mut y = 900;
    if let Some(level) = &facts.service_level {
        // Not PII: a service name that does not fit (or has no font) is left to the slip.
        let service = format!("Service: {level}");
        if text::missing(&service, &chain).is_none()
            && let Ok(b) = one_line(&service, 34)
        {
            fields.push(Field::at((s(LEFT), s(y)), b));
        }
        y += 50;
    }
    let items: Vec<&str> = facts
        .items
        .iter()
        .take(5)
        .map(String::as_str)
        .filter(|i| text::missing(i, &chain).is_none())
        .collect();
    if !items.is_empty() {
        let f = frame(dpi, 1190 - y, (26, 18));
        let many = format!("{} items: see the packing slip", facts.items.len());
        if let Ok(b) = fit(&items, &f, &chain).or_else(|_| fit(&[&many], &f, &chain)) {
            fields.push(Field::at((s(LEFT), s(y)), b));
        }
    }
    // Sized so it never reallocates (a reallocation would leave an unzeroized copy).
    let size = 1024 + fields.iter().map(Field::len).sum::<usize>() + 4 * facts.order_id.len();
    let mut z = Zeroizing::new(String::with_capacity(size));
    z.push_str(&format!("^XA^CI28^PW{}^LL{}\n", s(812), s(1218)));
    for (i, f) in fields.iter().enumerate() {
        f.push(&mut z);
        if i == 0 && from.is_some() {
            // The rule under the return address.
            z.push_str(&format!(
                "^FO{},{}^GB{},2,2^FS\n",
                s(LEFT),
                s(RETURN.0 + RETURN.1 + 8),
                s(TEXT_WIDTH)
            ));
        }
        if i + 1 == head {
            // Below the ship-to block: the rule and the barcode.
            z.push_str(&format!(
                "^FO{},{}^GB{},3,3^FS\n",
                s(LEFT),
                s(RULE_Y),
                s(TEXT_WIDTH)
            ));
            z.push_str(&format!(
                "^FO{},{}^BY{}^BCN,{},Y,N,N^FD",
                s(60),
                s(660),
                if dpi == Dpi::D300 { 4 } else { 3 },
                s(160)
            ));
            push_field(&mut z, &facts.order_id, false);
            z.push_str("^FS\n");
        }
    }
    z.push_str("^XZ\n");
    Ok(Zeroizing::new(z.as_bytes().to_vec()))
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
    fn printer_commands_in_an_address_are_escaped() {
        let facts = LabelFacts {
            order_id: "111-2223334-4455566".into(),
            ..Default::default()
        };
        let z = render_zpl(&facts, &pii(), Dpi::D203, None).unwrap();
        let text = String::from_utf8(z.to_vec()).unwrap();
        assert!(text.contains("Zoë _5EXZ_7EJR_5FEvil"), "{text}");
        assert_eq!(text.matches("^XZ").count(), 1, "only the label's own end");
        assert!(text.contains("^BCN,160,Y,N,N^FD111-2223334-4455566^FS"));
        assert!(text.contains("Springfield IL 62704"));
        let big = String::from_utf8(
            render_zpl(&facts, &pii(), Dpi::D300, None)
                .unwrap()
                .to_vec(),
        )
        .unwrap();
        assert!(big.contains("^PW1200^LL1800"), "{big}");
    }

    #[test]
    fn the_address_is_one_block_with_as_many_lines_as_it_says_and_a_backslash_is_escaped() {
        let facts = LabelFacts {
            order_id: "111-2223334-4455566".into(),
            country: Some("DE".into()),
            ..Default::default()
        };
        let mut p = pii();
        p.address_line2 = Some(Pii::new(r"Hinterhaus \& 3. OG"));
        let z =
            String::from_utf8(render_zpl(&facts, &p, Dpi::D203, None).unwrap().to_vec()).unwrap();
        let field = z.split("^FO").find(|f| f.contains("Springfield")).unwrap();
        // The user's backslash is hex-escaped and doubled (^FB reads `\\` as one), so it
        // cannot break the line; the block's line count matches its line breaks.
        assert!(field.contains(r"Hinterhaus _5C_5C& 3. OG"), "{field}");
        let breaks = field.matches(r"\&").count();
        assert!(
            field.contains(&format!("^FB730,{},8,L,0", breaks + 1)),
            "{field}"
        );
        assert!(
            field.contains(r"\&GERMANY\&") || field.ends_with("GERMANY^FS\n"),
            "{field}"
        );
    }

    #[test]
    fn compression_writes_runs_trailing_zeros_and_repeated_rows_as_zebra_documents() {
        let rows: [[u8; 2]; 5] = [[0, 0], [0xFF, 0], [0xFF, 0], [0x0F, 0xF0], [0x01, 0]];
        let bitmap = Bitmap {
            width: 16,
            height: 5,
            bits: Zeroizing::new(rows.concat()),
        };
        let mut out = String::new();
        compress(&mut out, &bitmap, 0..5);
        // ",": a blank row; "FF,": FF then zeros; ":": the row again; "0FF0" in full; "01,"
        // (an odd number of trailing zeros keeps one, so ',' starts on a byte boundary).
        assert_eq!(out, ",FF,:0FF001,");
        // 60 F's: 3 × 20 = 'i'; 439 = 419 ('z' + 'Y') + 20 ('g'); then a 2-digit run as is.
        let wide = |bytes: Vec<u8>| Bitmap {
            width: bytes.len() as u32 * 8,
            height: 1,
            bits: Zeroizing::new(bytes),
        };
        let mut out = String::new();
        compress(&mut out, &wide(vec![0xFF; 30]), 0..1);
        assert_eq!(out, "iF");
        let mut bytes = vec![0x11; 219];
        bytes.push(0x12);
        let mut out = String::new();
        compress(&mut out, &wide(bytes), 0..1);
        assert_eq!(out, "zY1g12");
    }

    #[test]
    fn abroad_a_non_latin_address_ends_with_the_country_in_english_as_on_the_pdf() {
        let facts = LabelFacts {
            order_id: "111-2223334-4455566".into(),
            country: Some("AE".into()),
            ..Default::default()
        };
        let arabic = BuyerPii {
            recipient_name: Some(Pii::new("فاطمة الزهراء")),
            address_line1: Some(Pii::new("شارع الشيخ زايد 12")),
            city: Some(Pii::new("دبي")),
            phone: Some(Pii::new("+971 4 555 0101")),
            ..Default::default()
        };
        let from = |country: &str| ShipFrom {
            country: country.into(),
            ..Default::default()
        };
        let zpl = |from: &ShipFrom| {
            String::from_utf8(
                render_zpl(&facts, &arabic, Dpi::D203, Some(from))
                    .unwrap()
                    .to_vec(),
            )
            .unwrap()
        };
        // Abroad the country is the block's last line, after the phone; at home it stays
        // where the address puts it, before the phone.
        let country = format!("^FX {}\n", crate::label::country::country_name("AE"));
        let phone = "^FX +971 4 555 0101\n";
        let (abroad, home) = (zpl(&from("US")), zpl(&from("AE")));
        let at = |z: &str, s: &str| z.find(s).unwrap_or_else(|| panic!("{s:?} in {z}"));
        assert!(at(&abroad, &country) > at(&abroad, phone));
        assert!(at(&home, &country) < at(&home, phone));
    }

    #[test]
    fn latin_1_stays_printer_text_and_anything_else_is_an_image_with_its_text_in_comments() {
        assert!(resident('é') && resident('ÿ') && resident(' ') && resident('~'));
        assert!(!resident('ł') && !resident('€') && !resident('Ж') && !resident('山'));
        let facts = LabelFacts {
            order_id: "111-2223334-4455566".into(),
            country: Some("AE".into()),
            service_level: Some("Std".into()),
            items: vec!["SKU-1 x2".into()],
            marketplace: None,
        };
        let arabic = BuyerPii {
            recipient_name: Some(Pii::new("فاطمة الزهراء")),
            address_line1: Some(Pii::new("شارع الشيخ زايد 12 ^XZ")),
            city: Some(Pii::new("دبي")),
            postal_code: Some(Pii::new("12345")),
            ..Default::default()
        };
        let z = String::from_utf8(
            render_zpl(&facts, &arabic, Dpi::D203, None)
                .unwrap()
                .to_vec(),
        )
        .unwrap();
        assert!(z.contains("^GFA,"), "{z}");
        assert!(z.contains("^FX فاطمة الزهراء\n"), "{z}");
        assert!(
            z.contains("^FX شارع الشيخ زايد 12 _5EXZ\n"),
            "no early end: {z}"
        );
        assert_eq!(z.matches("^XZ").count(), 1);
        for field in z.split("^FD").skip(1) {
            let data = &field[..field.find("^FS").unwrap()];
            assert!(data.chars().all(resident), "printer text: {data}");
        }
        // The barcode and the Latin blocks are as before.
        assert!(z.contains("^BCN,160,Y,N,N^FD111-2223334-4455566^FS"));
        assert!(z.contains("^FDService: Std^FS"), "{z}");
        // A Latin-1 address: no image, no comment.
        let latin = render_zpl(&facts, &pii(), Dpi::D203, None).unwrap();
        let latin = String::from_utf8(latin.to_vec()).unwrap();
        assert!(!latin.contains("^GF") && !latin.contains("^FX"), "{latin}");
    }

    #[test]
    fn an_order_without_an_address_is_refused() {
        let facts = LabelFacts::default();
        assert!(render_zpl(&facts, &BuyerPii::default(), Dpi::D203, None).is_err());
    }
}
