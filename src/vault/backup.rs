//! `fulfill backup` and `fulfill restore`: a snapshot that holds no key to any buyer's
//! details, so it may be kept and moved where PII may not go (an external drive, an off-site
//! store), and a new home made from it.
//!
//! **What a backup holds.** One SQLite file: a consistent online copy of `vault.db` (SQLite's
//! backup API, taken under the audit log's append lock so the log and the rows agree) with
//! every sealed PII record and gift message removed (`secure_delete`, then `VACUUM`, so no
//! freed page keeps one), plus the audit log's day files in a `backup_files` table. Operators
//! and their wrapped key sets, orders and items, shipments, confirmations, label tracking, the
//! log and its chain head are all there. Not there: the keyring (the epoch data keys: nothing
//! sealed is left to open anyway), the log writer's key file (a copy of it could forge later
//! records), `config.toml` and `spool/`.
//!
//! **Restore** makes a new home from a backup with the owner's passphrase: the rows, the day
//! files, and a fresh log writer's key for the record after the head, computed from the log's
//! first key in the owner's key set (only a verifier can do that). The restore is recorded
//! (`vault.restored`); the fetch watermark is cleared, so the next `fetch` lists the last 30
//! days again and brings back the PII of the orders still open at Amazon; until then `audit`
//! lists the orders waiting for it.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use super::store::Tx;
use super::{Session, Vault, keyset_aad, store};
use crate::audit::Event;
use crate::error::{Error, Result};
use crate::home::Home;
use crate::role::Role;
use crate::vault::key::{Credential, KeySet, SecretKey, derive_kek};

/// The table a backup keeps the log's day files in.
const FILES_TABLE: &str = "backup_files";
/// The name `config.toml` has among a backup's files.
const CONFIG_NAME: &str = "config.toml";
/// The most a backup's day files may hold in all (a hostile file must not fill the disk).
const MAX_LOG_BYTES: i64 = 4 << 30;

/// What a backup or a restore did (`--json`).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct BackupReport {
    /// Orders in the snapshot.
    pub orders: u64,
    /// Sealed PII records and gift messages left out.
    pub sealed_records_left_out: u64,
    /// Audit day files in the snapshot.
    pub log_files: u64,
    /// The snapshot's size in bytes.
    pub bytes: u64,
}

/// Creates `path` exclusively, 0600, never through a link.
fn create_exclusive(path: &Path) -> Result<()> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map(drop)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Error::usage(format!(
                "{} already exists; a backup is written only to a new file",
                path.display()
            )),
            _ => Error::Failed(format!("cannot create {}: {e}", path.display())),
        })
}

fn copy_db(src: &Connection, dst: &mut Connection) -> Result<()> {
    let b = rusqlite::backup::Backup::new(src, dst)?;
    b.run_to_completion(4096, std::time::Duration::ZERO, None)?;
    Ok(())
}

