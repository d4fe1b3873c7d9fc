//! ZPL II rendering (pure: facts + PII + dpi -> bytes); the printer draws text and barcode.

use zeroize::Zeroizing;

use super::layout::{self, Block, Frame, Misfit, ZplFont0};
use super::{Dpi, LabelFacts, address_lines, return_lines};
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

/// Sets `paragraphs` in `frame` with font 0's measure.
fn fit(paragraphs: &[&str], frame: &Frame) -> std::result::Result<Block, Misfit> {
    layout::fit(&ZplFont0, paragraphs, frame)
}

/// The return address block at `dpi`, or why it does not fit.
fn return_block(from: &ShipFrom, dpi: Dpi) -> Result<(Block, Frame)> {
    let lines = return_lines(from);
    let paragraphs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let (_, height, max, min) = RETURN;
    let f = frame(dpi, height, (max, min));
    let block = fit(&paragraphs, &f).map_err(super::return_does_not_fit)?;
    Ok((block, f))
}

/// Refuses a return address that does not fit the ZPL label's return block at `dpi`.
pub(crate) fn check_return(from: &ShipFrom, dpi: Dpi) -> Result<()> {
    return_block(from, dpi).map(drop)
}

/// Renders one label: the return address (when set), the ship-to block wrapped and, if need
/// be, shrunk to fit above the barcode (one `^FB` field, font 0 from 40 down to 22 dots at 203
/// dpi, scaled at 300), the order id as Code 128, the service level and the items. Refuses an
/// order without a recipient or first address line, and one whose address does not fit even
/// at the smallest size (nothing is ever cut).
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
    let one_line = |text: &str, h: u32| {
        let f = Frame {
            width: s(TEXT_WIDTH) as f32,
            height: s(h) as f32 * 1.2,
            max_size: s(h) as f32,
            min_size: (s(h) * 3 / 5) as f32,
            step: 1.0,
            leading: 1.2,
        };
        fit(&[text], &f).map(|b| (b, f))
    };
    // Laid out before anything is written, so a refusal leaves no partial label.
    let returned = from.map(|f| return_block(f, dpi)).transpose()?;
    let heading_y = if returned.is_some() { 155 } else { 40 };
    let address_y = heading_y + 50;
    let lines = address_lines(facts, pii);
    let paragraphs: Vec<&str> = lines.iter().map(|l| l.as_str()).collect();
    let af = frame(dpi, RULE_Y - 20 - address_y, ADDRESS_SIZES);
    let address = fit(&paragraphs, &af).map_err(|why| {
        super::does_not_fit(
            &facts.order_id,
            "the 4x6 label",
            why,
            &format!("{} dots ({} dpi)", af.min_size, dpi.dots()),
        )
    })?;
    // Sized so it never reallocates (a reallocation would leave an unzeroized copy).
    let mut z = Zeroizing::new(String::with_capacity(16 * 1024));
    z.push_str(&format!("^XA^CI28^PW{}^LL{}\n", s(812), s(1218)));
    if let Some((block, f)) = &returned {
        push_block(&mut z, (s(LEFT), s(RETURN.0)), block, f);
        z.push_str(&format!(
            "^FO{},{}^GB{},2,2^FS\n",
            s(LEFT),
            s(RETURN.0 + RETURN.1 + 8),
            s(TEXT_WIDTH)
        ));
    }
    if let Ok((b, f)) = one_line("SHIP TO:", 28) {
        push_block(&mut z, (s(LEFT), s(heading_y)), &b, &f);
    }
    push_block(&mut z, (s(LEFT), s(address_y)), &address, &af);
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
    let mut y = 900;
    if let Some(level) = &facts.service_level {
        // Not PII: a service name that does not fit is left to the packing slip.
        if let Ok((b, f)) = one_line(&format!("Service: {level}"), 34) {
            push_block(&mut z, (s(LEFT), s(y)), &b, &f);
        }
        y += 50;
    }
    let items: Vec<&str> = facts.items.iter().take(5).map(String::as_str).collect();
    if !items.is_empty() {
        let f = frame(dpi, 1190 - y, (26, 18));
        let many = format!("{} items: see the packing slip", facts.items.len());
        if let Ok(b) = fit(&items, &f).or_else(|_| fit(&[&many], &f)) {
            push_block(&mut z, (s(LEFT), s(y)), &b, &f);
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
    fn an_order_without_an_address_is_refused() {
        let facts = LabelFacts::default();
        assert!(render_zpl(&facts, &BuyerPii::default(), Dpi::D203, None).is_err());
    }
}
