//! Verifying the audit log against the vault's head and checkpoint.
//!
//! Reads only; mutates nothing. Every break is a [`Finding`] naming the file, the line and the
//! sequence number where it shows: edited or forged records (hash, canonical form), deleted or
//! re-ordered lines (sequence and `prev` links), deleted day files (a gap across files),
//! truncation (the log ends before the head), a rolled-back head (records beyond it), and torn
//! lines from a crash.

use std::fs::File;
use std::io::{BufRead, BufReader};

use serde::Serialize;

use chrono::{DateTime, Utc};

use super::fss::{KEY_FILE, KeyState, Verifier};
use super::log::AuditLog;
use super::{Checkpoint, GENESIS, Head, Record};
use crate::error::Result;
use crate::vault::key::SecretKey;

/// What kind of break a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A line that is not a record (torn by a crash, or edited into invalid JSON).
    Unreadable,
    /// A record that is not byte-for-byte in canonical form (edited).
    NotCanonical,
    /// A record whose hash does not match its contents (edited).
    HashMismatch,
    /// A record whose `prev` is not the previous record's hash (inserted, deleted, swapped).
    BrokenLink,
    /// Sequence numbers missing (deleted lines or day files).
    Gap,
    /// A sequence number repeated or going backwards (inserted or swapped lines).
    OutOfOrder,
    /// The log ends before the vault's head (truncated).
    Truncated,
    /// Records after the vault's head (head rolled back, or a crash before commit).
    BeyondHead,
    /// The last record does not match the head's hash.
    HeadMismatch,
    /// A record in a day file older than its own timestamp.
    WrongDay,
    /// A record whose forward-secure MAC does not verify (forged or rewritten by someone who
    /// did not hold that record's key, which is gone from the machine).
    BadMac,
    /// A record without a MAC in a sealed log (the seal was stripped).
    Unsealed,
    /// The writer's key file does not match the chain (replaced, missing, or moved on past
    /// the last record: records were cut from the end).
    KeyFile,
    /// The pruning checkpoint is not what the first record after it says, or claims days
    /// inside the profile's window.
    Checkpoint,
}

/// One break in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What kind.
    pub kind: FindingKind,
    /// Day file name.
    pub file: String,
    /// 1-based line number in that file, when it is about one line.
    pub line: Option<usize>,
    /// Sequence number involved, when known.
    pub seq: Option<u64>,
    /// A sentence for people.
    pub message: String,
}

/// The outcome of a verification.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verification {
    /// Records read and checked.
    pub records: u64,
    /// First and last timestamps seen.
    pub first_ts: Option<String>,
    /// Last timestamp seen.
    pub last_ts: Option<String>,
    /// Day files read.
    pub files: usize,
    /// Every break found (empty: the chain is intact).
    pub findings: Vec<Finding>,
}

/// What a keyed verification also checks: every record's forward-secure MAC, the writer's key
/// file, and a checkpoint against the window.
pub struct Sealing<'k> {
    /// The log's first key (owner and auditor hold it).
    pub first_key: &'k SecretKey,
    /// The time of the verification.
    pub now: DateTime<Utc>,
    /// The profile's log window in days: nothing younger may have been pruned.
    pub window_days: u32,
}

/// Walks every day file and checks the chain from the checkpoint (or genesis) to the head.
pub fn verify(
    log: &AuditLog,
    head: &Head,
    checkpoint: Option<&Checkpoint>,
) -> Result<Verification> {
    verify_sealed(log, head, checkpoint, None)
}

