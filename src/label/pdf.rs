//! PDF rendering (pure: facts + PII -> bytes) with the built-in Helvetica (WinAnsi, Latin-1
//! only) and a Code 128 barcode drawn from the `code128` crate's bars.

use zeroize::Zeroizing;

use super::{LabelFacts, address_lines};
use crate::error::{Error, Result};
use crate::pii::BuyerPii;

/// A text line in WinAnsi bytes for the built-in font (Latin-1 only).
pub(crate) fn win_ansi(text: &str, order_id: &str) -> Result<Zeroizing<Vec<u8>>> {
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
