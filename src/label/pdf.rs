//! PDF rendering (pure: facts + PII -> bytes) with the built-in Helvetica (WinAnsi, Latin-1
//! only) and a Code 128 barcode drawn from the `code128` crate's bars.
//!
//! A page is rendered on its own ([`label_page`], and the packing slip's pages in
//! [`super::slip`]); [`document`] puts any number of pages into one PDF, so a batch is one
//! multi-page file (one print job).

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};
use zeroize::Zeroizing;

use super::layout::{self, Block, Frame, Helvetica};
use super::{LabelFacts, address_lines, return_lines};
use crate::error::{Error, Result};
use crate::model::shipping::ShipFrom;
use crate::pii::BuyerPii;

/// Label width and height: 4 × 6 in, in points.
pub const LABEL_SIZE: (f32, f32) = (288.0, 432.0);

/// One finished page: its size in points and its content stream (zeroized when dropped).
pub struct Page {
    pub(crate) size: (f32, f32),
    pub(crate) content: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Page({} x {} pt, [content])", self.size.0, self.size.1)
    }
}

/// The built-in fonts a page may use.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Font {
    /// Helvetica.
    Regular,
    /// Helvetica-Bold.
    Bold,
}

/// What a refusal for characters outside Latin-1 tells the operator to do instead.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Refusal {
    /// A PDF label: print it as ZPL.
    Label,
    /// A packing slip: it has no other format.
    Slip,
}

/// A text line in WinAnsi bytes for the built-in font (Latin-1 only).
pub(crate) fn win_ansi(text: &str, order_id: &str, why: Refusal) -> Result<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(Vec::with_capacity(text.len()));
    for c in text.chars() {
        match c as u32 {
            0x20..=0x7E | 0xA0..=0xFF => out.push(c as u32 as u8),
            _ if c.is_control() => out.push(b' '),
            _ => {
                return Err(Error::usage(match why {
                    Refusal::Label => format!(
                        "the address of order {order_id} has characters the PDF label's built-in \
                         font cannot show; print it with --format zpl (the printer draws any script)"
                    ),
                    Refusal::Slip => format!(
                        "order {order_id} has characters (in its address or a gift message) the \
                         packing slip's built-in font cannot show (Latin-1 only); pack it without \
                         a slip and print its label with --format zpl"
                    ),
                }));
            }
        }
    }
    Ok(out)
}

