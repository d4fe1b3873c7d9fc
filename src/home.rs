//! The home folder: one private folder holding everything the tool keeps.
//!
//! Layout: `vault.db` (+ `-wal`, `-shm`), `config.toml`, `logs/` (audit and diagnostic logs),
//! `spool/` (label files the tool had to write). Folders are 0700, files 0600; [`Home::open`]
//! refuses a home that is not, or that lies on removable media or in a cloud-sync folder.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::safety::{Environment, check_not_link, check_private};

/// A home folder that passed the safety checks.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// Where the home is: `--home`/`FULFILL_HOME`, else `$XDG_DATA_HOME/fulfill`, else
    /// `~/.local/share/fulfill`.
    pub fn locate(flag: Option<PathBuf>) -> Result<PathBuf> {
        if let Some(p) = flag {
            return Ok(p);
        }
        if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
            return Ok(PathBuf::from(x).join("fulfill"));
        }
        match std::env::var_os("HOME") {
            Some(h) => Ok(PathBuf::from(h).join(".local/share/fulfill")),
            None => Err(Error::usage(
                "no home folder: pass --home DIR or set FULFILL_HOME",
            )),
        }
    }

    /// Creates a new home (mode 0700, with `logs/` and `spool/`); refuses an existing one.
    pub fn create(root: &Path, env: &Environment) -> Result<Home> {
        // Check the location before anything is made there.
        env.check_location(&std::path::absolute(root)?)?;
        if present(root) {
            check_not_link(root)?;
        }
        if root.exists() {
            let empty_dir = root.is_dir() && fs::read_dir(root)?.next().is_none();
            if !empty_dir {
                return Err(Error::usage(format!(
                    "{} already exists; a home is created only once (choose another --home)",
                    root.display()
                )));
            }
            fs::set_permissions(root, fs::Permissions::from_mode(0o700))?;
        } else {
            if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)?;
            }
            fs::DirBuilder::new().mode(0o700).create(root)?;
        }
        env.check_location(root)?;
        let home = Home {
            root: root.to_path_buf(),
        };
        for d in [home.logs_dir(), home.spool_dir()] {
            fs::DirBuilder::new().mode(0o700).create(&d)?;
        }
        Ok(home)
    }

    /// A handle without checks: only for recording that the checks refused this home.
    pub fn unchecked(root: &Path) -> Home {
        Home {
            root: root.to_path_buf(),
        }
    }

    /// Opens an existing home after the safety checks (permissions, location).
    pub fn open(root: &Path, env: &Environment) -> Result<Home> {
        let home = Home {
            root: root.to_path_buf(),
        };
        if !present(&home.vault_path()) && !present(&home.store_path()) {
            return Err(Error::usage(format!(
                "no vault in {}: run `fulfill init --owner NAME` first (or pass --home)",
                root.display()
            )));
        }
        env.check_location(root)?;
        home.check_permissions()?;
        Ok(home)
    }

    /// Refuses symbolic links (the home itself, the vault and its WAL and shared-memory
    /// files, `config.toml`, `logs/`, `spool/` and the files in them) and group- or
    /// world-accessible folders and files in the home.
    pub fn check_permissions(&self) -> Result<()> {
        check_not_link(&self.root)?;
        check_private(&self.root)?;
        for d in [self.logs_dir(), self.spool_dir()] {
            if present(&d) {
                check_not_link(&d)?;
                check_private(&d)?;
                for e in fs::read_dir(&d)
                    .map_err(|e| Error::Failed(format!("cannot read {}: {e}", d.display())))?
                {
                    check_not_link(&e?.path())?;
                }
            }
        }
        for f in [
            self.vault_path(),
            self.root.join("vault.db-wal"),
            self.root.join("vault.db-shm"),
            self.root.join(crate::vault::keyring::FILE),
            self.config_path(),
            self.store_path(),
        ] {
            if present(&f) {
                check_not_link(&f)?;
                check_private(&f)?;
            }
        }
        Ok(())
    }

    /// The home folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `vault.db`.
    pub fn vault_path(&self) -> PathBuf {
        self.root.join("vault.db")
    }

    /// `config.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    /// `store.toml`: where a station's rows are when they are not in `vault.db`
    /// ([`crate::store::location`]).
    pub fn store_path(&self) -> PathBuf {
        self.root.join("store.toml")
    }

    /// `logs/`.
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// `spool/`.
    pub fn spool_dir(&self) -> PathBuf {
        self.root.join("spool")
    }

    /// Takes the home's `NAME.lock` without waiting, for a job that must not run twice at once
    /// (two overlapping cron runs). `None`: another process holds it. Released on drop.
    pub fn try_run_lock(&self, name: &str) -> Result<Option<RunLock>> {
        let path = self.root.join(format!("{name}.lock"));
        let f = open_lock_file(&path)
            .map_err(|e| Error::Failed(format!("cannot open {}: {e}", path.display())))?;
        match f.try_lock() {
            Ok(()) => Ok(Some(RunLock { _file: f })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(Error::Failed(format!(
                "cannot lock {}: {e}",
                path.display()
            ))),
        }
    }

    /// Writes a file in the home atomically (see [`write_private`]), mode 0600.
    pub fn write_private(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        write_private(path, bytes)
    }
}

