//! Sealing an order's PII: HPKE (RFC 9180) base mode, single shot.
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

use super::key::SecretKey;
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
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(pk)
        .map_err(|_| Error::Integrity("a vault public key is invalid".into()))?;
    let (enc, ct) =
        hpke::single_shot_seal::<AesGcm256, HkdfSha256, Kem>(&OpModeS::Base, &pk, info, plain, aad)
            .map_err(|e| Error::Failed(format!("sealing: {e}")))?;
    let mut out = Vec::with_capacity(1 + ENC_LEN + ct.len());
    out.push(VERSION);
    out.extend_from_slice(&enc.to_bytes());
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens [`seal_to`]'s output; `None` when the key, `info`, `aad` or the bytes do not match.
pub fn open_from(
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
        &OpModeR::Base,
        &sk,
        &enc,
        info,
        &sealed[1 + ENC_LEN..],
        aad,
    )
    .ok()
    .map(zeroize::Zeroizing::new)
}

/// Seals `plain` to `recipient` in HPKE auth mode: only the holder of `sender`'s private half
/// can make a blob that [`open_authenticated`] accepts for `sender`'s public half. Used for key
/// deliveries, which the owner's authority key signs in this way. Same layout as [`seal_to`].
pub fn seal_authenticated(
    sender: &SecretKey,
    recipient: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    plain: &[u8],
) -> Result<Vec<u8>> {
    let invalid = || Error::Integrity("a delivery key is invalid".into());
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(recipient).map_err(|_| invalid())?;
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(sender.expose_secret())
        .map_err(|_| invalid())?;
    let spk = <Kem as hpke::Kem>::sk_to_pk(&sk);
    let (enc, ct) = hpke::single_shot_seal::<AesGcm256, HkdfSha256, Kem>(
        &OpModeS::Auth((sk, spk)),
        &pk,
        info,
        plain,
        aad,
    )
    .map_err(|e| Error::Failed(format!("sealing: {e}")))?;
    let mut out = Vec::with_capacity(1 + ENC_LEN + ct.len());
    out.push(VERSION);
    out.extend_from_slice(&enc.to_bytes());
    out.extend_from_slice(&ct);
    Ok(out)
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
    if sealed.len() < 1 + ENC_LEN + 16 || sealed[0] != VERSION {
        return None;
    }
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&sealed[1..1 + ENC_LEN]).ok()?;
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(recipient.expose_secret()).ok()?;
    let spk = <Kem as hpke::Kem>::PublicKey::from_bytes(sender).ok()?;
    hpke::single_shot_open::<AesGcm256, HkdfSha256, Kem>(
        &OpModeR::Auth(spk),
        &sk,
        &enc,
        info,
        &sealed[1 + ENC_LEN..],
        aad,
    )
    .ok()
    .map(zeroize::Zeroizing::new)
}

/// The associated data of an order's sealed PII.
fn aad(vault_id: &str, order_id: &str, version: u64) -> Vec<u8> {
    let mut a = Vec::with_capacity(64);
    a.extend_from_slice(b"fulfill/pii-aad/v1\0");
    a.extend_from_slice(vault_id.as_bytes());
    a.push(0);
    a.extend_from_slice(order_id.as_bytes());
    a.push(0);
    a.extend_from_slice(&version.to_be_bytes());
    a
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
    fn sealed_bytes_do_not_contain_plaintext() {
        let (_sk, pk) = generate_keypair();
        let s = seal_pii(&pk, "v1", "o", 1, &pii()).unwrap();
        assert!(!s.windows(7).any(|w| w == b"ZQXMARK"));
    }
}
