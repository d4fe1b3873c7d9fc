//! What a package holds: order items and quantities. On the command line an item is named
//! by its order item id or its SKU (`ITEM:QTY`, `SKU:QTY`: [`ItemArg`]), and [`resolve`]
//! finds which item of the order that is.

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

/// An item as the packer names it, with a quantity of at least 1: `ITEM:QTY` or `SKU:QTY`
/// (the last colon separates the quantity, so a SKU may hold colons).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ItemArg {
    /// An `OrderItemId` or a seller SKU, as typed (trimmed).
    pub item: String,
    /// How many.
    pub quantity: u32,
}

/// Longest item name taken: Amazon's SKUs are up to 40 characters.
const MAX_ITEM: usize = 40;

impl FromStr for ItemArg {
    type Err = String;

    /// `ITEM:QTY` or `SKU:QTY`: 1 to 40 printable characters and a quantity of at least 1.
    fn from_str(s: &str) -> Result<Self, String> {
        let Some((item, qty)) = s.rsplit_once(':') else {
            return Err(
                "expected ITEM:QTY or SKU:QTY (an order item id or a SKU, a colon, a quantity)"
                    .into(),
            );
        };
        let item = item.trim();
        if item.is_empty()
            || item.chars().count() > MAX_ITEM
            || item.chars().any(crate::term::is_unsafe)
        {
            return Err(format!(
                "the item must be an order item id or a SKU of 1 to {MAX_ITEM} printable characters"
            ));
        }
        let quantity: u32 = qty.trim().parse().map_err(|_| {
            format!(
                "quantity {} is not a whole number",
                crate::term::quote(qty, 12)
            )
        })?;
        if quantity == 0 {
            return Err("the quantity must be at least 1".into());
        }
        Ok(ItemArg {
            item: item.to_string(),
            quantity,
        })
    }
}

impl fmt::Display for ItemArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.item, self.quantity)
    }
}

/// One item of an order as [`resolve`] sees it: its id and SKU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// `OrderItemId`.
    pub order_item_id: String,
    /// `SellerSKU`, if Amazon sent one.
    pub sku: Option<String>,
}

/// The item of order `order_id` (whose items are `lines`) that `arg` names: the item with that
/// id, else the one item with that SKU (exactly as written, else ignoring case). Refused (one
/// line): a name that is no item's id or SKU, a SKU two items share, and a name that is one
/// item's id and another's SKU.
pub fn resolve(order_id: &str, lines: &[Line], arg: &ItemArg) -> Result<ItemQty, String> {
    let shown = crate::term::quote(&arg.item, MAX_ITEM + 1);
    let by_id: Vec<&Line> = lines
        .iter()
        .filter(|l| l.order_item_id == arg.item)
        .collect();
    let mut by_sku: Vec<&Line> = lines
        .iter()
        .filter(|l| l.sku.as_deref() == Some(arg.item.as_str()))
        .collect();
    if by_sku.is_empty() {
        by_sku = lines
            .iter()
            .filter(|l| {
                l.sku
                    .as_deref()
                    .is_some_and(|s| s.to_lowercase() == arg.item.to_lowercase())
            })
            .collect();
    }
    let ids = |v: &[&Line]| {
        v.iter()
            .map(|l| l.order_item_id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let one = match (by_id.as_slice(), by_sku.as_slice()) {
        ([], []) => {
            return Err(format!(
                "item {shown} is not in order {order_id} (neither an item id nor a SKU of it);                  `fulfill orders {order_id}` lists its items"
            ));
        }
        ([l], []) | ([], [l]) => *l,
        ([l], [s]) if l.order_item_id == s.order_item_id => *l,
        ([], many) => {
            return Err(format!(
                "SKU {shown} names {} items of order {order_id} (items {}): give the item id                  instead",
                many.len(),
                ids(many)
            ));
        }
        (id, sku) => {
            return Err(format!(
                "{shown} names more than one item of order {order_id} (items {}): give the                  item id instead",
                ids(&[id, sku].concat())
            ));
        }
    };
    Ok(ItemQty {
        order_item_id: one.order_item_id.clone(),
        quantity: arg.quantity,
    })
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

    #[test]
    fn items_are_named_by_id_or_sku() {
        let a: ItemArg = "MUG-RED:2".parse().unwrap();
        assert_eq!((a.item.as_str(), a.quantity), ("MUG-RED", 2));
        let colon: ItemArg = "A:B:C:1".parse().unwrap();
        assert_eq!(colon.item, "A:B:C");
        for bad in [
            "MUG-RED",
            "MUG-RED:0",
            ":1",
            " :1",
            "x\u{1b}[31m:1",
            &format!("{}:1", "S".repeat(41)),
        ] {
            assert!(bad.parse::<ItemArg>().is_err(), "{bad}");
        }
        let line = |id: &str, sku: Option<&str>| Line {
            order_item_id: id.into(),
            sku: sku.map(str::to_string),
        };
        let lines = [
            line("11111111111111", Some("MUG-RED")),
            line("22222222222222", Some("TEE-M")),
            line("33333333333333", Some("TEE-M")),
            line("44444444444444", Some("22222222222222")),
            line("55555555555555", None),
        ];
        let o = "111-2222222-3333333";
        let pick = |s: &str| resolve(o, &lines, &s.parse().unwrap());
        assert_eq!(pick("MUG-RED:2").unwrap().order_item_id, "11111111111111");
        assert_eq!(pick("mug-red:1").unwrap().order_item_id, "11111111111111");
        assert_eq!(
            pick("55555555555555:1").unwrap().order_item_id,
            "55555555555555"
        );
        assert_eq!(pick("MUG-RED:3").unwrap().quantity, 3);
        let e = pick("TEE-M:1").unwrap_err();
        assert!(
            e.contains("names 2 items") && e.contains("22222222222222, 33333333333333"),
            "{e}"
        );
        // One item's id that is another's SKU: ambiguous too.
        let e = pick("22222222222222:1").unwrap_err();
        assert!(e.contains("more than one item"), "{e}");
        let e = pick("HAT:1").unwrap_err();
        assert!(e.contains("is not in order"), "{e}");
    }
}
