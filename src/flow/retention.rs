//! Retention: PII is kept only as long as fulfilment needs it (COMPLIANCE R11–R13).
//!
//! **The clock.** An order's retention clock starts when it ships (its last package: see
//! [`crate::vault::shipments::shipment_time`]) or is canceled (`orders.retention_start`), or,
//! for an order never (or only partly) shipped, at its latest ship date; an
//! order with neither falls back to its purchase date, then to when the vault first saw it.
//! PII is due for destruction once `retention.pii_days` (at most the profile's 30) have passed.
//! [`due_orders`] is the one place that rule lives: `purge` enforces it, `audit` checks it.
//!
//! **What a purge destroys**, in one transaction with its `purge.orders` records: the sealed
//! PII blob, every sealed gift message; then the label files of purged orders, in `spool/` and
//! wherever `label --out` wrote them (tracked per order).
//! The non-PII facts stay (order id, dates, items, carrier, tracking) and `purged_at` is set.
//! `secure_delete` overwrites the freed pages, and a `wal_checkpoint(TRUNCATE)` afterwards
//! empties the WAL, so no earlier copy of a sealed record survives in the files.
//!
//! **Under a reader.** The overwritten pages reach `vault.db` only through that checkpoint, and
//! another connection holding a read transaction (a `sqlite3` shell, a long listing) keeps it
//! from finishing: until a later checkpoint, the old pages, ciphertext included, stay in
//! `vault.db`. The checkpoint waits [`crate::store::sqlite::CHECKPOINT_WAIT`] for such a reader; if it is still
//! there the run names the processes that have the vault open ([`store::holders`]), exits 1,
//! and its `purge.run` record (written last, after the checkpoint) says `wal_truncated: false`
//! with `wal_held_by`. `audit` flags it (R15, [`wal_left_behind`]) until a later purge run's
//! record says `wal_truncated: true`.
//!
//! **Only the tool's files.** Label files are tracked with the identity of the file written
//! (device, inode, size); purge destroys a tracked path only when the regular file there is
//! still that file, opened without following links. Anything else (a link, a file moved into
//! its place, a row added to `label_files` by hand) is left alone, reported and recorded as
//! `label.refused`.
//!
//! **Crash safety.** The database step is one transaction; label files are removed after it
//! commits, and every run removes the tracked files of every purged order, so a purge killed
//! in between finishes on the next run. Audit day files older than `log.max_days` (never
//! inside the profile's window) are pruned by the same run, with a checkpoint.
//!
//! Purge needs no key: it only deletes, and whoever can write the vault file could delete the
//! rows anyway. So cron runs it without a passphrase; the record names the OS user
//! ([`os_user`]), never a name the caller claims. A missing or broken `config.toml` does not
//! stop it: it runs on the profile's numbers and its record says so.

use std::path::{Path, PathBuf};

use crate::vault::Tx;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::audit::{Event, Outcome};
use crate::error::{Error, Result};
use crate::home::FileIdentity;
use crate::vault::retention as store;
use crate::vault::seal::{Epoch, KeyName};
use crate::vault::{Vault, labels};

/// An order whose PII retention has run out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// `AmazonOrderId`.
    pub order_id: String,
    /// When its PII had to be gone.
    pub deadline: DateTime<Utc>,
    /// Whether sealed PII or gift messages are still stored.
    pub holds_pii: bool,
}

pub use crate::model::retention::deadline;

/// Orders not yet purged whose deadline is at or before `now`, oldest deadline first.
pub fn due_orders(conn: &Tx<'_>, now: DateTime<Utc>, pii_days: u32) -> Result<Vec<Due>> {
    let mut due: Vec<Due> = Vec::new();
    store::for_each_unpurged(conn, |f| {
        if let Some(deadline) = deadline(
            f.retention_start.as_deref(),
            f.latest_ship_date.as_deref(),
            f.purchase_date.as_deref(),
            &f.created_at,
            pii_days,
        ) && deadline <= now
        {
            due.push(Due {
                order_id: f.order_id,
                deadline,
                holds_pii: f.holds_pii,
            });
        }
        Ok(())
    })?;
    due.sort_by(|a, b| (a.deadline, &a.order_id).cmp(&(b.deadline, &b.order_id)));
    Ok(due)
}

