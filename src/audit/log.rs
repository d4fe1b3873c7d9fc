//! Appending to the audit log: serialised across processes, fsynced, chained, fail-closed.
//!
//! Design decisions:
//! - **Lock.** An exclusive `flock` on `logs/audit.lock` serialises appends across processes
//!   (a cron purge and a packing station at once). The caller takes the lock *before* it begins
//!   its database transaction, so the order is always file lock, then database.
//! - **Durability.** Each record is written with one `write` on an `O_APPEND` file and
//!   `fdatasync`ed before the vault's head is advanced in the caller's transaction. If the
//!   write fails, the caller's transaction rolls back: no record, no action (fail closed).
//! - **Sealing.** Each record is MAC'd with the current forward-secure key ([`super::fss`]),
//!   which then moves on; the key file is overwritten after the record's fsync.
//! - **Crash recovery, never silent.** A crash between the fsync and the commit leaves records
//!   beyond the vault's head; the next append adopts them only if they continue the chain
//!   exactly, and records an `audit.recovered` event saying so (which `audit` reports as a
//!   finding: a rolled-back head looks the same). A torn last line (a crash mid-write) is
//!   terminated with a newline and left in place for verification to report.
//! - **Every writer checks before it trusts the head.** The newest day file must hold the
//!   vault's head record (or records continuing it), and the key file must be for the record
//!   after it; otherwise the command is refused with exit 5 (records removed, head rolled back,
//!   key file deleted), except `audit` and `purge`, which append anyway ([`AuditLog::tolerate_breaks`]).
//! - **Day files** are named by UTC date, never going backwards: a record whose clock is behind
//!   the head's day goes into the head's day file.
//!
//! tracing-appender is not used here: its non-blocking writer drops lines when its buffer is
//! full, and its file cap counts files, not days.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};

use super::fss::KeyState;
use super::{Checkpoint, Event, Head, Record, day_file_name, parse_day_file_name};
use crate::error::{Error, Result};

/// Where the chain head and checkpoint are kept (the vault's meta table).
pub trait Anchor {
    /// The current head.
    fn head(&self) -> Result<Head>;
    /// Advances the head.
    fn set_head(&self, head: &Head) -> Result<()>;
    /// The pruning checkpoint, if any files were pruned.
    fn checkpoint(&self) -> Result<Option<Checkpoint>>;
    /// Stores a new checkpoint.
    fn set_checkpoint(&self, cp: &Checkpoint) -> Result<()>;
}

/// The audit log folder.
#[derive(Debug, Clone)]
pub struct AuditLog {
    dir: PathBuf,
    /// Whether a log that fails the writers' check is appended to anyway (`audit`, which is
    /// there to report it, and `purge`, whose deletions must not wait), instead of refused.
    tolerant: std::cell::Cell<bool>,
    /// Set once a tolerated check failed: this process's records are then left unsealed, so
    /// the log's last record stays unsealed and every later writer refuses until the break is
    /// dealt with (a tolerated append must not make a broken log look whole again).
    tainted: std::cell::Cell<bool>,
}

/// Proof that the caller holds the cross-process append lock.
#[derive(Debug)]
pub struct AppendLock {
    _file: File,
}

fn log_err(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::AuditLog(format!("cannot {what} {}: {e}", path.display()))
}

