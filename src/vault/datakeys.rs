//! Epoch data keys at work: a [`Sealer`] for the runs that store PII, an [`Opener`] for the
//! sessions that read it. The formats are in [`super::seal`], the keys' home in
//! [`super::keyring`].
//!
//! A sealing run makes one fresh data key per epoch it seals into, wraps it from the sealer to
//! the PII public key and writes it to the keyring (synced) *before* the first record under it
//! is committed. It keeps its keys in memory for the run only, and never holds the PII private
//! key, so it cannot open what an earlier run sealed.
//!
//! An opener unwraps each key once per session (HPKE auth mode: a key the sealer did not make
//! is refused) and opens records with AES-256-GCM. It refuses, as tampering (exit 5):
//! a version 1 record in a vault that seals in version 2 (anyone with the public key could
//! have made it), a record whose key is not in the keyring, a key or record that does not
//! authenticate, and, for printing and buying, a record of an epoch that has ended (its key
//! was due for destruction: the record or key was put back after a purge).

use std::cell::RefCell;
use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::key::SecretKey;
use super::keyring::{Entry, Keyring};
use super::seal::{self, Epoch, KeyName, PiiPublicKey};
use crate::error::{Error, Result};
use crate::pii::BuyerPii;

/// A sealed record as stored: the bytes and, for version 2, its epoch (a plain copy in the
/// row, used only to find which keys still have records).
#[derive(Debug, Clone)]
pub struct Sealed {
    /// The sealed bytes.
    pub blob: Vec<u8>,
    /// The epoch (version 2).
    pub epoch: Option<u32>,
}

enum Mode {
    /// A vault not yet migrated: HPKE base mode to the PII public key.
    V1(PiiPublicKey),
    /// Epoch data keys.
    V2 {
        sealer: SecretKey,
        pii_public: [u8; 32],
        keyring: Keyring,
        made: HashMap<Epoch, (KeyName, seal::DataKey)>,
    },
}

/// Seals PII records for one run (a fetch, a rekey).
pub struct Sealer {
    vault_id: String,
    pii_days: u32,
    mode: Mode,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("v2", &matches!(self.mode, Mode::V2 { .. }))
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// A version 1 sealer (a vault its owner has not migrated yet).
    pub(crate) fn v1(vault_id: &str, pk: PiiPublicKey, pii_days: u32) -> Sealer {
        Sealer {
            vault_id: vault_id.to_string(),
            pii_days,
            mode: Mode::V1(pk),
        }
    }

    /// A version 2 sealer.
    pub(crate) fn v2(
        vault_id: &str,
        sealer: SecretKey,
        pii_public: [u8; 32],
        keyring: Keyring,
        pii_days: u32,
    ) -> Sealer {
        Sealer {
            vault_id: vault_id.to_string(),
            pii_days,
            mode: Mode::V2 {
                sealer,
                pii_public,
                keyring,
                made: HashMap::new(),
            },
        }
    }

    /// The retention days the epochs are computed with.
    pub fn pii_days(&self) -> u32 {
        self.pii_days
    }

    /// Seals `pii` as record `record_id` at `version`, for an order whose PII is due at
    /// `deadline` (version 2: into that deadline's epoch, under this run's key for it, made
    /// and stored in the keyring on first use).
    pub fn seal(
        &mut self,
        record_id: &str,
        version: u64,
        deadline: DateTime<Utc>,
        pii: &BuyerPii,
    ) -> Result<Sealed> {
        match &mut self.mode {
            Mode::V1(pk) => Ok(Sealed {
                blob: seal::seal_pii(pk, &self.vault_id, record_id, version, pii)?,
                epoch: None,
            }),
            Mode::V2 {
                sealer,
                pii_public,
                keyring,
                made,
            } => {
                let epoch = Epoch::of(deadline);
                let (name, key) = match made.entry(epoch) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        let name = KeyName::fresh(epoch);
                        let key = SecretKey::generate();
                        let wrapped =
                            seal::wrap_data_key(sealer, pii_public, &self.vault_id, name, &key)?;
                        keyring.add(&[Entry { name, wrapped }])?;
                        e.insert((name, seal::DataKey::new(&key)))
                    }
                };
                Ok(Sealed {
                    blob: seal::seal_record_with(
                        key,
                        *name,
                        &self.vault_id,
                        record_id,
                        version,
                        pii,
                    ),
                    epoch: Some(epoch.0),
                })
            }
        }
    }

    /// The keys this run made.
    pub fn keys_made(&self) -> Vec<KeyName> {
        match &self.mode {
            Mode::V1(_) => Vec::new(),
            Mode::V2 { made, .. } => {
                let mut v: Vec<KeyName> = made.values().map(|(n, _)| *n).collect();
                v.sort();
                v
            }
        }
    }
}