/// The latest purge run that destroyed PII and could not empty the WAL, with no later run
/// that did: `(seq, ts, held_by)` of its `purge.run` record. The purged ciphertext may still
/// be in `vault.db` until a checkpoint finishes. Records from before `wal_truncated` was
/// recorded count as truncated.
pub fn wal_left_behind(records: &[crate::audit::Record]) -> Option<(u64, String, Vec<String>)> {
    let mut left = None;
    for r in records.iter().filter(|r| r.event == "purge.run") {
        let f = |k: &str| r.fields.get(k);
        if f("dry_run").and_then(|v| v.as_bool()) == Some(true) {
            continue;
        }
        match f("wal_truncated").and_then(|v| v.as_bool()) {
            Some(false) => {
                let destroyed = f("orders_purged").and_then(|v| v.as_u64()).unwrap_or(0) > 0;
                if destroyed || left.is_some() {
                    let held: Vec<String> = f("wal_held_by")
                        .and_then(|v| v.as_array())
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect();
                    left = Some((r.seq, r.ts.clone(), held));
                }
            }
            _ => left = None,
        }
    }
    left
}

/// How many order ids one `purge.orders` record names.
const PURGED_IDS_PER_RECORD: usize = 500;

/// What to purge.
#[derive(Debug, Clone)]
pub struct PurgeOptions {
    /// Report only; change nothing (the run is still recorded).
    pub dry_run: bool,
    /// Purge this one order now, before its deadline (a buyer's deletion request). Refused for
    /// an order still to be shipped, whose address the label needs.
    pub order: Option<String>,
    /// `retention.pii_days`.
    pub pii_days: u32,
    /// `log.max_days`.
    pub log_days: u32,
}

/// What a purge did (`purge --json`; field names pinned by a test).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct PurgeReport {
    /// Nothing was changed.
    pub dry_run: bool,
    /// Orders whose PII was destroyed (or would be).
    pub orders_purged: u64,
    /// Of those, orders that still held sealed PII or gift messages.
    pub orders_with_pii: u64,
    /// Label files destroyed: in `spool/`, and those written elsewhere (`label --out`).
    pub label_files_removed: u64,
    /// Tracked label paths left alone: what is there is not the file the tool wrote (a link,
    /// another file moved there, a row added by hand). Each is recorded as `label.refused`.
    pub label_files_refused: Vec<String>,
    /// Audit day files pruned (older than `log.max_days`).
    pub log_files_pruned: u64,
    /// The WAL was checkpointed and truncated (false: another connection's read transaction
    /// held it, so the purged ciphertext may still be in `vault.db`; the run exits 1, `audit`
    /// flags it (R15), and the next run retries).
    pub wal_truncated: bool,
    /// When the WAL was held: the other processes that had the vault open (`pid N (name)`),
    /// empty when none could be named.
    pub wal_held_by: Vec<String>,
    /// Epoch data keys destroyed in the keyring: their epochs ended and no record still
    /// needs them.
    pub epoch_keys_destroyed: u64,
    /// The purged order ids.
    pub orders: Vec<String>,
}

/// Where `config.toml` stood when the purge ran (recorded in `purge.run`).
pub type ConfigFallback = Option<&'static str>;

/// Runs a purge at `now` as `operator` with the numbers `config.toml` gave; see [`purge_with`].
pub fn purge(
    vault: &Vault,
    operator: &str,
    opts: &PurgeOptions,
    now: DateTime<Utc>,
) -> Result<PurgeReport> {
    purge_with(vault, operator, opts, None, now)
}

