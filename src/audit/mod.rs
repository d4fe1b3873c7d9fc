//! The audit log: one hash-chained JSON record per security event.
//!
//! - [`Event`] is the one way to describe an event. Its keys are `&'static str` and its values
//!   are plain strings, numbers and booleans: no PII type converts into a [`Value`], so PII
//!   cannot reach the log by accident (COMPLIANCE R26).
//! - [`log::AuditLog`] appends records to daily files `logs/audit-YYYY-MM-DD.jsonl` under a
//!   cross-process file lock, fsyncs each, and advances the chain head the vault keeps.
//! - [`verify::verify`] walks the files and reports every break in the chain by file, line and
//!   sequence number.
//!
//! Record format (pinned by a test): `{"seq":N,"ts":"…Z","event":"…","operator":"…",
//! "outcome":"…",<event fields, sorted>,"prev":"<hex>","hash":"<hex>"}` where `hash` is
//! SHA-256 over `prev` followed by the record's canonical bytes (the same JSON without `hash`
//! and `mac`). `mac` is the forward-secure seal over `hash` ([`fss`]); `prev_day` (a field) is
//! the previous record's day on the first record of a day file, so a pruning checkpoint can be
//! checked against the records' own dates.
//!
//! **Bounded records.** Every string that reaches a record from outside the keys (operator
//! names, Amazon's text, paths) is cut to [`MAX_TEXT`] bytes: a longer one is recorded as its
//! beginning and a digest ([`bounded`]), so no one can make a record long by typing or sending
//! something long. An operator name that is not a well-formed one (1-64 of `A-Z a-z 0-9 . _ -`)
//! is recorded by a short prefix and a digest ([`name_ref`]), as is every name the vault does
//! not know ([`unknown_operator`]).

pub mod anchor;
pub mod fss;
pub mod leak;
pub mod log;
pub mod report;
pub mod verify;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Longest string value a record carries, in bytes ([`bounded`]).
pub const MAX_TEXT: usize = 1024;

/// Characters of an unknown or malformed operator name kept in a record ([`name_ref`]).
pub const NAME_PREFIX: usize = 16;

/// The `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How an event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It happened.
    Ok,
    /// It was attempted and failed (a wrong passphrase, an API error).
    Failed,
    /// It was refused (role, missing key, locked operator, unsafe environment).
    Denied,
}

impl Outcome {
    /// The name in the record.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Denied => "denied",
        }
    }
}

/// A field value: only plain data, never a PII type.
#[derive(Debug, Clone, PartialEq)]
pub struct Value(serde_json::Value);

macro_rules! value_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self { Value(serde_json::Value::from(v)) }
        }
    )*};
}
value_from!(bool, i64, u64, u32, i32, usize);

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value(serde_json::Value::from(bounded(v, MAX_TEXT).into_owned()))
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        match bounded(&v, MAX_TEXT) {
            std::borrow::Cow::Borrowed(_) => Value(serde_json::Value::from(v)),
            std::borrow::Cow::Owned(cut) => Value(serde_json::Value::from(cut)),
        }
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::from(v.as_str())
    }
}

/// A list of plain strings (order ids of a batch), each bounded.
impl From<Vec<String>> for Value {
    fn from(v: Vec<String>) -> Self {
        Value(serde_json::Value::Array(
            v.into_iter().map(|s| Value::from(s).0).collect(),
        ))
    }
}

/// The first 16 hex digits of the SHA-256 of `s`: tells two long or unknown values apart
/// without keeping them.
fn digest16(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..8])
}

/// `s` when it is at most `max` bytes; otherwise its beginning (cut at a character boundary),
/// `…` and `[sha256:<16 hex>, <length> bytes]`, at most `max` bytes in all (`max` of at least
/// 64).
pub fn bounded(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return std::borrow::Cow::Borrowed(s);
    }
    let tail = format!("…[sha256:{}, {} bytes]", digest16(s), s.len());
    let mut keep = max.saturating_sub(tail.len());
    while !s.is_char_boundary(keep) {
        keep -= 1;
    }
    std::borrow::Cow::Owned(format!("{}{tail}", &s[..keep]))
}

/// Whether `name` is a well-formed operator name: 1 to 64 of `A-Z a-z 0-9 . _ -`, not starting
/// with `-` (the rule `operator add` enforces).
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A short stand-in for a name that is not an operator's: its first [`NAME_PREFIX`]
/// characters (anything outside `A-Z a-z 0-9 . _ -` shown as `_`), `#` and 16 hex digits of
/// its SHA-256. `#` is never in an operator name, so the stand-in cannot pass for one, and the
/// same name always gives the same stand-in (the report still counts its failures together).
pub fn name_ref(name: &str) -> String {
    let prefix: String = name
        .chars()
        .take(NAME_PREFIX)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{prefix}#{}", digest16(name))
}

