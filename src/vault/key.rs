//! Keys and passphrases: types that zeroize, print masked, and are never `Clone`.
//!
//! The key hierarchy (DESIGN.md, "Roles and keys"):
//!
//! ```text
//! passphrase --Argon2id(salt, m, t, p)--> KEK ─┐        key file (32 bytes) = KEK ─┐
//!                                              └─ AES-256-GCM wraps the operator's KeySet
//! KeySet = { vault facts (id, profile, sandbox flag, PII and secrets public keys),
//!            PII private key (X25519) if the role opens PII,
//!            secrets private key (X25519) if the role calls Amazon,
//!            log key (the audit log's first MAC key) if the role audits,
//!            TOTP secret once the operator enrolled a second factor }
//! ```
//!
//! The wrapped key set's associated data binds the operator's name and its role, so a wrapped
//! set copied to another operator, or a role edited in the database, fails to unwrap; the vault
//! facts inside it authenticate everything the keys depend on ([`VaultFacts`]). Raw key bytes are reachable only through `expose_secret`, a name grep finds.

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
        // On top of the length rule, a real estimator (zxcvbn): a long passphrase made of a
        // keyboard walk, a repeated word or the operator's name is still refused.
        let estimate = zxcvbn::zxcvbn(&self.0, &[operator, "fulfill", "amazon"]);
        if estimate.score() < zxcvbn::Score::Three {
            return Err(Error::usage(
                "passphrase is too easy to guess: use four or more unrelated words",
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

/// Shows a recovery key as 8 dash-separated groups of 8 hex digits (written down once).
pub fn format_recovery_key(k: &SecretKey) -> Zeroizing<String> {
    let hexed = Zeroizing::new(hex::encode(k.expose_secret()));
    let mut out = Zeroizing::new(String::with_capacity(71));
    for (i, c) in hexed.chars().enumerate() {
        if i > 0 && i % 8 == 0 {
            out.push('-');
        }
        out.push(c);
    }
    out
}

/// Reads a recovery key as [`format_recovery_key`] shows it (dashes and white space ignored).
pub fn parse_recovery_key(s: &str) -> Result<SecretKey> {
    let digits: Zeroizing<String> = Zeroizing::new(
        s.chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect(),
    );
    let mut bytes = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(digits.as_bytes(), &mut bytes[..]).map_err(|_| {
        Error::usage("a recovery key is 64 hex digits (dashes and spaces are ignored)")
    })?;
    Ok(SecretKey(bytes))
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

/// The vault-wide facts every key depends on, as an operator's key set authenticates them.
///
/// The vault's `meta` table holds plain copies (a cron `purge` needs the profile without a
/// key), but nothing that decides who can read PII is taken from there: `fetch` seals to the
/// PII public key it unwrapped, an admin seals credentials to the secrets public key it
/// unwrapped, and an unlock whose facts differ from `meta` is refused as tampering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultFacts {
    /// The vault id (bound into every sealed record).
    pub vault_id: String,
    /// The policy profile's name (`mws-2020`, `dpp-2025`).
    pub profile: String,
    /// Whether this is a sandbox home (loopback endpoints, `--now`).
    pub sandbox: bool,
    /// The public half of the PII key pair (X25519): what `fetch` seals to.
    pub pii_public: [u8; 32],
    /// The public half of the secrets key pair (X25519): what credentials are sealed to.
    pub secrets_public: [u8; 32],
    /// The public half of the owner's authority key pair (X25519): key deliveries after a
    /// `rekey` are HPKE-authenticated by it, so only the owner can hand out new keys. All
    /// zero in a set made before rotation existed (learnt at the next unlock).
    pub authority_public: [u8; 32],
    /// The public half of the PII sealer key pair (X25519): every epoch data key is wrapped
    /// in HPKE auth mode from its private half, which only the roles that fetch hold (derived
    /// from the secrets key, [`sealer_of`]). All zero before sealing v2 (a vault not yet
    /// migrated: see `vault::seal`).
    pub sealer_public: [u8; 32],
    /// The public half of the credentials sealer key pair: credentials are sealed in HPKE auth
    /// mode from its private half, which only the roles that set credentials hold (owner and
    /// admin). All zero before sealing v2.
    pub cred_sealer_public: [u8; 32],
}

impl VaultFacts {
    /// The names of the facts that differ between `self` (authenticated) and `other` (as
    /// stated in `meta`), for a refusal message.
    pub fn differences(&self, other: &VaultFacts) -> Vec<&'static str> {
        let mut d = Vec::new();
        if self.vault_id != other.vault_id {
            d.push("vault_id");
        }
        if self.profile != other.profile {
            d.push("profile");
        }
        if self.sandbox != other.sandbox {
            d.push("sandbox");
        }
        if self.pii_public != other.pii_public {
            d.push("pii_public_key");
        }
        // All zero: a key set upgraded from version 1 by a role that never held the secrets
        // key, before its public half was known; such a role never seals credentials.
        if self.secrets_public != [0; 32] && self.secrets_public != other.secrets_public {
            d.push("secrets_public_key");
        }
        if self.authority_public != [0; 32] && self.authority_public != other.authority_public {
            d.push("authority_public_key");
        }
        // Sealing v2 facts are learnt from a delivery, never from `meta`; a set that has them
        // must agree with `meta`, and `meta` cannot claim them for a set that does not.
        if self.sealer_public != other.sealer_public {
            d.push("sealer_public_key");
        }
        if self.cred_sealer_public != other.cred_sealer_public {
            d.push("credentials_sealer_public_key");
        }
        d
    }

    /// Whether these facts are of a vault that seals PII in version 2 (epoch data keys with
    /// proof of sealer): then a version 1 record is refused everywhere.
    pub fn seals_v2(&self) -> bool {
        self.sealer_public != [0; 32]
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        for s in [self.vault_id.as_bytes(), self.profile.as_bytes()] {
            out.push(s.len() as u8);
            out.extend_from_slice(s);
        }
        out.push(u8::from(self.sandbox));
        out.extend_from_slice(&self.pii_public);
        out.extend_from_slice(&self.secrets_public);
        out.extend_from_slice(&self.authority_public);
        if self.seals_v2() {
            out.extend_from_slice(&self.sealer_public);
            out.extend_from_slice(&self.cred_sealer_public);
        }
    }

    /// Reads facts as `encode_into` wrote them; `with_authority` for version 3 sets,
    /// `with_sealers` for version 4.
    fn decode_from(
        b: &[u8],
        with_authority: bool,
        with_sealers: bool,
    ) -> Option<(VaultFacts, &[u8])> {
        let text = |b: &[u8]| -> Option<(String, usize)> {
            let n = *b.first()? as usize;
            let s = std::str::from_utf8(b.get(1..1 + n)?).ok()?;
            Some((s.to_string(), 1 + n))
        };
        let (vault_id, n1) = text(b)?;
        let (profile, n2) = text(b.get(n1..)?)?;
        let rest = b.get(n1 + n2..)?;
        let sandbox = match *rest.first()? {
            0 => false,
            1 => true,
            _ => return None,
        };
        let pii_public: [u8; 32] = rest.get(1..33)?.try_into().ok()?;
        let secrets_public: [u8; 32] = rest.get(33..65)?.try_into().ok()?;
        let (authority_public, end) = if with_authority {
            (rest.get(65..97)?.try_into().ok()?, 97)
        } else {
            ([0; 32], 65)
        };
        let (sealer_public, cred_sealer_public, end): ([u8; 32], [u8; 32], usize) = if with_sealers
        {
            let s: [u8; 32] = rest.get(end..end + 32)?.try_into().ok()?;
            let c: [u8; 32] = rest.get(end + 32..end + 64)?.try_into().ok()?;
            if s == [0; 32] {
                return None;
            }
            (s, c, end + 64)
        } else {
            ([0; 32], [0; 32], end)
        };
        Some((
            VaultFacts {
                vault_id,
                profile,
                sandbox,
                pii_public,
                secrets_public,
                authority_public,
                sealer_public,
                cred_sealer_public,
            },
            rest.get(end..)?,
        ))
    }
}

/// The keys an unlocked operator holds. What is absent cannot be used: there is no key to use.
#[derive(Debug, Default)]
pub struct KeySet {
    /// The X25519 private half of the vault's PII key pair.
    pub pii_private: Option<SecretKey>,
    /// The X25519 private half of the secrets key pair, which opens the Amazon credentials
    /// (in a version 1 set: the AES-256 key that sealed them, the same 32 bytes).
    pub secrets: Option<SecretKey>,
    /// The first key of the audit log's forward-secure MAC chain: whoever holds it can check
    /// every record's MAC (owner and auditor).
    pub log_key: Option<SecretKey>,
    /// The operator's TOTP secret (its second factor), once enrolled.
    pub totp: Option<SecretKey>,
    /// The authenticated vault facts; `None` only in a version 1 set (before facts were bound).
    pub facts: Option<VaultFacts>,
    /// The key epoch these keys belong to: 0 at `init`, one more at every `rekey`.
    pub epoch: u64,
    /// The owner's authority private key (X25519): it authenticates key deliveries and
    /// endorses the delivery keys of operators who hold vault keys. Owner only.
    pub authority: Option<SecretKey>,
    /// This operator's delivery key (X25519 private half): what a `rekey` seals this
    /// operator's new keys to. Its public half is in the `operators` row.
    pub box_key: Option<SecretKey>,
    /// The credentials sealer's private half (owner and admin, sealing v2): proof that
    /// stored credentials were set by a role allowed to set them.
    pub cred_sealer: Option<SecretKey>,
}

/// Key set encodings: 1 (keys only), 2 (vault facts, then keys), 3 (facts with the
/// authority public key, the epoch, then keys) and 4 (facts with the sealers' public keys:
/// sealing v2).
const KEYSET_V1: u8 = 1;
const KEYSET_V2: u8 = 2;
const KEYSET_V3: u8 = 3;
const KEYSET_V4: u8 = 4;

/// The PII sealer's private half, derived from the secrets private key (HKDF-SHA256): the
/// roles that seal PII are exactly the roles that call Amazon (they fetch), so no new key has
/// to be handed out, and it rotates with the secrets key.
pub fn sealer_of(secrets: &SecretKey) -> SecretKey {
    let hk =
        hkdf::Hkdf::<sha2::Sha256>::new(Some(b"fulfill/pii-sealer/v2"), secrets.expose_secret());
    let mut out = Zeroizing::new([0u8; 32]);
    hk.expand(b"x25519 private key", &mut out[..])
        .expect("32 bytes is a valid HKDF-SHA256 length");
    SecretKey(out)
}

impl KeySet {
    fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(256));
        match &self.facts {
            Some(f) => {
                out.push(if f.seals_v2() { KEYSET_V4 } else { KEYSET_V3 });
                f.encode_into(&mut out);
                out.extend_from_slice(&self.epoch.to_be_bytes());
            }
            None => out.push(KEYSET_V1),
        }
        for (tag, k) in [
            (1u8, &self.pii_private),
            (2u8, &self.secrets),
            (3u8, &self.log_key),
            (4u8, &self.totp),
            (5u8, &self.authority),
            (6u8, &self.box_key),
            (7u8, &self.cred_sealer),
        ] {
            if let Some(k) = k {
                out.push(tag);
                out.extend_from_slice(k.expose_secret());
            }
        }
        out
    }

    fn decode(b: &[u8]) -> Option<KeySet> {
        let (&v, rest) = b.split_first()?;
        let mut ks = KeySet::default();
        let mut rest = match v {
            KEYSET_V1 => rest,
            KEYSET_V2 => {
                let (facts, r) = VaultFacts::decode_from(rest, false, false)?;
                ks.facts = Some(facts);
                r
            }
            KEYSET_V3 | KEYSET_V4 => {
                let (facts, r) = VaultFacts::decode_from(rest, true, v == KEYSET_V4)?;
                ks.facts = Some(facts);
                ks.epoch = u64::from_be_bytes(r.get(..8)?.try_into().ok()?);
                &r[8..]
            }
            _ => return None,
        };
        while let Some((&tag, r)) = rest.split_first() {
            let mut key: [u8; 32] = r.get(..32)?.try_into().ok()?;
            let k = Some(SecretKey::from_bytes(key));
            key.zeroize();
            match tag {
                1 => ks.pii_private = k,
                2 => ks.secrets = k,
                3 if v >= KEYSET_V2 => ks.log_key = k,
                4 if v >= KEYSET_V2 => ks.totp = k,
                5 if v >= KEYSET_V3 => ks.authority = k,
                6 if v >= KEYSET_V3 => ks.box_key = k,
                7 if v == KEYSET_V4 => ks.cred_sealer = k,
                _ => return None,
            }
            rest = &r[32..];
        }
        Some(ks)
    }

    /// The plaintext of a key delivery (a version 3 set: facts, epoch, the role's keys).
    pub fn encode_delivery(&self) -> Zeroizing<Vec<u8>> {
        self.encode()
    }

    /// Reads a key delivery's plaintext; `None` unless it is a version 3 or 4 set with facts.
    pub fn decode_delivery(b: &[u8]) -> Option<KeySet> {
        matches!(b.first(), Some(&KEYSET_V3 | &KEYSET_V4))
            .then(|| KeySet::decode(b))
            .flatten()
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

    /// A copy of one key, for handing on.
    pub fn copy_key(k: &Option<SecretKey>) -> Option<SecretKey> {
        k.as_ref()
            .map(|k| SecretKey::from_bytes(*k.expose_secret()))
    }

    /// A full copy of the set (to change one key and wrap it again).
    pub fn duplicate(&self) -> KeySet {
        KeySet {
            pii_private: Self::copy_key(&self.pii_private),
            secrets: Self::copy_key(&self.secrets),
            log_key: Self::copy_key(&self.log_key),
            totp: Self::copy_key(&self.totp),
            facts: self.facts.clone(),
            epoch: self.epoch,
            authority: Self::copy_key(&self.authority),
            box_key: Self::copy_key(&self.box_key),
            cred_sealer: Self::copy_key(&self.cred_sealer),
        }
    }

    /// The PII sealer's private half, where this set may seal PII (it holds the secrets key
    /// of a vault that seals in version 2).
    pub fn pii_sealer(&self) -> Option<SecretKey> {
        match (&self.facts, &self.secrets) {
            (Some(f), Some(s)) if f.seals_v2() => Some(sealer_of(s)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyset_wraps_and_refuses_wrong_kek_or_aad() {
        let kek = SecretKey::generate();
        let ks = KeySet {
            secrets: Some(SecretKey::generate()),
            ..KeySet::default()
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
    fn a_v2_keyset_carries_its_facts_and_refuses_trailing_garbage() {
        let kek = SecretKey::generate();
        let facts = VaultFacts {
            vault_id: "ab".repeat(16),
            profile: "dpp-2025".into(),
            sandbox: true,
            pii_public: [7; 32],
            secrets_public: [9; 32],
            authority_public: [3; 32],
            sealer_public: [0; 32],
            cred_sealer_public: [0; 32],
        };
        let ks = KeySet {
            pii_private: Some(SecretKey::generate()),
            log_key: Some(SecretKey::generate()),
            facts: Some(facts.clone()),
            epoch: 7,
            box_key: Some(SecretKey::generate()),
            ..KeySet::default()
        };
        let w = ks.wrap(&kek, b"aad");
        let back = KeySet::unwrap(&kek, b"aad", &w).unwrap();
        assert_eq!(back.facts.as_ref(), Some(&facts));
        assert_eq!(back.epoch, 7);
        assert!(back.secrets.is_none() && back.log_key.is_some() && back.pii_private.is_some());
        assert!(back.box_key.is_some() && back.authority.is_none());
        let mut other = facts.clone();
        other.pii_public = [8; 32];
        other.sandbox = false;
        assert_eq!(facts.differences(&other), vec!["sandbox", "pii_public_key"]);
        let mut enc = ks.encode().to_vec();
        enc.push(1);
        assert!(
            KeySet::decode(&enc).is_none(),
            "a truncated key after the facts"
        );
        // A version 1 set cannot carry a log key (tag 3 did not exist).
        let mut v1 = vec![KEYSET_V1, 3];
        v1.extend_from_slice(&[0; 32]);
        assert!(KeySet::decode(&v1).is_none());
        // Nor a version 2 set a delivery key (tag 6 came with version 3).
        let mut v2 = vec![KEYSET_V2];
        VaultFacts {
            authority_public: [0; 32],
            ..facts
        }
        .encode_into(&mut v2);
        v2.truncate(v2.len() - 32);
        assert!(KeySet::decode(&v2).is_some(), "a bare version 2 set reads");
        v2.push(6);
        v2.extend_from_slice(&[0; 32]);
        assert!(KeySet::decode(&v2).is_none());
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
    fn long_but_guessable_passphrases_are_refused_by_the_estimator() {
        let lax = crate::config::Profile::Mws2020.passphrase_policy();
        for weak in [
            "aaaaaaaaaaaaaaaa",
            "qwertyuiopasdfgh",
            "passwordpassword",
            "1234567890123",
        ] {
            let e = Passphrase::new(weak.into()).check_policy(&lax, "olga");
            assert!(e.is_err(), "{weak}");
        }
        Passphrase::new("owner passphrase, long enough".into())
            .check_policy(&lax, "olga")
            .unwrap();
    }

    #[test]
    fn a_recovery_key_reads_back_as_shown() {
        let k = SecretKey::generate();
        let shown = format_recovery_key(&k);
        assert_eq!(shown.len(), 71);
        let back = parse_recovery_key(&format!("  {}\n", shown.to_uppercase())).unwrap();
        assert_eq!(back.expose_secret(), k.expose_secret());
        assert!(parse_recovery_key("abc").is_err());
        assert!(parse_recovery_key(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn debug_is_masked() {
        let k = SecretKey::from_bytes([0x41; 32]);
        let p = Passphrase::new("hunter2hunter2".into());
        assert!(!format!("{k:?}{p:?}").contains("hunter2") && !format!("{k:?}").contains("65"));
    }
}