/// Runs a purge at `now` as `operator` (the OS user: purge takes no key, so a claimed name
/// proves nothing) and records `purge.run`. `fallback` says why the profile's numbers were
/// used instead of `config.toml`'s, if they were.
///
/// Label files are destroyed only when the file at the tracked path is the one the tool
/// wrote there (same device, inode and size): a link, a row added by hand or a file moved into
/// its place is refused, reported (`label_files_refused`) and recorded (`label.refused`),
/// and left alone.
pub fn purge_with(
    vault: &Vault,
    operator: &str,
    opts: &PurgeOptions,
    fallback: ConfigFallback,
    now: DateTime<Utc>,
) -> Result<PurgeReport> {
    let targets: Vec<Due> = vault.read(|tx| match &opts.order {
        None => due_orders(tx, now, opts.pii_days),
        Some(id) => Ok(vec![one_order(tx, id, now)?]),
    })?;
    let mut report = PurgeReport {
        dry_run: opts.dry_run,
        orders_purged: targets.len() as u64,
        orders_with_pii: targets.iter().filter(|d| d.holds_pii).count() as u64,
        orders: targets.iter().map(|d| d.order_id.clone()).collect(),
        ..Default::default()
    };
    let spool = vault.home().spool_dir();
    // Every label file this run destroys, judged before anything changes: the orders purged
    // now, and those of earlier runs (a run killed before it shredded).
    let (tracked, legacy) = vault.read(|tx| {
        let mut tracked = labels::files_of(tx, &report.orders)?;
        tracked.extend(labels::files_of_purged(tx)?);
        tracked.sort_by(|a, b| (&a.path, &a.order_id).cmp(&(&b.path, &b.order_id)));
        tracked.dedup();
        Ok((tracked, spool_files_to_remove(tx, &spool, &report.orders)?))
    })?;
    let mut destroy = Vec::new();
    let mut refused = Vec::new();
    for t in &tracked {
        match vault.read(|tx| judge(tx, &spool, &t.path, t.identity))? {
            Verdict::Destroy(_) => destroy.push(t.path.clone()),
            Verdict::Gone => {}
            Verdict::Refuse(why) => refused.push((t, why)),
        }
    }
    for p in &legacy {
        match vault.read(|tx| judge(tx, &spool, p, None))? {
            Verdict::Destroy(_) => destroy.push(p.clone()),
            Verdict::Gone => {}
            Verdict::Refuse(_) => {}
        }
    }
    destroy.sort();
    destroy.dedup();
    report.label_files_refused = refused
        .iter()
        .map(|(t, _)| t.path.to_string_lossy().into_owned())
        .collect();
    report.label_files_refused.sort();
    report.label_files_refused.dedup();
    // The epoch keys that die with this run: their epoch ended, and no record left after it
    // is sealed under them (an order whose anchor moved later keeps its key until it is due).
    let purged_now: std::collections::HashSet<&str> =
        report.orders.iter().map(String::as_str).collect();
    // Only ended epochs' keys can die: only their records are looked at.
    let current = Epoch::of(now).0;
    let in_use: std::collections::HashSet<u32> = vault
        .read(|tx| crate::vault::store::record_epochs(tx, current))?
        .into_iter()
        .filter(|(o, _)| !purged_now.contains(o.as_str()))
        .map(|(_, e)| e)
        .collect();
    let doomed: Vec<KeyName> = vault
        .keyring()
        .entries()?
        .into_iter()
        .map(|e| e.name)
        .filter(|n| n.epoch.ended_by(now) && !in_use.contains(&n.epoch.0))
        .collect();
    report.epoch_keys_destroyed = doomed.len() as u64;
    let mut epochs: Vec<String> = doomed.iter().map(|n| n.epoch.day()).collect();
    epochs.dedup();
    let run = run_event(operator, &report, opts, fallback).field("epochs_destroyed", epochs);
    if opts.dry_run {
        // Reported, not recorded one by one: a dry run refuses nothing.
        report.label_files_removed = destroy.len() as u64;
        vault.record(&[run], now)?;
        return Ok(report);
    }
    // The purged orders by id, in records of a bounded size, with what is destroyed.
    let mut events = Vec::new();
    {
        events.extend(report.orders.chunks(PURGED_IDS_PER_RECORD).map(|ids| {
            Event::new("purge.orders")
                .operator(operator)
                .field("orders", ids.to_vec())
        }));
    }
    events.extend(refused.iter().map(|(t, why)| {
        Event::new("label.refused")
            .operator(operator)
            .outcome(Outcome::Denied)
            .field("order", t.order_id.as_str())
            .field("target", t.path.to_string_lossy().as_ref())
            .field("reason", *why)
    }));
    // An order purged before its epoch ended (a deletion request) shares its epoch's key with
    // the epoch's other orders: the epoch is re-keyed without it at the next unlock by a role
    // that can open and seal (purge itself holds no key).
    let early_epochs: Vec<u32> = match &opts.order {
        Some(id) => vault
            .read(|tx| store::records_of_order(tx, id))?
            .iter()
            .filter_map(|r| crate::vault::seal::record_key_name(&r.blob))
            .map(|n| n.epoch)
            .filter(|e| !e.ended_by(now))
            .map(|e| e.0)
            .collect(),
        None => Vec::new(),
    };
    vault.record_with(&events, now, |tx| {
        store::destroy_pii(
            tx,
            targets.iter().map(|d| d.order_id.as_str()),
            &crate::audit::format_ts(now),
        )?;
        store::add_epochs_to_rekey(tx, &early_epochs)
    })?;
    report.wal_truncated = vault.checkpoint_wal()?;
    if !report.wal_truncated {
        report.wal_held_by = store::holders(&vault.home().vault_path());
    }
    // After the rows: a key is never destroyed while a committed record still needs it. A
    // run killed here leaves keys the next run destroys (they still qualify).
    vault.keyring().destroy(|n| doomed.contains(&n))?;
    for t in &tracked {
        // Judged row by row: a row added by hand for the path of a real label does not keep
        // that label from being destroyed under its own row.
        if let Verdict::Destroy(id) = vault.read(|tx| judge(tx, &spool, &t.path, t.identity))? {
            shred_checked(&t.path, id)?;
            report.label_files_removed += 1;
        }
        // Destroyed, gone, or refused (recorded above): no longer tracked.
        vault.write(|tx| labels::untrack(tx, &t.path, &t.order_id))?;
    }
    for p in &legacy {
        if let Verdict::Destroy(id) = vault.read(|tx| judge(tx, &spool, p, None))? {
            shred_checked(p, id)?;
            report.label_files_removed += 1;
        }
    }
    report.log_files_pruned = vault.prune_log(now, opts.log_days)?.files_removed as u64;
    // The run's record comes last, once the checkpoint has said whether the WAL could be
    // emptied (what was destroyed is recorded with it above, `purge.orders`).
    let run = run
        .outcome(if report.wal_truncated {
            Outcome::Ok
        } else {
            Outcome::Failed
        })
        .field("wal_truncated", report.wal_truncated)
        .field("wal_held_by", report.wal_held_by.clone())
        .field("label_files_removed", report.label_files_removed)
        .field("log_files_pruned", report.log_files_pruned);
    vault.record(&[run], now)?;
    Ok(report)
}

