//! The keyring: the home's wrapped epoch data keys, kept apart from the rows they open.
//!
//! `vault.db` holds only records sealed under data keys ([`super::seal`]); the keys
//! themselves, wrapped in HPKE auth mode from the sealer to the PII public key, live here, in
//! `keyring` in the home. So a copy of `vault.db` (its WAL and free pages, a copy taken at any
//! time, a `fulfill backup`, a server's dead tuples) opens nothing by itself, and a key
//! destroyed here is gone from every copy of the rows at once.
//!
//! **Format.** A 16-byte header (`FKR2` and zeros), then fixed 128-byte slots: a live slot is
//! `0x01 || epoch (u32 BE) || key id (8) || wrapped length (u8) || wrapped key`, the rest
//! zeros; an empty slot is all zeros. A key dies by having its slot **overwritten in place**
//! with zeros and the file synced (as the log's key file is), never by a rewrite to a new
//! file that would leave the old blocks behind; a new key takes the first empty slot.
//!
//! **Trust.** Nothing here is trusted because it is here: an operator with a shell can read,
//! copy, remove or put back slots. A slot opens only if the sealer made it for that name
//! (checked by [`super::seal::unwrap_data_key`]); whether a key *should* still exist is
//! derived from time (an ended epoch is refused, [`super::seal::Epoch::ended_by`]), not read
//! from a file. What remains is written in docs/security.md: a copy of the whole home, taken
//! while an epoch was live, opens that epoch's records until the copy is destroyed.
//!
//! **Concurrency.** Writers take an exclusive lock on the file (`flock`), readers a shared
//! one; a slot is written with one positioned write and synced before the record it opens
//! is committed, so a crash leaves at worst a key no record uses (destroyed with its epoch).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::seal::{Epoch, KeyName};
use crate::error::{Error, Result};

const MAGIC: &[u8; 4] = b"FKR2";
const HEADER: usize = 16;
const SLOT: usize = 128;
const LIVE: u8 = 1;
/// The longest wrapped key a slot holds.
const MAX_WRAPPED: usize = SLOT - 14;
/// Refuse to read a keyring larger than this (a million slots): a planted huge file must not
/// exhaust memory.
const MAX_LEN: u64 = HEADER as u64 + 1_000_000 * SLOT as u64;

/// The name of the keyring file in the home.
pub const FILE: &str = "keyring";

/// One live key in the keyring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key's name.
    pub name: KeyName,
    /// The wrapped key (opens only as [`super::seal::unwrap_data_key`] says).
    pub wrapped: Vec<u8>,
}

/// The keyring file of a home.
#[derive(Debug, Clone)]
pub struct Keyring {
    path: PathBuf,
}