/// Writes one line of text at (x, y), refusing what the built-in font cannot show.
#[allow(clippy::too_many_arguments)]
pub(crate) fn text(
    content: &mut Content,
    (x, y): (f32, f32),
    size: f32,
    font: Font,
    line: &str,
    order_id: &str,
    why: Refusal,
) -> Result<()> {
    let bytes = win_ansi(line, order_id, why)?;
    content.begin_text();
    content.set_font(
        Name(match font {
            Font::Regular => b"F1",
            Font::Bold => b"F2",
        }),
        size,
    );
    content.next_line(x, y);
    content.show(Str(&bytes));
    content.end_text();
    Ok(())
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
/// Helvetica's ascender (Adobe's AFM: 718/1000 em): the first baseline sits this far below
/// the top of its block.
const ASCENT: f32 = 0.718;
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
fn draw_block(
    content: &mut Content,
    block: &Block,
    frame: &Frame,
    top: f32,
    order_id: &str,
) -> Result<()> {
    let mut y = top - ASCENT * block.size;
    for l in &block.lines {
        text(
            content,
            (MARGIN, y),
            block.size,
            Font::Regular,
            l,
            order_id,
            Refusal::Label,
        )?;
        y -= block.advance(frame);
    }
    Ok(())
}

/// Refuses a return address that does not fit the PDF label's return block.
pub(crate) fn check_return(from: &ShipFrom) -> Result<()> {
    let lines = return_lines(from);
    let paragraphs: Vec<&str> = lines.iter().map(String::as_str).collect();
    layout::fit(&Helvetica { bold: false }, &paragraphs, &return_frame())
        .map(drop)
        .map_err(super::return_does_not_fit)
}

/// One 4 × 6 inch label page: the return address (when set) at the top, the ship-to block
/// wrapped and, if need be, shrunk (14 pt down to 8 pt) to fit above the barcode, the order id
/// as Code 128, the service level and the items. Refuses an order without an address, one
/// whose address is not Latin-1 (the built-in font has no other glyphs; ZPL has), and one
/// whose address does not fit even at 8 pt (nothing is ever cut).
pub fn label_page(facts: &LabelFacts, pii: &BuyerPii, from: Option<&ShipFrom>) -> Result<Page> {
    if pii.is_unaddressable() {
        return Err(Error::usage(format!(
            "order {} has no address Amazon released; it cannot be labelled",
            facts.order_id
        )));
    }
    let (w, h) = LABEL_SIZE;
    let mut content = Content::new();
    let id = facts.order_id.as_str();
    let helvetica = Helvetica { bold: false };
    let line = |content: &mut Content, x: f32, y: f32, size: f32, l: &str| {
        text(content, (x, y), size, Font::Regular, l, id, Refusal::Label)
    };
    // Every address line is checked against the font before it is measured.
    let lines = address_lines(facts, pii);
    for l in &lines {
        win_ansi(l, id, Refusal::Label)?;
    }
    if let Some(from) = from {
        let from_lines = return_lines(from);
        let paragraphs: Vec<&str> = from_lines.iter().map(String::as_str).collect();
        let frame = return_frame();
        let block =
            layout::fit(&helvetica, &paragraphs, &frame).map_err(super::return_does_not_fit)?;
        draw_block(&mut content, &block, &frame, h - MARGIN, id)?;
        // A rule between the return address and the ship-to block.
        content.rect(
            MARGIN,
            h - MARGIN - frame.height - 4.0,
            w - 2.0 * MARGIN,
            0.75,
        );
        content.fill_nonzero();
    }
    let top = heading_top(from.is_some());
    line(&mut content, MARGIN, top - ASCENT * 10.0, 10.0, "SHIP TO:")?;
    let frame = address_frame(from.is_some());
    let paragraphs: Vec<&str> = lines.iter().map(|l| l.as_str()).collect();
    let block = layout::fit(&helvetica, &paragraphs, &frame).map_err(|why| {
        super::does_not_fit(id, "the 4x6 label", why, &format!("{MIN_ADDRESS_PT} pt"))
    })?;
    draw_block(
        &mut content,
        &block,
        &frame,
        address_top(from.is_some()),
        id,
    )?;
    // The order id as Code 128 above its text.
    barcode(
        &mut content,
        id,
        (MARGIN, BARCODE_TOP - 60.0),
        w - 2.0 * MARGIN,
        60.0,
    );
    line(&mut content, MARGIN, 136.0, 10.0, id)?;
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
        // Not PII: what does not fit is left to the packing slip rather than refused.
        if let Ok(b) = layout::fit(&helvetica, &[&service], &frame) {
            draw_block(&mut content, &b, &frame, 110.0 + ASCENT * b.size, id)?;
        }
    }
    let items: Vec<&str> = facts.items.iter().take(5).map(String::as_str).collect();
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
        let block = layout::fit(&helvetica, &items, &frame)
            .or_else(|_| layout::fit(&helvetica, &[&many], &frame));
        if let Ok(b) = block {
            draw_block(&mut content, &b, &frame, 92.0 + ASCENT * b.size, id)?;
        }
    }
    Ok(Page {
        size: (w, h),
        content: Zeroizing::new(content.finish().into_vec()),
    })
}

/// Puts pages into one PDF (one page object per page, the two built-in fonts shared).
///
/// pdf-writer's own buffers are not zeroized; the finished file is.
pub fn document(pages: &[Page]) -> Zeroizing<Vec<u8>> {
    let (catalog, tree, regular, bold) = (Ref::new(1), Ref::new(2), Ref::new(3), Ref::new(4));
    let page_ref = |i: usize| Ref::new(5 + 2 * i as i32);
    let body_ref = |i: usize| Ref::new(6 + 2 * i as i32);
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
        fonts.pair(Name(b"F1"), regular);
        fonts.pair(Name(b"F2"), bold);
        fonts.finish();
        res.finish();
        p.finish();
        pdf.stream(body_ref(i), &page.content);
    }
    for (r, name) in [(regular, &b"Helvetica"[..]), (bold, &b"Helvetica-Bold"[..])] {
        pdf.type1_font(r)
            .base_font(Name(name))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
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
    fn a_pdf_label_has_the_address_in_win_ansi_and_one_rectangle_per_bar() {
        let facts = LabelFacts {
            order_id: "111-2223334-4455566".into(),
            service_level: Some("Std".into()),
            ..Default::default()
        };
        let pdf = render_pdf(&facts, &pii(), None).unwrap();
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
        let e = render_pdf(&facts, &greek, None).unwrap_err().to_string();
        assert!(e.contains("--format zpl"), "{e}");
        assert!(!e.contains("Ζωή"), "no PII in the error");
    }
}
