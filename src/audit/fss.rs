//! Forward-secure sealing of audit records (after Schneier and Kelsey, and journald's FSS).
//!
//! Record `n` carries `mac = HMAC-SHA256(k_n, "fulfill/audit/mac\0" || hash_n)`, and the key
//! evolves one way after every record: `k_{n+1} = HMAC-SHA256(k_n, "fulfill/audit/evolve")`.
//! Since `hash_n` covers record `n` and, through `prev`, every record before it, one valid MAC
//! authenticates the whole chain up to it.
//!
//! - **Writers** (every command, cron's key-less `purge` too) hold only the current key, in
//!   `logs/audit.key` (`FSK1 || next_seq (u64 BE) || k_next_seq`), overwritten in place and
//!   fsynced after each record. Whoever reads that file later (an insider with a shell) gets
//!   the key for the *next* record, from which no earlier key can be computed: records written
//!   before they got access cannot be edited, removed, re-ordered or re-chained with valid MACs.
//! - **Verifiers** (owner and auditor) hold `k_1` in their wrapped key sets and recompute every
//!   key forward ([`Verifier`]); they also check the writer's key file against the chain, so a
//!   log cut at its end (the key has moved on past the last record) is found.
//! - What is out of reach: an insider who kept a *copy* of an earlier key file can rewrite what
//!   came after that copy; the chain head also goes to the system log
//!   ([`super::anchor`]) for that case. The in-place overwrite relies on the file system not
//!   keeping old blocks (no snapshots of the home, no copy-on-write file system).

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use hmac::{KeyInit, Mac};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::vault::key::SecretKey;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

const MAGIC: &[u8; 4] = b"FSK1";
const LEN: usize = 4 + 8 + 32;

/// The name of the writer's key file in the log folder.
pub const KEY_FILE: &str = "audit.key";

fn prf(key: &[u8; 32], parts: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).expect("any key length");
    for p in parts {
        m.update(p);
    }
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&m.finalize().into_bytes());
    out
}

/// The key after `k` (one step; the old key should then be forgotten).
pub fn evolve(k: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    prf(k, &[b"fulfill/audit/evolve"])
}

/// The MAC of a record whose hash (hex) is `hash`, under its sequence number's key.
pub fn mac(k: &[u8; 32], hash: &str) -> String {
    hex::encode(*prf(k, &[b"fulfill/audit/mac\0", hash.as_bytes()]))
}

/// Whether `claimed` (hex) is the MAC of `hash` under `k` (compared in constant time).
fn mac_ok(k: &[u8; 32], hash: &str, claimed: &str) -> bool {
    let Ok(claimed) = hex::decode(claimed) else {
        return false;
    };
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(k).expect("any key length");
    m.update(b"fulfill/audit/mac\0");
    m.update(hash.as_bytes());
    m.verify_slice(&claimed).is_ok()
}

/// The writer's state: the key for record `next_seq`.
pub struct KeyState {
    path: PathBuf,
    /// The sequence number the key is for.
    pub next_seq: u64,
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for KeyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyState")
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

fn key_err(what: &str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::AuditLog(format!("cannot {what} {}: {e}", path.display()))
}

impl KeyState {
    /// Creates the key file for a new log: the key for record 1. Refuses an existing file.
    pub fn create(dir: &Path, first: &SecretKey) -> Result<()> {
        let path = dir.join(KEY_FILE);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .mode(0o600)
            .open(&path)
            .map_err(|e| key_err("create", &path, e))?;
        f.write_all(&encode(1, first.expose_secret()))
            .and_then(|()| f.sync_all())
            .map_err(|e| key_err("write", &path, e))
    }

    /// Creates the key file of a restored log: the key for record `next_seq`, computed from
    /// the first key (only a verifier holds it). Refuses an existing file.
    pub fn create_at(dir: &Path, first: &SecretKey, next_seq: u64) -> Result<()> {
        Self::create(dir, first)?;
        let mut st = Self::load(dir)?.ok_or_else(|| {
            Error::AuditLog(format!("the key file in {} vanished", dir.display()))
        })?;
        if next_seq > 1 {
            st.advance_past(next_seq - 1)?;
        }
        Ok(())
    }

