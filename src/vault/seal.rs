//! Sealing an order's PII. Version 2 (sealing v2, the format of every vault made or migrated
//! by this build) and version 1 (HPKE base mode to the PII public key, read only to migrate).
//!
//! ## Version 2: epoch data keys with proof of sealer
//!
//! - An order belongs to the **epoch** of its retention deadline: the UTC day the deadline
//!   falls in ([`Epoch`]). Every order of an epoch is due by the epoch's end, so `purge` can
//!   destroy the epoch's data keys then: each key outlives the retention of its orders by less
//!   than one day (plus the time to the next purge run).
//! - A **data key** is 32 random bytes made by a sealing run for one epoch and named by the
//!   epoch and 8 random bytes ([`KeyName`]). It is wrapped with HPKE **auth** mode from the
//!   **sealer** key pair to the PII public key ([`wrap_data_key`]): only a role holding the
//!   sealer's private half (the roles that fetch) can make a wrap that opens, and only PII
//!   holders can open it. A fetcher therefore seals without being able to open what an
//!   earlier run sealed (it never holds the PII private key, and keeps its own data keys only
//!   in memory for the run).
//! - Wrapped data keys live in the home's keyring file (`vault::keyring`), never in
//!   `vault.db`: no copy of the rows opens anything by itself.
//! - A **record** is AES-256-GCM under a data key: `0x02 || epoch (u32 BE) || key id (8) ||
//!   nonce (12) || ciphertext || tag`, with associated data binding the vault id, the record
//!   id (order, or order and item), the record version, the epoch and the key id
//!   ([`seal_record`]). Without the data key nobody can make a record that opens; a record
//!   moved to another order, vault, version, epoch or key fails to open.
//!
//! ## Version 1 (read for migration only)
//!
//! HPKE (RFC 9180) base mode, single shot.
//!
//! Suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM. Sealing needs only the
//! vault's public key, so `fetch` (whose role holds no private key) can store PII it can never
//! read back. Each seal encapsulates a fresh key, so every record has its own content key.
//!
//! Associated data binds the vault id, the order id and the record version: a sealed blob
//! copied to another order, another vault, or an older version fails to open.
//!
//! Stored layout: `0x01 || enc (32 bytes) || ciphertext || tag`.

use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use chrono::{DateTime, Utc};

use super::key::{SecretKey, random_bytes};
use crate::error::{Error, Result};
use crate::pii::BuyerPii;

type Kem = X25519HkdfSha256;
const INFO: &[u8] = b"fulfill/pii/v1";
const VERSION: u8 = 1;
const ENC_LEN: usize = 32;

/// The vault's PII public key (stored in the clear).
#[derive(Clone, PartialEq, Eq)]
pub struct PiiPublicKey([u8; 32]);

impl std::fmt::Debug for PiiPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PiiPublicKey({})", hex::encode(&self.0[..4]))
    }
}

impl PiiPublicKey {
    /// Reads a stored public key.
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        let arr: [u8; 32] = b.try_into().map_err(|_| {
            Error::Integrity("the vault's PII public key has the wrong length".into())
        })?;
        Ok(PiiPublicKey(arr))
    }

    /// The bytes to store.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Makes a fresh PII key pair.
pub fn generate_keypair() -> (SecretKey, PiiPublicKey) {
    let (sk, pk) = Kem::gen_keypair();
    let mut skb = [0u8; 32];
    skb.copy_from_slice(&sk.to_bytes());
    let mut pkb = [0u8; 32];
    pkb.copy_from_slice(&pk.to_bytes());
    (SecretKey::from_bytes(skb), PiiPublicKey(pkb))
}

/// The public half of an X25519 private key (the secrets key of a version 1 vault, whose public
/// half was never stored).
pub fn public_of(sk: &SecretKey) -> Result<[u8; 32]> {
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(sk.expose_secret())
        .map_err(|_| Error::Integrity("a stored private key is invalid".into()))?;
    let mut out = [0u8; 32];
    out.copy_from_slice(&<Kem as hpke::Kem>::sk_to_pk(&sk).to_bytes());
    Ok(out)
}

