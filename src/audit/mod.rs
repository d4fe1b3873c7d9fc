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
value_from!(&str, String, bool, i64, u64, u32, i32, usize);

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value(serde_json::Value::from(v.as_str()))
    }
}

/// A list of plain strings (order ids of a batch).
impl From<Vec<String>> for Value {
    fn from(v: Vec<String>) -> Self {
        Value(serde_json::Value::from(v))
    }
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

    /// The operator who acted (a name, never PII).
    pub fn operator(mut self, name: &str) -> Self {
        self.operator = Some(name.to_string());
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
    #[should_panic(expected = "reserved")]
    fn reserved_field_names_are_refused() {
        let _ = Event::new("x").field("hash", "forged");
    }
}
