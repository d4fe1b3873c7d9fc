//! The second factor: TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps, one step of
//! skew), through the `totp-rs` crate.
//!
//! The TOTP secret is a key in the operator's wrapped key set, so it is sealed under the
//! operator's own key and nobody else can read it. What a second factor can and cannot do in a
//! local tool: it stops a passphrase that leaked (read over a shoulder, reused elsewhere) from
//! opening the vault through `fulfill`; it cannot stop someone who has the passphrase *and* the
//! vault file and runs their own code, since a key cannot depend on a code that changes every
//! 30 seconds. Each code is accepted once (the last step used is stored per operator).
//!
//! **The replay counter cannot be moved by hand.** The last step used is stored in
//! `operators.totp_last_step` with a MAC (`totp_step_mac`, [`counter_mac`]) under a key
//! derived (HKDF) from the operator's TOTP secret, which lives only in the operator's wrapped
//! key set: only an unlock with the operator's own passphrase can write a counter that checks.
//! At unlock the last step is [`last_step`]: the stored counter if its MAC checks, and in any
//! case no lower than the steps the audit log's recent records say this operator used
//! (`unlock.ok` and `operator.totp_enrolled` carry `totp_step`).
//!
//! Why this way, attack by attack (an insider with `sqlite3` on `vault.db`):
//! - *Counter set far ahead* (to turn every fresh code into a counted "reused" failure and
//!   lock the owner out): the MAC does not check, so the stored value is ignored. Treating a bad
//!   MAC as tampering that refuses the unlock would hand the same lockout to whoever can edit
//!   the file, so it is not done; the value falls back to what the log proves, the owner's
//!   fresh code works once, and the unlock records `totp.counter_unverified`, which `audit`
//!   reports (R6/R28).
//! - *Counter set back, or its MAC deleted* (to replay a code just seen): "step 0" would accept
//!   the replay, so the fallback is the log, not 0: a code is valid for at most three steps
//!   (one either side), so any code that could still be replayed was used within the last
//!   [`LOG_WINDOW`], and its step is in the log's newest records, which the hash chain and the
//!   writers' check protect (removing them stops every later command). Only that tail of the
//!   log is read, so an unlock stays cheap.
//! - *An older counter and its MAC copied back* (from a copy of the file): the MAC checks, but
//!   the log floor still holds, for the same reason.
//!
//! A vault from before the MAC has none: its first unlock with a code falls back the same way
//! (and is reported once).

use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use totp_rs::{Algorithm, Totp};
use zeroize::Zeroizing;

use super::key::SecretKey;
use crate::error::{Error, Result};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// How far back the audit log is read for the steps an operator used: longer than any code
/// stays valid (three steps of 30 seconds), with room for clock differences.
pub const LOG_WINDOW: chrono::Duration = chrono::Duration::minutes(5);

fn counter_key(secret: &SecretKey) -> Zeroizing<[u8; 32]> {
    let hk =
        hkdf::Hkdf::<sha2::Sha256>::new(Some(b"fulfill/totp-counter/v1"), secret.expose_secret());
    let mut k = Zeroizing::new([0u8; 32]);
    hk.expand(b"replay counter mac key", &mut *k)
        .expect("32 bytes is a valid HKDF-SHA256 output");
    k
}

fn counter_hmac(secret: &SecretKey, vault_id: &str, name: &str, step: u64) -> HmacSha256 {
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(&*counter_key(secret)).expect("any key");
    for part in [vault_id.as_bytes(), b"\0", name.as_bytes(), b"\0"] {
        m.update(part);
    }
    m.update(&step.to_be_bytes());
    m
}

/// The MAC stored with operator `name`'s last step `step` in vault `vault_id`.
pub fn counter_mac(secret: &SecretKey, vault_id: &str, name: &str, step: u64) -> Vec<u8> {
    counter_hmac(secret, vault_id, name, step)
        .finalize()
        .into_bytes()
        .to_vec()
}

/// The last step an operator used, as far as can be proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastStep {
    /// Codes of this step or earlier are refused.
    pub step: u64,
    /// Why the stored counter was not taken (`missing` or `invalid` MAC), with the value it
    /// held; `None` when it checked.
    pub unverified: Option<(&'static str, u64)>,
}