/// Whether `s` is a [`name_ref`] stand-in already (kept as it is).
fn is_name_ref(s: &str) -> bool {
    s.split_once('#').is_some_and(|(prefix, digest)| {
        prefix.chars().count() <= NAME_PREFIX
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            && digest.len() == 16
            && digest
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// How a name the vault does not know is recorded (and named in a message): [`name_ref`].
/// A mistyped passphrase in the name field, or 70 KB of it, never reaches the log.
pub fn unknown_operator(name: &str) -> String {
    name_ref(name)
}

impl From<DateTime<Utc>> for Value {
    fn from(v: DateTime<Utc>) -> Self {
        Value(serde_json::Value::from(format_ts(v)))
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value(serde_json::Value::Null), Into::into)
    }
}

/// Field names the record itself uses.
const RESERVED: &[&str] = &[
    "seq", "ts", "event", "operator", "outcome", "prev", "hash", "mac", "prev_day",
];

/// A security event to record.
#[derive(Debug, Clone)]
pub struct Event {
    pub(crate) name: &'static str,
    pub(crate) operator: Option<String>,
    pub(crate) outcome: Outcome,
    pub(crate) fields: BTreeMap<&'static str, Value>,
}

impl Event {
    /// A new event with a dotted name such as `unlock.ok`; outcome `ok` until told otherwise.
    pub fn new(name: &'static str) -> Self {
        Event {
            name,
            operator: None,
            outcome: Outcome::Ok,
            fields: BTreeMap::new(),
        }
    }

    /// The operator who acted (a name, never PII). A name that is not a well-formed operator
    /// name ([`is_plain_name`]) is recorded as [`name_ref`].
    pub fn operator(mut self, name: &str) -> Self {
        self.operator = Some(if is_plain_name(name) || is_name_ref(name) {
            name.to_string()
        } else {
            name_ref(name)
        });
        self
    }

    /// How it ended.
    pub fn outcome(mut self, o: Outcome) -> Self {
        self.outcome = o;
        self
    }

    /// An event-specific field.
    ///
    /// # Panics
    /// If `key` is one of the record's own field names (a programming error).
    pub fn field(mut self, key: &'static str, v: impl Into<Value>) -> Self {
        assert!(
            !RESERVED.contains(&key),
            "audit field name {key:?} is reserved"
        );
        self.fields.insert(key, v.into());
        self
    }

    /// The event name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// One record as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Sequence number, from 1, without gaps.
    pub seq: u64,
    /// UTC time with milliseconds.
    pub ts: String,
    /// Dotted event name.
    pub event: String,
    /// Acting operator, if any.
    pub operator: Option<String>,
    /// `ok`, `failed` or `denied`.
    pub outcome: String,
    /// Event-specific fields.
    #[serde(flatten)]
    pub fields: BTreeMap<String, serde_json::Value>,
    /// Hash of the previous record ([`GENESIS`] for the first).
    pub prev: String,
    /// SHA-256 over `prev` and the canonical bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// The forward-secure MAC over `hash` ([`fss`]); absent in records written before sealing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

impl Record {
    pub(crate) fn from_event(e: &Event, seq: u64, now: DateTime<Utc>, prev: &str) -> Record {
        let mut r = Record {
            seq,
            ts: format_ts(now),
            event: e.name.to_string(),
            operator: e.operator.clone(),
            outcome: e.outcome.as_str().to_string(),
            fields: e
                .fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.0.clone()))
                .collect(),
            prev: prev.to_string(),
            hash: None,
            mac: None,
        };
        r.hash = Some(r.compute_hash());
        r
    }

    /// The canonical bytes: the record's JSON without `hash` and `mac`.
    pub fn canonical(&self) -> Vec<u8> {
        let mut c = self.clone();
        c.hash = None;
        c.mac = None;
        serde_json::to_vec(&c).expect("record serializes")
    }

    /// SHA-256 over `prev` and the canonical bytes, in hex.
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.prev.as_bytes());
        h.update(self.canonical());
        hex::encode(h.finalize())
    }

    /// The line as written (without the newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("record serializes")
    }
}

/// The chain head the vault keeps: the last record's sequence number, hash and day file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Head {
    /// Last sequence number (0: empty log).
    pub seq: u64,
    /// Last hash ([`GENESIS`] when empty).
    pub hash: String,
    /// Day of the file the last record went to.
    pub day: Option<chrono::NaiveDate>,
}

