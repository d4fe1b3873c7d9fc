//! The packing station: one unlock per shift, then scan, print, scan, ship.
//!
//! A barcode scanner types a line per scan. [`Station::scan`] takes one line:
//! - an Amazon order id (`3-7-7` digits) prints that order's label and makes it current; an
//!   order that was waiting is named as left behind ([`Scan::Labelled`]); an order labelled
//!   earlier this shift is not printed again ([`Scan::Again`]: `reprint` prints the current
//!   one again), nor one shipped this shift ([`Scan::AlreadyShipped`]);
//! - with `--verify` ([`StationConfig::verify`]), every item of the current order next: a scan
//!   is matched against its items' SKUs, ASINs and item ids ([`crate::model::packing`]); a
//!   wrong, extra or misread item is one line and packs nothing;
//! - anything else, while an order is current (and complete), is its tracking number: checked by the
//!   carrier's format and check digit ([`crate::model::tracking`]), the shipment is recorded
//!   with the station's carrier (and method) and the order stops being current. A refused
//!   number ([`Scan::Refused`]: a misread, a junk scan, anything shaped like an order id) costs
//!   nothing: nothing is recorded and the order still waits for its tracking number;
//! - `done` or `quit` ends the shift (so does the end of input); an empty line is ignored.
//!
//! Every scan gets one line back ([`Scan`]); a failed scan does not end the shift. After
//! `idle` without a scan the station asks for the passphrase again before the next one
//! ([`Scan::Locked`]): an unattended station does not stay unlocked. It asks the person, on
//! the terminal ([`unlock_again`]): a passphrase or key file named at the start of the shift
//! is not read again (it would unlock whoever stands there), and without a terminal the shift
//! ends. Time is the caller's `now`, so tests need no waiting.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use crate::error::{Error, Result};
use crate::flow::ship::Declared;
use crate::label::{LabelRequest, print};
use crate::model::packing::{ItemScan, PackItem, Packing};
use crate::model::tracking::{Carrier, looks_like_order_id};
use crate::safety::Environment;
use crate::vault::Session;
use crate::vault::Vault;
use crate::vault::key::{Credential, Passphrase};

/// What a station does with its scans.
#[derive(Debug, Clone)]
pub struct StationConfig {
    /// Carrier for every shipment of the shift.
    pub carrier: Carrier,
    /// Take tracking numbers as scanned (a carrier the tool has no rule for; recorded).
    pub no_verify: bool,
    /// Shipping method, if any.
    pub method: Option<String>,
    /// Label settings (its `orders` are ignored; each scan prints one).
    pub label: LabelRequest,
    /// Lock after this long without a scan.
    pub idle: Duration,
    /// Scan-to-verify: after the label, every item must be scanned before the tracking number.
    pub verify: bool,
}

/// The answer to one scan.
#[derive(Debug)]
pub enum Scan {
    /// An empty line: no scan, no answer.
    Ignored,
    /// A label was printed; the order waits for its items (verify) or its tracking number.
    Labelled {
        /// The order.
        order: String,
        /// With `--verify`: what is to scan (`SKU x2, ...`; empty when the vault has no item
        /// left to ship for it).
        items: Option<String>,
        /// The order that was waiting before, left without its tracking number.
        left_behind: Option<String>,
    },
    /// An order labelled earlier this shift was scanned again: not printed again (`reprint`
    /// does), it is the current order again.
    Again {
        /// The order.
        order: String,
        /// With `--verify`: what is still to scan.
        items: Option<String>,
        /// The order that was waiting before, left without its tracking number.
        left_behind: Option<String>,
    },
    /// An order shipped this shift was scanned again: nothing printed.
    AlreadyShipped(String),
    /// `reprint`: the current order's label was printed again.
    Reprinted(String),
    /// An item scan of the current order (`--verify`).
    Item {
        /// The order.
        order: String,
        /// What the scan was.
        scan: ItemScan,
        /// What is still to scan after it.
        missing: String,
    },
    /// The current order was shipped with this tracking number.
    Shipped {
        /// The order.
        order: String,
        /// Its tracking number.
        tracking: String,
    },
    /// A tracking number came with no current order.
    NoOrder,
    /// The scan is not a tracking number of the station's carrier: nothing was recorded and
    /// the order still waits for its tracking number.
    Refused {
        /// The order still waiting.
        order: String,
        /// Why, in one line.
        reason: String,
    },
    /// The scan failed; the shift goes on.
    Failed(Error),
    /// Idle too long: unlock again, then scan again.
    Locked,
    /// The shift ended.
    Done,
}