/// Seals `plain` to an X25519 public key (HPKE base mode, the same suite as PII), binding
/// `info` and `aad`. Layout as for PII: `0x01 || enc || ciphertext || tag`.
pub fn seal_to(pk: &[u8; 32], info: &[u8], aad: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
    seal_in(&OpModeS::Base, pk, info, aad, plain)
}

/// Opens [`seal_to`]'s output; `None` when the key, `info`, `aad` or the bytes do not match.
pub fn open_from(
    sk: &SecretKey,
    info: &[u8],
    aad: &[u8],
    sealed: &[u8],
) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    open_in(&OpModeR::Base, sk, info, aad, sealed)
}

/// Seals `plain` to `recipient` in HPKE auth mode: only the holder of `sender`'s private half
/// can make a blob that [`open_authenticated`] accepts for `sender`'s public half. Used for key
/// deliveries, which the owner's authority key authenticates this way. Same layout as
/// [`seal_to`].
pub fn seal_authenticated(
    sender: &SecretKey,
    recipient: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    plain: &[u8],
) -> Result<Vec<u8>> {
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(sender.expose_secret())
        .map_err(|_| Error::Integrity("a delivery key is invalid".into()))?;
    let spk = <Kem as hpke::Kem>::sk_to_pk(&sk);
    seal_in(&OpModeS::Auth((sk, spk)), recipient, info, aad, plain)
}

/// Opens [`seal_authenticated`]'s output; `None` unless it was sealed to `recipient`'s public
/// half by the holder of `sender`'s private half, with the same `info` and `aad`.
pub fn open_authenticated(
    recipient: &SecretKey,
    sender: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    sealed: &[u8],
) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    let spk = <Kem as hpke::Kem>::PublicKey::from_bytes(sender).ok()?;
    open_in(&OpModeR::Auth(spk), recipient, info, aad, sealed)
}

fn seal_in(
    mode: &OpModeS<Kem>,
    pk: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    plain: &[u8],
) -> Result<Vec<u8>> {
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(pk)
        .map_err(|_| Error::Integrity("a vault public key is invalid".into()))?;
    let (enc, ct) =
        hpke::single_shot_seal::<AesGcm256, HkdfSha256, Kem>(mode, &pk, info, plain, aad)
            .map_err(|e| Error::Failed(format!("sealing: {e}")))?;
    let mut out = Vec::with_capacity(1 + ENC_LEN + ct.len());
    out.push(VERSION);
    out.extend_from_slice(&enc.to_bytes());
    out.extend_from_slice(&ct);
    Ok(out)
}

fn open_in(
    mode: &OpModeR<Kem>,
    sk: &SecretKey,
    info: &[u8],
    aad: &[u8],
    sealed: &[u8],
) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    if sealed.len() < 1 + ENC_LEN + 16 || sealed[0] != VERSION {
        return None;
    }
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&sealed[1..1 + ENC_LEN]).ok()?;
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(sk.expose_secret()).ok()?;
    hpke::single_shot_open::<AesGcm256, HkdfSha256, Kem>(
        mode,
        &sk,
        &enc,
        info,
        &sealed[1 + ENC_LEN..],
        aad,
    )
    .ok()
    .map(zeroize::Zeroizing::new)
}

/// The associated data of a sealed record: `label`, then the vault, the record and its version
/// (version 2 appends the epoch and the key id).
fn record_binding(label: &[u8], vault_id: &str, record_id: &str, version: u64) -> Vec<u8> {
    let mut a = Vec::with_capacity(96);
    a.extend_from_slice(label);
    a.extend_from_slice(vault_id.as_bytes());
    a.push(0);
    a.extend_from_slice(record_id.as_bytes());
    a.push(0);
    a.extend_from_slice(&version.to_be_bytes());
    a
}

/// The associated data of an order's sealed PII (version 1).
fn aad(vault_id: &str, order_id: &str, version: u64) -> Vec<u8> {
    record_binding(b"fulfill/pii-aad/v1\0", vault_id, order_id, version)
}