impl AuditLog {
    /// The log in `dir` (normally `HOME/logs`).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        AuditLog {
            dir: dir.into(),
            tolerant: std::cell::Cell::new(false),
            tainted: std::cell::Cell::new(false),
        }
    }

    /// Appends to a log that fails the writers' check instead of refusing (see the field).
    pub fn tolerate_breaks(&self) {
        self.tolerant.set(true);
    }

    /// Leaves this process's further records unsealed, so that every later writer refuses:
    /// for `audit` once it has found the log broken.
    pub fn taint(&self) {
        self.tainted.set(true);
    }

    /// Refuses with exit 5, unless this log tolerates breaks (then the append goes on from
    /// the vault's head, and verification reports the break).
    fn broken(&self, what: String) -> Result<()> {
        if self.tolerant.get() {
            tracing::warn!(problem = %what, "audit log check failed; appending anyway");
            self.tainted.set(true);
            return Ok(());
        }
        Err(Error::Integrity(format!(
            "audit log: {what}; nothing was done (an owner or auditor should run `fulfill audit`)"
        )))
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes the exclusive cross-process append lock (blocks until it is free).
    pub fn lock(&self) -> Result<AppendLock> {
        let path = self.dir.join("audit.lock");
        let f = crate::home::open_lock_file(&path).map_err(|e| log_err("open", &path, e))?;
        f.lock().map_err(|e| log_err("lock", &path, e))?;
        Ok(AppendLock { _file: f })
    }

    /// The day files present, oldest first.
    pub fn day_files(&self) -> Result<Vec<(NaiveDate, PathBuf)>> {
        let mut out = Vec::new();
        let rd = fs::read_dir(&self.dir).map_err(|e| log_err("read", &self.dir, e))?;
        for ent in rd.flatten() {
            if let Some(d) = parse_day_file_name(&ent.file_name().to_string_lossy()) {
                out.push((d, ent.path()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Appends one record after `head` and returns the new head. The caller holds `lock` and
    /// stores the returned head in the same transaction as the action the record describes.
    pub fn append(
        &self,
        lock: &AppendLock,
        head: &Head,
        event: &Event,
        now: DateTime<Utc>,
    ) -> Result<Head> {
        self.append_all(lock, head, std::slice::from_ref(event), now)
    }

    /// Appends `events` after `head` as consecutive records in one write, one fdatasync of the
    /// day file and one of the writer's key file, whatever their number (a print job's opening
    /// and its print record cost what one record costs). Returns the new head (`head` itself
    /// when `events` is empty). A crash between the two fsyncs leaves the key file at the
    /// record after the vault's head, as for one record: the next append adopts the records
    /// and moves the key on.
    pub fn append_all(
        &self,
        _lock: &AppendLock,
        head: &Head,
        events: &[Event],
        now: DateTime<Utc>,
    ) -> Result<Head> {
        if events.is_empty() {
            return Ok(head.clone());
        }
        let day = head
            .day
            .map_or(now.date_naive(), |d| d.max(now.date_naive()));
        let mut state = KeyState::load(&self.dir)?.filter(|_| !self.tainted.get());
        let mut text = String::new();
        let mut last = head.clone();
        let mut sealed_to = None;
        for event in events {
            let mut rec = Record::from_event(event, last.seq + 1, now, &last.hash);
            if let Some(prev) = last.day.filter(|d| *d != day) {
                // The first record of a day file names the day before it, so a checkpoint that
                // claims those days were pruned is checked against a sealed record's own word.
                rec.fields.insert(
                    "prev_day".into(),
                    serde_json::Value::from(prev.format("%Y-%m-%d").to_string()),
                );
                rec.hash = Some(rec.compute_hash());
            }
            if let Some(st) = state.as_mut().filter(|_| !self.tainted.get()) {
                let hash = rec.hash.clone().expect("hash set");
                match st.seal(rec.seq, &hash) {
                    Some(m) => {
                        rec.mac = Some(m);
                        sealed_to = Some(rec.seq);
                    }
                    None => self.broken(format!(
                        "its key has moved past seq {} (now at seq {}): records were removed or the head was rolled back",
                        rec.seq, st.next_seq
                    ))?,
                }
            }
            text.push_str(&rec.to_line());
            text.push('\n');
            last = Head {
                seq: rec.seq,
                hash: rec.hash.expect("hash set"),
                day: Some(day),
            };
        }
        let path = self.dir.join(day_file_name(day));
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| log_err("open", &path, e))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_data())
            .map_err(|e| log_err("write", &path, e))?;
        if let (Some(st), Some(seq)) = (state.as_mut(), sealed_to) {
            st.advance_past(seq)?;
        }
        Ok(last)
    }

    /// Reconciles the newest day file with the vault's head before an append.
    ///
    /// - A torn last line (no trailing newline) is terminated so the next record starts on its
    ///   own line; the fragment stays for verification to report.
    /// - Complete records beyond the head that continue the chain exactly (a crash after the
    ///   fsync, before the commit) are adopted, and an `audit.recovered` record says so.
    ///
    /// Anything else is left for verification to report; appends continue from the head.
    pub fn recover(&self, lock: &AppendLock, head: Head, now: DateTime<Utc>) -> Result<Head> {
        let Some((_, path)) = self.day_files()?.pop() else {
            if head.seq > 0 {
                self.broken(format!(
                    "no day files, but the vault's head is seq {}: the log was deleted",
                    head.seq
                ))?;
            }
            return Ok(head);
        };
        // Fast path: the last line is the head.
        let short = read_tail(&path, 4096).map_err(|e| log_err("read", &path, e))?;
        if short.ends_with(b"\n") {
            let body = &short[..short.len() - 1];
            let last = body.rsplit(|&b| b == b'\n').next().unwrap_or(body);
            if let Ok(r) = serde_json::from_slice::<Record>(last)
                && r.seq == head.seq
                && r.hash.as_deref() == Some(head.hash.as_str())
            {
                self.check_key(&head, head.seq, r.mac.is_some())?;
                return Ok(head);
            }
        }
        let tail = read_tail(&path, 64 * 1024).map_err(|e| log_err("read", &path, e))?;
        let mut torn = false;
        if !tail.is_empty() && !tail.ends_with(b"\n") {
            let mut f = OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(|e| log_err("open", &path, e))?;
            f.write_all(b"\n")
                .and_then(|()| f.sync_data())
                .map_err(|e| log_err("write", &path, e))?;
            torn = true;
        }
        let day = parse_day_file_name(&path.file_name().unwrap_or_default().to_string_lossy());
        let mut adopted = head.clone();
        // Complete lines of the tail; the first may be cut by the window, so it is skipped.
        let text = String::from_utf8_lossy(&tail);
        let mut lines: Vec<&str> = text.split('\n').collect();
        lines.pop(); // after the last newline: empty, or the torn fragment
        if tail.len() == 64 * 1024 && !lines.is_empty() {
            lines.remove(0);
        }
        // The head's own record, then records that continue it exactly (a crash after their
        // fsync, before the commit). Any other record after the head's is a rewrite.
        let mut seen_head = head.seq == 0;
        let mut last_seq = 0;
        let mut sealed = false;
        let mut stray: Option<u64> = None;
        for l in lines {
            let Ok(r) = serde_json::from_str::<Record>(l) else {
                continue;
            };
            last_seq = r.seq;
            sealed = r.mac.is_some();
            let valid = r.hash.as_deref() == Some(r.compute_hash().as_str()) && r.to_line() == l;
            if r.seq == head.seq && r.hash.as_deref() == Some(head.hash.as_str()) {
                seen_head = true;
            } else if valid
                && (seen_head || adopted.seq == head.seq)
                && r.seq == adopted.seq + 1
                && r.prev == adopted.hash
            {
                // (Without the head's record in this file: the first record of a new day
                // file, continuing a head that is in the day before.)
                seen_head = true;
                adopted = Head {
                    seq: r.seq,
                    hash: r.hash.clone().unwrap_or_default(),
                    day: day.or(adopted.day),
                };
            } else if r.seq > head.seq || seen_head {
                stray.get_or_insert(r.seq);
            }
        }
        if let Some(seq) = stray {
            self.broken(format!(
                "record seq {seq} in {} does not continue the chain from the vault's head (seq {})",
                path.display(),
                head.seq
            ))?;
        } else if !seen_head && last_seq < head.seq {
            self.broken(format!(
                "the log ends at seq {last_seq} but the vault's head is seq {}: records were removed",
                head.seq
            ))?;
        } else if !seen_head {
            self.broken(format!(
                "the vault's head (seq {}) is not in the log: the head or the log was rewritten",
                head.seq
            ))?;
        }
        self.check_key(&adopted, adopted.seq.min(head.seq + 1), sealed)?;
        if adopted.seq == head.seq && !torn {
            return Ok(head);
        }
        let file = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let mut ev = Event::new("audit.recovered").field("file", file);
        if adopted.seq > head.seq {
            // The actions these records describe may not have completed: the crash came
            // between the record's fsync and the vault's commit.
            ev = ev
                .field("adopted_from_seq", head.seq + 1)
                .field("adopted_to_seq", adopted.seq);
        }
        if torn {
            ev = ev.field("torn_line_terminated", true);
        }
        self.append(lock, &adopted, &ev, now)
    }

    /// The writers' check of the key file against the head: the key must be for the record
    /// after the head, or no earlier than `floor` (the head itself, or the record after the
    /// vault's head when a crash came between a write's fsync and the key's, before the key
    /// moved on; never earlier, since the key file is fsynced after each write), and a sealed
    /// log must have its key file.
    fn check_key(&self, head: &Head, floor: u64, last_sealed: bool) -> Result<()> {
        match KeyState::load(&self.dir)? {
            Some(st) if st.next_seq > head.seq + 1 => self.broken(format!(
                "its key has moved on to seq {} but the vault's head is seq {}: records were removed or the head was rolled back",
                st.next_seq, head.seq
            )),
            Some(st) if st.next_seq < floor => self.broken(format!(
                "its key file is for seq {} but the log goes on to seq {}: it was put back from an older copy",
                st.next_seq, head.seq
            )),
            Some(_) if !last_sealed && head.seq > 0 => self.broken(format!(
                "its last record (seq {}) is not sealed",
                head.seq
            )),
            // A log is sealed from its first record on, so a sealed oldest record tells a
            // deleted key file from a log made before sealing existed, whatever the last
            // record looks like.
            None if last_sealed || self.oldest_record_sealed()? => self.broken(format!(
                "its key file {} is missing",
                self.dir.join(super::fss::KEY_FILE).display()
            )),
            _ => Ok(()),
        }
    }

    /// Whether the first record of the oldest day file carries a MAC (read only when the key
    /// file is missing).
    fn oldest_record_sealed(&self) -> Result<bool> {
        let Some((_, path)) = self.day_files()?.into_iter().next() else {
            return Ok(false);
        };
        let f = File::open(&path).map_err(|e| log_err("open", &path, e))?;
        let mut first = Vec::new();
        std::io::BufRead::read_until(
            &mut std::io::BufReader::new(f.take(64 * 1024)),
            b'\n',
            &mut first,
        )
        .map_err(|e| log_err("read", &path, e))?;
        Ok(serde_json::from_slice::<Record>(first.trim_ascii_end()).is_ok_and(|r| r.mac.is_some()))
    }

    /// Deletes day files older than `keep_days` before `now` and moves the checkpoint past
    /// them, so the remaining chain still verifies. Refuses to keep fewer than `min_days`
    /// (the profile's window): nothing younger than the window is ever deleted.
    pub fn prune(
        &self,
        lock: &AppendLock,
        anchor: &dyn Anchor,
        now: DateTime<Utc>,
        keep_days: u32,
        min_days: u32,
    ) -> Result<PruneReport> {
        let _ = lock;
        let keep = keep_days.max(min_days);
        let cutoff = now.date_naive() - chrono::Days::new(u64::from(keep));
        let head = anchor.head()?;
        let old: Vec<(NaiveDate, PathBuf)> = self
            .day_files()?
            .into_iter()
            .filter(|(d, _)| *d < cutoff && Some(*d) != head.day)
            .collect();
        let Some((newest_day, newest)) = old.last().cloned() else {
            return Ok(PruneReport::default());
        };
        let last = last_record(&newest)?.ok_or_else(|| {
            Error::AuditLog(format!(
                "cannot prune: {} has no readable last record; run `fulfill audit` to see why",
                newest.display()
            ))
        })?;
        let cp = Checkpoint {
            seq: last.seq,
            hash: last.hash.unwrap_or_default(),
            day: newest_day,
        };
        anchor.set_checkpoint(&cp)?;
        for (_, p) in &old {
            fs::remove_file(p).map_err(|e| log_err("remove", p, e))?;
        }
        Ok(PruneReport {
            files_removed: old.len(),
            checkpoint: Some(cp),
        })
    }
}

/// What [`AuditLog::prune`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PruneReport {
    /// Day files deleted.
    pub files_removed: usize,
    /// The new checkpoint.
    pub checkpoint: Option<Checkpoint>,
}

fn read_tail(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(max);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::with_capacity((len - start) as usize);
    // `take`: a day file replaced by a device (/dev/zero) must not be read forever.
    f.take(max).read_to_end(&mut buf)?;
    Ok(buf)
}

fn last_record(path: &Path) -> Result<Option<Record>> {
    let tail = read_tail(path, 64 * 1024).map_err(|e| log_err("read", path, e))?;
    let text = String::from_utf8_lossy(&tail);
    Ok(text
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Record>(l).ok()))
}