/// Whether `s` is an Amazon order id (`ddd-ddddddd-ddddddd`).
pub fn is_order_id(s: &str) -> bool {
    crate::mws::ids::order_id(s).is_ok()
}

/// A station for one shift.
#[derive(Debug)]
pub struct Station {
    cfg: StationConfig,
    current: Option<String>,
    /// Orders labelled this shift and not shipped, in the order they were labelled.
    waiting: Vec<String>,
    /// Orders shipped this shift.
    shipped_orders: Vec<String>,
    /// `--verify`: what each waiting order's parcel holds so far.
    packing: HashMap<String, Packing>,
    last_scan: DateTime<Utc>,
    /// Orders shipped this shift.
    pub shipped: u64,
    /// Scans that failed (a wrong, extra or misread item counts as one).
    pub failed: u64,
}

impl Station {
    /// A station unlocked at `now`.
    pub fn new(cfg: StationConfig, now: DateTime<Utc>) -> Station {
        Station {
            cfg,
            current: None,
            waiting: Vec::new(),
            shipped_orders: Vec::new(),
            packing: HashMap::new(),
            last_scan: now,
            shipped: 0,
            failed: 0,
        }
    }

    /// The order waiting for its items or tracking number.
    pub fn current(&self) -> Option<&str> {
        self.current.as_deref()
    }

    /// Orders labelled this shift and not shipped (the current one among them).
    pub fn waiting(&self) -> &[String] {
        &self.waiting
    }

    /// The operator unlocked again at `now`.
    pub fn unlocked(&mut self, now: DateTime<Utc>) {
        self.last_scan = now;
    }

    /// Makes `order` current; returns the order that was current before, left waiting.
    fn make_current(&mut self, order: &str) -> Option<String> {
        let before = self.current.replace(order.to_string());
        if !self.waiting.iter().any(|o| o == order) {
            self.waiting.push(order.to_string());
        }
        before.filter(|b| b != order)
    }

    /// What is still to scan of `order` (`--verify`).
    fn missing(&self, order: &str) -> Option<String> {
        self.cfg.verify.then(|| {
            self.packing
                .get(order)
                .map(Packing::missing)
                .unwrap_or_default()
        })
    }

    /// The order's items left to ship, as a packing (`--verify`).
    fn packing_of(s: &Session<'_>, order: &str) -> Result<Packing> {
        let view = s
            .vault()
            .read(|tx| crate::vault::orders::order_view(tx, order))?;
        let items = view.map(|v| v.items).unwrap_or_default();
        Ok(Packing::new(
            items
                .into_iter()
                .map(|i| PackItem {
                    order_item_id: i.order_item_id,
                    asin: i.asin,
                    sku: i.sku,
                    wanted: i.quantity_left,
                    scanned: 0,
                })
                .collect(),
        ))
    }

    fn print_one(
        &self,
        s: &Session<'_>,
        env: &Environment,
        order: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut req = self.cfg.label.clone();
        req.orders = vec![order.to_string()];
        match print(s, env, &req, now) {
            Ok(b) if b.skipped.is_empty() => Ok(()),
            Ok(mut b) => Err(Error::usage(b.skipped.remove(0).reason)),
            Err(e) => Err(e),
        }
    }

    /// Handles one scanned line as `s` at `now`.
    pub fn scan(
        &mut self,
        s: &Session<'_>,
        env: &Environment,
        line: &str,
        now: DateTime<Utc>,
    ) -> Scan {
        let line = line.trim();
        if line.is_empty() {
            return Scan::Ignored;
        }
        let word = line.to_ascii_lowercase();
        if matches!(word.as_str(), "done" | "quit" | "exit") {
            return Scan::Done;
        }
        if now - self.last_scan > self.cfg.idle {
            return Scan::Locked;
        }
        self.last_scan = now;
        let out = if is_order_id(line) {
            self.order_scan(s, env, line, now)
        } else if word == "reprint" {
            match self.current.clone() {
                Some(order) => match self.print_one(s, env, &order, now) {
                    Ok(()) => Scan::Reprinted(order),
                    Err(e) => Scan::Failed(e),
                },
                None => Scan::Failed(Error::usage("nothing to reprint: scan an order first")),
            }
        } else if let Some(order) = self.current.clone() {
            // With --verify, an item scan until the order is complete; then one of its items
            // again is an extra item, and anything else its tracking number.
            let item = self.packing.get_mut(&order).and_then(|p| {
                let complete = p.complete();
                let scan = p.scan(line);
                let other = matches!(scan, ItemScan::Wrong | ItemScan::Misread);
                (!(complete && other)).then(|| (scan, p.missing()))
            });
            match item {
                Some((scan, missing)) => Scan::Item {
                    order,
                    scan,
                    missing,
                },
                None => self.tracking_scan(s, order, line, now),
            }
        } else if looks_like_order_id(line) {
            Scan::Failed(Error::usage(format!(
                "{} is not an Amazon order id (3-7-7 digits); scan it again",
                crate::term::quote(line, 40)
            )))
        } else {
            Scan::NoOrder
        };
        let mistake = match &out {
            Scan::Failed(_) | Scan::NoOrder | Scan::Refused { .. } => true,
            Scan::Item { scan, .. } => !matches!(scan, ItemScan::Packed { .. }),
            _ => false,
        };
        if mistake {
            self.failed += 1;
        }
        out
    }

