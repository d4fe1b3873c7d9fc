//! The second factor: TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps, one step of
//! skew), through the `totp-rs` crate.
//!
//! The TOTP secret is a key in the operator's wrapped key set, so it is sealed under the
//! operator's own key and nobody else can read it. What a second factor can and cannot do in a
//! local tool: it stops a passphrase that leaked (read over a shoulder, reused elsewhere) from
//! opening the vault through `fulfill`; it cannot stop someone who has the passphrase *and* the
//! vault file and runs their own code, since a key cannot depend on a code that changes every
//! 30 seconds. Each code is accepted once (the last step used is stored per operator).

use chrono::{DateTime, Utc};
use totp_rs::{Algorithm, Totp};
use zeroize::Zeroizing;

use super::key::SecretKey;
use crate::error::{Error, Result};

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
