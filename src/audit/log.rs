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
//! - **Lines of any length.** Recovery reads the newest day file line by line, however long
//!   its lines are (no window that a long line could fill): a line up to [`KEEP_LINE`] is read
//!   whole, a longer one by its two ends, which still tell its sequence number, hash and seal,
//!   so a head record longer than anything the tool writes today (whose strings are bounded,
//!   [`super::MAX_TEXT`]) is still found, and never the reason the vault stops.
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
use std::io::{BufRead, Read, Seek, SeekFrom, Write};
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
        if let Some((line, true)) = last_line(&path).map_err(|e| log_err("read", &path, e))?
            && let Some(seen) = identify(&line)
            && seen.seq == head.seq
            && seen.hash == head.hash
        {
            self.check_key(&head, head.seq, seen.sealed)?;
            return Ok(head);
        }
        let len = file_len(&path).map_err(|e| log_err("read", &path, e))?;
        let torn = len > 0 && !ends_with_newline(&path).map_err(|e| log_err("read", &path, e))?;
        if torn {
            let mut f = OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(|e| log_err("open", &path, e))?;
            f.write_all(b"\n")
                .and_then(|()| f.sync_data())
                .map_err(|e| log_err("write", &path, e))?;
        }
        let day = parse_day_file_name(&path.file_name().unwrap_or_default().to_string_lossy());
        let mut adopted = head.clone();
        // Every complete line of the file as it was (the torn fragment, now terminated, is
        // left for verification): the head's own record, then records that continue it
        // exactly (a crash after their fsync, before the commit). Any other record after the
        // head's is a rewrite.
        let mut seen_head = head.seq == 0;
        let mut last_seq = 0;
        let mut sealed = false;
        let mut stray: Option<u64> = None;
        let f = File::open(&path).map_err(|e| log_err("open", &path, e))?;
        let mut reader = std::io::BufReader::new(f.take(len));
        while let Some((line, complete)) =
            read_line(&mut reader).map_err(|e| log_err("read", &path, e))?
        {
            if !complete {
                break;
            }
            let Some(r) = identify(&line) else {
                continue;
            };
            last_seq = r.seq;
            sealed = r.sealed;
            if r.seq == head.seq && r.hash == head.hash {
                seen_head = true;
                continue;
            }
            // A line too long to hold is known by its ends only: it cannot be checked, so it
            // is never adopted; verification reports what it is.
            let Some((rec, valid)) = r.record else {
                continue;
            };
            if valid
                && (seen_head || adopted.seq == head.seq)
                && rec.seq == adopted.seq + 1
                && rec.prev == adopted.hash
            {
                // (Without the head's record in this file: the first record of a new day
                // file, continuing a head that is in the day before.)
                seen_head = true;
                adopted = Head {
                    seq: rec.seq,
                    hash: rec.hash.clone().unwrap_or_default(),
                    day: day.or(adopted.day),
                };
            } else if rec.seq > head.seq || seen_head {
                stray.get_or_insert(rec.seq);
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
        let len = file_len(&path).map_err(|e| log_err("read", &path, e))?;
        let f = File::open(&path).map_err(|e| log_err("open", &path, e))?;
        let first = read_line(&mut std::io::BufReader::new(f.take(len)))
            .map_err(|e| log_err("read", &path, e))?;
        Ok(first
            .and_then(|(line, _)| identify(&line))
            .is_some_and(|r| r.sealed))
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
            hash: last.hash,
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

/// Longest line read whole; a longer one is kept by its ends ([`Line::Long`]). The tool's own
/// records are far shorter (their strings are bounded, [`super::MAX_TEXT`]).
pub const KEEP_LINE: usize = 4 << 20;
/// Bytes kept of a long line's beginning: `{"seq":N,` and more.
const LONG_HEAD: usize = 64;
/// Bytes kept of a long line's end: `"hash":"…","mac":"…"}` and more.
const LONG_TAIL: usize = 1024;

/// One line of a day file, without its newline.
#[derive(Debug)]
enum Line {
    /// The whole line.
    Full(Vec<u8>),
    /// A line longer than [`KEEP_LINE`]: its first and last bytes.
    Long { head: Vec<u8>, tail: Vec<u8> },
}

/// What recovery knows of a line that is a record.
struct Seen {
    seq: u64,
    hash: String,
    sealed: bool,
    /// The record, and whether it is exactly as the tool writes it (hash and bytes), when the
    /// line was read whole.
    record: Option<(Record, bool)>,
}

/// The record a line holds: parsed whole, or (a long line) its sequence number, hash and
/// seal read from its ends. `None`: not a record (left for verification to report).
fn identify(line: &Line) -> Option<Seen> {
    match line {
        Line::Full(bytes) => {
            let r: Record = serde_json::from_slice(bytes).ok()?;
            let hash = r.hash.clone()?;
            let valid = hash == r.compute_hash() && r.to_line().as_bytes() == bytes.as_slice();
            Some(Seen {
                seq: r.seq,
                hash,
                sealed: r.mac.is_some(),
                record: Some((r, valid)),
            })
        }
        Line::Long { head, tail } => {
            // `{"seq":N,` opens every record; `"hash":"<64 hex>"` and an optional
            // `,"mac":"…"` close it.
            let digits = head.strip_prefix(br#"{"seq":"#)?;
            let n = digits.iter().position(|b| !b.is_ascii_digit())?;
            if digits.get(n) != Some(&b',') {
                return None;
            }
            let seq = std::str::from_utf8(&digits[..n]).ok()?.parse().ok()?;
            let t = tail.strip_suffix(b"}")?;
            let (rest, sealed) = match t.strip_suffix(b"\"") {
                Some(inner) => {
                    let q = inner.iter().rposition(|&b| b == b'"')?;
                    match inner[..=q].strip_suffix(br#","mac":""#) {
                        Some(before) if !inner[q + 1..].contains(&b'\\') => (before, true),
                        _ => (t, false),
                    }
                }
                None => return None,
            };
            let rest = rest.strip_suffix(b"\"")?;
            if rest.len() < 64 + 8 {
                return None;
            }
            let (key, hash) = rest.split_at(rest.len() - 64);
            if !key.ends_with(br#""hash":""#) || !hash.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            Some(Seen {
                seq,
                hash: String::from_utf8(hash.to_vec()).ok()?,
                sealed,
                record: None,
            })
        }
    }
}

/// Reads one line (up to and without its newline) of any length: whole up to [`KEEP_LINE`],
/// else by its ends. `None` at the end; `false` with a last line that has no newline.
fn read_line(r: &mut impl BufRead) -> std::io::Result<Option<(Line, bool)>> {
    let mut full: Vec<u8> = Vec::new();
    let mut long: Option<(Vec<u8>, Vec<u8>)> = None;
    let mut any = false;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(any.then(|| (finish_line(full, long), false)));
        }
        any = true;
        let newline = buf.iter().position(|&b| b == b'\n');
        let chunk = &buf[..newline.unwrap_or(buf.len())];
        match &mut long {
            None => {
                full.extend_from_slice(chunk);
                if full.len() > KEEP_LINE {
                    let tail = full[full.len() - LONG_TAIL..].to_vec();
                    full.truncate(LONG_HEAD);
                    long = Some((std::mem::take(&mut full), tail));
                }
            }
            Some((_, tail)) => {
                tail.extend_from_slice(chunk);
                if tail.len() > 2 * LONG_TAIL {
                    tail.drain(..tail.len() - LONG_TAIL);
                }
            }
        }
        let used = newline.map_or(buf.len(), |i| i + 1);
        r.consume(used);
        if newline.is_some() {
            return Ok(Some((finish_line(full, long), true)));
        }
    }
}