/// [`verify`], and with `sealing` every record's MAC, the key file and the checkpoint.
pub fn verify_sealed(
    log: &AuditLog,
    head: &Head,
    checkpoint: Option<&Checkpoint>,
    sealing: Option<Sealing<'_>>,
) -> Result<Verification> {
    let mut v = Verification::default();
    let mut macs = sealing.as_ref().map(|s| Verifier::new(s.first_key));
    let mut sealed_from: Option<u64> = None;
    let mut first_after_checkpoint = checkpoint.is_some();
    let (mut exp_seq, mut exp_prev) = match checkpoint {
        Some(cp) => (cp.seq + 1, cp.hash.clone()),
        None => (1, GENESIS.to_string()),
    };
    let mut last: Option<(String, usize, u64, String)> = None; // file, line, seq, hash
    let mut beyond_reported = false;
    for (day, path) in log.day_files()? {
        if checkpoint.is_some_and(|cp| day <= cp.day) {
            continue; // pruned days whose deletion was interrupted
        }
        v.files += 1;
        let file = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file());
        if !regular {
            v.findings.push(Finding {
                kind: FindingKind::Unreadable,
                file: file.clone(),
                line: None,
                seq: None,
                message: format!("{file} is not a regular file (replaced by a link or device)"),
            });
            continue;
        }
        let reader = BufReader::new(File::open(&path)?);
        for (i, line) in reader.split(b'\n').enumerate() {
            let lineno = i + 1;
            let line = line?;
            let mut finding = |kind, seq, message: String| {
                v.findings.push(Finding {
                    kind,
                    file: file.clone(),
                    line: Some(lineno),
                    seq,
                    message,
                })
            };
            let rec = std::str::from_utf8(&line)
                .ok()
                .and_then(|s| serde_json::from_str::<Record>(s).ok().map(|r| (s, r)));
            let Some((text, rec)) = rec else {
                finding(
                    FindingKind::Unreadable,
                    None,
                    format!("{file}:{lineno}: not a valid record (torn by a crash or edited)"),
                );
                continue;
            };
            let seq = rec.seq;
            if rec.to_line() != text {
                finding(
                    FindingKind::NotCanonical,
                    Some(seq),
                    format!(
                        "{file}:{lineno}: record seq {seq} was altered (not in canonical form)"
                    ),
                );
            }
            let claimed = rec.hash.clone().unwrap_or_default();
            if rec.compute_hash() != claimed {
                finding(
                    FindingKind::HashMismatch,
                    Some(seq),
                    format!("{file}:{lineno}: record seq {seq} does not match its hash (edited)"),
                );
            }
            if rec
                .ts
                .get(..10)
                .is_some_and(|d| d > day.format("%Y-%m-%d").to_string().as_str())
            {
                finding(
                    FindingKind::WrongDay,
                    Some(seq),
                    format!("{file}:{lineno}: record seq {seq} is dated after its day file"),
                );
            }
            if seq > exp_seq {
                finding(
                    FindingKind::Gap,
                    Some(seq),
                    format!(
                        "{file}:{lineno}: records {}..={} are missing before seq {seq}",
                        exp_seq,
                        seq - 1
                    ),
                );
            } else if seq < exp_seq {
                finding(
                    FindingKind::OutOfOrder,
                    Some(seq),
                    format!(
                        "{file}:{lineno}: seq {seq} comes after seq {} (repeated or re-ordered)",
                        exp_seq - 1
                    ),
                );
            }
            if rec.prev != exp_prev && seq == exp_seq {
                finding(
                    FindingKind::BrokenLink,
                    Some(seq),
                    format!(
                        "{file}:{lineno}: record seq {seq} does not link to the record before it"
                    ),
                );
            }
            if seq > head.seq && !beyond_reported {
                beyond_reported = true;
                finding(
                    FindingKind::BeyondHead,
                    Some(seq),
                    format!(
                        "{file}:{lineno}: records from seq {seq} lie beyond the vault's head (seq {}): head rolled back, or a crash before commit",
                        head.seq
                    ),
                );
            }
            if let (Some(m), Some(s)) = (macs.as_mut(), sealing.as_ref()) {
                match &rec.mac {
                    Some(mac) => {
                        sealed_from.get_or_insert(seq);
                        if !m.check(s.first_key, seq, &claimed, mac) {
                            finding(
                                FindingKind::BadMac,
                                Some(seq),
                                format!(
                                    "{file}:{lineno}: record seq {seq} does not carry its forward-secure MAC (forged or rewritten)"
                                ),
                            );
                        }
                    }
                    // A verifier holds the first key only of a vault sealed from its first
                    // record, so every record must carry a MAC.
                    None => finding(
                        FindingKind::Unsealed,
                        Some(seq),
                        format!(
                            "{file}:{lineno}: record seq {seq} has no MAC in a sealed log (its seal was stripped)"
                        ),
                    ),
                }
                if first_after_checkpoint && let Some(cp) = checkpoint {
                    let cp_day = cp.day.format("%Y-%m-%d").to_string();
                    let said = rec.fields.get("prev_day").and_then(|d| d.as_str());
                    if rec.mac.is_some() && said != Some(cp_day.as_str()) {
                        finding(
                            FindingKind::Checkpoint,
                            Some(seq),
                            format!(
                                "{file}:{lineno}: the checkpoint says days up to {cp_day} were pruned, but record seq {seq} says the record before it was of {}",
                                said.unwrap_or("the same day")
                            ),
                        );
                    }
                    let limit = s.now.date_naive() - chrono::Days::new(u64::from(s.window_days));
                    if cp.day >= limit {
                        finding(
                            FindingKind::Checkpoint,
                            Some(seq),
                            format!(
                                "records of {cp_day} and before were removed, inside the {}-day window the log must be kept",
                                s.window_days
                            ),
                        );
                    }
                }
            }
            first_after_checkpoint = false;
            v.records += 1;
            if v.first_ts.is_none() {
                v.first_ts = Some(rec.ts.clone());
            }
            v.last_ts = Some(rec.ts.clone());
            exp_seq = seq + 1;
            exp_prev = claimed.clone();
            last = Some((file.clone(), lineno, seq, claimed));
        }
    }
    if let Some(s) = &sealing {
        check_key_file(
            log,
            s,
            last.as_ref().map(|l| l.2),
            head.seq,
            sealed_from,
            &mut v,
        )?;
    }
    match last {
        None if head.seq > checkpoint.map_or(0, |c| c.seq) => v.findings.push(Finding {
            kind: FindingKind::Truncated,
            file: String::new(),
            line: None,
            seq: Some(head.seq),
            message: format!(
                "no audit records found, but the vault's head is seq {}: the log was deleted",
                head.seq
            ),
        }),
        None => {}
        Some((file, line, seq, hash)) => {
            if seq < head.seq {
                v.findings.push(Finding {
                    kind: FindingKind::Truncated,
                    file,
                    line: Some(line),
                    seq: Some(seq),
                    message: format!("the log ends at seq {seq} but the vault's head is seq {}: records were removed from the end", head.seq),
                });
            } else if seq == head.seq && hash != head.hash {
                v.findings.push(Finding {
                    kind: FindingKind::HeadMismatch,
                    file,
                    line: Some(line),
                    seq: Some(seq),
                    message: format!(
                        "the last record (seq {seq}) does not match the vault's head hash"
                    ),
                });
            }
        }
    }
    Ok(v)
}

