//! Keys and passphrases: types that zeroize, print masked, and are never `Clone`.
//!
//! The key hierarchy (DESIGN.md, "Roles and keys"):
//!
//! ```text
//! passphrase --Argon2id(salt, m, t, p)--> KEK ─┐        key file (32 bytes) = KEK ─┐
//!                                              └─ AES-256-GCM wraps the operator's KeySet
//! KeySet = { PII private key (X25519) if the role opens PII,
//!            secrets key (AES-256) if the role calls Amazon }
//! ```
//!
//! The wrapped key set's associated data binds the vault id, the operator's name and its role,
//! so a wrapped set copied to another operator, or a role edited in the database, fails to
//! unwrap. Raw key bytes are reachable only through `expose_secret`, a name grep finds.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::{Zeroize, Zeroizing};

use crate::config::PassphrasePolicy;
use crate::error::{Error, Result};

/// A 256-bit secret key.
pub struct SecretKey(Zeroizing<[u8; 32]>);

impl SecretKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        rand::fill(&mut k[..]);
        SecretKey(k)
    }

    /// Wraps existing bytes (a key file, an unwrapped key).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SecretKey(Zeroizing::new(bytes))
    }

    /// The raw key bytes.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

/// An operator's passphrase.
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Wraps a passphrase; one trailing newline (from a file or a prompt) is removed.
    pub fn new(mut s: String) -> Self {
        if s.ends_with('\n') {
            s.pop();
            if s.ends_with('\r') {
                s.pop();
            }
        }
        Passphrase(Zeroizing::new(s))
    }

    /// The raw passphrase.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Checks the profile's rules (not the history, which needs the vault).
    pub fn check_policy(&self, policy: &PassphrasePolicy, operator: &str) -> Result<()> {
        let n = self.0.chars().count();
        if n < policy.min_chars {
            return Err(Error::usage(format!(
                "passphrase too short: {n} characters, at least {} required",
                policy.min_chars
            )));
        }
        if policy.forbid_name
            && !operator.is_empty()
            && self.0.to_lowercase().contains(&operator.to_lowercase())
        {
            return Err(Error::usage(
                "passphrase must not contain the operator's name",
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase([redacted])")
    }
}

/// How an operator proves who it is.
#[derive(Debug)]
pub enum Credential {
    /// A passphrase, stretched with Argon2id.
    Passphrase(Passphrase),
    /// A 32-byte key file (service operators).
    KeyFile(SecretKey),
}

/// Argon2id parameters, stored with each operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t: u32,
    /// Parallelism.
    pub p: u32,
}

impl KdfParams {
    /// The minimum the design allows, and the default: m = 64 MiB, t = 3, p = 1.
    pub const MIN: KdfParams = KdfParams {
        m_kib: 64 * 1024,
        t: 3,
        p: 1,
    };
    /// Sanity caps: a vault asking for more is refused (it could be a denial of service).
    pub const MAX: KdfParams = KdfParams {
        m_kib: 4 * 1024 * 1024,
        t: 64,
        p: 16,
    };

    /// Refuses parameters below the minimum or beyond the caps.
    pub fn check(&self) -> Result<()> {
        let ok = |v: u32, lo: u32, hi: u32| (lo..=hi).contains(&v);
        if ok(self.m_kib, Self::MIN.m_kib, Self::MAX.m_kib)
            && ok(self.t, Self::MIN.t, Self::MAX.t)
            && ok(self.p, Self::MIN.p, Self::MAX.p)
        {
            Ok(())
        } else {
            Err(Error::Integrity(format!(
                "stored Argon2id parameters m={} KiB t={} p={} are outside the allowed range \
                 (m {}..={}, t {}..={}, p {}..={}); the vault may have been tampered with",
                self.m_kib,
                self.t,
                self.p,
                Self::MIN.m_kib,
                Self::MAX.m_kib,
                Self::MIN.t,
                Self::MAX.t,
                Self::MIN.p,
                Self::MAX.p
            )))
        }
    }
}

/// Raw Argon2id (version 0x13) with optional secret and associated data, as RFC 9106 defines it.
pub fn argon2id(
    pwd: &[u8],
    salt: &[u8],
    secret: &[u8],
    ad: &[u8],
    cost: KdfParams,
    out: &mut [u8],
) -> Result<()> {
    let params = argon2::ParamsBuilder::new()
        .m_cost(cost.m_kib)
        .t_cost(cost.t)
        .p_cost(cost.p)
        .data(argon2::AssociatedData::new(ad).map_err(|e| Error::Failed(format!("argon2: {e}")))?)
        .output_len(out.len())
        .build()
        .map_err(|e| Error::Failed(format!("argon2 parameters: {e}")))?;
    let a = if secret.is_empty() {
        argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
    } else {
        argon2::Argon2::new_with_secret(
            secret,
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params,
        )
        .map_err(|e| Error::Failed(format!("argon2: {e}")))?
    };
    a.hash_password_into(pwd, salt, out)
        .map_err(|e| Error::Failed(format!("argon2: {e}")))
}

/// Derives a key-encryption key from a passphrase; refuses parameters out of range first.
pub fn derive_kek(pass: &Passphrase, salt: &[u8], params: KdfParams) -> Result<SecretKey> {
    params.check()?;
    let mut out = Zeroizing::new([0u8; 32]);
    argon2id(
        pass.expose_secret().as_bytes(),
        salt,
        &[],
        &[],
        params,
        &mut out[..],
    )?;
    Ok(SecretKey(out))
}

/// Fresh random bytes (salts, ids).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::fill(&mut b[..]);
    b
}

