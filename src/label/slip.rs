//! Packing slips (pure: facts + PII + gift messages + paper -> PDF pages): the order id as
//! text and Code 128 (a station scans it), the purchase date, service and marketplace (its
//! country, domain and currency), the ship-to block,
//! every item with its quantity, and each item's gift message under it. Any script, in the
//! embedded fonts of [`super::text`]: an address or gift message with a character no font
//! draws is refused, as PDF labels refuse it, naming the package to install (a product title
//! no font draws is left out; its SKU names the item). An order whose items do not fit on one
//! page continues on the next.

use zeroize::Zeroizing;

use super::layout;
use super::pdf::{self, Canvas, Font, Page};
use super::text::{self, Noto, Refusal};
use super::{LabelFacts, address_lines};
use crate::error::{Error, Result};
use crate::model::marketplace;
use crate::pii::{BuyerPii, Pii};

/// Slip paper sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paper {
    /// 4 × 6 in, the label printer's stock.
    Label4x6,
    /// US Letter.
    Letter,
    /// ISO A4.
    A4,
}

impl Paper {
    /// Width and height in points.
    pub fn size(self) -> (f32, f32) {
        match self {
            Paper::Label4x6 => pdf::LABEL_SIZE,
            Paper::Letter => (612.0, 792.0),
            Paper::A4 => (595.28, 841.89),
        }
    }

    /// Margin, body text size, line height, heading size.
    fn metrics(self) -> (f32, f32, f32, f32) {
        match self {
            Paper::Label4x6 => (18.0, 9.0, 11.0, 13.0),
            Paper::Letter | Paper::A4 => (48.0, 11.0, 14.0, 18.0),
        }
    }
}

/// One ordered item (no PII).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlipItem {
    /// `OrderItemId` (gift messages are sealed per item).
    pub order_item_id: String,
    /// `ASIN`.
    pub asin: String,
    /// `SellerSKU`.
    pub sku: Option<String>,
    /// `Title`.
    pub title: Option<String>,
    /// `QuantityOrdered`.
    pub quantity: i64,
}

/// What a slip shows besides the address and the gift messages (no PII).
#[derive(Debug, Clone, Default)]
pub struct SlipFacts {
    /// The label's facts (order id, service level, country).
    pub label: LabelFacts,
    /// The purchase date, `YYYY-MM-DD`.
    pub purchase_date: Option<String>,
    /// Every item, by order item id.
    pub items: Vec<SlipItem>,
}

/// `text` cut to at most `max` characters, with "..." when cut.
fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(3)).collect();
    s.push_str("...");
    s
}

