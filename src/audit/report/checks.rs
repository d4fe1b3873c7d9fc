//! `fulfill audit`: the compliance report, mapped to the requirement ids of COMPLIANCE.md.
//!
//! Each [`Check`] passes, fails (a finding: exit 1), or informs. What is checked, and how:
//!
//! | id | check |
//! |---|---|
//! | R25 | the audit chain verifies against the vault's head and checkpoint (a break exits 5); appends adopted after an interrupted run are findings; every configured anchor takes the current head now, and one is set (an `anchor.unsent` span is listed); with `--anchors`, every head an anchor saw is in the chain and every record is covered by one; with the log key, every record's forward-secure MAC, the key file and the checkpoint; the vault database passes `PRAGMA quick_check` (damage exits 5) |
//! | R27 | nothing younger than the profile's window was pruned |
//! | R15 | no order holds PII past its deadline ([`crate::flow::retention::due_orders`]); the last purge that destroyed PII emptied the WAL, or a later one did ([`crate::flow::retention::wal_left_behind`]) |
//! | R20 | every file in `spool/` belongs to an order whose PII may still be kept; every tracked label path holds the file the tool wrote; no label purchase is unresolved (`label.unresolved`, [`crate::flow::buy`]) unless a shipment of its order was recorded since or the order was canceled |
//! | R21 | the home is not on removable media or in a cloud-sync folder; every file is 0600 and every folder 0700 |
//! | R26 | no PII value the vault holds appears in the logs, the config, the database files (in plaintext), or any `--scan` path, in any of the forms [`crate::audit::leak::FORMS`] lists (which the report lists too); parts of files it could not decode (encrypted zip members, streams past the decompression caps) are findings |
//! | R12 | every endpoint ever configured (from `credentials.changed` records) is HTTPS, or loopback HTTP in a sandbox home |
//! | R11 | the credentials' age (rotate yearly) |
//! | R4/R5 | every operator, role and last use; active accounts unused for 90 days |
//! | R10 | who has a second factor (from `operator.totp_enrolled`); a person without one fails under `dpp-2025` |
//! | R14 | when the PII and secrets keys were last rotated (`vault.rekeyed`), data keys in the keyring, epochs destroyed (info) |
//! | R18 | deletions on request (`purge --order`), newest first (info) |
//! | R6/R28 | failed unlocks and denials in the window; bursts (5 in an hour by one operator) and unusual PII-opening volume (the PII of over 200 orders a day by one operator); a TOTP replay counter changed outside fulfill (`totp.counter_unverified`) |
//! | R2/R24 | what the log recorded in the window, by event; PII openings by purpose; records adopted after a crash (`audit.recovered`), counted apart |
//!
//! The leak scan needs the PII key (owner or auditor) and is recorded as `pii.scanned`; the run
//! itself as `audit.run`. Every failed check carries its next action ([`next_action`]); the
//! report names the seller and marks a sandbox home.
//!
//! The same run also gathers, read-only, what the report a person looks at draws
//! ([`crate::audit::report`]): the state of every day of the log window ([`LogDay`]), the
//! operators and their last use ([`OperatorUse`]) and PII openings per operator per day
//! ([`PiiOpenings`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use crate::audit::leak::Leak;
use crate::audit::verify::Finding;
use crate::audit::{Event, Outcome, Record};
use crate::error::{Error, Result};
use crate::safety::Environment;
use crate::vault::{Session, Vault, store};

/// An account unused this long is flagged (R5).
pub const UNUSED_DAYS: i64 = 90;
/// Credentials older than this are flagged (R11).
const CREDENTIALS_DAYS: i64 = 365;
/// Failures (unlock.failed, access.denied) by one operator within an hour that raise an alarm.
const BURST: usize = 5;
/// Orders whose PII one operator opened in one day that raise an alarm (more than this many).
pub const OPENINGS_PER_DAY: usize = 200;
/// The most days the log window strip shows (the newest ones).
pub const MAX_STRIP_DAYS: u64 = 400;

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Compliant.
    Pass,
    /// A finding: someone must act.
    Fail,
    /// Facts for the reviewer.
    Info,
}

/// One check of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Requirement id(s) in COMPLIANCE.md.
    pub id: &'static str,
    /// What is checked.
    pub title: &'static str,
    /// The verdict.
    pub status: Status,
    /// Lines for people (no PII: order ids, operator names, file names, counts).
    pub details: Vec<String>,
    /// What to do next, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_action: Option<&'static str>,
    /// Which of `details` are findings (the others are facts).
    #[serde(skip)]
    pub(crate) failed: Vec<usize>,
}

impl Check {
    /// The lines of `details` that are findings (the others are facts).
    pub fn finding_lines(&self) -> impl Iterator<Item = &str> {
        self.failed
            .iter()
            .filter_map(|&i| self.details.get(i).map(String::as_str))
    }

    fn new(id: &'static str, title: &'static str) -> Check {
        Check {
            id,
            title,
            status: Status::Pass,
            details: Vec::new(),
            next_action: None,
            failed: Vec::new(),
        }
    }

    fn fail(&mut self, line: String) {
        self.status = Status::Fail;
        self.failed.push(self.details.len());
        self.details.push(line);
    }

    fn info(mut self) -> Check {
        if self.status == Status::Pass {
            self.status = Status::Info;
        }
        self
    }
}

/// What to audit.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Days of records to summarise.
    pub window_days: u32,
    /// `retention.pii_days`.
    pub pii_days: u32,
    /// Extra files or folders to scan for PII.
    pub scan: Vec<PathBuf>,
    /// An export of the system log holding the chain heads sent there (`--anchors`).
    pub anchors: Option<PathBuf>,
}

/// The report (`audit --json`).
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    /// When it was made (UTC).
    pub generated_at: String,
    /// The same time in the time zone of the machine that made it, with its offset.
    pub generated_at_local: String,
    /// The seller the home fetches for (from the last credentials change), if any.
    pub seller_id: Option<String>,
    /// The business name (`config set business.name`), if set.
    pub business_name: Option<String>,
    /// A sandbox home (the built-in fake Amazon; no real buyer's data).
    pub sandbox: bool,
    /// Every marketplace the vault holds orders of, most orders first: its orders, where
    /// their buyers' details stand, and the orders opened in the window.
    pub marketplaces: Vec<MarketplaceUse>,
    /// Orders stored from a marketplace the home did not configure (Amazon returned them
    /// anyway): (order id, marketplace id).
    pub orders_unlisted_marketplace: Vec<(String, Option<String>)>,
    /// The vault's policy profile.
    pub profile: String,
    /// Days of records summarised.
    pub window_days: u32,
    /// Checks that failed.
    pub findings: usize,
    /// The audit chain verified.
    pub chain_intact: bool,
    /// The vault database passed `PRAGMA quick_check`.
    pub database_intact: bool,
    /// Records verified.
    pub records_verified: u64,
    /// PII values looked for.
    pub pii_values_scanned: usize,
    /// Files scanned for them.
    pub files_scanned: usize,
    /// The forms each value was looked for in ([`crate::audit::leak::FORMS`]).
    pub leak_forms: Vec<&'static str>,
    /// Every check.
    pub checks: Vec<Check>,
    /// Breaks in the chain, by file, line and seq.
    pub chain_breaks: Vec<Finding>,
    /// PII found where it must not be (file, line, order, field; never the value).
    pub leaks: Vec<Leak>,
    /// Every day of the log window, oldest first (at most [`MAX_STRIP_DAYS`], the newest).
    pub log_days: Vec<LogDay>,
    /// Every operator, its role, state and last use.
    pub operators: Vec<OperatorUse>,
    /// PII openings in the window per operator and day (days without any are left out).
    pub pii_openings: Vec<PiiOpenings>,
}