/// The last step operator `name` used: the stored counter (`stored`, `mac`) if its MAC checks
/// under the operator's TOTP secret, and no lower than the steps the audit log in `log_dir`
/// names for `name` since `now` - [`LOG_WINDOW`].
pub fn last_step(
    secret: &SecretKey,
    vault_id: &str,
    name: &str,
    (stored, mac): (u64, Option<Vec<u8>>),
    log_dir: &std::path::Path,
    now: DateTime<Utc>,
) -> LastStep {
    let (counted, unverified) = match mac {
        Some(m)
            if counter_hmac(secret, vault_id, name, stored)
                .verify_slice(&m)
                .is_ok() =>
        {
            (stored, None)
        }
        Some(_) => (0, Some(("invalid", stored))),
        None => (0, Some(("missing", stored))),
    };
    LastStep {
        step: counted.max(logged_step(log_dir, name, now)),
        unverified,
    }
}

/// The highest `totp_step` the log's records of `name` name since `now` - [`LOG_WINDOW`]:
/// read from the end of the day files that window touches, and only that far.
fn logged_step(dir: &std::path::Path, name: &str, now: DateTime<Utc>) -> u64 {
    let since = now - LOG_WINDOW;
    let mut days = vec![now.date_naive()];
    if since.date_naive() != now.date_naive() {
        days.push(since.date_naive());
    }
    let mut best = 0;
    for day in days {
        let path = dir.join(crate::audit::day_file_name(day));
        for line in tail_lines(&path, since) {
            let Ok(r) = serde_json::from_str::<crate::audit::Record>(&line) else {
                continue;
            };
            let recent = crate::mws::model::parse_mws_time(&r.ts).is_some_and(|t| t >= since);
            if recent
                && r.operator.as_deref() == Some(name)
                && matches!(r.event.as_str(), "unlock.ok" | "operator.totp_enrolled")
                && let Some(step) = r.fields.get("totp_step").and_then(|v| v.as_u64())
            {
                best = best.max(step);
            }
        }
    }
    best
}

/// The complete lines at the end of `path` back to the first one stamped before `since`
/// (reading back in growing chunks; the whole file at most).
fn tail_lines(path: &std::path::Path, since: DateTime<Utc>) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut chunk: u64 = 64 << 10;
    loop {
        let start = len.saturating_sub(chunk);
        let mut buf = Vec::new();
        if f.seek(SeekFrom::Start(start)).is_err()
            || f.by_ref().take(len - start).read_to_end(&mut buf).is_err()
        {
            return Vec::new();
        }
        let text = String::from_utf8_lossy(&buf);
        let mut lines: Vec<&str> = text.lines().collect();
        if start > 0 && !lines.is_empty() {
            lines.remove(0);
        }
        let older = |l: &&str| {
            serde_json::from_str::<crate::audit::Record>(l)
                .ok()
                .and_then(|r| crate::mws::model::parse_mws_time(&r.ts))
                .is_some_and(|t| t < since)
        };
        if start == 0 || lines.first().is_some_and(older) {
            return lines.into_iter().map(str::to_string).collect();
        }
        chunk = chunk.saturating_mul(4);
    }
}

/// Digits of a code.
pub const DIGITS: u8 = 6;
/// Seconds per step.
pub const STEP: u64 = 30;

fn totp(secret: &[u8], account: &str) -> Result<Totp> {
    totp_rs::Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_skew(1)
        .with_step_duration(STEP)
        .with_secret(secret.to_vec())
        .with_account_name(account)
        .with_issuer(Some("fulfill"))
        .build()
        .map_err(|e| Error::Failed(format!("TOTP: {e}")))
}

fn unix(t: DateTime<Utc>) -> u64 {
    u64::try_from(t.timestamp()).unwrap_or(0)
}

/// The step a valid `code` belongs to at `now` (one step either side), or `None`.
pub fn check(secret: &SecretKey, account: &str, code: &str, now: DateTime<Utc>) -> Option<u64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    totp(secret.expose_secret(), account)
        .ok()?
        .check(code, unix(now))
}

/// The code at `t` (tests, and the demo's simulated authenticator).
pub fn code_at(secret: &SecretKey, account: &str, t: DateTime<Utc>) -> Result<Zeroizing<String>> {
    Ok(Zeroizing::new(
        totp(secret.expose_secret(), account)?
            .generate(unix(t))
            .to_string(),
    ))
}

/// The `otpauth://` URL an authenticator app reads (it carries the secret: shown once).
pub fn otpauth_url(secret: &SecretKey, account: &str) -> Result<Zeroizing<String>> {
    totp(secret.expose_secret(), account)?
        .to_url()
        .map(Zeroizing::new)
        .map_err(|e| Error::Failed(format!("TOTP: {e}")))
}