/// AES-256-GCM with a random 96-bit nonce: returns `nonce || ciphertext || tag`.
pub fn aead_seal(key: &SecretKey, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    aead_seal_with_nonce(key, &random_bytes::<12>(), aad, plaintext)
}

/// [`aead_seal`] with a caller-chosen nonce: only for known-answer tests.
pub fn aead_seal_with_nonce(
    key: &SecretKey,
    nonce: &[u8; 12],
    aad: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let cipher = Aes256Gcm::new_from_slice(key.expose_secret()).expect("32-byte key");
    let ct = cipher
        .encrypt(
            &Nonce::from(*nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    let mut out = Vec::with_capacity(12 + ct.len());
    out.extend_from_slice(nonce);
    out.extend_from_slice(&ct);
    out
}

/// Opens [`aead_seal`]'s output; `None` when the key, data or associated data do not match.
pub fn aead_open(key: &SecretKey, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < 12 + 16 {
        return None;
    }
    let (nonce, ct) = sealed.split_at(12);
    let nonce: [u8; 12] = nonce.try_into().ok()?;
    let cipher = Aes256Gcm::new_from_slice(key.expose_secret()).expect("32-byte key");
    cipher
        .decrypt(&Nonce::from(nonce), Payload { msg: ct, aad })
        .ok()
        .map(Zeroizing::new)
}

/// The keys an unlocked operator holds. What is absent cannot be used: there is no key to use.
#[derive(Debug, Default)]
pub struct KeySet {
    /// The X25519 private half of the vault's PII key pair.
    pub pii_private: Option<SecretKey>,
    /// The AES-256 key that seals MWS credentials.
    pub secrets: Option<SecretKey>,
}

impl KeySet {
    fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(vec![1u8]);
        for (tag, k) in [(1u8, &self.pii_private), (2u8, &self.secrets)] {
            if let Some(k) = k {
                out.push(tag);
                out.extend_from_slice(k.expose_secret());
            }
        }
        out
    }

    fn decode(b: &[u8]) -> Option<KeySet> {
        let (&v, mut rest) = b.split_first()?;
        if v != 1 {
            return None;
        }
        let mut ks = KeySet::default();
        while let Some((&tag, r)) = rest.split_first() {
            let mut key: [u8; 32] = r.get(..32)?.try_into().ok()?;
            let k = Some(SecretKey::from_bytes(key));
            key.zeroize();
            match tag {
                1 => ks.pii_private = k,
                2 => ks.secrets = k,
                _ => return None,
            }
            rest = &r[32..];
        }
        Some(ks)
    }

    /// Wraps the set under a KEK, binding `aad`.
    pub fn wrap(&self, kek: &SecretKey, aad: &[u8]) -> Vec<u8> {
        aead_seal(kek, aad, &self.encode())
    }

    /// Unwraps a set; `None` means the wrong KEK (wrong passphrase) or altered data.
    pub fn unwrap(kek: &SecretKey, aad: &[u8], wrapped: &[u8]) -> Option<KeySet> {
        let plain = aead_open(kek, aad, wrapped)?;
        KeySet::decode(&plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyset_wraps_and_refuses_wrong_kek_or_aad() {
        let kek = SecretKey::generate();
        let ks = KeySet {
            pii_private: None,
            secrets: Some(SecretKey::generate()),
        };
        let w = ks.wrap(&kek, b"vault|bob|admin");
        let back = KeySet::unwrap(&kek, b"vault|bob|admin", &w).unwrap();
        assert!(back.pii_private.is_none());
        assert_eq!(
            back.secrets.unwrap().expose_secret(),
            ks.secrets.as_ref().unwrap().expose_secret()
        );
        assert!(KeySet::unwrap(&SecretKey::generate(), b"vault|bob|admin", &w).is_none());
        assert!(KeySet::unwrap(&kek, b"vault|bob|owner", &w).is_none());
    }

    #[test]
    fn kdf_params_bounds() {
        KdfParams::MIN.check().unwrap();
        KdfParams::MAX.check().unwrap();
        for bad in [
            KdfParams {
                m_kib: 1024,
                ..KdfParams::MIN
            },
            KdfParams {
                t: 2,
                ..KdfParams::MIN
            },
            KdfParams {
                p: 0,
                ..KdfParams::MIN
            },
            KdfParams {
                m_kib: u32::MAX,
                ..KdfParams::MIN
            },
            KdfParams {
                t: 1000,
                ..KdfParams::MIN
            },
        ] {
            assert!(matches!(bad.check(), Err(Error::Integrity(_))), "{bad:?}");
        }
    }

    #[test]
    fn passphrase_policy() {
        let strict = crate::config::Profile::Dpp2025.passphrase_policy();
        let lax = crate::config::Profile::Mws2020.passphrase_policy();
        assert!(
            Passphrase::new("short".into())
                .check_policy(&lax, "al")
                .is_err()
        );
        Passphrase::new("correct horse battery\n".into())
            .check_policy(&lax, "horse")
            .unwrap();
        assert!(
            Passphrase::new("correct Horse battery".into())
                .check_policy(&strict, "horse")
                .is_err()
        );
        Passphrase::new("correct horse battery".into())
            .check_policy(&strict, "alice")
            .unwrap();
        assert_eq!(Passphrase::new("abc\r\n".into()).expose_secret(), "abc");
    }

    #[test]
    fn debug_is_masked() {
        let k = SecretKey::from_bytes([0x41; 32]);
        let p = Passphrase::new("hunter2hunter2".into());
        assert!(!format!("{k:?}{p:?}").contains("hunter2") && !format!("{k:?}").contains("65"));
    }
}
