//! The packing station: one unlock per shift, then scan, print, scan, ship.
//!
//! A barcode scanner types a line per scan. [`Station::scan`] takes one line:
//! - an Amazon order id (`3-7-7` digits) prints that order's label and makes it current;
//! - anything else, while an order is current, is its tracking number: checked by the
//!   carrier's format and check digit ([`crate::model::tracking`]), the shipment is recorded
//!   with the station's carrier (and method) and the order stops being current. A refused
//!   number ([`Scan::Refused`]: a misread, a junk scan, anything shaped like an order id) costs
//!   nothing: nothing is recorded and the order still waits for its tracking number;
//! - `done` or `quit` ends the shift (so does the end of input).
//!
//! Every scan gets one line back ([`Scan`]); a failed scan does not end the shift. After
//! `idle` without a scan the station asks for the passphrase again before the next one
//! ([`Scan::Locked`]): an unattended station does not stay unlocked. It asks the person, on
//! the terminal ([`unlock_again`]): a passphrase or key file named at the start of the shift
//! is not read again (it would unlock whoever stands there), and without a terminal the shift
//! ends. Time is the caller's `now`, so tests need no waiting.

use chrono::{DateTime, Duration, Utc};

use crate::error::{Error, Result};
use crate::flow::ship::Declared;
use crate::label::{LabelRequest, print};
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
}

/// The answer to one scan.
#[derive(Debug)]
pub enum Scan {
    /// A label was printed; the order waits for its tracking number.
    Labelled(String),
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
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 3
        && [3, 7, 7]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.bytes().all(|b| b.is_ascii_digit()))
}

/// A station for one shift.
#[derive(Debug)]
pub struct Station {
    cfg: StationConfig,
    current: Option<String>,
    last_scan: DateTime<Utc>,
    /// Orders shipped this shift.
    pub shipped: u64,
    /// Scans that failed.
    pub failed: u64,
}

impl Station {
    /// A station unlocked at `now`.
    pub fn new(cfg: StationConfig, now: DateTime<Utc>) -> Station {
        Station {
            cfg,
            current: None,
            last_scan: now,
            shipped: 0,
            failed: 0,
        }
    }

    /// The order waiting for its tracking number.
    pub fn current(&self) -> Option<&str> {
        self.current.as_deref()
    }

    /// The operator unlocked again at `now`.
    pub fn unlocked(&mut self, now: DateTime<Utc>) {
        self.last_scan = now;
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
        if matches!(line.to_ascii_lowercase().as_str(), "done" | "quit" | "exit") {
            return Scan::Done;
        }
        if now - self.last_scan > self.cfg.idle {
            return Scan::Locked;
        }
        self.last_scan = now;
        if line.is_empty() {
            return Scan::Failed(Error::usage("empty scan"));
        }
        let out = if is_order_id(line) {
            let mut req = self.cfg.label.clone();
            req.orders = vec![line.to_string()];
            match print(s, env, &req, now) {
                Ok(b) if b.skipped.is_empty() => {
                    self.current = Some(line.to_string());
                    Scan::Labelled(line.to_string())
                }
                Ok(mut b) => Scan::Failed(Error::usage(b.skipped.remove(0).reason)),
                Err(e) => Scan::Failed(e),
            }
        } else if let Some(order) = self.current.clone() {
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
                        self.shipped += 1;
                        Scan::Shipped {
                            order,
                            tracking: new.tracking,
                        }
                    }
                    Err(e) => Scan::Failed(e),
                },
            }
        } else if looks_like_order_id(line) {
            Scan::Failed(Error::usage(format!(
                "{} is not an Amazon order id (3-7-7 digits); scan it again",
                crate::term::quote(line, 40)
            )))
        } else {
            Scan::NoOrder
        };
        if matches!(out, Scan::Failed(_) | Scan::NoOrder | Scan::Refused { .. }) {
            self.failed += 1;
        }
        out
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