impl Keyring {
    /// The keyring of the home at `root` (the file need not exist yet).
    pub fn of_home(root: &Path) -> Keyring {
        Keyring {
            path: root.join(FILE),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn fail(&self, what: &str, e: impl std::fmt::Display) -> Error {
        Error::Failed(format!("cannot {what} {}: {e}", self.path.display()))
    }

    /// Opens the file for reading and writing, creating it (0600, exclusively, never through a
    /// link) when `create`; `None` when it does not exist and `create` is false.
    fn open(&self, create: bool) -> Result<Option<File>> {
        let nofollow = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
        if create {
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(nofollow)
                .open(&self.path)
            {
                Ok(f) => {
                    let mut h = [0u8; HEADER];
                    h[..4].copy_from_slice(MAGIC);
                    f.write_all_at(&h, 0)
                        .and_then(|()| f.sync_all())
                        .map_err(|e| self.fail("write", e))?;
                    return Ok(Some(f));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(self.fail("create", e)),
            }
        }
        match OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nofollow)
            .open(&self.path)
        {
            Ok(f) => {
                let md = f.metadata().map_err(|e| self.fail("read", e))?;
                if !md.is_file() {
                    return Err(Error::Unsafe(format!(
                        "{} is not a regular file",
                        self.path.display()
                    )));
                }
                {
                    use std::os::unix::fs::PermissionsExt;
                    if md.permissions().mode() & 0o077 != 0 {
                        return Err(Error::Unsafe(format!(
                            "{} is readable by others (mode {:o}); run chmod 600 on it",
                            self.path.display(),
                            md.permissions().mode() & 0o777
                        )));
                    }
                }
                Ok(Some(f))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => Err(
                Error::Unsafe(format!("{} is a symbolic link", self.path.display())),
            ),
            Err(e) => Err(self.fail("open", e)),
        }
    }

    /// Reads every slot of the file as it is, in file order (a slot's index is its position).
    fn slots(&self, f: &File) -> Result<Vec<[u8; SLOT]>> {
        let len = f.metadata().map_err(|e| self.fail("read", e))?.len();
        if len > MAX_LEN {
            return Err(Error::Integrity(format!(
                "{} is {len} bytes, larger than any keyring fulfill writes",
                self.path.display()
            )));
        }
        let mut buf = vec![0u8; len as usize];
        f.read_exact_at(&mut buf, 0)
            .map_err(|e| self.fail("read", e))?;
        if buf.len() < HEADER || &buf[..4] != MAGIC {
            return Err(Error::Integrity(format!(
                "{} is not a fulfill keyring",
                self.path.display()
            )));
        }
        Ok(buf[HEADER..]
            .chunks(SLOT)
            .map(|c| {
                let mut s = [0u8; SLOT];
                s[..c.len()].copy_from_slice(c);
                s
            })
            .collect())
    }

    fn parse(slot: &[u8; SLOT]) -> Option<Entry> {
        if slot[0] != LIVE {
            return None;
        }
        let n = slot[13] as usize;
        if n == 0 || n > MAX_WRAPPED {
            return None;
        }
        Some(Entry {
            name: KeyName {
                epoch: Epoch(u32::from_be_bytes(slot[1..5].try_into().ok()?)),
                id: slot[5..13].try_into().ok()?,
            },
            wrapped: slot[14..14 + n].to_vec(),
        })
    }

    /// Every live key (none when the file does not exist).
    pub fn entries(&self) -> Result<Vec<Entry>> {
        let Some(f) = self.open(false)? else {
            return Ok(Vec::new());
        };
        f.lock_shared().map_err(|e| self.fail("lock", e))?;
        Ok(self.slots(&f)?.iter().filter_map(Self::parse).collect())
    }

    /// The wrapped key named `name`, if the keyring holds it.
    pub fn get(&self, name: KeyName) -> Result<Option<Vec<u8>>> {
        Ok(self
            .entries()?
            .into_iter()
            .find(|e| e.name == name)
            .map(|e| e.wrapped))
    }

    /// Adds keys (each in the first empty slot) and syncs the file before returning.
    pub fn add(&self, entries: &[Entry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let f = self.open(true)?.expect("created");
        f.lock().map_err(|e| self.fail("lock", e))?;
        let slots = self.slots(&f)?;
        let mut free = slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s[0] != LIVE)
            .map(|(i, _)| i)
            .chain(slots.len()..);
        for e in entries {
            if e.wrapped.is_empty() || e.wrapped.len() > MAX_WRAPPED {
                return Err(Error::Failed(
                    "a wrapped data key has an unexpected size".into(),
                ));
            }
            let mut s = [0u8; SLOT];
            s[0] = LIVE;
            s[1..5].copy_from_slice(&e.name.epoch.0.to_be_bytes());
            s[5..13].copy_from_slice(&e.name.id);
            s[13] = e.wrapped.len() as u8;
            s[14..14 + e.wrapped.len()].copy_from_slice(&e.wrapped);
            let i = free.next().expect("an endless iterator");
            f.write_all_at(&s, (HEADER + i * SLOT) as u64)
                .map_err(|e| self.fail("write", e))?;
        }
        f.sync_data().map_err(|e| self.fail("sync", e))
    }

    /// Destroys every key `doomed` picks: its slot is overwritten with zeros in place and the
    /// file synced. Returns the names destroyed.
    pub fn destroy(&self, doomed: impl Fn(KeyName) -> bool) -> Result<Vec<KeyName>> {
        let Some(f) = self.open(false)? else {
            return Ok(Vec::new());
        };
        f.lock().map_err(|e| self.fail("lock", e))?;
        let mut gone = Vec::new();
        for (i, s) in self.slots(&f)?.iter().enumerate() {
            // A slot that does not parse is not a key anyone can use; zero it as well.
            let kill = match Self::parse(s) {
                Some(e) => doomed(e.name).then_some(Some(e.name)),
                None => (s.iter().any(|b| *b != 0)).then_some(None),
            };
            if let Some(name) = kill {
                f.write_all_at(&[0u8; SLOT], (HEADER + i * SLOT) as u64)
                    .map_err(|e| self.fail("write", e))?;
                gone.extend(name);
            }
        }
        f.sync_data().map_err(|e| self.fail("sync", e))?;
        gone.sort();
        Ok(gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(epoch: u32, b: u8) -> Entry {
        Entry {
            name: KeyName {
                epoch: Epoch(epoch),
                id: [b; 8],
            },
            wrapped: vec![b; 81],
        }
    }

    #[test]
    fn keys_are_added_found_and_destroyed_in_place() {
        let d = tempfile::tempdir().unwrap();
        let k = Keyring::of_home(d.path());
        assert!(k.entries().unwrap().is_empty());
        k.add(&[entry(1, 1), entry(2, 2), entry(2, 3)]).unwrap();
        assert_eq!(k.entries().unwrap().len(), 3);
        assert_eq!(k.get(entry(2, 3).name).unwrap(), Some(vec![3; 81]));
        let len = std::fs::metadata(k.path()).unwrap().len();
        let gone = k.destroy(|n| n.epoch == Epoch(2)).unwrap();
        assert_eq!(gone.len(), 2);
        // Overwritten in place: same size, and no byte of a destroyed key is left.
        let bytes = std::fs::read(k.path()).unwrap();
        assert_eq!(bytes.len() as u64, len);
        assert!(!bytes.windows(8).any(|w| w == [2; 8] || w == [3; 8]));
        assert_eq!(k.entries().unwrap(), vec![entry(1, 1)]);
        // A new key takes a freed slot.
        k.add(&[entry(5, 5)]).unwrap();
        assert_eq!(std::fs::metadata(k.path()).unwrap().len(), len);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(k.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_link_or_a_foreign_file_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let k = Keyring::of_home(d.path());
        std::os::unix::fs::symlink(d.path().join("elsewhere"), k.path()).unwrap();
        assert!(k.add(&[entry(1, 1)]).is_err());
        assert!(!d.path().join("elsewhere").exists());
        std::fs::remove_file(k.path()).unwrap();
        crate::home::write_private(k.path(), b"not a keyring at all").unwrap();
        assert!(k.entries().is_err());
    }
}