/// What the log holds for one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DayState {
    /// A day file with records, and no break found in it.
    Records,
    /// No day file, and no record says one was written: nothing happened that day.
    NoActivity,
    /// No day file, though the chain or the vault's head says records were written that day:
    /// it was deleted.
    Missing,
    /// Pruned, at or before the checkpoint the chain resumes from.
    Pruned,
    /// A day file in which verification found a break.
    Damaged,
}

/// One cell of the log window strip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogDay {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// What the log holds for it.
    pub state: DayState,
    /// Readable records in its day file.
    pub records: u64,
}

/// An operator and its last use (R4/R5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorUse {
    /// Name.
    pub name: String,
    /// Role.
    pub role: String,
    /// `active`, `locked` or `disabled`.
    pub state: &'static str,
    /// Last successful unlock, if any.
    pub last_used: Option<String>,
    /// Active or locked, and unused for [`UNUSED_DAYS`] or more: a finding.
    pub unused: bool,
}

/// PII openings by one operator on one day (R6/R28).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PiiOpenings {
    /// Operator name (`-` for records without one).
    pub operator: String,
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Orders whose PII was opened (each order once a day, however many times it was opened).
    pub count: usize,
    /// The same orders by marketplace id (`-`: an order the vault no longer knows, or an
    /// opening whose record names no order).
    pub by_marketplace: BTreeMap<String, usize>,
}

/// One marketplace the vault holds orders of (`audit --json` `marketplaces`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MarketplaceUse {
    /// The marketplace id (`-` for orders stored without one).
    pub marketplace_id: String,
    /// Its country code and currency, where the id is a known marketplace.
    pub country: Option<&'static str>,
    /// Its currency.
    pub currency: Option<&'static str>,
    /// Orders stored.
    pub orders: u64,
    /// Orders whose sealed details are held.
    pub with_pii: u64,
    /// Open orders still waiting for their details.
    pub waiting_for_pii: u64,
    /// Orders purged.
    pub purged: u64,
    /// Orders whose details were opened in the window (each once).
    pub opened_in_window: u64,
}

/// The strip's cells from `from` to `to` (inclusive; none if `from > to`): `files` maps the
/// day files present to their record counts, `named` holds the days that records or the
/// vault's head say had records, `damaged` the days whose file verification faulted, and
/// `pruned_to` the checkpoint's day.
pub fn log_window(
    from: NaiveDate,
    to: NaiveDate,
    files: &BTreeMap<NaiveDate, u64>,
    named: &BTreeSet<NaiveDate>,
    damaged: &BTreeSet<NaiveDate>,
    pruned_to: Option<NaiveDate>,
) -> Vec<LogDay> {
    std::iter::successors(Some(from), |d| d.succ_opt())
        .take_while(|d| *d <= to)
        .map(|d| {
            let records = files.get(&d).copied().unwrap_or(0);
            let state = if pruned_to.is_some_and(|p| d <= p) {
                DayState::Pruned
            } else if damaged.contains(&d) {
                DayState::Damaged
            } else if files.contains_key(&d) {
                DayState::Records
            } else if named.contains(&d) {
                DayState::Missing
            } else {
                DayState::NoActivity
            };
            LogDay {
                day: d.format("%Y-%m-%d").to_string(),
                state,
                records,
            }
        })
        .collect()
}