fn finish_line(full: Vec<u8>, long: Option<(Vec<u8>, Vec<u8>)>) -> Line {
    match long {
        None => Line::Full(full),
        Some((head, mut tail)) => {
            if tail.len() > LONG_TAIL {
                tail.drain(..tail.len() - LONG_TAIL);
            }
            Line::Long { head, tail }
        }
    }
}

/// The file's length now. Anything but a regular file is an error: a day file replaced by a
/// device such as `/dev/zero` must not be read forever, nor taken for an empty log.
fn file_len(path: &Path) -> std::io::Result<u64> {
    let m = fs::metadata(path)?;
    if m.is_file() {
        Ok(m.len())
    } else {
        Err(std::io::Error::other("not a regular file"))
    }
}

fn ends_with_newline(path: &Path) -> std::io::Result<bool> {
    let len = file_len(path)?;
    if len == 0 {
        return Ok(true);
    }
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(len - 1))?;
    let mut b = [0u8; 1];
    f.read_exact(&mut b)?;
    Ok(b[0] == b'\n')
}

/// The file's last line, however long, and whether it ends with a newline.
fn last_line(path: &Path) -> std::io::Result<Option<(Line, bool)>> {
    let len = file_len(path)?;
    if len == 0 {
        return Ok(None);
    }
    let complete = ends_with_newline(path)?;
    let end = if complete { len - 1 } else { len };
    let mut f = File::open(path)?;
    // Back from the end, a block at a time, to the newline before the last line.
    let mut start = 0;
    let mut pos = end;
    let mut block = vec![0u8; 64 * 1024];
    while pos > 0 {
        let n = block.len().min(pos as usize);
        pos -= n as u64;
        f.seek(SeekFrom::Start(pos))?;
        f.read_exact(&mut block[..n])?;
        if let Some(i) = block[..n].iter().rposition(|&b| b == b'\n') {
            start = pos + i as u64 + 1;
            break;
        }
    }
    f.seek(SeekFrom::Start(start))?;
    let line = read_line(&mut std::io::BufReader::new(f.take(end - start)))?;
    Ok(line.map(|(l, _)| (l, complete)))
}

