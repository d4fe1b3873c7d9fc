//! What a package holds: order items and quantities (`ITEM:QTY` on the command line).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// One order item and how many of it a package holds (at least 1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ItemQty {
    /// `OrderItemId` (the feed's `AmazonOrderItemCode`), checked by [`crate::mws::ids`].
    pub order_item_id: String,
    /// How many.
    pub quantity: u32,
}

impl FromStr for ItemQty {
    type Err = String;

    /// `ITEM:QTY`: an Amazon `OrderItemId` and a quantity of at least 1.
    fn from_str(s: &str) -> Result<Self, String> {
        let Some((id, qty)) = s.rsplit_once(':') else {
            return Err("expected ITEM:QTY (an order item id, a colon, a quantity)".into());
        };
        let id = crate::mws::ids::order_item_id(id.trim()).map_err(|e| e.to_string())?;
        let quantity: u32 = qty.trim().parse().map_err(|_| {
            format!(
                "quantity {} is not a whole number",
                crate::term::quote(qty, 12)
            )
        })?;
        if quantity == 0 {
            return Err("the quantity must be at least 1".into());
        }
        Ok(ItemQty {
            order_item_id: id.to_string(),
            quantity,
        })
    }
}

impl fmt::Display for ItemQty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.order_item_id, self.quantity)
    }
}

/// Items as one audit field: `ITEM:QTY,ITEM:QTY` (ids and counts only, no PII).
pub fn items_field(items: &[ItemQty]) -> String {
    items
        .iter()
        .map(ItemQty::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_arguments_are_checked() {
        let ok: ItemQty = "12345678901234:2".parse().unwrap();
        assert_eq!(ok.order_item_id, "12345678901234");
        assert_eq!(ok.quantity, 2);
        assert_eq!(ok.to_string(), "12345678901234:2");
        for bad in [
            "12345678901234",
            "12345678901234:0",
            "12345678901234:-1",
            "12345678901234:x",
            "12345678901234:99999999999",
            "123:1",
            "../etc:1",
            ":1",
            "",
        ] {
            assert!(bad.parse::<ItemQty>().is_err(), "{bad}");
        }
        let why = "12345678901234:0".parse::<ItemQty>().unwrap_err();
        assert!(why.contains("at least 1"), "{why}");
    }
}
