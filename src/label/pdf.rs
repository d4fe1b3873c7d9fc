//! PDF rendering (pure: facts + PII -> bytes) with the built-in Helvetica (WinAnsi, Latin-1
//! only) and a Code 128 barcode drawn from the `code128` crate's bars.
//!
//! A page is rendered on its own ([`label_page`], and the packing slip's pages in
//! [`super::slip`]); [`document`] puts any number of pages into one PDF, so a batch is one
//! multi-page file (one print job).

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};
use zeroize::Zeroizing;

use super::{LabelFacts, address_lines};
use crate::error::{Error, Result};
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

/// One 4 × 6 inch label page. Refuses an order without an address, or one whose address is
/// not Latin-1 (the built-in font has no other glyphs; ZPL has).
pub fn label_page(facts: &LabelFacts, pii: &BuyerPii) -> Result<Page> {
    if pii.is_unaddressable() {
        return Err(Error::usage(format!(
            "order {} has no address Amazon released; it cannot be labelled",
            facts.order_id
        )));
    }
    let (w, h) = LABEL_SIZE;
    let mut content = Content::new();
    let id = facts.order_id.as_str();
    let line = |content: &mut Content, x: f32, y: f32, size: f32, l: &str| {
        text(content, (x, y), size, Font::Regular, l, id, Refusal::Label)
    };
    line(&mut content, 18.0, h - 30.0, 10.0, "SHIP TO:")?;
    let mut y = h - 52.0;
    for parts in address_lines(facts, pii) {
        let l = Zeroizing::new(parts.join(" "));
        line(&mut content, 18.0, y, 14.0, &l)?;
        y -= 18.0;
    }
    // The order id as Code 128 above its text.
    barcode(&mut content, id, (18.0, 150.0), w - 36.0, 60.0);
    line(&mut content, 18.0, 136.0, 10.0, id)?;
    if let Some(level) = &facts.service_level {
        line(
            &mut content,
            18.0,
            110.0,
            11.0,
            &format!("Service: {level}"),
        )?;
    }
    for (i, item) in facts.items.iter().take(5).enumerate() {
        line(&mut content, 18.0, 92.0 - 12.0 * i as f32, 9.0, item)?;
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
pub fn render_pdf(facts: &LabelFacts, pii: &BuyerPii) -> Result<Zeroizing<Vec<u8>>> {
    Ok(document(&[label_page(facts, pii)?]))
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
}