/// The last record of a day file (its sequence number and hash), however long its lines.
fn last_record(path: &Path) -> Result<Option<Seen>> {
    let len = file_len(path).map_err(|e| log_err("read", path, e))?;
    let f = File::open(path).map_err(|e| log_err("open", path, e))?;
    let mut reader = std::io::BufReader::new(f.take(len));
    let mut last = None;
    while let Some((line, _)) = read_line(&mut reader).map_err(|e| log_err("read", path, e))? {
        if let Some(seen) = identify(&line) {
            last = Some(seen);
        }
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        crate::clock::parse_time("2026-03-01T09:00:00Z").unwrap()
    }

    /// An event whose `blob` field is `n` bytes long: written as an earlier version of the
    /// tool could (no bound on its strings).
    fn long_event(n: usize) -> Event {
        let mut e = Event::new("unlock.failed");
        e.fields.insert(
            "blob",
            super::super::Value(serde_json::Value::from("x".repeat(n))),
        );
        e
    }

    fn log() -> (tempfile::TempDir, AuditLog) {
        let d = tempfile::tempdir().unwrap();
        let l = AuditLog::new(d.path());
        (d, l)
    }

    #[test]
    fn a_head_record_of_any_length_is_found_and_the_log_goes_on() {
        // 70 KB (past the old 64 KB window) and 5 MiB (past what is read whole).
        for n in [70 * 1024, KEEP_LINE + 1024] {
            let (_d, l) = log();
            let lock = l.lock().unwrap();
            let h = l
                .append(&lock, &Head::genesis(), &Event::new("vault.created"), t0())
                .unwrap();
            let h = l.append(&lock, &h, &long_event(n), t0()).unwrap();
            assert_eq!(h.seq, 2);
            // The last line is the head: nothing to do.
            assert_eq!(l.recover(&lock, h.clone(), t0()).unwrap(), h);
            // A crash after the next record's fsync, before the commit: it is adopted, and
            // the adoption recorded, across the long line.
            let beyond = l.append(&lock, &h, &Event::new("fetch.run"), t0()).unwrap();
            let r = l.recover(&lock, h.clone(), t0()).unwrap();
            assert_eq!(r.seq, beyond.seq + 1, "{n}: adopted, then audit.recovered");
            // A torn line after a long head: terminated, the head still found.
            let (_d, l) = log();
            let lock = l.lock().unwrap();
            let h = l
                .append(&lock, &Head::genesis(), &Event::new("vault.created"), t0())
                .unwrap();
            let h = l.append(&lock, &h, &long_event(n), t0()).unwrap();
            let path = l.day_files().unwrap().pop().unwrap().1;
            let mut f = OpenOptions::new().append(true).open(&path).unwrap();
            f.write_all(br#"{"seq":3,"ts":"2026-03"#).unwrap();
            let r = l.recover(&lock, h.clone(), t0()).unwrap();
            assert_eq!(r.seq, 3, "{n}: audit.recovered after the head");
            let text = fs::read_to_string(&path).unwrap();
            assert!(text.contains("torn_line_terminated"));
            assert!(text.ends_with("\n"));
        }
    }

    #[test]
    fn removed_records_are_still_refused_behind_a_long_line() {
        let (_d, l) = log();
        let lock = l.lock().unwrap();
        let h = l
            .append(&lock, &Head::genesis(), &Event::new("vault.created"), t0())
            .unwrap();
        let h = l.append(&lock, &h, &long_event(100 * 1024), t0()).unwrap();
        let h3 = l.append(&lock, &h, &Event::new("fetch.run"), t0()).unwrap();
        // Positive control: the intact log passes.
        assert_eq!(l.recover(&lock, h3.clone(), t0()).unwrap(), h3);
        // The last record removed by hand: refused (exit 5), long line or not.
        let path = l.day_files().unwrap().pop().unwrap().1;
        let text = fs::read_to_string(&path).unwrap();
        let cut = text.trim_end().rfind('\n').unwrap() + 1;
        fs::write(&path, &text[..cut]).unwrap();
        let e = l.recover(&lock, h3, t0()).unwrap_err();
        assert!(e.to_string().contains("records were removed"), "{e}");
        // A long line's identity is read from its ends only when they are a record's.
        assert!(
            identify(&Line::Long {
                head: b"{\"seq\":12,\"ts\"".to_vec(),
                tail: format!("x\",\"hash\":\"{}\"}}", "a".repeat(64)).into_bytes(),
            })
            .is_some_and(|s| s.seq == 12 && !s.sealed)
        );
        assert!(
            identify(&Line::Long {
                head: b"{\"seq\":12,\"ts\"".to_vec(),
                tail: format!("\"hash\":\"{}\",\"mac\":\"q1\"}}", "b".repeat(64)).into_bytes(),
            })
            .is_some_and(|s| s.sealed && s.hash == "b".repeat(64))
        );
        for (head, tail) in [
            ("{\"seq\":x,", format!("\"hash\":\"{}\"}}", "a".repeat(64))),
            ("{\"seq\":1,", format!("\"hash\":\"{}\"", "a".repeat(64))),
            ("{\"seq\":1,", format!("\"hash\":\"{}\"}}", "z".repeat(64))),
            ("[\"seq\":1,", format!("\"hash\":\"{}\"}}", "a".repeat(64))),
        ] {
            assert!(
                identify(&Line::Long {
                    head: head.as_bytes().to_vec(),
                    tail: tail.into_bytes()
                })
                .is_none(),
                "{head} {}",
                "tail"
            );
        }
    }
}