impl Session<'_> {
    /// Writes a backup to `out` (owner): see the module documentation. Recorded as
    /// `backup.created` once the file is complete.
    pub fn backup(&self, out: &Path, now: DateTime<Utc>) -> Result<BackupReport> {
        if self.role != Role::Owner {
            return Err(self.deny(
                "backup",
                format!("only the owner makes backups (role {})", self.role),
                now,
            ));
        }
        create_exclusive(out)?;
        let made = self.write_backup(out);
        let report = match made {
            Ok(r) => r,
            Err(e) => {
                let _ = std::fs::remove_file(out);
                return Err(e);
            }
        };
        self.vault.record(
            &[Event::new("backup.created")
                .operator(&self.name)
                .field("orders", report.orders)
                .field("sealed_records_left_out", report.sealed_records_left_out)
                .field("log_files", report.log_files)
                .field("bytes", report.bytes)],
            now,
        )?;
        Ok(report)
    }

    fn write_backup(&self, out: &Path) -> Result<BackupReport> {
        let v = self.vault;
        let mut report = BackupReport::default();
        let dst;
        {
            // Under the append lock: no record lands between the rows and the day files.
            let _lock = v.audit.lock()?;
            v.store.copy_to_file(out)?;
            dst = Connection::open(out)?;
            // One file: no WAL beside it (the copy took the source's journal mode).
            dst.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
            dst.execute_batch(&format!(
                "CREATE TABLE {FILES_TABLE} (name TEXT PRIMARY KEY, bytes BLOB NOT NULL)"
            ))?;
            for (_, path) in v.audit.day_files()? {
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .ok_or_else(|| Error::Failed("a day file has no name".into()))?
                    .to_string();
                let bytes = std::fs::read(&path)
                    .map_err(|e| Error::Failed(format!("cannot read {}: {e}", path.display())))?;
                dst.execute(
                    &format!("INSERT INTO {FILES_TABLE} (name, bytes) VALUES (?1, ?2)"),
                    rusqlite::params![name, bytes],
                )?;
                report.log_files += 1;
            }
            // The retention numbers and the ship-from address (the seller's, no PII).
            if let Ok(bytes) = std::fs::read(v.home.config_path()) {
                dst.execute(
                    &format!("INSERT INTO {FILES_TABLE} (name, bytes) VALUES (?1, ?2)"),
                    rusqlite::params![CONFIG_NAME, bytes],
                )?;
            }
        }
        let (orders, sealed) = store::backup_scrub(&Tx::over(&dst))?;
        report.orders = orders;
        report.sealed_records_left_out = sealed;
        dst.execute_batch("VACUUM")?;
        drop(dst);
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(out)
            .map_err(|e| Error::Failed(format!("cannot open {}: {e}", out.display())))?;
        f.sync_all()
            .map_err(|e| Error::Failed(format!("cannot sync {}: {e}", out.display())))?;
        report.bytes = f.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(report)
    }
}

/// Whether a backup file is of a sandbox home (its `meta` row; it decides only whether the
/// restore honours `--now`, and the restored home's facts are checked at every unlock).
pub fn backup_is_sandbox(file: &Path) -> Result<bool> {
    let c = Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| Error::usage(format!("cannot open backup {}: {e}", file.display())))?;
    let v: String = c
        .query_row("SELECT value FROM meta WHERE key = 'sandbox'", [], |r| {
            r.get(0)
        })
        .map_err(|_| Error::usage(format!("{} is not a fulfill backup", file.display())))?;
    Ok(v == "true")
}

/// What `restore` did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RestoreReport {
    /// Orders restored.
    pub orders: u64,
    /// Orders that wait for their PII from the next `fetch` (still to ship).
    pub orders_waiting_for_pii: u64,
    /// Audit day files restored.
    pub log_files: u64,
}