    /// Reads the key file; `None` when there is none (a log made before sealing existed).
    pub fn load(dir: &Path) -> Result<Option<KeyState>> {
        let path = dir.join(KEY_FILE);
        let mut f = match OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(key_err("open", &path, e)),
        };
        let mut buf = Zeroizing::new(Vec::with_capacity(LEN));
        (&mut f)
            .take(LEN as u64 + 1)
            .read_to_end(&mut buf)
            .map_err(|e| key_err("read", &path, e))?;
        if buf.len() != LEN || &buf[..4] != MAGIC {
            return Err(Error::Integrity(format!(
                "the audit log's key file {} is damaged; run `fulfill audit`",
                path.display()
            )));
        }
        let next_seq = u64::from_be_bytes(buf[4..12].try_into().expect("8 bytes"));
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&buf[12..]);
        Ok(Some(KeyState {
            path,
            next_seq,
            key,
        }))
    }

    /// The MAC for record `seq` with hash `hash`, evolving the key forward to `seq` first
    /// (after a crash the key file may be behind the records). `None` when the key has already
    /// moved past `seq`: that key is gone.
    pub fn seal(&mut self, seq: u64, hash: &str) -> Option<String> {
        if seq < self.next_seq {
            return None;
        }
        while self.next_seq < seq {
            self.key = evolve(&self.key);
            self.next_seq += 1;
        }
        Some(mac(&self.key, hash))
    }

    /// Moves past record `seq` (sealed with [`KeyState::seal`]) and overwrites the file in
    /// place, so the key that sealed it is gone from disk.
    pub fn advance_past(&mut self, seq: u64) -> Result<()> {
        while self.next_seq <= seq {
            self.key = evolve(&self.key);
            self.next_seq += 1;
        }
        let f = OpenOptions::new()
            .write(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&self.path)
            .map_err(|e| key_err("open", &self.path, e))?;
        // Fsynced, so the key on disk is never behind the record after the vault's head (a
        // crash between the records' fsync and this one, before the head moved): writers and
        // verifiers can then tell an older copy of this file put back by hand from a crash.
        f.write_all_at(&encode(self.next_seq, &self.key), 0)
            .and_then(|()| f.sync_data())
            .map_err(|e| key_err("write", &self.path, e))
    }
}

fn encode(seq: u64, key: &[u8; 32]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(LEN));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(key);
    out
}

/// Recomputes every record's key from `k_1` (the verifier's side). Keys are computed in order,
/// so a walk over the log costs one HMAC per record.
pub struct Verifier {
    seq: u64,
    key: Zeroizing<[u8; 32]>,
}

impl Verifier {
    /// A verifier starting at record 1.
    pub fn new(first: &SecretKey) -> Self {
        Verifier {
            seq: 1,
            key: Zeroizing::new(*first.expose_secret()),
        }
    }

    /// The key of record `seq` (which must not be before the last one asked for).
    fn key_at(&mut self, seq: u64) -> Option<&[u8; 32]> {
        if seq < self.seq {
            return None;
        }
        while self.seq < seq {
            self.key = evolve(&self.key);
            self.seq += 1;
        }
        Some(&self.key)
    }

    /// Whether `claimed` is record `seq`'s MAC over `hash`. Sequence numbers must come in
    /// ascending order; a repeated or earlier one is checked with a fresh walk.
    pub fn check(&mut self, first: &SecretKey, seq: u64, hash: &str, claimed: &str) -> bool {
        if seq < self.seq {
            *self = Verifier::new(first);
        }
        self.key_at(seq).is_some_and(|k| mac_ok(k, hash, claimed))
    }

    /// Whether the writer's key file holds the right key for its `next_seq`.
    pub fn check_state(first: &SecretKey, state: &KeyState) -> bool {
        let mut v = Verifier::new(first);
        state.next_seq >= 1 && v.key_at(state.next_seq).is_some_and(|k| *k == *state.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writer_cannot_go_back_and_a_verifier_recomputes_every_key() {
        let dir = tempfile::tempdir().unwrap();
        let k1 = SecretKey::from_bytes([3; 32]);
        KeyState::create(dir.path(), &k1).unwrap();
        let mut w = KeyState::load(dir.path()).unwrap().unwrap();
        let m1 = w.seal(1, "aa").unwrap();
        w.advance_past(1).unwrap();
        let m3 = w.seal(3, "cc").unwrap(); // a crash skipped advancing past 2
        w.advance_past(3).unwrap();
        let back = KeyState::load(dir.path()).unwrap().unwrap();
        assert_eq!(back.next_seq, 4);
        let mut w = back;
        assert!(
            w.seal(2, "bb").is_none(),
            "the key of an earlier record is gone"
        );
        let mut v = Verifier::new(&k1);
        assert!(v.check(&k1, 1, "aa", &m1));
        assert!(!v.check(&k1, 2, "aa", &m1));
        assert!(v.check(&k1, 3, "cc", &m3));
        assert!(!v.check(&k1, 3, "cd", &m3));
        assert!(
            v.check(&k1, 1, "aa", &m1),
            "an earlier seq restarts the walk"
        );
        assert!(Verifier::check_state(&k1, &w));
        assert!(!Verifier::check_state(&SecretKey::from_bytes([4; 32]), &w));
        // The file holds the next key only.
        let raw = std::fs::read(dir.path().join(KEY_FILE)).unwrap();
        assert!(!raw.windows(32).any(|x| x == [3; 32]));
    }
}
