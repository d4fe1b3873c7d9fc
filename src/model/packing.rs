//! Scan-to-verify at the packing station: which items an order still needs, and what one item
//! scan is (no I/O).
//!
//! The vault knows an order's items by Amazon's data only: the ASIN, the seller SKU and the
//! order item id (the Orders API sends no UPC or EAN). A scan matches an item when it equals
//! one of those, ignoring case and surrounding space; a GTIN-shaped scan (EAN-8, UPC-A, EAN-13,
//! GTIN-14) also matches a SKU that is the same GTIN in another length (a UPC-A SKU scanned as
//! EAN-13 with its leading 0). A GTIN-shaped scan that matches nothing and fails its check
//! digit is a misread, said as such.

/// Whether `s` is shaped like a GTIN (8, 12, 13 or 14 digits); if so, whether its check digit
/// (GS1 mod 10: weights 3 and 1 from the right, the check digit excluded) is right.
pub fn gtin_check(s: &str) -> Option<bool> {
    let b = s.as_bytes();
    if !matches!(b.len(), 8 | 12 | 13 | 14) || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let (body, check) = b.split_at(b.len() - 1);
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(d - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    Some((10 - sum % 10) % 10 == u32::from(check[0] - b'0'))
}

/// A valid GTIN as 14 digits (left-padded with zeros), so the lengths compare.
fn gtin14(s: &str) -> Option<String> {
    (gtin_check(s) == Some(true)).then(|| format!("{s:0>14}"))
}

/// Whether scan `code` names the identifier `id`.
fn names(code: &str, id: &str) -> bool {
    let id = id.trim();
    if id.is_empty() {
        return false;
    }
    code.eq_ignore_ascii_case(id)
        || matches!((gtin14(code), gtin14(id)), (Some(a), Some(b)) if a == b)
}

/// One item of the order being packed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackItem {
    /// `OrderItemId`.
    pub order_item_id: String,
    /// `ASIN`.
    pub asin: String,
    /// `SellerSKU`.
    pub sku: Option<String>,
    /// How many of it this parcel must hold (what is left to ship).
    pub wanted: u32,
    /// How many were scanned.
    pub scanned: u32,
}

impl PackItem {
    /// How the item is named on the packer's line: its SKU, else its ASIN.
    pub fn name(&self) -> &str {
        self.sku.as_deref().unwrap_or(&self.asin)
    }
}

/// What one item scan was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemScan {
    /// An item the order needs: `scanned` of `wanted` now, `left` items still to scan in all.
    Packed {
        /// The item's name (SKU or ASIN).
        item: String,
        /// Scanned so far.
        scanned: u32,
        /// Wanted.
        wanted: u32,
        /// Items still to scan, every line together (0: complete).
        left: u32,
    },
    /// An item of the order, but every one of it is already scanned: put it back.
    Extra {
        /// The item's name.
        item: String,
        /// How many the order wants.
        wanted: u32,
    },
    /// Not an item of this order: put it back.
    Wrong,
    /// A UPC/EAN with a wrong check digit: a misread, scan it again.
    Misread,
}

/// The items an order still needs in its parcel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packing {
    /// The items (only those with something left to ship).
    pub items: Vec<PackItem>,
}

impl Packing {
    /// The packing of an order's items (`wanted` 0 are left out).
    pub fn new(items: Vec<PackItem>) -> Packing {
        Packing {
            items: items.into_iter().filter(|i| i.wanted > 0).collect(),
        }
    }

    /// Items still to scan, every line together.
    pub fn left(&self) -> u32 {
        self.items.iter().map(|i| i.wanted - i.scanned).sum()
    }

    /// Whether every item is scanned.
    pub fn complete(&self) -> bool {
        self.left() == 0
    }