/// Makes a new home at `home` (created here; must not exist or be empty) from the backup
/// `file`, as owner `owner` unlocking with `cred`. See the module documentation.
pub fn restore(
    home: &Home,
    file: &Path,
    owner: &str,
    cred: &Credential,
    code: &dyn Fn() -> Result<zeroize::Zeroizing<String>>,
    now: DateTime<Utc>,
) -> Result<RestoreReport> {
    let src = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| Error::usage(format!("cannot open backup {}: {e}", file.display())))?;
    let not_backup = || {
        Error::usage(format!(
            "{} is not a fulfill backup (no vault or no log in it)",
            file.display()
        ))
    };
    let has_files: bool = src
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('backup_files', 'meta', 'operators')",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(|_| not_backup())?
        == 3;
    if !has_files {
        return Err(not_backup());
    }
    let total: i64 = src.query_row(
        &format!("SELECT COALESCE(sum(length(bytes)), 0) FROM {FILES_TABLE}"),
        [],
        |r| r.get(0),
    )?;
    if total > MAX_LOG_BYTES {
        return Err(Error::usage(
            "the backup's log is larger than any fulfill writes",
        ));
    }
    let vault_path = home.vault_path();
    create_exclusive(&vault_path)?;
    let mut dst = Connection::open(&vault_path)?;
    copy_db(&src, &mut dst)?;
    let mut report = RestoreReport::default();
    {
        let mut st = src.prepare(&format!(
            "SELECT name, bytes FROM {FILES_TABLE} ORDER BY name"
        ))?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let name: String = r.get(0)?;
            let bytes: Vec<u8> = r.get(1)?;
            if name == CONFIG_NAME {
                let text = String::from_utf8(bytes)
                    .map_err(|_| Error::usage("the backup's config.toml is not text"))?;
                let profile: crate::config::Profile =
                    store::meta_required(&Tx::over(&dst), "profile")?.parse()?;
                // Checked like any config: never looser than the profile.
                let config: crate::config::Config = toml::from_str(&text)
                    .map_err(|e| Error::usage(format!("the backup's config.toml: {e}")))?;
                config.validate(profile)?;
                crate::home::create_new_private(&home.config_path(), text.as_bytes())?;
                continue;
            }
            // Only day-file names: never a path from the file.
            if crate::audit::parse_day_file_name(&name).is_none() {
                return Err(Error::usage(format!(
                    "the backup holds a log file named {name:?}, which fulfill never writes"
                )));
            }
            crate::home::create_new_private(&home.logs_dir().join(&name), &bytes)?;
            report.log_files += 1;
        }
    }
    drop(src);
    if !home.config_path().exists() {
        let profile: crate::config::Profile =
            store::meta_required(&Tx::over(&dst), "profile")?.parse()?;
        crate::home::create_new_private(
            &home.config_path(),
            crate::config::Config::for_profile(profile)
                .to_toml()
                .as_bytes(),
        )?;
    }
    dst.execute_batch(&format!("DROP TABLE {FILES_TABLE}; VACUUM"))?;
    // A vault runs in WAL mode, as `store::open` sets it.
    dst.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    let (orders, waiting) = store::restored_counts(&Tx::over(&dst))?;
    report.orders = orders;
    report.orders_waiting_for_pii = waiting;
    // The writer's key for the record after the head, from the log's first key.
    let op = store::operator(&Tx::over(&dst), owner)?
        .filter(|o| o.role == Role::Owner && o.disabled_at.is_none())
        .ok_or_else(|| Error::usage(format!("{owner:?} is not an active owner in this backup")))?;
    let kek = match (&op.credential, cred) {
        (store::StoredCredential::Passphrase { salt, params }, Credential::Passphrase(p)) => {
            derive_kek(p, salt, *params)?
        }
        _ => return Err(Error::Denied("the owner unlocks with a passphrase".into())),
    };
    let keys = op
        .wrapped_keys
        .as_ref()
        .and_then(|w| KeySet::unwrap(&kek, &keyset_aad(owner, Role::Owner), w))
        .ok_or_else(|| {
            Error::Denied(format!(
                "the passphrase does not open owner {owner:?}'s keys in this backup"
            ))
        })?;
    let first = keys
        .log_key
        .as_ref()
        .map(|k| SecretKey::from_bytes(*k.expose_secret()))
        .ok_or_else(|| Error::Integrity("the owner's key set holds no log key".into()))?;
    let next = store::head_seq(&Tx::over(&dst))?.map_or(1, |s| s + 1);
    drop(dst);
    crate::audit::fss::KeyState::create_at(&home.logs_dir(), &first, next)?;
    let vault = Vault::open(home)?;
    let session = vault.unlock_with(owner, cred, code, now)?;
    vault.record(
        &[Event::new("vault.restored")
            .operator(session.name())
            .field("orders", report.orders)
            .field("orders_waiting_for_pii", report.orders_waiting_for_pii)
            .field("log_files", report.log_files)],
        now,
    )?;
    Ok(report)
}