fn run_event(
    operator: &str,
    r: &PurgeReport,
    opts: &PurgeOptions,
    fallback: ConfigFallback,
) -> Event {
    Event::new("purge.run")
        .operator(operator)
        .field("dry_run", r.dry_run)
        .field("orders_purged", r.orders_purged)
        .field("orders_with_pii", r.orders_with_pii)
        .field("pii_days", opts.pii_days)
        .field("log_days", opts.log_days)
        .field("config", fallback.map_or("config.toml", |_| "profile"))
        .field("config_problem", fallback)
        .field("label_files_refused", r.label_files_refused.len() as u64)
        .field("order", opts.order.clone())
}

/// The OS user this process runs as: its name from the password database, else `uid N`.
pub fn os_user() -> String {
    let uid = rustix::process::geteuid().as_raw();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let id: u32 = f.nth(1)?.parse().ok()?;
            (id == uid && !name.is_empty()).then(|| name.to_string())
        })
        .next()
        .unwrap_or_else(|| format!("uid {uid}"))
}

/// What to do with a label file at a tracked path.
pub(crate) enum Verdict {
    /// It is the file the tool wrote: destroy it (its identity, checked again on opening).
    Destroy(FileIdentity),
    /// Nothing for this row: no file there, or a label the tool wrote at the same path under
    /// another row.
    Gone,
    /// Not a file the tool wrote: leave it and report why.
    Refuse(&'static str),
}

/// Judges the file at `path`, tracked with `identity` (None: tracked before identities were
/// recorded, or an untracked `spool/ORDERID.*` file of an older version): the file must be a
/// regular file (not a link) whose identity matches; without one, a file inside `spool/`
/// with no other hard link.
pub(crate) fn judge(
    conn: &Tx<'_>,
    spool: &Path,
    path: &Path,
    identity: Option<FileIdentity>,
) -> Result<Verdict> {
    let md = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Verdict::Gone),
        Err(e) => {
            return Err(Error::Failed(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    if md.file_type().is_symlink() {
        return Ok(Verdict::Refuse(
            "a symbolic link, not the file the tool wrote",
        ));
    }
    if !md.is_file() {
        return Ok(Verdict::Refuse("not a regular file"));
    }
    let found = FileIdentity::of(&md);
    if identity == Some(found) {
        return Ok(Verdict::Destroy(found));
    }
    // The file at the path is a label the tool wrote there under another row (a later label
    // at the same path, or another order's): not this row's to destroy.
    if labels::is_tracked_as(conn, path, found)? {
        return Ok(Verdict::Gone);
    }
    match identity {
        Some(_) => Ok(Verdict::Refuse(
            "not the file the tool wrote there (another file is in its place)",
        )),
        None => {
            use std::os::unix::fs::MetadataExt;
            let in_spool = path.parent() == Some(spool);
            if in_spool && md.nlink() == 1 {
                Ok(Verdict::Destroy(found))
            } else if in_spool {
                Ok(Verdict::Refuse("a file in spool/ with other hard links"))
            } else {
                Ok(Verdict::Refuse(
                    "no identity was recorded for it (tracked by an older version or added by hand)",
                ))
            }
        }
    }
}

/// The one order `purge --order` asked for.
fn one_order(conn: &Tx<'_>, id: &str, now: DateTime<Utc>) -> Result<Due> {
    let Some((lifecycle, purged, holds_pii)) = store::order_state(conn, id)? else {
        return Err(Error::usage(format!("order {id} is not in the vault")));
    };
    if purged {
        return Err(Error::usage(format!("order {id} was already purged")));
    }
    if matches!(
        lifecycle.as_str(),
        "pending" | "unshipped" | "labelled" | "partially_shipped"
    ) {
        return Err(Error::usage(format!(
            "order {id} is {lifecycle}: its address is still needed for the label; \
             ship or cancel it first"
        )));
    }
    Ok(Due {
        order_id: id.to_string(),
        deadline: now,
        holds_pii,
    })
}

/// Untracked `spool/` files named `ORDERID.*` (by versions that named spool files after the
/// order) of purged orders, and of `also` (purged now). Today's spool files have generated
/// names and are tracked.
fn spool_files_to_remove(conn: &Tx<'_>, spool: &Path, also: &[String]) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(spool) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for e in entries {
        let path = e?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let order = name.split('.').next().unwrap_or_default();
        if labels::order_of_path(conn, &path)?.is_some() {
            continue;
        }
        if also.iter().any(|o| o == order) || store::is_purged(conn, order)? {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Overwrites the file at `path` with zeros, syncs it, then removes it, after checking on the
/// open file (`O_NOFOLLOW`, then its identity) that it is still the file judged (`want`).
/// (On a journaling or copy-on-write file system the overwrite is best effort; the removal is
/// what counts.)
pub(crate) fn shred_checked(path: &Path, want: FileIdentity) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |e: std::io::Error| Error::Failed(format!("cannot destroy {}: {e}", path.display()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map_err(fail)?;
    let md = f.metadata().map_err(fail)?;
    if FileIdentity::of(&md) != want {
        return Err(Error::Unsafe(format!(
            "{} changed while it was being destroyed; left as it is",
            path.display()
        )));
    }
    let zeros = vec![0u8; 64 * 1024];
    let mut left = md.len();
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        f.write_all(&zeros[..n]).map_err(fail)?;
        left -= n as u64;
    }
    f.sync_all().map_err(fail)?;
    drop(f);
    std::fs::remove_file(path).map_err(fail)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_starts_at_shipment_then_ship_by_then_purchase() {
        let d = |s: Option<&str>, l: Option<&str>, p: Option<&str>| {
            deadline(s, l, p, "2026-01-01T00:00:00.000Z", 30)
                .unwrap()
                .to_rfc3339()
        };
        assert_eq!(
            d(
                Some("2026-03-01T00:00:00Z"),
                Some("2026-02-01T00:00:00Z"),
                None
            ),
            "2026-03-31T00:00:00+00:00"
        );
        assert_eq!(
            d(
                None,
                Some("2026-02-01T00:00:00Z"),
                Some("2026-01-20T00:00:00Z")
            ),
            "2026-03-03T00:00:00+00:00"
        );
        assert_eq!(d(None, None, None), "2026-01-31T00:00:00+00:00");
    }
}