/// Seals an order's PII with the public key alone.
pub fn seal_pii(
    pk: &PiiPublicKey,
    vault_id: &str,
    order_id: &str,
    version: u64,
    pii: &BuyerPii,
) -> Result<Vec<u8>> {
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(&pk.0)
        .map_err(|_| Error::Integrity("the vault's PII public key is invalid".into()))?;
    let plain = pii.encode();
    let (enc, ct) = hpke::single_shot_seal::<AesGcm256, HkdfSha256, Kem>(
        &OpModeS::Base,
        &pk,
        INFO,
        &plain,
        &aad(vault_id, order_id, version),
    )
    .map_err(|e| Error::Failed(format!("sealing PII of order {order_id}: {e}")))?;
    let mut out = Vec::with_capacity(1 + ENC_LEN + ct.len());
    out.push(VERSION);
    out.extend_from_slice(&enc.to_bytes());
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens an order's sealed PII with the private key. Any change to the blob, or a blob that
/// belongs to another order, vault or version, gives an error naming the order.
pub fn open_pii(
    sk: &SecretKey,
    vault_id: &str,
    order_id: &str,
    version: u64,
    sealed: &[u8],
) -> Result<BuyerPii> {
    let fail = || {
        Error::Integrity(format!(
            "sealed PII of order {order_id} does not open: altered, moved from another order, or not sealed by this vault"
        ))
    };
    if sealed.len() < 1 + ENC_LEN + 16 || sealed[0] != VERSION {
        return Err(fail());
    }
    let enc =
        <Kem as hpke::Kem>::EncappedKey::from_bytes(&sealed[1..1 + ENC_LEN]).map_err(|_| fail())?;
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(sk.expose_secret())
        .map_err(|_| Error::Integrity("the PII private key is invalid".into()))?;
    let plain = hpke::single_shot_open::<AesGcm256, HkdfSha256, Kem>(
        &OpModeR::Base,
        &sk,
        &enc,
        INFO,
        &sealed[1 + ENC_LEN..],
        &aad(vault_id, order_id, version),
    )
    .map_err(|_| fail())?;
    let plain = zeroize::Zeroizing::new(plain);
    BuyerPii::decode(&plain)
}

/// The first byte of a version 2 record.
pub const RECORD_V2: u8 = 2;
/// The first byte of a version 1 record (HPKE base mode).
pub const RECORD_V1: u8 = VERSION;
const DATAKEY_INFO: &[u8] = b"fulfill/datakey/v2";
const HEADER_V2: usize = 1 + 4 + 8;
const NONCE_LEN: usize = 12;
const SECS_PER_DAY: i64 = 86_400;

/// A retention epoch: the UTC day (days since 1970-01-01) the deadlines of its orders fall in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Epoch(pub u32);

impl Epoch {
    /// The epoch of a retention deadline.
    pub fn of(deadline: DateTime<Utc>) -> Epoch {
        let day = deadline.timestamp().div_euclid(SECS_PER_DAY);
        Epoch(day.clamp(0, i64::from(u32::MAX) - 1) as u32)
    }

    /// When the epoch ends: every order in it is due by then, and its keys may die.
    pub fn end(self) -> DateTime<Utc> {
        DateTime::from_timestamp((i64::from(self.0) + 1) * SECS_PER_DAY, 0)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Whether the epoch has ended at `now`.
    pub fn ended_by(self, now: DateTime<Utc>) -> bool {
        now >= self.end()
    }

    /// The epoch's day, `YYYY-MM-DD` (for messages and records).
    pub fn day(self) -> String {
        DateTime::from_timestamp(i64::from(self.0) * SECS_PER_DAY, 0)
            .map_or_else(|| self.0.to_string(), |d| d.format("%Y-%m-%d").to_string())
    }
}

/// A data key's name: its epoch and a random id (several sealing runs each make their own
/// key for an epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyName {
    /// The retention epoch.
    pub epoch: Epoch,
    /// Random, to tell the keys of one epoch apart.
    pub id: [u8; 8],
}

impl KeyName {
    /// A fresh name in `epoch`.
    pub fn fresh(epoch: Epoch) -> KeyName {
        KeyName {
            epoch,
            id: random_bytes::<8>(),
        }
    }

    /// The name as a log field: `YYYY-MM-DD/hex id`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.epoch.day(), hex::encode(self.id))
    }
}

