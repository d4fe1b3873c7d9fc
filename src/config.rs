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

    /// Whether people (passphrase operators) must have a second factor (TOTP): the policy of
    /// 2025 asks MFA on every user account.
    pub fn requires_totp(self) -> bool {
        matches!(self, Profile::Dpp2025)
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
    /// The seller's ship-from address, for labels bought from Amazon (`fulfill buy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_from: Option<crate::mws::merchant::ShipFrom>,
    /// Where the audit chain's head is anchored ([`crate::audit::anchor`]).
    #[serde(default)]
    pub anchor: AnchorConfig,
    /// The seller's business, as the audit report names it.
    #[serde(default, skip_serializing_if = "Business::is_empty")]
    pub business: Business,
}

/// `[business]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Business {
    /// The business name the audit report is made out to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Business {
    fn is_empty(&self) -> bool {
        self.name.is_none()
    }
}

/// `[anchor]`: where each new head of the audit chain goes, out of the operators' reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchorConfig {
    /// The system logger's datagram socket, or `off`.
    #[serde(default = "AnchorConfig::default_syslog")]
    pub syslog: String,
    /// A remote collector, `tcp://HOST:PORT` or `tls://HOST:PORT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// A PEM file with the authority the collector's TLS certificate chains to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ca: Option<String>,
}

impl Default for AnchorConfig {
    fn default() -> Self {
        AnchorConfig {
            syslog: Self::default_syslog(),
            remote: None,
            remote_ca: None,
        }
    }
}

impl AnchorConfig {
    fn default_syslog() -> String {
        crate::audit::anchor::SYSLOG_SOCKET.to_string()
    }

    /// The anchors this table names, or why it names none that can be used.
    pub fn anchors(&self) -> Result<crate::audit::anchor::Anchors> {
        let syslog = match self.syslog.as_str() {
            "off" => None,
            p if p.starts_with('/') => Some(std::path::PathBuf::from(p)),
            p => {
                return Err(Error::usage(format!(
                    "anchor.syslog: {p:?} is not an absolute socket path or `off`"
                )));
            }
        };
        let ca = self.remote_ca.as_ref().map(std::path::PathBuf::from);
        let remote = match self.remote.as_deref() {
            None => None,
            Some(r) => Some(
                crate::audit::anchor::Remote::parse(r, ca)
                    .map_err(|e| Error::usage(format!("anchor.remote: {e}")))?,
            ),
        };
        Ok(crate::audit::anchor::Anchors { syslog, remote })
    }