/// Whether an opening is for use (printing, buying: an ended epoch is refused) or for the
/// audit's leak scan (everything that opens is scanned, and the ended epoch reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Label, slip, Buy Shipping.
    Print,
    /// The audit's scan and a rekey: open what opens.
    Scan,
}

/// Opens records for a session holding the PII private key.
pub(crate) struct Opener {
    vault_id: String,
    pii_private: SecretKey,
    /// All zero in a vault that still seals in version 1.
    sealer_public: [u8; 32],
    keyring: Keyring,
    ring: RefCell<Option<HashMap<KeyName, Vec<u8>>>>,
    keys: RefCell<HashMap<KeyName, seal::DataKey>>,
}

impl Opener {
    pub(crate) fn new(
        vault_id: &str,
        pii_private: &SecretKey,
        sealer_public: [u8; 32],
        keyring: Keyring,
    ) -> Opener {
        Opener {
            vault_id: vault_id.to_string(),
            pii_private: SecretKey::from_bytes(*pii_private.expose_secret()),
            sealer_public,
            keyring,
            ring: RefCell::new(None),
            keys: RefCell::new(HashMap::new()),
        }
    }

    fn v2(&self) -> bool {
        self.sealer_public != [0; 32]
    }

    /// Opens record `record_id` (`what` names it in messages: "order X", "a gift message of
    /// order X").
    pub(crate) fn open(
        &self,
        what: &str,
        record_id: &str,
        version: u64,
        sealed: &[u8],
        use_: Use,
        now: DateTime<Utc>,
    ) -> Result<BuyerPii> {
        match sealed.first() {
            Some(&seal::RECORD_V1) if !self.v2() => seal::open_pii(
                &self.pii_private,
                &self.vault_id,
                record_id,
                version,
                sealed,
            ),
            Some(&seal::RECORD_V1) => Err(Error::Integrity(format!(
                "the sealed PII of {what} is in the old format this vault no longer writes: \
                 not sealed by fulfill (forged with the public key, or put back from before the \
                 migration); it was not opened"
            ))),
            Some(&seal::RECORD_V2) if self.v2() => {
                let name = seal::record_key_name(sealed).ok_or_else(|| {
                    Error::Integrity(format!("the sealed PII of {what} is truncated"))
                })?;
                if use_ == Use::Print && name.epoch.ended_by(now) {
                    return Err(Error::Integrity(format!(
                        "the PII of {what} belongs to retention epoch {}, which ended: its key \
                         was due for destruction, so the record (or its key) was put back after \
                         a purge; it was not opened",
                        name.epoch.day()
                    )));
                }
                let key = self.key(what, name)?;
                let keys = self.keys.borrow();
                let key = keys.get(&key).expect("just unwrapped");
                seal::open_record_with(key, &self.vault_id, record_id, version, sealed).ok_or_else(
                    || {
                        Error::Integrity(format!(
                            "the sealed PII of {what} does not open under its epoch key: altered, \
                             moved from another order, epoch or version, or not sealed by fulfill"
                        ))
                    },
                )?
            }
            _ => Err(Error::Integrity(format!(
                "the sealed PII of {what} is not a record fulfill writes"
            ))),
        }
    }

    /// Unwraps (once per session) the data key `name`.
    fn key(&self, what: &str, name: KeyName) -> Result<KeyName> {
        if self.keys.borrow().contains_key(&name) {
            return Ok(name);
        }
        // Read the keyring on first use, and again on a miss: another process (a cron fetch)
        // may have added keys since this session read it.
        let missing = self
            .ring
            .borrow()
            .as_ref()
            .is_none_or(|r| !r.contains_key(&name));
        if missing {
            let ring = self
                .keyring
                .entries()?
                .into_iter()
                .map(|e| (e.name, e.wrapped))
                .collect();
            *self.ring.borrow_mut() = Some(ring);
        }
        let ring = self.ring.borrow();
        let wrapped = ring.as_ref().and_then(|r| r.get(&name)).ok_or_else(|| {
            Error::Integrity(format!(
                "the data key of {what} (epoch {}) is not in this home's keyring: destroyed \
                     by a purge (a record put back), or this is a copy of the vault without its \
                     keyring; it was not opened",
                name.epoch.day()
            ))
        })?;
        let key = seal::unwrap_data_key(
            &self.pii_private,
            &self.sealer_public,
            &self.vault_id,
            name,
            wrapped,
        )
        .ok_or_else(|| {
            Error::Integrity(format!(
                "the data key of {what} (epoch {}) was not made by a role allowed to seal PII \
                 (forged, or moved from another epoch); it was not opened",
                name.epoch.day()
            ))
        })?;
        self.keys
            .borrow_mut()
            .insert(name, seal::DataKey::new(&key));
        Ok(name)
    }
}