impl Head {
    /// The head of an empty log.
    pub fn genesis() -> Head {
        Head {
            seq: 0,
            hash: GENESIS.to_string(),
            day: None,
        }
    }
}

/// Where the chain resumes after pruning: the last pruned record and its day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Last pruned sequence number.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
    /// The newest pruned day file.
    pub day: chrono::NaiveDate,
}

/// Timestamp format of records: UTC, milliseconds, `Z`.
pub fn format_ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The day file name for a date.
pub fn day_file_name(day: chrono::NaiveDate) -> String {
    format!("audit-{}.jsonl", day.format("%Y-%m-%d"))
}

/// The date of a day file name, if it is one.
pub fn parse_day_file_name(name: &str) -> Option<chrono::NaiveDate> {
    let d = name.strip_prefix("audit-")?.strip_suffix(".jsonl")?;
    chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_format_is_pinned() {
        let t = crate::clock::parse_time("2026-11-29T10:00:00.5Z").unwrap();
        let e = Event::new("unlock.failed")
            .operator("alice")
            .outcome(Outcome::Failed)
            .field("failures", 3u32)
            .field("attempt_from", "tty");
        let r = Record::from_event(&e, 7, t, GENESIS);
        let line = r.to_line();
        let want_prefix = r#"{"seq":7,"ts":"2026-11-29T10:00:00.500Z","event":"unlock.failed","operator":"alice","outcome":"failed","attempt_from":"tty","failures":3,"prev":"0000000000000000000000000000000000000000000000000000000000000000","hash":""#;
        assert!(line.starts_with(want_prefix), "{line}");
        let back: Record = serde_json::from_str(&line).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.compute_hash(), r.hash.clone().unwrap());
    }

    #[test]
    fn long_values_and_odd_names_are_bounded() {
        let long = "é".repeat(40_000);
        let e = Event::new("x")
            .operator(&"a".repeat(70_000))
            .field("reason", long.as_str())
            .field("path", long.clone())
            .field("orders", vec![long.clone(), "111-0000001-0000001".into()]);
        let line = Record::from_event(
            &e,
            1,
            crate::clock::parse_time("2026-01-01T00:00:00Z").unwrap(),
            GENESIS,
        )
        .to_line();
        assert!(line.len() < 4 * MAX_TEXT, "{}", line.len());
        let r: Record = serde_json::from_str(&line).unwrap();
        let op = r.operator.unwrap();
        assert!(
            op.starts_with("aaaaaaaaaaaaaaaa#") && op.len() == NAME_PREFIX + 17,
            "{op}"
        );
        let reason = r.fields["reason"].as_str().unwrap();
        assert!(
            reason.len() <= MAX_TEXT && reason.starts_with("éé"),
            "{}",
            reason.len()
        );
        assert!(
            reason.ends_with(&format!("{} bytes]", long.len())),
            "{reason}"
        );
        assert_eq!(r.fields["path"], r.fields["reason"]);
        assert_eq!(r.fields["orders"][1], "111-0000001-0000001");
        // Positive controls: what fits is kept as it is; different long values stay apart.
        let short = Event::new("x")
            .operator("olga")
            .field("reason", "a short reason");
        let r = Record::from_event(
            &short,
            1,
            crate::clock::parse_time("2026-01-01T00:00:00Z").unwrap(),
            GENESIS,
        );
        assert_eq!(r.operator.as_deref(), Some("olga"));
        assert_eq!(r.fields["reason"], "a short reason");
        assert_ne!(
            bounded(&"b".repeat(2000), 100),
            bounded(&"b".repeat(2001), 100)
        );
        assert_eq!(bounded(&"c".repeat(100), 100).len(), 100);
        assert!(bounded(&"c".repeat(101), 100).len() <= 100);
        assert_eq!(name_ref("mallory\n\x1b[31m"), name_ref("mallory\n\x1b[31m"));
        assert!(
            name_ref("ma\u{1b}[2J").starts_with("ma__2J#"),
            "{}",
            name_ref("ma\u{1b}[2J")
        );
        assert_eq!(
            Event::new("x").operator("bad name").operator.unwrap(),
            name_ref("bad name")
        );
        let stand_in = unknown_operator("mallory");
        assert_eq!(
            Event::new("x").operator(&stand_in).operator.unwrap(),
            stand_in
        );
    }

    #[test]
    #[should_panic(expected = "reserved")]
    fn reserved_field_names_are_refused() {
        let _ = Event::new("x").field("hash", "forged");
    }
}