/// `text` as a QR code drawn with Unicode half blocks, for the terminal.
pub fn qr_for_terminal(text: &str) -> Result<Zeroizing<String>> {
    let code =
        qrcode::QrCode::new(text.as_bytes()).map_err(|e| Error::Failed(format!("QR code: {e}")))?;
    Ok(Zeroizing::new(
        code.render::<qrcode::render::unicode::Dense1x2>()
            .quiet_zone(true)
            .build(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B (SHA-1 rows), from `tests/vectors/`, through the same crate and
    /// parameters, but with the RFC's 8 digits and its 20-byte seed.
    #[test]
    fn rfc_6238_vectors() {
        let text = include_str!("../../tests/vectors/totp-rfc6238-sha1.txt");
        let seed = text
            .lines()
            .find_map(|l| l.strip_prefix("secret-ascii: "))
            .unwrap();
        let t = totp_rs::Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(8)
            .with_step_duration(STEP)
            .with_secret(seed.as_bytes().to_vec())
            .build_noncompliant();
        let mut n = 0;
        for l in text
            .lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
        {
            let (time, want) = l.split_once(' ').unwrap();
            assert_eq!(
                t.generate(time.parse().unwrap()).to_string(),
                want,
                "T={time}"
            );
            n += 1;
        }
        assert_eq!(n, 6);
    }

    #[test]
    fn the_counter_is_taken_only_with_its_mac_and_never_below_the_logged_steps() {
        let k = SecretKey::from_bytes([5; 32]);
        let dir = tempfile::tempdir().unwrap();
        let now = crate::clock::parse_time("2026-03-01T10:00:00Z").unwrap();
        let mac = counter_mac(&k, "v1", "olga", 100);
        let ok = last_step(&k, "v1", "olga", (100, Some(mac.clone())), dir.path(), now);
        assert_eq!(
            ok,
            LastStep {
                step: 100,
                unverified: None
            }
        );
        // Moved, for another operator or vault, cleared, or under another secret: not taken.
        for (stored, m) in [
            (9_000_000_000, Some(mac.clone())),
            (100, Some(counter_mac(&k, "v1", "pat", 100))),
            (100, Some(counter_mac(&k, "v2", "olga", 100))),
            (
                100,
                Some(counter_mac(
                    &SecretKey::from_bytes([6; 32]),
                    "v1",
                    "olga",
                    100,
                )),
            ),
            (100, None),
        ] {
            let l = last_step(&k, "v1", "olga", (stored, m), dir.path(), now);
            assert_eq!(l.step, 0);
            assert!(l.unverified.is_some());
        }
        // The log's recent records of this operator bound it from below.
        let rec = |ts: &str, op: &str, step: u64| {
            format!(
                r#"{{"seq":1,"ts":"{ts}","event":"unlock.ok","operator":"{op}","outcome":"ok","totp_step":{step},"prev":"0"}}"#
            )
        };
        let lines = [
            rec("2026-03-01T09:00:00.000Z", "olga", 500),
            rec("2026-03-01T09:58:00.000Z", "olga", 300),
            rec("2026-03-01T09:59:00.000Z", "pat", 900),
        ];
        std::fs::write(
            dir.path()
                .join(crate::audit::day_file_name(now.date_naive())),
            lines.join("\n") + "\n",
        )
        .unwrap();
        let l = last_step(&k, "v1", "olga", (0, None), dir.path(), now);
        assert_eq!(l.step, 300, "only olga's records of the last minutes");
        let l = last_step(&k, "v1", "olga", (100, Some(mac)), dir.path(), now);
        assert_eq!(
            l,
            LastStep {
                step: 300,
                unverified: None
            }
        );
    }

    #[test]
    fn a_code_checks_at_its_time_and_a_neighbour_step_only() {
        let k = SecretKey::from_bytes([5; 32]);
        let t = crate::clock::parse_time("2026-03-01T10:00:00Z").unwrap();
        let c = code_at(&k, "olga", t).unwrap();
        assert!(check(&k, "olga", &c, t).is_some());
        assert!(check(&k, "olga", &c, t + chrono::Duration::seconds(30)).is_some());
        assert!(check(&k, "olga", &c, t + chrono::Duration::seconds(95)).is_none());
        assert!(check(&k, "olga", "12345", t).is_none());
        assert!(check(&SecretKey::from_bytes([6; 32]), "olga", &c, t).is_none());
        let url = otpauth_url(&k, "olga").unwrap();
        assert!(
            url.starts_with("otpauth://totp/fulfill:olga?"),
            "{}",
            url.as_str()
        );
        assert!(qr_for_terminal(&url).unwrap().lines().count() > 10);
    }
}
