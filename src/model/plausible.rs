//! Plausible numbers from Amazon: the bounds a quantity or a price in a reply must keep, checked
//! by both protocols' parsers where the number enters ([`crate::mws::xml`],
//! [`crate::spapi::model`]).
//!
//! A number outside them is not Amazon's (a hostile or broken endpoint, a decimal read as a
//! count): the order (SP-API, MWS `OrderTotal`) or the order's item page (MWS items, like an
//! item with a bad id) is refused alone with the reason, and the rest of the run is stored.
//! The bounds, chosen far beyond what a merchant-fulfilled order holds and far below what
//! would overflow or mislead a confirmation:
//!
//! - **Quantities** (`QuantityOrdered`, `QuantityShipped`, `quantityOrdered`,
//!   `quantityFulfilled`, `quantityUnfulfilled`, a package item's `quantity`): a whole number
//!   from 0 to [`MAX_QUANTITY`] per item (0: Amazon's count for a canceled item). An order's
//!   unit counts (`NumberOfItemsShipped`/`Unshipped`) at most [`MAX_ORDER_UNITS`].
//! - **Prices** (`OrderTotal`, `ItemPrice`, `ShippingPrice`, `unitPrice`, `grandTotal`): a
//!   number from 0 to [`MAX_AMOUNT`] in the currency's units (10 million: above any real order
//!   in any currency Amazon sells in, yen included), finite, at most [`MAX_DECIMALS`]
//!   decimals. Text that is no number at all (the `FILTERED` of Amazon's recorded examples) is
//!   left as sent: it is not a price, and it is shown only as text.

use std::fmt;

/// Most units of one item in one order.
pub const MAX_QUANTITY: u64 = 10_000;
/// Most units of one order (100 items of [`MAX_QUANTITY`]).
pub const MAX_ORDER_UNITS: u64 = 100 * MAX_QUANTITY;
/// Largest amount of money, in the currency's units.
pub const MAX_AMOUNT: f64 = 10_000_000.0;
/// Most decimals of an amount.
pub const MAX_DECIMALS: usize = 4;

/// A number outside its plausible bounds. `Display` quotes a sanitised, shortened preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Implausible {
    /// The field, as Amazon names it.
    pub field: String,
    /// What was received, sanitised and cut short.
    pub preview: String,
    /// The bound it broke, for people.
    pub bound: &'static str,
}

impl fmt::Display for Implausible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:?} is not a plausible {}",
            self.field, self.preview, self.bound
        )
    }
}

impl std::error::Error for Implausible {}

fn implausible(field: &str, raw: &str, bound: &'static str) -> Implausible {
    let mut preview = crate::term::one_line(raw);
    if preview.chars().count() > 24 {
        preview = preview.chars().take(24).collect::<String>() + "…";
    }
    Implausible {
        field: field.to_string(),
        preview,
        bound,
    }
}

const QUANTITY: &str = "quantity (a whole number from 0 to 10000)";
const UNITS: &str = "unit count (a whole number from 0 to 1000000)";
const AMOUNT: &str = "amount (0 to 10000000, at most 4 decimals)";

/// A quantity sent as text (MWS): a whole number from 0 to [`MAX_QUANTITY`].
pub fn quantity_text(field: &str, raw: &str) -> Result<u32, Implausible> {
    let t = raw.trim();
    match t.parse::<u64>() {
        Ok(q) if q <= MAX_QUANTITY && t.bytes().all(|b| b.is_ascii_digit()) => Ok(q as u32),
        _ => Err(implausible(field, raw, QUANTITY)),
    }
}

/// An order's unit count sent as text (MWS): a whole number from 0 to [`MAX_ORDER_UNITS`].
pub fn units_text(field: &str, raw: &str) -> Result<u32, Implausible> {
    let t = raw.trim();
    match t.parse::<u64>() {
        Ok(q) if q <= MAX_ORDER_UNITS && t.bytes().all(|b| b.is_ascii_digit()) => Ok(q as u32),
        _ => Err(implausible(field, raw, UNITS)),
    }
}

/// A quantity sent as a JSON number (SP-API): a whole number from 0 to [`MAX_QUANTITY`].
pub fn quantity_number(field: &str, n: &serde_json::Number) -> Result<u32, Implausible> {
    match n.as_u64() {
        Some(q) if q <= MAX_QUANTITY => Ok(q as u32),
        _ => Err(implausible(field, &n.to_string(), QUANTITY)),
    }
}

/// An amount of money (a decimal string): refused when it is a number outside 0 to
/// [`MAX_AMOUNT`], not finite, or with more than [`MAX_DECIMALS`] decimals. Empty text, or
/// text that is no number at all, passes (it is not a price).
pub fn amount(field: &str, raw: &str) -> Result<(), Implausible> {
    let t = raw.trim();
    let Ok(v) = t.parse::<f64>() else {
        return Ok(());
    };
    let decimals = t
        .split_once('.')
        .map_or(0, |(_, f)| f.bytes().take_while(u8::is_ascii_digit).count());
    let plain = t.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if v.is_finite() && (0.0..=MAX_AMOUNT).contains(&v) && decimals <= MAX_DECIMALS && plain {
        Ok(())
    } else {
        Err(implausible(field, raw, AMOUNT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_and_amounts_inside_their_bounds_pass_and_the_rest_is_refused() {
        for ok in ["0", "1", "10000", " 7 "] {
            assert!(quantity_text("QuantityOrdered", ok).is_ok(), "{ok}");
        }
        for bad in [
            "1e20",
            "4294967295",
            "10001",
            "-1",
            "1.5",
            "",
            "String",
            "+3",
        ] {
            let e = quantity_text("QuantityOrdered", bad).unwrap_err();
            assert!(e.to_string().contains("QuantityOrdered"), "{e}");
        }
        assert_eq!(units_text("NumberOfItemsShipped", "250000"), Ok(250_000));
        assert!(units_text("NumberOfItemsShipped", "4294967295").is_err());
        let n = |s: &str| serde_json::from_str::<serde_json::Number>(s).unwrap();
        assert_eq!(quantity_number("quantityOrdered", &n("3")), Ok(3));
        for bad in ["1e20", "4294967295", "-2", "2.5", "10001"] {
            assert!(
                quantity_number("quantityOrdered", &n(bad)).is_err(),
                "{bad}"
            );
        }
        for ok in [
            "0",
            "0.00",
            "19.99",
            "5980",
            "9999999.9999",
            "",
            "FILTERED",
            "String",
        ] {
            assert!(amount("ItemPrice", ok).is_ok(), "{ok}");
        }
        for bad in [
            "1e20",
            "-5.00",
            "10000000.01",
            "NaN",
            "inf",
            "1.00001",
            "4294967295",
        ] {
            let e = amount("ItemPrice", bad).unwrap_err();
            assert!(e.to_string().contains("not a plausible amount"), "{e}");
        }
        // A preview is cut and shows no control characters.
        let e =
            quantity_text("QuantityOrdered", &format!("\u{1b}[2J{}", "9".repeat(100))).unwrap_err();
        assert!(!e.preview.contains('\u{1b}') && e.preview.chars().count() <= 25);
    }
}