/// The writer's key file against the chain: it must hold the right key for its sequence
/// number, and that number must be the last record's or the one after it; after a crash
/// between a write's two fsyncs (records beyond the vault's head, reported as such) it may
/// also be the record after the head.
fn check_key_file(
    log: &AuditLog,
    s: &Sealing<'_>,
    last_seq: Option<u64>,
    head_seq: u64,
    sealed_from: Option<u64>,
    v: &mut Verification,
) -> Result<()> {
    let mut push = |message: String| {
        v.findings.push(Finding {
            kind: FindingKind::KeyFile,
            file: KEY_FILE.to_string(),
            line: None,
            seq: last_seq,
            message,
        })
    };
    let state = match KeyState::load(log.dir()) {
        Ok(st) => st,
        Err(e) => {
            push(format!("the writer's key file cannot be read: {e}"));
            return Ok(());
        }
    };
    match state {
        None if sealed_from.is_some() => {
            push("the writer's key file is missing from a sealed log".into())
        }
        None => {}
        Some(st) if !Verifier::check_state(s.first_key, &st) => push(format!(
            "the writer's key file does not hold the key of seq {}: it was replaced",
            st.next_seq
        )),
        Some(st) => {
            let last = last_seq.unwrap_or(0);
            if st.next_seq < last.min(head_seq + 1) {
                push(format!(
                    "the writer's key file is for seq {} but the log goes on to seq {last}: it was put back from an older copy",
                    st.next_seq
                ));
            } else if st.next_seq > last + 1 {
                push(format!(
                    "the writer's key has moved on to seq {} but the log ends at seq {last}: records were removed from the end",
                    st.next_seq
                ));
            }
        }
    }
    Ok(())
}