/// Words of `text` in lines of at most `max` characters (a longer word is cut), in
/// zeroizing strings: a gift message is PII.
fn wrap(text: &str, max: usize) -> Vec<Zeroizing<String>> {
    let max = max.max(8);
    let mut lines = Vec::new();
    let mut line = Zeroizing::new(String::with_capacity(max + 1));
    for word in text.split_whitespace() {
        let mut word = word;
        while word.chars().count() > max {
            let cut = word.char_indices().nth(max).map_or(word.len(), |(i, _)| i);
            if !line.is_empty() {
                lines.push(std::mem::replace(
                    &mut line,
                    Zeroizing::new(String::with_capacity(max + 1)),
                ));
            }
            lines.push(Zeroizing::new(word[..cut].to_string()));
            word = &word[cut..];
        }
        let n = line.chars().count();
        if n > 0 && n + 1 + word.chars().count() > max {
            lines.push(std::mem::replace(
                &mut line,
                Zeroizing::new(String::with_capacity(max + 1)),
            ));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Lays lines out top to bottom, starting a new page when one is full.
struct Layout<'a> {
    paper: Paper,
    order_id: &'a str,
    pages: Vec<Page>,
    canvas: Canvas,
    measure: Noto,
    y: f32,
}

impl<'a> Layout<'a> {
    fn new(paper: Paper, order_id: &'a str, measure: Noto) -> Self {
        Layout {
            paper,
            order_id,
            pages: Vec::new(),
            canvas: Canvas::new(measure.chain.clone()),
            measure,
            y: paper.size().1 - paper.metrics().0,
        }
    }

    /// Room for `height` more points on this page, or a new page (headed "continued").
    fn room(&mut self, height: f32) -> Result<()> {
        let (margin, size, ..) = self.paper.metrics();
        if self.y - height >= margin {
            return Ok(());
        }
        self.finish_page();
        self.y -= size;
        let head = format!("Order {} (continued)", self.order_id);
        self.line(0.0, size, Font::Bold, &head)
    }

    fn finish_page(&mut self) {
        let done = std::mem::replace(&mut self.canvas, Canvas::new(self.measure.chain.clone()));
        self.pages.push(done.finish(self.paper.size()));
        self.y = self.paper.size().1 - self.paper.metrics().0;
    }

    /// One line at indent `dx`, then down one line height (scaled to `size`).
    fn line(&mut self, dx: f32, size: f32, font: Font, text: &str) -> Result<()> {
        let (margin, body, lh, _) = self.paper.metrics();
        let step = lh * size / body;
        self.room(step)?;
        pdf::text(
            &mut self.canvas,
            (margin + dx, self.y - size),
            size,
            font,
            text,
        );
        self.y -= step;
        Ok(())
    }

    /// Characters of body text that fit in a line at indent `dx` (Helvetica averages a
    /// little over half its size per character).
    fn chars(&self, dx: f32) -> usize {
        let (margin, body, ..) = self.paper.metrics();
        ((self.paper.size().0 - 2.0 * margin - dx) / (body * 0.55)) as usize
    }
}

/// Renders one order's packing slip as pages of `paper`. Refuses an order without an
/// address, and any text the built-in font cannot show.
pub fn slip_pages(
    facts: &SlipFacts,
    pii: &BuyerPii,
    gifts: &[(String, Pii)],
    paper: Paper,
) -> Result<Vec<Page>> {
    let id = facts.label.order_id.as_str();
    if pii.is_unaddressable() {
        return Err(Error::usage(format!(
            "order {id} has no address Amazon released; it cannot be packed with a slip"
        )));
    }
    let (margin, body, lh, head) = paper.metrics();
    let (w, _) = paper.size();
    let measure = Noto::for_country(facts.label.country.as_deref());
    for line in address_lines(&facts.label, pii) {
        text::check(&line, &measure.chain, id, Refusal::Slip)?;
    }
    for (_, message) in gifts {
        text::check(message.expose_pii(), &measure.chain, id, Refusal::Slip)?;
    }
    let mut l = Layout::new(paper, id, measure);
    l.line(0.0, head, Font::Bold, "PACKING SLIP")?;
    l.line(0.0, body, Font::Bold, &format!("Order {id}"))?;
    // The order id as Code 128, for the station's scanner.
    let bar_h = 3.0 * lh;
    l.room(bar_h + lh)?;
    let top = l.y - lh * 0.3;
    pdf::barcode(
        &mut l.canvas.content,
        id,
        (margin, top - bar_h),
        (w - 2.0 * margin).min(260.0),
        bar_h,
    );
    l.y = top - bar_h - lh * 0.5;
    if let Some(d) = &facts.purchase_date {
        l.line(0.0, body, Font::Regular, &format!("Ordered: {d}"))?;
    }
    if let Some(s) = &facts.label.service_level {
        l.line(0.0, body, Font::Regular, &format!("Service: {s}"))?;
    }
    if let Some(m) = &facts.label.marketplace {
        let sold = format!("Marketplace: {}", marketplace::describe(m));
        l.line(0.0, body, Font::Regular, &sold)?;
    }
    l.y -= lh * 0.5;
    l.line(0.0, body, Font::Bold, "SHIP TO")?;
    // Wrapped to the page's width by the font's real widths; a word wider than the page is
    // refused (the address is never cut).
    let width = w - 2.0 * margin;
    for line in address_lines(&facts.label, pii) {
        let parts = layout::wrap(&l.measure, &line, body, width).map_err(|why| {
            Error::usage(format!(
                "the address of order {id} does not fit the packing slip's width ({}); pack \
                     it without a slip, or print the slip on larger paper (--size letter or a4)",
                why.reason()
            ))
        })?;
        for part in parts {
            l.line(0.0, body, Font::Regular, &part)?;
        }
    }
    l.y -= lh * 0.5;
    let qty_w = body * 3.5;
    l.line(0.0, body, Font::Bold, "Qty   Item")?;
    for item in &facts.items {
        // A title is not PII: one no font draws is left out (the SKU or ASIN names the item),
        // where an address or gift message no font draws is refused.
        let title = item
            .title
            .as_ref()
            .filter(|t| text::missing(t, &l.measure.chain).is_none());
        let name = match (&item.sku, title) {
            (Some(sku), Some(t)) => format!("{sku}: {t}"),
            (Some(sku), None) => sku.clone(),
            (None, Some(t)) => format!("{}: {t}", item.asin),
            (None, None) => item.asin.clone(),
        };
        let name = fit(&name, l.chars(qty_w));
        // Quantity and item on one line: the quantity is drawn, then the line advances once.
        let step = lh;
        l.room(step)?;
        let y = l.y - body;
        pdf::text(
            &mut l.canvas,
            (margin, y),
            body,
            Font::Bold,
            &item.quantity.to_string(),
        );
        pdf::text(
            &mut l.canvas,
            (margin + qty_w, y),
            body,
            Font::Regular,
            &name,
        );
        l.y -= step;
        for (_, message) in gifts.iter().filter(|(i, _)| *i == item.order_item_id) {
            l.line(qty_w, body, Font::Bold, "Gift message:")?;
            for part in wrap(message.expose_pii(), l.chars(qty_w + body)) {
                l.line(qty_w + body, body, Font::Regular, &part)?;
            }
        }
    }
    l.finish_page();
    Ok(l.pages)
}

/// One order's packing slip as a PDF (its [`slip_pages`]).
pub fn render_slip(
    facts: &SlipFacts,
    pii: &BuyerPii,
    gifts: &[(String, Pii)],
    paper: Paper,
) -> Result<Zeroizing<Vec<u8>>> {
    Ok(pdf::document(&slip_pages(facts, pii, gifts, paper)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(items: usize) -> SlipFacts {
        SlipFacts {
            label: LabelFacts {
                order_id: "111-2223334-4455566".into(),
                service_level: Some("Std".into()),
                country: Some("US".into()),
                items: Vec::new(),
                marketplace: Some("A1VC38T7YXB528".into()),
            },
            purchase_date: Some("2026-11-30".into()),
            items: (0..items)
                .map(|i| SlipItem {
                    order_item_id: format!("item{i:03}"),
                    asin: format!("B00{i:07}"),
                    sku: Some(format!("SKU-{i}")),
                    title: Some(
                        "A rather long product title that will not fit on a 4x6 slip line".into(),
                    ),
                    quantity: i as i64 + 1,
                })
                .collect(),
        }
    }

    fn pii() -> BuyerPii {
        BuyerPii {
            recipient_name: Some(Pii::new("Zoë Smith")),
            address_line1: Some(Pii::new("1 Main St")),
            city: Some(Pii::new("Springfield")),
            ..Default::default()
        }
    }

    fn has(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    /// A line's text as the page writes it beside its glyphs (a prefix of it when `s` starts
    /// the line; add a `\n` for the whole line).
    fn actual(s: &str) -> Vec<u8> {
        format!("% {s}").into_bytes()
    }

    #[test]
    fn a_slip_has_items_quantities_the_gift_message_under_its_item_and_the_address() {
        let gifts = vec![("item001".to_string(), Pii::new("Happy birthday, Sam!"))];
        let pages = slip_pages(&facts(3), &pii(), &gifts, Paper::Letter).unwrap();
        assert_eq!(pages.len(), 1);
        let c = pages[0].content();
        for needle in [
            "PACKING SLIP>",
            "SKU-0: A rather",
            "SKU-2: ",
            "3>",
            "Happy birthday, Sam!>",
            "1 Main St>",
            "Marketplace: JP (amazon.co.jp, JPY)>",
        ] {
            let n = actual(needle.trim_end_matches('>'));
            let n = if needle.ends_with('>') {
                [n, b"\n".to_vec()].concat()
            } else {
                n
            };
            assert!(has(&c, &n), "{needle}");
        }
        // The gift message follows its own item (item001, SKU-1) and precedes the next.
        let at = |n: &str| {
            c.windows(actual(n).len())
                .position(|w| w == actual(n))
                .unwrap()
        };
        assert!(at("SKU-1: ") < at("Happy birthday") && at("Happy birthday") < at("SKU-2: "));
        let pdf = render_slip(&facts(3), &pii(), &gifts, Paper::A4).unwrap();
        assert!(pdf.starts_with(b"%PDF-") && has(&pdf, b"/MediaBox [0 0 595.28 841.89]"));
    }

    #[test]
    fn many_items_continue_on_the_next_page_and_each_page_fits() {
        let pages = slip_pages(&facts(60), &pii(), &[], Paper::Label4x6).unwrap();
        assert!(pages.len() > 2, "{} pages", pages.len());
        assert!(has(
            &pages[1].content(),
            &actual("Order 111-2223334-4455566 (continued)")
        ));
        assert!(has(&pages.last().unwrap().content(), &actual("SKU-59: ")));
        assert!(pages.iter().all(|p| p.size == pdf::LABEL_SIZE));
    }

    #[test]
    fn a_title_no_font_draws_is_left_out_and_its_sku_kept() {
        let mut f = facts(1);
        f.items[0].title = Some("ሰላም Ethiopic".into());
        let pages = slip_pages(&f, &pii(), &[], Paper::Letter).unwrap();
        assert!(has(
            &pages[0].content(),
            &[actual("SKU-0"), b"\n".to_vec()].concat()
        ));
        // A Greek title is drawn.
        f.items[0].title = Some("Κούπα".into());
        let pages = slip_pages(&f, &pii(), &[], Paper::Letter).unwrap();
        assert!(has(&pages[0].content(), &actual("SKU-0: Κούπα")));
    }

    #[test]
    fn what_no_font_draws_and_an_order_without_an_address_are_refused() {
        let greek = vec![("item000".to_string(), Pii::new("Χρόνια πολλά"))];
        assert!(slip_pages(&facts(1), &pii(), &greek, Paper::Letter).is_ok());
        let ethiopic = vec![("item000".to_string(), Pii::new("መልካም ልደት"))];
        let e = slip_pages(&facts(1), &pii(), &ethiopic, Paper::Letter)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("111-2223334-4455566") && e.contains("U+1218"),
            "{e}"
        );
        assert!(!e.contains("መልካም"), "no PII in the error");
        assert!(slip_pages(&facts(1), &BuyerPii::default(), &[], Paper::Letter).is_err());
    }

    #[test]
    fn wrapping_keeps_every_word_and_cuts_none_that_fit() {
        let text = "one two three four five six seven eight nine ten eleven";
        let lines = wrap(text, 12);
        assert!(lines.iter().all(|l| l.chars().count() <= 12));
        let joined: Vec<&str> = lines.iter().map(|l| l.as_str()).collect();
        assert_eq!(joined.join(" "), text);
        assert_eq!(wrap(&"x".repeat(20), 8).len(), 3);
        assert_eq!(fit("abcdef", 6), "abcdef");
        assert_eq!(fit("abcdefg", 6), "abc...");
    }
}