/// Runs the audit as `s` (who must be allowed to audit) at `now`. Record it with
/// [`record_run`].
pub fn audit(
    vault: &Vault,
    s: &Session<'_>,
    env: &Environment,
    opts: &AuditOptions,
    now: DateTime<Utc>,
) -> Result<AuditReport> {
    s.require(crate::role::Capability::Audit, "audit", now)?;
    let home = vault.home();
    let profile = vault.profile();
    let mut checks = Vec::new();

    // R25: the chain.
    let verification = s.verify_log(now)?;
    // Every readable record, read once: the window's for the summaries, all for R12.
    let (all, day_counts) = readable_records(vault)?;
    // A window reaching before the calendar's start means "everything" (no overflow).
    let since = now
        .checked_sub_signed(Duration::days(i64::from(opts.window_days)))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let records: Vec<&Record> = all
        .iter()
        .filter(|r| crate::mws::model::parse_mws_time(&r.ts).is_some_and(|t| t >= since))
        .collect();
    let mut c = Check::new("R25", "audit log is intact (hash chain, head, checkpoint)");
    for f in &verification.findings {
        let line = f.line.map(|l| format!(":{l}")).unwrap_or_default();
        let seq = f.seq.map(|s| format!(" seq {s}")).unwrap_or_default();
        c.fail(format!("{}{line}{seq}: {}", f.file, f.message));
    }
    // An adoption is how a crash before commit looks, and also how a rolled-back head or a
    // record slipped into the file looks: a person must look at it.
    for r in records.iter().filter(|r| r.event == "audit.recovered") {
        if let Some(from) = r.fields.get("adopted_from_seq") {
            c.fail(format!(
                "seq {} at {} adopted records {from}..={} that the vault had not committed: a crash \
                 before commit, or a head rolled back / a record added to the file by hand",
                r.seq,
                r.ts,
                r.fields.get("adopted_to_seq").cloned().unwrap_or_default()
            ));
        }
    }
    c.details.push(format!(
        "{} records in {} day file(s) verified",
        verification.records, verification.files
    ));
    // The anchors: each is tried now (a standing failure is a finding until it works), and
    // the records say when one was out of reach.
    anchor_checks(vault, &all, &mut c, now)?;
    // The heads an anchor saw, which no operator can rewrite there.
    let mut anchors_broken = false;
    if let Some(path) = &opts.anchors {
        let text = read_capped(path, 256 << 20)?;
        let anchored = crate::audit::anchor::parse(&text, vault.id());
        let by_seq: std::collections::HashMap<u64, (&str, &str)> = all
            .iter()
            .filter_map(|r| r.hash.as_deref().map(|h| (r.seq, (h, r.ts.as_str()))))
            .collect();
        let last = all.iter().map(|r| r.seq).max().unwrap_or(0);
        let pruned = vault.chain_checkpoint()?.map_or(0, |cp| cp.seq);
        let mut checked = crate::audit::anchor::check(&anchored, last, pruned, |seq| {
            by_seq.get(&seq).map(|(h, _)| h.to_string())
        });
        // This audit's own unlock may have been written after the export was taken: it is
        // not expected there (its head went to the anchors as it was written).
        if let Some(own) = all.iter().rev().find(|r| r.seq == last)
            && own.event == "unlock.ok"
            && own.operator.as_deref() == Some(s.name())
            && let Some(tail) = checked.uncovered.last_mut()
            && tail.1 == last
        {
            if tail.0 == last {
                checked.uncovered.pop();
            } else {
                tail.1 -= 1;
            }
        }
        anchors_broken = !checked.problems.is_empty();
        for p in checked.problems {
            c.fail(format!("{}: {p}", path.display()));
        }
        let ts = |seq: u64| by_seq.get(&seq).map_or("?", |(_, t)| t);
        for (a, b) in checked.uncovered.iter().take(20) {
            c.fail(format!(
                "{}: records seq {a}..={b} ({} to {}) are covered by no head in it: a kept copy of \
                 logs/audit.key could have rewritten them unnoticed (was an anchor out of reach \
                 then, or was the export taken before them? export again and rerun)",
                path.display(),
                ts(*a),
                ts(*b)
            ));
        }
        if checked.uncovered.len() > 20 {
            c.fail(format!(
                "{}: {} more spans are covered by no head",
                path.display(),
                checked.uncovered.len() - 20
            ));
        }
        c.details.push(format!(
            "{} head(s) from {} checked against the chain",
            anchored.len(),
            path.display()
        ));
    }
    // The store itself: the vault file's pages, records and constraints (`PRAGMA
    // quick_check`), or a shared store's own check.
    let damage = vault.integrity_check()?;
    let store = vault.store_name();
    for d in damage.iter().take(20) {
        c.fail(format!(
            "{store} is damaged: {d} (restore it from a backup)"
        ));
    }
    if damage.len() > 20 {
        c.fail(format!("{store}: {} more problems", damage.len() - 20));
    }
    if damage.is_empty() {
        c.details
            .push(format!("{store} passed its integrity check"));
    }
    let database_intact = damage.is_empty();
    checks.push(c);

    // R27: retention of the log itself.
    let mut c = Check::new("R27", "audit log kept for the whole window");
    let cutoff = now.date_naive() - chrono::Days::new(u64::from(profile.min_log_days()));
    match vault.chain_checkpoint()? {
        Some(cp) if cp.day >= cutoff => c.fail(format!(
            "day files up to {} were pruned, inside the {}-day window (since {cutoff})",
            cp.day,
            profile.min_log_days()
        )),
        Some(cp) => c.details.push(format!(
            "pruned up to {} (outside the {}-day window); the chain resumes at seq {}",
            cp.day,
            profile.min_log_days(),
            cp.seq + 1
        )),
        None => c.details.push(format!(
            "nothing pruned; records since {}",
            verification.first_ts.as_deref().unwrap_or("the start")
        )),
    }
    checks.push(c);
    let log_days = log_days(vault, &all, &day_counts, &verification.findings, opts, now)?;

    // R15: PII retention.
    let mut c = Check::new("R15", "no PII kept past its retention");
    let due = vault.read(|tx| crate::flow::retention::due_orders(tx, now, opts.pii_days))?;
    for d in due.iter().filter(|d| d.holds_pii) {
        c.fail(format!(
            "order {}: PII kept past {} (run `fulfill purge`)",
            d.order_id,
            crate::audit::format_ts(d.deadline)
        ));
    }
    // A purge whose checkpoint a reader held: the overwritten pages, ciphertext included, may
    // still be in vault.db until a later purge empties the WAL.
    if let Some((seq, ts, held)) = crate::flow::retention::wal_left_behind(&all) {
        c.fail(format!(
            "the purge of seq {seq} at {ts} could not empty the WAL ({}held a read transaction): \
             purged ciphertext may still be in vault.db; run `fulfill purge` with no other \
             connection open",
            if held.is_empty() {
                "another connection ".to_string()
            } else {
                format!("{} ", held.join(", "))
            }
        ));
    }
    let purged = vault.read(crate::vault::retention::purged_count)?;
    c.details.push(format!(
        "{purged} order(s) purged so far; limit {} days",
        opts.pii_days
    ));
    let [delivered, latest, shipment, cancellation] =
        vault.read(crate::vault::orders::retention_anchors)?;
    c.details.push(format!(
        "retention clocks: {delivered} from delivery (DELIVERED seen), {latest} from the latest \
         delivery date, {shipment} from shipment, {cancellation} from cancellation"
    ));
    checks.push(c);

    // R20: label files.
    let mut c = Check::new("R20", "label files only for orders whose PII may be kept");
    let spool = home.spool_dir();
    let mut spool_files = 0;
    if let Ok(entries) = std::fs::read_dir(&spool) {
        for e in entries.flatten() {
            spool_files += 1;
            let name = e.file_name().to_string_lossy().into_owned();
            // Tracked (today's generated names), else named after the order (older versions).
            let tracked = vault.read(|tx| crate::vault::labels::order_of_path(tx, &e.path()))?;
            let order = tracked
                .as_deref()
                .unwrap_or_else(|| name.split('.').next().unwrap_or_default());
            match vault.read(|tx| crate::vault::orders::lifecycle_of(tx, order))? {
                None => c.fail(format!("spool/{name} belongs to no order in the vault")),
                Some((_, true)) => c.fail(format!("spool/{name}: its order was purged")),
                Some(_) if due.iter().any(|d| d.order_id == order) => {
                    c.fail(format!("spool/{name}: its order is past retention"))
                }
                Some(_) => {}
            }
        }
    }
    for t in vault.read(crate::vault::labels::files_of_purged)? {
        if t.path.exists() {
            c.fail(format!(
                "{}: a label of purged order {}",
                t.path.display(),
                t.order_id
            ));
        }
    }
    // A tracked path whose file is not the one the tool wrote (a row added by hand, a link or
    // another file put in its place): purge will refuse it, so say so now.
    for t in vault.read(crate::vault::labels::all_files)? {
        if let crate::flow::retention::Verdict::Refuse(why) =
            vault.read(|tx| crate::flow::retention::judge(tx, &spool, &t.path, t.identity))?
        {
            c.fail(format!(
                "{}: tracked as a label of order {}, but {why}",
                t.path.display(),
                t.order_id
            ));
        }
    }
    let overdue: Vec<String> = due.iter().map(|d| d.order_id.clone()).collect();
    for t in vault.read(|tx| crate::vault::labels::files_of(tx, &overdue))? {
        if t.path.exists() && !t.path.starts_with(&spool) {
            c.fail(format!(
                "{}: a label of order {}, past retention",
                t.path.display(),
                t.order_id
            ));
        }
    }
    // A label bought at Amazon whose purchase Amazon would neither hand back nor rule out
    // (`label.unresolved`): a label carrying the address that the tool does not track.
    for (order, known) in vault.read(crate::flow::buy::unresolved)? {
        let since = known.as_ref().map_or("", |k| k.since.as_str());
        let after = |t: Option<String>| {
            let t = t.as_deref().and_then(crate::mws::model::parse_mws_time);
            let s = crate::mws::model::parse_mws_time(since);
            matches!((t, s), (Some(t), Some(s)) if t >= s)
        };
        let closed = match vault.read(|tx| crate::vault::orders::lifecycle_of(tx, &order))? {
            None => true,
            Some((l, purged)) => purged || l == crate::model::lifecycle::Lifecycle::Canceled,
        };
        let shipped = vault
            .read(|tx| crate::vault::shipments::packages(tx, &order))?
            .into_iter()
            .filter(|p| p.state != "cancelled")
            .map(|p| p.shipped_at)
            .max();
        if closed || after(shipped) {
            c.details.push(format!(
                "order {order}: the unresolved label purchase of {since} is settled (a shipment \
                 was recorded since, or the order was canceled or purged)"
            ));
        } else {
            c.fail(format!(
                "order {order}: a label purchase ({}, idempotency key {}) may have been bought at \
                 Amazon since {since} and is not recorded here: print it from Seller Central, then \
                 run `fulfill buy {order}` again or record the shipment",
                known.as_ref().map_or("?", |k| k.service.as_str()),
                known.as_ref().map_or("?", |k| k.key.as_str()),
            ));
        }
    }
    c.details
        .push(format!("{spool_files} label file(s) in spool/"));
    checks.push(c);

    // R21: where the home lies, and its permissions.
    let mut c = Check::new(
        "R21",
        "home on a fixed disk, not synced, private to this user",
    );
    if let Err(e) = env.check_location(home.root()) {
        c.fail(e.to_string());
    }
    let mut stack = vec![home.root().to_path_buf()];
    let mut checked = 0;
    while let Some(p) = stack.pop() {
        checked += 1;
        if let Err(e) = crate::safety::check_private(&p) {
            c.fail(e.to_string());
        }
        if p.is_dir()
            && let Ok(entries) = std::fs::read_dir(&p)
        {
            stack.extend(entries.flatten().map(|e| e.path()));
        }
    }
    c.details
        .push(format!("{checked} file(s) and folder(s) checked"));
    checks.push(c);

    // R26: leak scan.
    let mut c = Check::new(
        "R26",
        "no PII in logs, config, database files or scanned paths",
    );
    let (scanner, sealing) = s.leak_scanner(now)?;
    let mut targets: Vec<PathBuf> = vec![
        home.logs_dir(),
        home.config_path(),
        home.vault_path(),
        home.root().join("vault.db-wal"),
        home.root().join("vault.db-shm"),
    ];
    targets.extend(opts.scan.iter().cloned());
    let mut leaks = Vec::new();
    let mut files_scanned = 0;
    for t in targets.iter().filter(|t| t.exists()) {
        let (mut l, unreadable, n) = scanner.scan_tree(t);
        files_scanned += n;
        leaks.append(&mut l);
        for (p, why) in unreadable {
            c.fail(format!("{}: could not be scanned: {why}", p.display()));
        }
    }
    // A shared store's files are the server's: its rows are read instead, every text and
    // byte value of every table (the sealed records among them open nothing).
    if vault.store_is_shared() {
        let store = vault.store_name();
        let mut values = 0u64;
        vault.read(|tx| {
            crate::vault::store::for_each_value(tx, |table, row, column, bytes| {
                values += 1;
                for (offset, order, field) in scanner.scan_bytes(bytes) {
                    leaks.push(crate::audit::leak::Leak {
                        file: PathBuf::from(format!("{store} table {table} column {column}")),
                        line: row as usize,
                        offset,
                        order_id: order.to_string(),
                        field,
                        form: "text".to_string(),
                        decoded_offset: None,
                    });
                }
                Ok(())
            })
        })?;
        c.details.push(format!(
            "{values} value(s) of the store's rows read ({store})"
        ));
    }
    for l in &leaks {
        let form = match (l.form.as_str(), l.decoded_offset) {
            ("text", _) => String::new(),
            (f, None) => format!(" ({f})"),
            (f, Some(at)) => format!(" ({f}, at byte {at} of the decoded bytes)"),
        };
        c.fail(format!(
            "{} line {}: the {} of order {}{form}",
            l.file.display(),
            l.line,
            l.field,
            l.order_id
        ));
    }
    c.details.push(format!(
        "{} PII value(s) looked for in {files_scanned} file(s)",
        scanner.patterns()
    ));
    c.details.push(format!(
        "forms searched: {}",
        crate::audit::leak::FORMS.join("; ")
    ));
    let pii_values = scanner.patterns();
    drop(scanner);
    checks.push(c);

    // R13: sealed records prove their sealer, and die with their epoch key.
    let mut c = Check::new(
        "R13",
        "every sealed record opens under a key a sealer made; no key outlives its epoch",
    );
    for f in sealing {
        c.fail(f);
    }
    // A purged order holding a sealed record again was put back: the log names every purged
    // order (`purge.orders`), and the log cannot be rewritten unnoticed.
    let purged: std::collections::BTreeMap<String, u64> = all
        .iter()
        .filter(|r| r.event == "purge.orders")
        .flat_map(|r| {
            r.fields
                .get("orders")
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
                .filter_map(|o| o.as_str().map(|o| (o.to_string(), r.seq)))
        })
        .collect();
    let put_back: Vec<(String, u64)> = vault
        .read(crate::vault::store::orders_with_sealed_records)?
        .into_iter()
        .filter_map(|o| purged.get(&o).map(|seq| (o, *seq)))
        .collect();
    for (o, seq) in put_back {
        c.fail(format!(
            "order {o} was purged (seq {seq}) but holds sealed PII again: put back from a copy; \
             run `fulfill purge --order {o}` and find who wrote it"
        ));
    }
    c.details.push(format!(
        "{} data key(s) in the keyring",
        vault.keyring().entries()?.len()
    ));
    let waiting = vault.read(crate::vault::store::pii_waiting_count)?;
    if waiting > 0 {
        c.details.push(format!(
            "{waiting} order(s) still to ship wait for their PII (after a restore, or not yet \
             sent by Amazon): `fulfill fetch` brings it"
        ));
    }
    checks.push(c);

    // R12: endpoints, from every credentials change the log holds.
    let mut c = Check::new("R12", "Amazon is reached over TLS only");
    let mut endpoints = 0;
    for r in all.iter().filter(|r| r.event == "credentials.changed") {
        if let Some(ep) = r.fields.get("endpoint").and_then(|v| v.as_str()) {
            endpoints += 1;
            if let Err(e) = crate::mws::credentials::check_endpoint(ep, vault.is_sandbox()) {
                c.fail(format!("seq {}: {e}", r.seq));
            } else if ep.starts_with("http://") {
                c.details.push(format!(
                    "seq {}: {} is the built-in sandbox on loopback, over plain HTTP: allowed in \
                     a sandbox home only (no real Amazon call; a real home refuses it)",
                    r.seq,
                    ep.trim_start_matches("http://")
                ));
            }
        }
    }
    c.details.push(format!(
        "{endpoints} endpoint setting(s) checked; every call also re-checks it and requires TLS 1.2+"
    ));
    checks.push(c);

    // R11: credential age.
    // Named by the home's API: the last credentials change the log holds says which.
    let mut c = Check::new("R11", "Amazon credentials rotated within a year");
    let api = all
        .iter()
        .rev()
        .find(|r| r.event == "credentials.changed")
        .map(|r| match r.fields.get("api").and_then(|v| v.as_str()) {
            Some("sp-api") => "SP-API credentials",
            _ => "MWS credentials",
        })
        .unwrap_or("credentials");
    // The oldest of what is stored: the home's credentials row, or each SP-API region's.
    let stored = vault
        .read(crate::vault::orders::credentials)?
        .map(|(_, at, by)| (at, by))
        .into_iter()
        .chain(
            vault
                .read(crate::vault::orders::region_credentials)?
                .into_iter()
                .map(|(_, _, at, by)| (at, by)),
        )
        .min_by(|a, b| a.0.cmp(&b.0));
    match stored {
        None => c.details.push("no credentials stored".into()),
        Some((updated_at, by)) => {
            let age = crate::mws::model::parse_mws_time(&updated_at).map(|t| (now - t).num_days());
            match age {
                Some(d) if d > CREDENTIALS_DAYS => {
                    c.fail(format!("{api} set {d} days ago by {by}; rotate them"))
                }
                Some(d) => c.details.push(format!("{api} set {d} day(s) ago by {by}")),
                None => c.details.push(format!("{api} set at {updated_at} by {by}")),
            }
        }
    }
    checks.push(c);

    // R4/R5: operators.
    let mut c = Check::new(
        "R4/R5",
        "named operators, reviewed; none unused for 90 days",
    );
    let mut operators = Vec::new();
    for op in vault.operators()? {
        let last = op.last_used_at.unwrap_or(op.created_at);
        let state = if op.disabled_at.is_some() {
            "disabled"
        } else if op.locked_at.is_some() {
            "locked"
        } else {
            "active"
        };
        let line = format!(
            "{} ({}, {state}): last used {}",
            op.name,
            op.role,
            op.last_used_at
                .map_or("never".to_string(), crate::audit::format_ts)
        );
        let unused = state != "disabled" && now - last > Duration::days(UNUSED_DAYS);
        if unused {
            c.fail(format!(
                "{line}: unused for {UNUSED_DAYS}+ days; disable it"
            ));
        } else {
            c.details.push(line);
        }
        operators.push(OperatorUse {
            name: op.name.clone(),
            role: op.role.to_string(),
            state,
            last_used: op.last_used_at.map(crate::audit::format_ts),
            unused,
        });
    }
    checks.push(c);

    // R10: a second factor for people.
    let mut c = Check::new("R10", "people sign in with a second factor (TOTP)");
    let enrolled: BTreeMap<&str, &str> = all
        .iter()
        .filter(|r| r.event == "operator.totp_enrolled")
        .filter_map(|r| Some((r.operator.as_deref()?, r.ts.as_str())))
        .collect();
    for op in vault
        .operators()?
        .iter()
        .filter(|o| o.disabled_at.is_none())
    {
        if matches!(op.credential, store::StoredCredential::KeyFile) {
            c.details.push(format!(
                "{} ({}): a service with a key file, no second factor",
                op.name, op.role
            ));
        } else if let Some(ts) = enrolled.get(op.name.as_str()) {
            c.details
                .push(format!("{} ({}): enrolled {ts}", op.name, op.role));
        } else if profile.requires_totp() {
            c.fail(format!(
                "{} ({}) has no second factor, which profile {profile} requires",
                op.name, op.role
            ));
        } else {
            c.details.push(format!(
                "{} ({}): no second factor (optional under {profile}; dpp-2025 requires it)",
                op.name, op.role
            ));
        }
    }
    checks.push(c);

    // R14: key management: when the keys were last rotated.
    let mut c = Check::new("R14", "keys made by a secure RNG, kept apart, rotated");
    match all.iter().rev().find(|r| r.event == "vault.rekeyed") {
        Some(r) => c.details.push(format!(
            "PII and secrets keys last rotated {} by {} (epoch {}, {})",
            r.ts,
            r.operator.as_deref().unwrap_or("-"),
            r.fields.get("epoch").map_or("?".into(), ToString::to_string),
            r.fields
                .get("reason")
                .and_then(|v| v.as_str())
                .unwrap_or("no reason recorded")
        )),
        None => c.details.push(format!(
            "PII and secrets keys never rotated since the vault was made ({}); `fulfill rekey` rotates them, and disabling a key holder does",
            all.iter()
                .find(|r| r.event == "vault.created")
                .map_or("before the log window", |r| r.ts.as_str())
        )),
    }
    if let Some(r) = all.iter().rev().find(|r| r.event == "keyset.rotated") {
        c.details.push(format!(
            "last operator key set rewrapped {} ({})",
            r.ts,
            r.operator.as_deref().unwrap_or("-")
        ));
    }
    let destroyed: u64 = all
        .iter()
        .filter(|r| r.event == "purge.run")
        .filter_map(|r| r.fields.get("epochs_destroyed"))
        .map(|v| {
            v.as_u64()
                .or_else(|| v.as_array().map(|a| a.len() as u64))
                .unwrap_or(0)
        })
        .sum();
    c.details.push(format!(
        "{} epoch data key(s) in the keyring, apart from the rows; {destroyed} epoch(s) destroyed by purge in the log kept",
        vault.keyring().entries()?.len()
    ));
    checks.push(c.info());

    // R18: deletion on Amazon's request (`purge --order`).
    let mut c = Check::new("R18", "PII deleted on request (purge --order)");
    let requested: Vec<&Record> = all
        .iter()
        .filter(|r| r.event == "purge.run" && r.fields.get("order").is_some_and(|v| !v.is_null()))
        .collect();
    if requested.is_empty() {
        c.details
            .push("no deletion on request in the log kept".to_string());
    }
    for r in requested.iter().rev().take(20) {
        c.details.push(format!(
            "order {} purged on request {} by {}",
            r.fields
                .get("order")
                .and_then(|v| v.as_str())
                .unwrap_or("?"),
            r.ts,
            r.operator.as_deref().unwrap_or("-")
        ));
    }
    if requested.len() > 20 {
        c.details.push(format!(
            "{} earlier deletions on request",
            requested.len() - 20
        ));
    }
    checks.push(c.info());

    // R6/R28: intrusion attempts and alarms.
    let mut c = Check::new("R6/R28", "failed unlocks, denials and unusual activity");
    let mut failures: BTreeMap<&str, Vec<DateTime<Utc>>> = BTreeMap::new();
    // Volume is the orders whose PII an operator opened that day: a label and a packing slip
    // for the same order (two openings) expose one buyer, not two. An opening that names no
    // order (records of older builds) counts its `count`.
    let mut openings: BTreeMap<(&str, String), (BTreeSet<&str>, usize)> = BTreeMap::new();
    for r in &records {
        let op = r.operator.as_deref().unwrap_or("-");
        let t = crate::mws::model::parse_mws_time(&r.ts);
        match r.event.as_str() {
            "unlock.failed" | "access.denied" => failures.entry(op).or_default().extend(t),
            // The replay counter was moved or cleared outside fulfill (`vault::totp`).
            "totp.counter_unverified" => c.fail(format!(
                "{op}: the second factor's replay counter was changed outside fulfill (its MAC \
                 is {}; seq {} at {}): the log bounded it instead; find who edited vault.db",
                r.fields
                    .get("counter_mac")
                    .and_then(|v| v.as_str())
                    .unwrap_or("invalid"),
                r.seq,
                r.ts
            )),
            // A batch opening (one print job) counts each order it opened.
            "pii.opened" => {
                let (orders, unnamed) = openings
                    .entry((op, r.ts.chars().take(10).collect()))
                    .or_default();
                let named: Vec<&str> = match (r.fields.get("orders"), r.fields.get("order_id")) {
                    (Some(serde_json::Value::Array(a)), _) => {
                        a.iter().filter_map(|v| v.as_str()).collect()
                    }
                    (_, Some(serde_json::Value::String(o))) => vec![o.as_str()],
                    _ => Vec::new(),
                };
                if named.is_empty() {
                    *unnamed +=
                        r.fields.get("count").and_then(|v| v.as_u64()).unwrap_or(1) as usize;
                }
                orders.extend(named);
            }
            _ => {}
        }
    }
    for (op, times) in &failures {
        let burst = times
            .windows(BURST)
            .find(|w| w[BURST - 1] - w[0] <= Duration::hours(1));
        match burst {
            Some(w) => c.fail(format!(
                "{op}: {BURST} failed unlocks or denials within an hour from {}",
                crate::audit::format_ts(w[0])
            )),
            None => c.details.push(format!(
                "{op}: {} failed unlock(s) or denial(s)",
                times.len()
            )),
        }
    }
    // Each opened order's marketplace: volumes and openings per marketplace (issue 22).
    let market_of = vault.read(|tx| {
        crate::vault::orders::marketplaces_of(
            tx,
            openings
                .values()
                .flat_map(|(o, _)| o.iter().copied())
                .collect::<BTreeSet<&str>>(),
        )
    })?;
    let mut opened_by_market: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut pii_openings = Vec::new();
    for ((op, day), (orders, unnamed)) in &openings {
        let n = orders.len() + unnamed;
        let mut by_marketplace: BTreeMap<String, usize> = BTreeMap::new();
        for o in orders {
            let m = market_of.get(*o).map_or("-", String::as_str);
            *by_marketplace.entry(m.to_string()).or_default() += 1;
            opened_by_market.entry(m).or_default().insert(o);
        }
        if *unnamed > 0 {
            *by_marketplace.entry("-".into()).or_default() += unnamed;
        }
        if n > OPENINGS_PER_DAY {
            c.fail(format!(
                "{op} opened the PII of {n} orders on {day} ({})",
                per_marketplace(&by_marketplace)
            ));
        }
        pii_openings.push(PiiOpenings {
            operator: op.to_string(),
            day: day.clone(),
            count: n,
            by_marketplace,
        });
    }
    if !opened_by_market.is_empty() {
        let counts: BTreeMap<String, usize> = opened_by_market
            .iter()
            .map(|(m, o)| (m.to_string(), o.len()))
            .collect();
        c.details.push(format!(
            "orders opened in the window by marketplace: {}",
            per_marketplace(&counts)
        ));
    }
    checks.push(c.info());

    // R2/R24: what was recorded.
    let mut c = Check::new("R2/R24", "every access, change and API call recorded");
    let mut by_event: BTreeMap<&str, u64> = BTreeMap::new();
    let mut purposes: BTreeMap<&str, u64> = BTreeMap::new();
    // Records a crash left in the log before their vault commit, adopted by the next append
    // (`audit.recovered`): what they describe may not have happened, and the command that ran
    // again may have recorded it a second time, so they are counted apart (below).
    let adopted: Vec<(u64, u64)> = records
        .iter()
        .filter(|r| r.event == "audit.recovered")
        .filter_map(|r| {
            let seq = |k: &str| r.fields.get(k).and_then(|v| v.as_u64());
            Some((seq("adopted_from_seq")?, seq("adopted_to_seq")?))
        })
        .collect();
    let is_adopted = |seq: u64| adopted.iter().any(|(a, b)| (*a..=*b).contains(&seq));
    let mut adopted_count = 0u64;
    for r in &records {
        if is_adopted(r.seq) {
            adopted_count += 1;
            continue;
        }
        *by_event.entry(r.event.as_str()).or_default() += 1;
        if r.event == "pii.opened" {
            let p = r
                .fields
                .get("purpose")
                .and_then(|v| v.as_str())
                .unwrap_or("none");
            *purposes.entry(p).or_default() += 1;
        }
    }
    for (p, n) in &purposes {
        if !matches!(*p, "label" | "slip" | "packing_slip" | "buy_shipping") {
            c.fail(format!("{n} PII opening(s) with purpose {p:?}"));
        }
    }
    let summary: Vec<String> = by_event.iter().map(|(e, n)| format!("{e} {n}")).collect();
    c.details.push(format!(
        "last {} days: {}{}",
        opts.window_days,
        if summary.is_empty() {
            "no records".into()
        } else {
            summary.join(", ")
        },
        if adopted_count > 0 {
            format!("; {adopted_count} adopted after a crash, counted apart")
        } else {
            String::new()
        }
    ));
    for r in records.iter().filter(|r| r.event == "audit.recovered") {
        let seq = |k: &str| r.fields.get(k).and_then(|v| v.as_u64());
        let (Some(from), Some(to)) = (seq("adopted_from_seq"), seq("adopted_to_seq")) else {
            continue;
        };
        let mut what: BTreeMap<&str, u64> = BTreeMap::new();
        for a in records.iter().filter(|a| (from..=to).contains(&a.seq)) {
            *what.entry(a.event.as_str()).or_default() += 1;
        }
        let what: Vec<String> = what.iter().map(|(e, n)| format!("{e} {n}")).collect();
        c.details.push(format!(
            "seq {from} to {to} adopted after a crash at {} ({}): what they record may not have completed, and may be recorded again after them",
            r.ts,
            if what.is_empty() {
                "outside the window".into()
            } else {
                what.join(", ")
            }
        ));
    }
    checks.push(c.info());

    let findings = checks.iter().filter(|c| c.status == Status::Fail).count();
    for c in checks.iter_mut().filter(|c| c.status == Status::Fail) {
        c.next_action = Some(next_action(c.id));
    }
    let seller_id = all
        .iter()
        .rev()
        .filter(|r| r.event == "credentials.changed")
        .find_map(|r| r.fields.get("seller_id").and_then(|v| v.as_str()))
        .map(str::to_string);
    let (config, _) = crate::config::Config::load_or_profile(&home.config_path(), profile);
    let report = AuditReport {
        generated_at: crate::audit::format_ts(now),
        generated_at_local: super::local_time(now),
        seller_id,
        business_name: config.business.name.clone(),
        sandbox: vault.is_sandbox(),
        marketplaces: vault
            .read(crate::vault::orders::marketplace_rows)?
            .into_iter()
            .map(|m| {
                let known = crate::model::marketplace::Marketplace::by_id(&m.marketplace_id);
                MarketplaceUse {
                    opened_in_window: opened_by_market
                        .get(m.marketplace_id.as_str())
                        .map_or(0, |o| o.len() as u64),
                    country: known.map(|k| k.country),
                    currency: known.map(|k| k.currency),
                    marketplace_id: m.marketplace_id,
                    orders: m.orders,
                    with_pii: m.with_pii,
                    waiting_for_pii: m.waiting_for_pii,
                    purged: m.purged,
                }
            })
            .collect(),
        orders_unlisted_marketplace: vault
            .read(crate::vault::orders::unlisted_marketplace_orders)?,
        profile: profile.to_string(),
        window_days: opts.window_days,
        findings,
        chain_intact: verification.findings.is_empty() && !anchors_broken,
        database_intact,
        records_verified: verification.records,
        pii_values_scanned: pii_values,
        files_scanned,
        leak_forms: crate::audit::leak::FORMS.to_vec(),
        checks,
        chain_breaks: verification.findings,
        leaks,
        log_days,
        operators,
        pii_openings,
    };
    Ok(report)
}