/// Whether something (a file, a folder, a link, even a dangling one) is at `p`.
fn present(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok()
}

/// Opens (creating, 0600) a file used only for its lock; never through a link.
pub(crate) fn open_lock_file(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .mode(0o600)
        .open(path)
}

/// A held [`Home::try_run_lock`].
#[derive(Debug)]
pub struct RunLock {
    _file: fs::File,
}

/// Writes `bytes` to `path` atomically with mode 0600: the one temp-file-and-rename of the
/// crate. The temp file (`.NAME.RANDOM.tmp~` beside `path`) is created exclusively
/// (`O_EXCL`, `O_NOFOLLOW`: never through a link an attacker planted, never an existing
/// file), synced, then renamed over `path`; when a write, the sync or the rename fails it is
/// removed again, so no copy of what it held is left behind. The rename replaces a link at
/// `path` itself, never what the link points to.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    write_identified(path, bytes).map(|_| ())
}

/// [`write_private`], returning the written file's identity (label files, which `purge`
/// destroys only when the file at the path is still this one).
pub fn write_identified(path: &Path, bytes: &[u8]) -> Result<FileIdentity> {
    use std::io::Write;
    let name = path
        .file_name()
        .ok_or_else(|| Error::usage(format!("{}: not a file name", path.display())))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tag: u64 = rand::random();
    let tmp = dir.join(format!(".{}.{tag:016x}.tmp~", name.to_string_lossy()));
    let fail = |e: std::io::Error| Error::Failed(format!("cannot write {}: {e}", path.display()));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .mode(0o600)
        .open(&tmp)
        .map_err(fail)?;
    // From here on the temp file exists: every failure removes it.
    let guard = RemoveOnDrop(Some(tmp.clone()));
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(fail)?;
    let id = FileIdentity::of(&f.metadata().map_err(fail)?);
    drop(f);
    fs::rename(&tmp, path).map_err(fail)?;
    guard.disarm();
    // Make the rename durable (best effort: some file systems refuse to sync a folder).
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(id)
}

/// Removes a path when dropped, unless disarmed.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

/// Which file a path named when the tool wrote it: device, inode and size. A file put in its
/// place later (another file moved there, a link) has another identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileIdentity {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
}

impl FileIdentity {
    /// The identity of the file `md` describes.
    pub fn of(md: &fs::Metadata) -> FileIdentity {
        use std::os::unix::fs::MetadataExt;
        FileIdentity {
            dev: md.dev(),
            ino: md.ino(),
            size: md.size(),
        }
    }
}

/// Creates a new file that must not exist yet, mode 0600, and writes `bytes` (key files).
pub fn create_new_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::usage(format!("cannot create {}: {e}", path.display())))?;
    let written = f.write_all(bytes).and_then(|()| f.sync_all());
    if let Err(e) = written {
        // Half a key file is no key file: remove it.
        drop(f);
        let _ = fs::remove_file(path);
        return Err(e.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything in `dir`, by name.
    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    }

    #[test]
    fn a_failed_rename_leaves_no_temp_file() {
        let d = tempfile::tempdir().unwrap();
        let taken = d.path().join("taken");
        fs::create_dir(&taken).unwrap();
        assert!(write_private(&taken, b"secret address").is_err());
        assert_eq!(names(d.path()), vec!["taken".to_string()]);
        // The control: a free name is written, 0600, and nothing else is left.
        let ok = d.path().join("ok");
        let id = write_identified(&ok, b"secret address").unwrap();
        assert_eq!(fs::read(&ok).unwrap(), b"secret address");
        assert_eq!(
            fs::metadata(&ok).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(id, FileIdentity::of(&fs::metadata(&ok).unwrap()));
        assert_eq!(names(d.path()), vec!["ok".to_string(), "taken".to_string()]);
    }

    #[test]
    fn links_are_never_written_through() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        fs::write(&victim, "keep").unwrap();
        // A link at the target is replaced, not followed.
        let target = d.path().join("label");
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        write_private(&target, b"new").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
        assert!(
            !fs::symlink_metadata(&target)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        // A key file is created only where nothing is, a link included.
        let key = d.path().join("key");
        std::os::unix::fs::symlink(&victim, &key).unwrap();
        assert!(create_new_private(&key, b"k").is_err());
        assert!(open_lock_file(&key).is_err());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
    }
}