    /// What is still to scan, as `SKU x2, B00ASIN x1`.
    pub fn missing(&self) -> String {
        self.items
            .iter()
            .filter(|i| i.scanned < i.wanted)
            .map(|i| format!("{} x{}", i.name(), i.wanted - i.scanned))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Takes one item scan.
    pub fn scan(&mut self, code: &str) -> ItemScan {
        let code = code.trim();
        let matching: Vec<usize> = (0..self.items.len())
            .filter(|&i| {
                let it = &self.items[i];
                names(code, &it.order_item_id)
                    || names(code, &it.asin)
                    || it.sku.as_deref().is_some_and(|s| names(code, s))
            })
            .collect();
        let Some(&first) = matching.first() else {
            return if gtin_check(code) == Some(false) {
                ItemScan::Misread
            } else {
                ItemScan::Wrong
            };
        };
        // Two lines of one SKU: the first one still short takes it.
        match matching
            .iter()
            .copied()
            .find(|&i| self.items[i].scanned < self.items[i].wanted)
        {
            Some(i) => {
                self.items[i].scanned += 1;
                let it = &self.items[i];
                ItemScan::Packed {
                    item: it.name().to_string(),
                    scanned: it.scanned,
                    wanted: it.wanted,
                    left: self.left(),
                }
            }
            None => ItemScan::Extra {
                item: self.items[first].name().to_string(),
                wanted: self.items[first].wanted,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, asin: &str, sku: Option<&str>, wanted: u32) -> PackItem {
        PackItem {
            order_item_id: id.into(),
            asin: asin.into(),
            sku: sku.map(Into::into),
            wanted,
            scanned: 0,
        }
    }

    #[test]
    fn gtin_check_digits_are_gs1_mod_10() {
        // Published examples: UPC-A 036000291452, EAN-13 4006381333931, EAN-8 96385074,
        // GTIN-14 00012345600012.
        for good in [
            "036000291452",
            "4006381333931",
            "96385074",
            "00012345600012",
        ] {
            assert_eq!(gtin_check(good), Some(true), "{good}");
        }
        for bad in ["036000291453", "4006381333932", "96385075"] {
            assert_eq!(gtin_check(bad), Some(false), "{bad}");
        }
        for not in [
            "SKU-1",
            "B00EXAMPLE",
            "1234567",
            "123456789",
            "03600029145a",
        ] {
            assert_eq!(gtin_check(not), None, "{not}");
        }
    }

    #[test]
    fn an_order_is_complete_when_every_item_is_scanned_and_mistakes_are_named() {
        let mut p = Packing::new(vec![
            item("12345678901234", "B00MUG0001", Some("MUG-RED"), 2),
            item("12345678901235", "B00UPC0001", Some("036000291452"), 1),
            item("12345678901236", "B00DONE001", Some("GONE"), 0),
        ]);
        assert_eq!(p.left(), 3);
        assert_eq!(p.missing(), "MUG-RED x2, 036000291452 x1");
        assert_eq!(
            p.scan(" mug-red "),
            ItemScan::Packed {
                item: "MUG-RED".into(),
                scanned: 1,
                wanted: 2,
                left: 2
            }
        );
        // By ASIN, then the same item once too often.
        assert!(matches!(
            p.scan("B00MUG0001"),
            ItemScan::Packed { scanned: 2, .. }
        ));
        assert_eq!(
            p.scan("MUG-RED"),
            ItemScan::Extra {
                item: "MUG-RED".into(),
                wanted: 2
            }
        );
        // Not in the order (a line with nothing left is not in this parcel either).
        assert_eq!(p.scan("GONE"), ItemScan::Wrong);
        assert_eq!(p.scan("SOMETHING-ELSE"), ItemScan::Wrong);
        // A misread EAN, then the UPC-A SKU scanned as EAN-13 (leading 0).
        assert_eq!(p.scan("0036000291453"), ItemScan::Misread);
        assert!(!p.complete());
        assert!(matches!(
            p.scan("0036000291452"),
            ItemScan::Packed { left: 0, .. }
        ));
        assert!(p.complete());
    }

    #[test]
    fn an_item_id_names_its_item() {
        let mut p = Packing::new(vec![item("12345678901234", "B00MUG0001", None, 1)]);
        assert_eq!(
            p.scan("12345678901234"),
            ItemScan::Packed {
                item: "B00MUG0001".into(),
                scanned: 1,
                wanted: 1,
                left: 0
            }
        );
    }
}
