//! Roles and what they may do.
//!
//! Two kinds of rule live here. *Keys* ([`Role::holds_pii_key`], [`Role::holds_secrets_key`],
//! [`Role::holds_log_key`])
//! decide which wrapped keys an operator receives, so a role without the PII key cannot open
//! PII however the code around it is changed. *Capabilities* ([`Capability`]) are checks for
//! actions that need no key (managing people, auditing); they fail closed with an
//! `access.denied` audit record.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// An operator's role (DESIGN.md, "Roles and keys").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Made by `init`; holds every key.
    Owner,
    /// Picks items; no keys.
    Picker,
    /// Packs and ships; opens PII for labels, calls Amazon.
    Packer,
    /// Cron service: seals PII with the public key, calls Amazon.
    Fetcher,
    /// Manages people, credentials, config; calls Amazon; no PII.
    Admin,
    /// Audits; scans PII for leaks (never shown).
    Auditor,
}

/// Actions that are checked by role rather than by key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Add, disable and unlock operators; change config and credentials.
    ManagePeople,
    /// Pull orders from Amazon.
    Fetch,
    /// Print labels and confirm shipments.
    Ship,
    /// Run `fulfill audit`.
    Audit,
}

impl Capability {
    /// What the capability allows, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Capability::ManagePeople => "manage operators, credentials or config",
            Capability::Fetch => "fetch orders from Amazon",
            Capability::Ship => "print labels or confirm shipments",
            Capability::Audit => "run audits",
        }
    }
}

impl Role {
    /// Every role, owner first.
    pub const ALL: [Role; 6] = [
        Role::Owner,
        Role::Picker,
        Role::Packer,
        Role::Fetcher,
        Role::Admin,
        Role::Auditor,
    ];

    /// The name used in the vault, on the command line and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Picker => "picker",
            Role::Packer => "packer",
            Role::Fetcher => "fetcher",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }

    /// Whether this role's key set holds the PII private key.
    pub fn holds_pii_key(self) -> bool {
        matches!(self, Role::Owner | Role::Packer | Role::Auditor)
    }

    /// Whether this role's key set holds the secrets private key, which opens the Amazon
    /// credentials: the roles that call Amazon. An admin sets credentials by sealing them to
    /// the secrets public key, and cannot read them back.
    pub fn holds_secrets_key(self) -> bool {
        matches!(self, Role::Owner | Role::Fetcher | Role::Packer)
    }

    /// Whether this role's key set holds the audit log's first MAC key, which verifies every
    /// record's MAC: the roles that audit.
    pub fn holds_log_key(self) -> bool {
        matches!(self, Role::Owner | Role::Auditor)
    }

    /// Whether this role may do `cap`.
    pub fn can(self, cap: Capability) -> bool {
        match cap {
            Capability::ManagePeople => matches!(self, Role::Owner | Role::Admin),
            Capability::Fetch => matches!(self, Role::Owner | Role::Fetcher | Role::Packer),
            Capability::Ship => matches!(self, Role::Owner | Role::Packer),
            Capability::Audit => matches!(self, Role::Owner | Role::Auditor),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| Error::Integrity(format!("unknown role {s:?} in the vault")))
    }
}

impl From<crate::cli::RoleArg> for Role {
    fn from(r: crate::cli::RoleArg) -> Self {
        use crate::cli::RoleArg;
        match r {
            RoleArg::Picker => Role::Picker,
            RoleArg::Packer => Role::Packer,
            RoleArg::Fetcher => Role::Fetcher,
            RoleArg::Admin => Role::Admin,
            RoleArg::Auditor => Role::Auditor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_design() {
        // role: (pii key, secrets key, manage, fetch, ship, audit)
        let want = [
            (Role::Owner, (true, true, true, true, true, true)),
            (Role::Picker, (false, false, false, false, false, false)),
            (Role::Packer, (true, true, false, true, true, false)),
            (Role::Fetcher, (false, true, false, true, false, false)),
            (Role::Admin, (false, false, true, false, false, false)),
            (Role::Auditor, (true, false, false, false, false, true)),
        ];
        for (r, w) in want {
            let got = (
                r.holds_pii_key(),
                r.holds_secrets_key(),
                r.can(Capability::ManagePeople),
                r.can(Capability::Fetch),
                r.can(Capability::Ship),
                r.can(Capability::Audit),
            );
            assert_eq!(got, w, "{r}");
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
    }
}