    /// Sets `anchor.FIELD` (`off` clears the remote collector and its authority).
    fn set(&mut self, field: &str, value: &str) -> Result<()> {
        let value = value.trim();
        if value.is_empty() || value.len() > 1024 || value.chars().any(char::is_control) {
            return Err(Error::usage(format!(
                "anchor.{field}: a value of at most 1024 printable characters"
            )));
        }
        let off = value == "off";
        match field {
            "syslog" => self.syslog = value.to_string(),
            "remote" => self.remote = (!off).then(|| value.to_string()),
            "remote_ca" if off => self.remote_ca = None,
            "remote_ca" if !value.starts_with('/') => {
                return Err(Error::usage(
                    "anchor.remote_ca: an absolute path to a PEM file",
                ));
            }
            "remote_ca" => self.remote_ca = Some(value.to_string()),
            _ => {
                return Err(Error::usage(format!(
                    "unknown anchor field {field:?} (known: syslog, remote, remote_ca)"
                )));
            }
        }
        self.anchors().map(drop)
    }
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
            ship_from: None,
            anchor: AnchorConfig::default(),
            business: Business::default(),
        }
    }

    /// Refuses numbers looser than the profile allows.
    pub fn validate(&self, p: Profile) -> Result<()> {
        self.anchor.anchors()?;
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

    /// [`Config::load`], or the profile's own numbers when the file is missing, unreadable or
    /// invalid, with why (for jobs that must run whatever became of the file: `purge`). The
    /// profile's numbers are the loosest the policy allows, never looser.
    pub fn load_or_profile(path: &Path, p: Profile) -> (Self, Option<&'static str>) {
        let why = match std::fs::read_to_string(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "missing",
            Err(_) => "unreadable",
            Ok(text) => match toml::from_str::<Config>(&text) {
                Err(_) => "invalid",
                Ok(cfg) => match cfg.validate(p) {
                    Ok(()) => return (cfg, None),
                    Err(_) => "looser than the profile",
                },
            },
        };
        (Config::for_profile(p), Some(why))
    }

    /// The file's text, with a header explaining the rule.
    pub fn to_toml(&self) -> String {
        format!(
            "# fulfill configuration. Numbers may be stricter than the vault's policy profile,\n\
             # never looser. Change with `fulfill config set KEY VALUE` so the change is audited.\n\n{}",
            toml::to_string(self).expect("config serializes")
        )
    }

    /// Sets one key (`retention.pii_days`, `log.max_days`, `ship_from.FIELD`) and validates the
    /// result.
    pub fn set(&mut self, key: &str, value: &str, p: Profile) -> Result<()> {
        if let Some(field) = key.strip_prefix("ship_from.") {
            return self.set_ship_from(field, value);
        }
        if let Some(field) = key.strip_prefix("anchor.") {
            return self.anchor.set(field, value);
        }
        if key == "business.name" {
            let v = value.trim();
            if v.is_empty() || v.chars().count() > 80 || v.chars().any(char::is_control) {
                return Err(Error::usage("business.name: 1 to 80 printable characters"));
            }
            self.business.name = Some(v.to_string());
            return Ok(());
        }
        let n: u32 = value
            .parse()
            .map_err(|_| Error::usage(format!("{key}: {value:?} is not a whole number of days")))?;
        match key {
            "retention.pii_days" => self.retention.pii_days = n,
            "log.max_days" => self.log.max_days = n,
            _ => {
                return Err(Error::usage(format!(
                    "unknown config key {key:?} (known: retention.pii_days, log.max_days, anchor.syslog|remote|remote_ca, business.name, ship_from.{})",
                    SHIP_FROM_FIELDS.join("|")
                )));
            }
        }
        self.validate(p)
    }

    fn set_ship_from(&mut self, field: &str, value: &str) -> Result<()> {
        let value = value.trim().to_string();
        if value.chars().any(char::is_control) || value.len() > 180 {
            return Err(Error::usage(format!(
                "ship_from.{field}: at most 180 printable characters"
            )));
        }
        let f = self.ship_from.get_or_insert_with(Default::default);
        let opt = |v: String| (!v.is_empty()).then_some(v);
        match field {
            "name" if value.chars().count() > 30 => {
                return Err(Error::usage(
                    "ship_from.name: Amazon takes at most 30 characters",
                ));
            }
            "name" => f.name = value,
            "address_line1" => f.address_line1 = value,
            "address_line2" => f.address_line2 = opt(value),
            "city" => f.city = value,
            "state" => f.state = opt(value),
            "postal_code" => f.postal_code = value,
            "country" if value.len() != 2 || !value.chars().all(|c| c.is_ascii_uppercase()) => {
                return Err(Error::usage(
                    "ship_from.country: an ISO 3166 alpha-2 code such as US",
                ));
            }
            "country" => f.country = value,
            "email" => f.email = value,
            "phone" => f.phone = value,
            _ => {
                return Err(Error::usage(format!(
                    "unknown ship_from field {field:?} (known: {})",
                    SHIP_FROM_FIELDS.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// The ship-from address, refused with what is missing when incomplete.
    pub fn ship_from(&self) -> Result<&crate::mws::merchant::ShipFrom> {
        let f = self.ship_from.as_ref().ok_or_else(|| {
            Error::usage(
                "no ship-from address: an owner or admin sets it with `fulfill config set ship_from.FIELD VALUE`",
            )
        })?;
        if let Some(name) = first_blank(f, true) {
            return Err(Error::usage(format!(
                "ship-from address incomplete: set ship_from.{name} with `fulfill config set`"
            )));
        }
        Ok(f)
    }

    /// The return address a label prints: `None` when no `[ship_from]` is set; refused with
    /// what is missing when one is set without a field the address needs (`email` and `phone`
    /// are for Amazon, not the label).
    pub fn return_address(&self) -> Result<Option<&crate::mws::merchant::ShipFrom>> {
        let Some(f) = self.ship_from.as_ref() else {
            return Ok(None);
        };
        if let Some(name) = first_blank(f, false) {
            return Err(Error::usage(format!(
                "the label's return address is incomplete: set ship_from.{name} with \
                 `fulfill config set`"
            )));
        }
        Ok(Some(f))
    }
}

/// The first required field of `f` that is blank: the postal address's, and with `contact`
/// also e-mail and phone (which Amazon needs to buy a label).
fn first_blank(f: &crate::mws::merchant::ShipFrom, contact: bool) -> Option<&'static str> {
    let mut fields = vec![
        ("name", &f.name),
        ("address_line1", &f.address_line1),
        ("city", &f.city),
        ("postal_code", &f.postal_code),
        ("country", &f.country),
    ];
    if contact {
        fields.extend([("email", &f.email), ("phone", &f.phone)]);
    }
    fields
        .into_iter()
        .find(|(_, v)| v.trim().is_empty())
        .map(|(name, _)| name)
}

/// The fields of `[ship_from]`.
pub const SHIP_FROM_FIELDS: &[&str] = &[
    "name",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "country",
    "email",
    "phone",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_broken_file_falls_back_to_the_profile() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.toml");
        let profile = Profile::Dpp2025;
        let (c, why) = Config::load_or_profile(&p, profile);
        assert_eq!(
            (c.clone(), why),
            (Config::for_profile(profile), Some("missing"))
        );
        std::fs::write(&p, "[retention\n").unwrap();
        assert_eq!(Config::load_or_profile(&p, profile).1, Some("invalid"));
        std::fs::write(&p, "[retention]\npii_days = 90\n").unwrap();
        assert_eq!(
            Config::load_or_profile(&p, profile).1,
            Some("looser than the profile")
        );
        // The control: a sound, stricter file is used as it is.
        std::fs::write(&p, "[retention]\npii_days = 7\n[log]\nmax_days = 400\n").unwrap();
        let (c, why) = Config::load_or_profile(&p, profile);
        assert_eq!((c.retention.pii_days, c.log.max_days, why), (7, 400, None));
    }

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
    fn ship_from_is_set_field_by_field_and_checked_before_use() {
        let p = Profile::Mws2020;
        let mut c = Config::for_profile(p);
        assert!(c.ship_from().is_err());
        assert!(
            c.return_address().unwrap().is_none(),
            "no return address: none printed"
        );
        c.set("ship_from.name", "Acme Warehouse", p).unwrap();
        assert!(
            c.return_address()
                .unwrap_err()
                .to_string()
                .contains("ship_from.address_line1")
        );
        for (k, v) in [
            ("name", "Acme Warehouse"),
            ("address_line1", "10 Jay St"),
            ("city", "Brooklyn"),
            ("state", "NY"),
            ("postal_code", "11201"),
            ("country", "US"),
            ("email", "ship@acme.example"),
        ] {
            c.set(&format!("ship_from.{k}"), v, p).unwrap();
        }
        assert!(
            c.ship_from()
                .unwrap_err()
                .to_string()
                .contains("ship_from.phone")
        );
        c.set("ship_from.phone", "7181231234", p).unwrap();
        assert_eq!(c.ship_from().unwrap().city, "Brooklyn");
        assert_eq!(c.return_address().unwrap().unwrap().city, "Brooklyn");
        assert!(c.set("ship_from.country", "usa", p).is_err());
        assert!(c.set("ship_from.name", &"x".repeat(31), p).is_err());
        assert!(c.set("ship_from.planet", "Mars", p).is_err());
        let back: Config = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn file_round_trips() {
        let c = Config::for_profile(Profile::Dpp2025);
        let back: Config = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
    }
}