fn datakey_aad(vault_id: &str, name: KeyName) -> Vec<u8> {
    let mut a = Vec::with_capacity(64);
    a.extend_from_slice(b"fulfill/datakey-aad/v2\0");
    a.extend_from_slice(vault_id.as_bytes());
    a.push(0);
    a.extend_from_slice(&name.epoch.0.to_be_bytes());
    a.extend_from_slice(&name.id);
    a
}

/// Wraps a data key to the PII public key in HPKE auth mode from the sealer's private half,
/// binding the vault and the key's name.
pub fn wrap_data_key(
    sealer: &SecretKey,
    pii_public: &[u8; 32],
    vault_id: &str,
    name: KeyName,
    key: &SecretKey,
) -> Result<Vec<u8>> {
    seal_authenticated(
        sealer,
        pii_public,
        DATAKEY_INFO,
        &datakey_aad(vault_id, name),
        key.expose_secret(),
    )
}

/// Opens a wrapped data key; `None` unless it was wrapped by the holder of the sealer's
/// private half (`sealer_public`) for this vault and this name.
pub fn unwrap_data_key(
    pii_private: &SecretKey,
    sealer_public: &[u8; 32],
    vault_id: &str,
    name: KeyName,
    wrapped: &[u8],
) -> Option<SecretKey> {
    let plain = open_authenticated(
        pii_private,
        sealer_public,
        DATAKEY_INFO,
        &datakey_aad(vault_id, name),
        wrapped,
    )?;
    let arr: [u8; 32] = plain.as_slice().try_into().ok()?;
    Some(SecretKey::from_bytes(arr))
}

fn record_aad(vault_id: &str, record_id: &str, version: u64, name: KeyName) -> Vec<u8> {
    let mut a = record_binding(b"fulfill/pii-aad/v2\0", vault_id, record_id, version);
    a.extend_from_slice(&name.epoch.0.to_be_bytes());
    a.extend_from_slice(&name.id);
    a
}

/// A data key ready to seal and open records: the AES-256-GCM key schedule, made once per key
/// (its round keys are zeroized on drop: aes-gcm's `zeroize` feature).
pub struct DataKey(Aes256Gcm);

impl DataKey {
    /// The key schedule of `key`.
    pub fn new(key: &SecretKey) -> DataKey {
        DataKey(Aes256Gcm::new_from_slice(key.expose_secret()).expect("32-byte key"))
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

/// Seals a record (an order's PII, or one gift message) under a data key.
pub fn seal_record(
    key: &SecretKey,
    name: KeyName,
    vault_id: &str,
    record_id: &str,
    version: u64,
    pii: &BuyerPii,
) -> Vec<u8> {
    seal_record_with(&DataKey::new(key), name, vault_id, record_id, version, pii)
}

/// [`seal_record`] with a prepared key (a sealing run seals many records under one key).
pub fn seal_record_with(
    key: &DataKey,
    name: KeyName,
    vault_id: &str,
    record_id: &str,
    version: u64,
    pii: &BuyerPii,
) -> Vec<u8> {
    seal_in_v2(
        key,
        name,
        &random_bytes::<NONCE_LEN>(),
        vault_id,
        record_id,
        version,
        &pii.encode(),
    )
}

/// [`seal_record`] of raw plaintext with a caller-chosen nonce: for known-answer vectors only.
pub fn seal_record_with_nonce(
    key: &SecretKey,
    name: KeyName,
    nonce: &[u8; NONCE_LEN],
    vault_id: &str,
    record_id: &str,
    version: u64,
    plain: &[u8],
) -> Vec<u8> {
    seal_in_v2(
        &DataKey::new(key),
        name,
        nonce,
        vault_id,
        record_id,
        version,
        plain,
    )
}

fn seal_in_v2(
    key: &DataKey,
    name: KeyName,
    nonce: &[u8; NONCE_LEN],
    vault_id: &str,
    record_id: &str,
    version: u64,
    plain: &[u8],
) -> Vec<u8> {
    let aad = record_aad(vault_id, record_id, version, name);
    let ct = key
        .0
        .encrypt(
            &Nonce::from(*nonce),
            Payload {
                msg: plain,
                aad: &aad,
            },
        )
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    let mut out = Vec::with_capacity(HEADER_V2 + NONCE_LEN + ct.len());
    out.push(RECORD_V2);
    out.extend_from_slice(&name.epoch.0.to_be_bytes());
    out.extend_from_slice(&name.id);
    out.extend_from_slice(nonce);
    out.extend_from_slice(&ct);
    out
}

/// The data key a version 2 record names (unauthenticated until it opens); `None` for any
/// other bytes.
pub fn record_key_name(sealed: &[u8]) -> Option<KeyName> {
    if sealed.len() < HEADER_V2 + NONCE_LEN + 16 || sealed[0] != RECORD_V2 {
        return None;
    }
    Some(KeyName {
        epoch: Epoch(u32::from_be_bytes(sealed[1..5].try_into().ok()?)),
        id: sealed[5..13].try_into().ok()?,
    })
}

/// Opens a version 2 record's plaintext; `None` when the key, the binding or the bytes do not
/// match.
pub fn open_record_plain(
    key: &SecretKey,
    vault_id: &str,
    record_id: &str,
    version: u64,
    sealed: &[u8],
) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    open_plain_with(&DataKey::new(key), vault_id, record_id, version, sealed)
}

fn open_plain_with(
    key: &DataKey,
    vault_id: &str,
    record_id: &str,
    version: u64,
    sealed: &[u8],
) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    let name = record_key_name(sealed)?;
    let nonce: [u8; NONCE_LEN] = sealed[HEADER_V2..HEADER_V2 + NONCE_LEN].try_into().ok()?;
    key.0
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &sealed[HEADER_V2 + NONCE_LEN..],
                aad: &record_aad(vault_id, record_id, version, name),
            },
        )
        .ok()
        .map(zeroize::Zeroizing::new)
}

