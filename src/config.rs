//! Policy profiles and `config.toml`.
//!
//! The profile (chosen at `init`, kept in the vault) sets the policy's numbers. `config.toml`
//! may make them stricter, never looser: [`Config::validate`] refuses a file that would keep
//! PII longer or logs shorter than the profile allows. The file holds no secret.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A policy profile (COMPLIANCE.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// MWS-era policy (2020): PII at most 30 days, logs at least 90 days.
    Mws2020,
    /// Current policy (2025): logs 12 months, names not in passphrases, history of 10.
    Dpp2025,
}

impl Profile {
    /// The name stored in the vault.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Mws2020 => "mws-2020",
            Profile::Dpp2025 => "dpp-2025",
        }
    }

    /// The longest PII may be kept, in days.
    pub fn max_pii_days(self) -> u32 {
        30
    }

    /// The shortest audit logs may be kept, in days.
    pub fn min_log_days(self) -> u32 {
        match self {
            Profile::Mws2020 => 90,
            Profile::Dpp2025 => 365,
        }
    }

    /// Failed unlocks that lock an operator.
    pub fn lockout_limit(self) -> u32 {
        10
    }

    /// The passphrase rules of this profile.
    pub fn passphrase_policy(self) -> PassphrasePolicy {
        match self {
            Profile::Mws2020 => PassphrasePolicy {
                min_chars: 12,
                forbid_name: false,
                history: 0,
            },
            Profile::Dpp2025 => PassphrasePolicy {
                min_chars: 12,
                forbid_name: true,
                history: 10,
            },
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Profile {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mws-2020" => Ok(Profile::Mws2020),
            "dpp-2025" => Ok(Profile::Dpp2025),
            _ => Err(Error::Integrity(format!("unknown policy profile {s:?}"))),
        }
    }
}

impl From<crate::cli::ProfileArg> for Profile {
    fn from(p: crate::cli::ProfileArg) -> Self {
        match p {
            crate::cli::ProfileArg::Mws2020 => Profile::Mws2020,
            crate::cli::ProfileArg::Dpp2025 => Profile::Dpp2025,
        }
    }
}

/// Passphrase rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassphrasePolicy {
    /// Minimum length in characters.
    pub min_chars: usize,
    /// The passphrase must not contain the operator's name.
    pub forbid_name: bool,
    /// How many previous passphrases may not be reused (0: no history).
    pub history: usize,
}

/// `config.toml`: tunables, each at most as loose as the profile allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// PII retention.
    #[serde(default)]
    pub retention: Retention,
    /// Audit log retention.
    #[serde(default)]
    pub log: LogConfig,
}

/// `[retention]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Days PII is kept after the retention clock starts (at most the profile's 30).
    pub pii_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention { pii_days: 30 }
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Audit day files older than this may be pruned (never below the profile's window).
    pub max_days: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { max_days: 90 }
    }
}

impl Config {
    /// The defaults for a profile.
    pub fn for_profile(p: Profile) -> Self {
        Config {
            retention: Retention {
                pii_days: p.max_pii_days(),
            },
            log: LogConfig {
                max_days: p.min_log_days(),
            },
        }
    }

    /// Refuses numbers looser than the profile allows.
    pub fn validate(&self, p: Profile) -> Result<()> {
        if self.retention.pii_days == 0 || self.retention.pii_days > p.max_pii_days() {
            return Err(Error::usage(format!(
                "config: retention.pii_days = {} is outside 1..={} allowed by profile {p}",
                self.retention.pii_days,
                p.max_pii_days()
            )));
        }
        if self.log.max_days < p.min_log_days() {
            return Err(Error::usage(format!(
                "config: log.max_days = {} is below the {} days profile {p} requires",
                self.log.max_days,
                p.min_log_days()
            )));
        }
        Ok(())
    }

    /// Reads and validates `config.toml`.
    pub fn load(path: &Path, p: Profile) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Failed(format!("cannot read {}: {e}", path.display())))?;
        let cfg: Config = toml::from_str(&text)
            .map_err(|e| Error::usage(format!("{}: {}", path.display(), e.message())))?;
        cfg.validate(p)?;
        Ok(cfg)
    }

    /// The file's text, with a header explaining the rule.
    pub fn to_toml(&self) -> String {
        format!(
            "# fulfill configuration. Numbers may be stricter than the vault's policy profile,\n\
             # never looser. Change with `fulfill config set KEY VALUE` so the change is audited.\n\n{}",
            toml::to_string(self).expect("config serializes")
        )
    }

    /// Sets one key (`retention.pii_days`, `log.max_days`) and validates the result.
    pub fn set(&mut self, key: &str, value: &str, p: Profile) -> Result<()> {
        let n: u32 = value
            .parse()
            .map_err(|_| Error::usage(format!("{key}: {value:?} is not a whole number of days")))?;
        match key {
            "retention.pii_days" => self.retention.pii_days = n,
            "log.max_days" => self.log.max_days = n,
            _ => {
                return Err(Error::usage(format!(
                    "unknown config key {key:?} (known: retention.pii_days, log.max_days)"
                )));
            }
        }
        self.validate(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stricter_is_allowed_looser_is_not() {
        let p = Profile::Mws2020;
        let mut c = Config::for_profile(p);
        c.set("retention.pii_days", "14", p).unwrap();
        assert!(c.set("retention.pii_days", "31", p).is_err());
        assert!(Config::for_profile(p).set("log.max_days", "89", p).is_err());
        let d = Profile::Dpp2025;
        assert!(
            Config::for_profile(p).validate(d).is_err(),
            "90 days is below dpp-2025's 365"
        );
        Config::for_profile(d).validate(d).unwrap();
    }

    #[test]
    fn file_round_trips() {
        let c = Config::for_profile(Profile::Dpp2025);
        let back: Config = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
    }
}
