//! ZPL II rendering (pure: facts + PII + dpi -> bytes); the printer draws text and barcode.

use zeroize::Zeroizing;

use super::{Dpi, LabelFacts, address_lines};
use crate::error::{Error, Result};
use crate::pii::BuyerPii;

/// Appends `text` as `^FH` field data: `_`, `^`, `~` as `_XX` hex, control characters as
/// spaces, everything else as is. Written straight into `out`, so no PII copy is left behind.
fn push_field(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '_' => out.push_str("_5F"),
            '^' => out.push_str("_5E"),
            '~' => out.push_str("_7E"),
            '\\' => out.push_str("_5C"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
}

/// Appends one text field: `^FO` at (x, y), font height `h`, the escaped text.
fn push_text(out: &mut String, dpi: Dpi, (x, y): (u32, u32), h: u32, parts: &[&str]) {
    out.push_str(&format!(
        "^FO{},{}^A0N,{h},{h}^FB{},1,0,L^FH^FD",
        dpi.s(x),
        dpi.s(y),
        dpi.s(770 - x),
        h = dpi.s(h)
    ));
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        push_field(out, p);
    }
    out.push_str("^FS\n");
}

/// Renders one label. Refuses an order without a recipient or first address line.
pub fn render_zpl(facts: &LabelFacts, pii: &BuyerPii, dpi: Dpi) -> Result<Zeroizing<Vec<u8>>> {
    if pii.is_unaddressable() {
        return Err(Error::usage(format!(
            "order {} has no address Amazon released; it cannot be labelled",
            facts.order_id
        )));
    }
    // Sized so it never reallocates (a reallocation would leave an unzeroized copy).
    let mut z = Zeroizing::new(String::with_capacity(16 * 1024));
    let s = |v| dpi.s(v);
    z.push_str(&format!("^XA^CI28^PW{}^LL{}\n", s(812), s(1218)));
    push_text(&mut z, dpi, (40, 40), 28, &["SHIP TO:"]);
    let mut y = 90;
    for l in &address_lines(facts, pii) {
        push_text(&mut z, dpi, (40, y), 40, l);
        y += 50;
    }
    z.push_str(&format!("^FO{},{}^GB{},3,3^FS\n", s(40), s(620), s(730)));
    z.push_str(&format!(
        "^FO{},{}^BY{}^BCN,{},Y,N,N^FD",
        s(60),
        s(660),
        if dpi == Dpi::D300 { 4 } else { 3 },
        s(160)
    ));
    push_field(&mut z, &facts.order_id);
    z.push_str("^FS\n");
    let mut y = 900;
    if let Some(level) = &facts.service_level {
        push_text(&mut z, dpi, (40, y), 34, &["Service:", level]);
        y += 50;
    }
    for item in facts.items.iter().take(5) {
        push_text(&mut z, dpi, (40, y), 26, &[item]);
        y += 36;
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
        let z = render_zpl(&facts, &pii(), Dpi::D203).unwrap();
        let text = String::from_utf8(z.to_vec()).unwrap();
        assert!(text.contains("Zoë _5EXZ_7EJR_5FEvil"), "{text}");
        assert_eq!(text.matches("^XZ").count(), 1, "only the label's own end");
        assert!(text.contains("^BCN,160,Y,N,N^FD111-2223334-4455566^FS"));
        assert!(text.contains("Springfield IL 62704"));
        let big =
            String::from_utf8(render_zpl(&facts, &pii(), Dpi::D300).unwrap().to_vec()).unwrap();
        assert!(big.contains("^PW1200^LL1800"), "{big}");
    }

    #[test]
    fn an_order_without_an_address_is_refused() {
        let facts = LabelFacts::default();
        assert!(render_zpl(&facts, &BuyerPii::default(), Dpi::D203).is_err());
    }
}