/// `US 12, DE 3` (a marketplace's country where the id is known).
fn per_marketplace(counts: &BTreeMap<String, usize>) -> String {
    counts
        .iter()
        .map(|(m, n)| format!("{} {n}", crate::model::marketplace::short(m)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a manager does next about a failed check (the failing lines say what and where).
pub fn next_action(id: &str) -> &'static str {
    match id {
        "R25" => {
            "Stop other commands and find the cause named above: restore the home from a backup (`fulfill restore`) if the log or vault was changed, start the logger or collector if an anchor is out of reach, then run `fulfill audit` again"
        }
        "R27" => {
            "Restore the missing day files from a backup of the logs; never prune inside the profile's window"
        }
        "R15" => "Run `fulfill purge` now, and check that cron runs it daily",
        "R20" => {
            "Run `fulfill purge` for stray label files; for an unresolved purchase, find the label in Seller Central and record or cancel it"
        }
        "R21" => {
            "Move the home to a local fixed disk outside any cloud-sync folder, and make its files 0600 and folders 0700"
        }
        "R26" => {
            "Delete or shred every file named (and each copy of it), then run `fulfill audit` again"
        }
        "R13" => {
            "Run `fulfill purge`; for a record named as not made by a sealer, find who edited vault.db or the keyring"
        }
        "R12" => "Set an https:// endpoint with `fulfill credentials set`",
        "R11" => {
            "Rotate the credentials in Seller Central, then store them with `fulfill credentials set`"
        }
        "R4/R5" => {
            "Disable each account named with `fulfill operator disable NAME`, or have its person use it"
        }
        "R10" => "Have each person named run `fulfill --operator NAME operator totp-enroll`",
        "R6/R28" => {
            "Ask the operators named about the attempts; disable an account that was not theirs"
        }
        _ => "Read the lines above and act on each",
    }
}

/// Records the run (`audit.run`). Separate from [`audit`] so a report on a broken log is
/// still shown when the record cannot be appended.
pub fn record_run(
    vault: &Vault,
    s: &Session<'_>,
    report: &AuditReport,
    now: DateTime<Utc>,
) -> Result<()> {
    let ev = Event::new("audit.run")
        .operator(s.name())
        .outcome(if report.findings == 0 {
            Outcome::Ok
        } else {
            Outcome::Failed
        })
        .field("findings", report.findings)
        .field("chain_intact", report.chain_intact)
        .field("database_intact", report.database_intact)
        .field("leaks", report.leaks.len())
        .field("window_days", report.window_days);
    vault.record(&[ev], now)
}

/// R25's anchor lines: each configured anchor is sent the current head now (a failure is a
/// finding naming what to fix), no anchor at all is a finding, and the spans the records show
/// an anchor out of reach (`anchor.unsent` to `anchor.resumed`) are listed.
fn anchor_checks(vault: &Vault, all: &[Record], c: &mut Check, now: DateTime<Utc>) -> Result<()> {
    let anchors = vault.anchors();
    if !anchors.any() {
        c.fail(
            "no anchor is set (anchor.syslog is off, anchor.remote unset): a kept copy of \
             logs/audit.key could rewrite the log unnoticed; set one with `fulfill config set \
             anchor.remote tls://HOST:6514` (docs/security.md, \"Anchors\")"
                .to_string(),
        );
    }
    let head = vault.chain_head()?;
    for s in anchors.send(vault.id(), &head, head.seq, now) {
        match &s.error {
            Some(e) => c.fail(format!(
                "the {} anchor ({}) cannot be reached: {e}; until it can, a kept copy of \
                 logs/audit.key could rewrite new records unnoticed: start the logger or \
                 collector, or set another with `fulfill config set anchor.{} ...`",
                s.anchor,
                s.to,
                if s.anchor == "syslog" {
                    "syslog"
                } else {
                    "remote"
                }
            )),
            None => c.details.push(format!(
                "the {} anchor ({}) took the current head",
                s.anchor, s.to
            )),
        }
    }
    let mut open: BTreeMap<String, (u64, String, String)> = BTreeMap::new();
    let mut spans = Vec::new();
    for r in all {
        let field = |k: &str| {
            r.fields
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let name = field("anchor");
        match r.event.as_str() {
            "anchor.unsent" => {
                let reason = field("reason");
                open.entry(name)
                    .or_insert_with(|| (r.seq, r.ts.clone(), reason));
            }
            "anchor.resumed" => {
                if let Some((seq, ts, reason)) = open.remove(&name) {
                    spans.push(format!(
                        "the {name} anchor was out of reach from seq {seq} ({ts}) to seq {} ({}): {reason}",
                        r.seq, r.ts
                    ));
                }
            }
            _ => {}
        }
    }
    for (name, (seq, ts, reason)) in open {
        spans.push(format!(
            "the {name} anchor has been out of reach since seq {seq} ({ts}): {reason}"
        ));
    }
    let n = spans.len();
    c.details.extend(spans.into_iter().rev().take(10));
    if n > 10 {
        c.details
            .push(format!("{} earlier spans out of reach", n - 10));
    }
    Ok(())
}

/// Every readable record of the day files present (unreadable lines are the chain check's
/// business), and how many each day file holds.
fn readable_records(vault: &Vault) -> Result<(Vec<Record>, BTreeMap<NaiveDate, u64>)> {
    let mut out = Vec::new();
    let mut per_day = BTreeMap::new();
    for (day, path) in vault.audit_log().day_files()? {
        let Ok(text) = std::fs::read_to_string(&path) else {
            per_day.insert(day, 0);
            continue;
        };
        let before = out.len();
        out.extend(
            text.lines()
                .filter_map(|l| serde_json::from_str::<Record>(l).ok()),
        );
        per_day.insert(day, (out.len() - before) as u64);
    }
    Ok((out, per_day))
}

/// The log window strip: from the window's first day (or the log's first day, when nothing
/// was pruned and the log is younger) to today or the newest day file, the newest
/// [`MAX_STRIP_DAYS`] at most. Reads the vault's head and checkpoint; changes nothing.
fn log_days(
    vault: &Vault,
    all: &[Record],
    files: &BTreeMap<NaiveDate, u64>,
    findings: &[Finding],
    opts: &AuditOptions,
    now: DateTime<Utc>,
) -> Result<Vec<LogDay>> {
    let head = vault.chain_head()?;
    let checkpoint = vault.chain_checkpoint()?;
    // Days the chain itself says had records: each day file's first record names the day
    // of the record before it, and the vault's head names the newest.
    let mut named: BTreeSet<NaiveDate> = all
        .iter()
        .filter_map(|r| r.fields.get("prev_day").and_then(|d| d.as_str()))
        .filter_map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .collect();
    named.extend(head.day);
    let damaged: BTreeSet<NaiveDate> = findings
        .iter()
        .filter_map(|f| crate::audit::parse_day_file_name(&f.file))
        .collect();
    let today = now.date_naive();
    let to = [Some(today), files.keys().last().copied(), head.day]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(today);
    let window_from = today
        .checked_sub_days(chrono::Days::new(u64::from(opts.window_days.max(1)) - 1))
        .unwrap_or(NaiveDate::MIN);
    let first_known = files
        .keys()
        .next()
        .into_iter()
        .chain(named.iter().next())
        .min()
        .copied()
        .unwrap_or(today);
    let from = if checkpoint.is_some() {
        window_from
    } else {
        window_from.max(first_known)
    };
    let from = from.max(
        to.checked_sub_days(chrono::Days::new(MAX_STRIP_DAYS - 1))
            .unwrap_or(NaiveDate::MIN),
    );
    Ok(log_window(
        from,
        to,
        files,
        &named,
        &damaged,
        checkpoint.map(|c| c.day),
    ))
}

/// Reads a text file, refusing one larger than `cap` bytes (an export named by the auditor).
fn read_capped(path: &std::path::Path, cap: u64) -> Result<String> {
    use std::io::Read;
    let f = std::fs::File::open(path)
        .map_err(|e| Error::usage(format!("cannot read {}: {e}", path.display())))?;
    let mut buf = Vec::new();
    f.take(cap + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > cap {
        return Err(Error::usage(format!(
            "{} is larger than {} MiB; export a shorter period",
            path.display(),
            cap >> 20
        )));
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn each_day_of_the_strip_says_what_the_log_holds() {
        let files: BTreeMap<NaiveDate, u64> = [
            ("2026-03-01", 4),
            ("2026-03-02", 9),
            ("2026-03-05", 2),
            ("2026-03-07", 1),
        ]
        .into_iter()
        .map(|(k, v)| (d(k), v))
        .collect();
        // 03-04 was named by the 03-05 file's first record, but its file is gone.
        let named: BTreeSet<NaiveDate> = [d("2026-03-02"), d("2026-03-04"), d("2026-03-05")].into();
        let damaged: BTreeSet<NaiveDate> = [d("2026-03-07")].into();
        let days = log_window(
            d("2026-02-28"),
            d("2026-03-08"),
            &files,
            &named,
            &damaged,
            Some(d("2026-03-01")),
        );
        let states: Vec<(&str, DayState, u64)> = days
            .iter()
            .map(|c| (c.day.as_str(), c.state, c.records))
            .collect();
        use DayState::*;
        assert_eq!(
            states,
            vec![
                ("2026-02-28", Pruned, 0),
                // A leftover file at the checkpoint's day is still pruned.
                ("2026-03-01", Pruned, 4),
                ("2026-03-02", Records, 9),
                ("2026-03-03", NoActivity, 0),
                ("2026-03-04", Missing, 0),
                ("2026-03-05", Records, 2),
                ("2026-03-06", NoActivity, 0),
                ("2026-03-07", Damaged, 1),
                ("2026-03-08", NoActivity, 0),
            ]
        );
        // An empty range, and one ending at the calendar's last day, without a panic.
        assert!(
            log_window(
                d("2026-03-02"),
                d("2026-03-01"),
                &files,
                &named,
                &damaged,
                None
            )
            .is_empty()
        );
        assert_eq!(
            log_window(
                NaiveDate::MAX,
                NaiveDate::MAX,
                &files,
                &named,
                &damaged,
                None
            )
            .len(),
            1
        );
    }
}