    fn order_scan(
        &mut self,
        s: &Session<'_>,
        env: &Environment,
        order: &str,
        now: DateTime<Utc>,
    ) -> Scan {
        if self.shipped_orders.iter().any(|o| o == order) {
            return Scan::AlreadyShipped(order.to_string());
        }
        if self.waiting.iter().any(|o| o == order) {
            let left_behind = self.make_current(order);
            return Scan::Again {
                order: order.to_string(),
                items: self.missing(order),
                left_behind,
            };
        }
        let packing = if self.cfg.verify {
            match Self::packing_of(s, order) {
                Ok(p) => Some(p),
                Err(e) => return Scan::Failed(e),
            }
        } else {
            None
        };
        if let Err(e) = self.print_one(s, env, order, now) {
            return Scan::Failed(e);
        }
        if let Some(p) = packing {
            self.packing.insert(order.to_string(), p);
        }
        let left_behind = self.make_current(order);
        Scan::Labelled {
            order: order.to_string(),
            items: self.missing(order),
            left_behind,
        }
    }

    fn tracking_scan(
        &mut self,
        s: &Session<'_>,
        order: String,
        line: &str,
        now: DateTime<Utc>,
    ) -> Scan {
        let declared = Declared {
            order_id: order.clone(),
            carrier: self.cfg.carrier.clone(),
            tracking: line.to_string(),
            method: self.cfg.method.clone(),
            no_verify: self.cfg.no_verify,
        };
        match declared.checked() {
            Err(Error::Usage(reason)) => Scan::Refused { order, reason },
            Err(e) => Scan::Failed(e),
            Ok((new, _)) => match crate::flow::ship::ship(s, &declared, now) {
                Ok(_) => {
                    self.current = None;
                    self.waiting.retain(|o| *o != order);
                    self.packing.remove(&order);
                    self.shipped_orders.push(order.clone());
                    self.shipped += 1;
                    Scan::Shipped {
                        order,
                        tracking: new.tracking,
                    }
                }
                Err(e) => Scan::Failed(e),
            },
        }
    }

    /// The shift's last lines: the orders labelled and not shipped, then the counts.
    pub fn summary(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .waiting
            .iter()
            .map(|o| format!("{o} was labelled but not shipped."))
            .collect();
        lines.push(format!(
            "Shift over: {} shipped, {} failed scan(s).",
            self.shipped, self.failed
        ));
        lines
    }
}

/// Asks the person at the station again after an idle lock: `terminal` prompts for `name`'s
/// passphrase on the terminal (None: there is no terminal, and the shift ends with exit 3).
/// Never a file: whoever finds the station idle must not be let in by one.
pub fn unlock_again<'v>(
    vault: &'v Vault,
    name: &str,
    terminal: Option<&mut dyn FnMut() -> std::io::Result<Passphrase>>,
    now: DateTime<Utc>,
) -> Result<Session<'v>> {
    let Some(ask) = terminal else {
        return Err(Error::Denied(format!(
            "the station locked while idle and only the person at a terminal can unlock it again \
             (a passphrase or key file is not read a second time); start a new shift as {name}"
        )));
    };
    let pass = ask()?;
    // A second factor, when enrolled, is asked on the terminal too (never a code file).
    let code = || -> Result<zeroize::Zeroizing<String>> {
        Ok(zeroize::Zeroizing::new(rpassword::prompt_password(
            format!("One-time code for {name}: "),
        )?))
    };
    vault.unlock_with(name, &Credential::Passphrase(pass), &code, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_are_recognised() {
        assert!(is_order_id("111-2393723-1586761"));
        assert!(!is_order_id("1Z999AA10123456784"));
        assert!(!is_order_id("111-239372-1586761"));
        assert!(!is_order_id("111-2393723-158676a"));
    }
}