/// Opens a version 2 record into PII; `None` as [`open_record_plain`].
pub fn open_record(
    key: &SecretKey,
    vault_id: &str,
    record_id: &str,
    version: u64,
    sealed: &[u8],
) -> Option<Result<BuyerPii>> {
    open_record_plain(key, vault_id, record_id, version, sealed).map(|p| BuyerPii::decode(&p))
}

/// [`open_record`] with a prepared key.
pub fn open_record_with(
    key: &DataKey,
    vault_id: &str,
    record_id: &str,
    version: u64,
    sealed: &[u8],
) -> Option<Result<BuyerPii>> {
    open_plain_with(key, vault_id, record_id, version, sealed).map(|p| BuyerPii::decode(&p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pii::Pii;

    fn pii() -> BuyerPii {
        BuyerPii {
            recipient_name: Some(Pii::new("Ada ZQXMARK")),
            address_line1: Some(Pii::new("1 Loop")),
            ..Default::default()
        }
    }

    #[test]
    fn an_authenticated_seal_opens_only_from_its_sender() {
        let (owner, owner_pk) = generate_keypair();
        let (recipient, recipient_pk) = generate_keypair();
        let (forger, _) = generate_keypair();
        let s = seal_authenticated(&owner, recipient_pk.as_bytes(), b"i", b"a", b"keys").unwrap();
        let opened = open_authenticated(&recipient, owner_pk.as_bytes(), b"i", b"a", &s).unwrap();
        assert_eq!(opened.as_slice(), b"keys");
        assert!(open_authenticated(&recipient, owner_pk.as_bytes(), b"i", b"b", &s).is_none());
        // Anyone can seal to the recipient's public key; only the owner's key authenticates.
        let forged =
            seal_authenticated(&forger, recipient_pk.as_bytes(), b"i", b"a", b"keys").unwrap();
        assert!(open_authenticated(&recipient, owner_pk.as_bytes(), b"i", b"a", &forged).is_none());
        let base = seal_to(recipient_pk.as_bytes(), b"i", b"a", b"keys").unwrap();
        assert!(open_authenticated(&recipient, owner_pk.as_bytes(), b"i", b"a", &base).is_none());
    }

    #[test]
    fn round_trip_and_binding() {
        let (sk, pk) = generate_keypair();
        let s = seal_pii(&pk, "v1", "111-1111111-1111111", 1, &pii()).unwrap();
        assert!(open_pii(&sk, "v1", "111-1111111-1111111", 1, &s).unwrap() == pii());
        for (v, o, ver) in [
            ("v2", "111-1111111-1111111", 1),
            ("v1", "222-2222222-2222222", 1),
            ("v1", "111-1111111-1111111", 2),
        ] {
            let e = open_pii(&sk, v, o, ver, &s).unwrap_err();
            assert!(e.to_string().contains(o), "{e}");
        }
        let (other, _) = generate_keypair();
        assert!(open_pii(&other, "v1", "111-1111111-1111111", 1, &s).is_err());
    }

    #[test]
    fn sealed_boxes_open_only_with_the_private_half_and_the_same_binding() {
        let (sk, pk) = generate_keypair();
        assert_eq!(&public_of(&sk).unwrap(), pk.as_bytes());
        let b = seal_to(pk.as_bytes(), b"info", b"aad", b"secret bytes").unwrap();
        assert_eq!(
            &open_from(&sk, b"info", b"aad", &b).unwrap()[..],
            b"secret bytes"
        );
        assert!(open_from(&sk, b"info", b"other", &b).is_none());
        assert!(open_from(&sk, b"other", b"aad", &b).is_none());
        let (other, _) = generate_keypair();
        assert!(open_from(&other, b"info", b"aad", &b).is_none());
        assert!(open_from(&sk, b"info", b"aad", &b[..20]).is_none());
    }

    #[test]
    fn a_v2_record_opens_only_under_its_key_and_binding() {
        let key = SecretKey::generate();
        let name = KeyName::fresh(Epoch(20_000));
        let s = seal_record(&key, name, "v", "o", 3, &pii());
        assert_eq!(record_key_name(&s), Some(name));
        assert!(open_record(&key, "v", "o", 3, &s).unwrap().unwrap() == pii());
        assert!(open_record(&SecretKey::generate(), "v", "o", 3, &s).is_none());
        for (v, o, ver) in [("w", "o", 3), ("v", "p", 3), ("v", "o", 4)] {
            assert!(open_record(&key, v, o, ver, &s).is_none());
        }
        // The header is bound: the same bytes claiming another epoch or key id do not open.
        let mut moved = s.clone();
        moved[4] ^= 1;
        assert!(open_record(&key, "v", "o", 3, &moved).is_none());
        assert!(open_record(&key, "v", "o", 3, &s[..s.len() - 1]).is_none());
        assert!(!s.windows(7).any(|w| w == b"ZQXMARK"));
    }

    #[test]
    fn a_data_key_unwraps_only_from_the_sealer_for_its_name() {
        let (pii_sk, pii_pk) = generate_keypair();
        let (sealer, sealer_pk) = generate_keypair();
        let (forger, _) = generate_keypair();
        let key = SecretKey::generate();
        let name = KeyName::fresh(Epoch(7));
        let w = wrap_data_key(&sealer, pii_pk.as_bytes(), "v", name, &key).unwrap();
        let back = unwrap_data_key(&pii_sk, sealer_pk.as_bytes(), "v", name, &w).unwrap();
        assert_eq!(back.expose_secret(), key.expose_secret());
        let other = KeyName {
            epoch: Epoch(8),
            ..name
        };
        assert!(unwrap_data_key(&pii_sk, sealer_pk.as_bytes(), "v", other, &w).is_none());
        assert!(unwrap_data_key(&pii_sk, sealer_pk.as_bytes(), "x", name, &w).is_none());
        let forged = wrap_data_key(&forger, pii_pk.as_bytes(), "v", name, &key).unwrap();
        assert!(unwrap_data_key(&pii_sk, sealer_pk.as_bytes(), "v", name, &forged).is_none());
    }

    #[test]
    fn epochs_are_utc_days_and_end_at_midnight() {
        let t = DateTime::parse_from_rfc3339("2026-12-07T23:59:59Z")
            .unwrap()
            .to_utc();
        let e = Epoch::of(t);
        assert_eq!(e.day(), "2026-12-07");
        assert!(!e.ended_by(t));
        assert!(e.ended_by(e.end()));
        assert_eq!(e.end().to_rfc3339(), "2026-12-08T00:00:00+00:00");
    }

    #[test]
    fn sealed_bytes_do_not_contain_plaintext() {
        let (_sk, pk) = generate_keypair();
        let s = seal_pii(&pk, "v1", "o", 1, &pii()).unwrap();
        assert!(!s.windows(7).any(|w| w == b"ZQXMARK"));
    }
}
