//! Errors and the one mapping from error to exit code.
//!
//! Every error message is one line a person can act on, and never carries PII or a secret: the
//! PII types cannot be formatted (see [`crate::pii`]), and messages name orders and operators
//! only by id and name.

use std::process::ExitCode;

/// The documented exit codes (README, "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// Audit findings, some orders failed, or an operational failure (I/O, disk full).
    Failed = 1,
    /// Usage error or bad input.
    Usage = 2,
    /// Authentication failed, operator locked, or action denied.
    Denied = 3,
    /// Amazon or the network failed after retries, or a remote wait reached its bound.
    Remote = 4,
    /// Vault integrity failure, tampered log, or an unsafe environment.
    Unsafe = 5,
    /// A label purchase that may have been bought, which Amazon would neither hand back nor
    /// rule out: the label is in Seller Central, and the purchase stays noted for `audit`.
    Unresolved = 6,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// Everything that can go wrong, grouped by what the user should do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad arguments or bad input data.
    #[error("{0}")]
    Usage(String),
    /// The passphrase or key file did not unlock the operator.
    #[error(
        "wrong passphrase or key file for operator {operator:?} ({failures} failed attempt(s); locked at {limit})"
    )]
    WrongPassphrase {
        /// Operator name.
        operator: String,
        /// Consecutive failures so far.
        failures: u32,
        /// The profile's lockout limit.
        limit: u32,
    },
    /// The operator is locked after too many failures.
    #[error(
        "operator {0:?} is locked after too many failed unlocks; an owner or admin must run `fulfill operator unlock {0}`"
    )]
    Locked(String),
    /// The action is not allowed for this operator (by role, or for lack of a key).
    #[error("denied: {0}")]
    Denied(String),
    /// Amazon or the network failed after retries, or a remote wait reached its bound (a
    /// reply's deadline, one wait's cap, the run's time limit, a listing that does not end).
    #[error("{0}")]
    Remote(String),
    /// The environment is unsafe for PII (permissions, removable media, cloud-sync folder).
    #[error("unsafe environment: {0}")]
    Unsafe(String),
    /// The vault or a sealed record failed an integrity check.
    #[error("integrity: {0}")]
    Integrity(String),
    /// An audit record could not be written, so the action it records did not happen.
    #[error("audit log: {0}; the action was not carried out")]
    AuditLog(String),
    /// An operational failure: disk full, I/O error, database error.
    #[error("{0}")]
    Failed(String),
    /// A label purchase that may have been bought, which Amazon would neither hand back nor
    /// rule out ([`crate::flow::buy`]): the message says where the label is.
    #[error("{0}")]
    Unresolved(String),
}

impl Error {
    /// The exit code for this error.
    pub fn exit(&self) -> Exit {
        match self {
            Error::Usage(_) => Exit::Usage,
            Error::WrongPassphrase { .. } | Error::Locked(_) | Error::Denied(_) => Exit::Denied,
            Error::Remote(_) => Exit::Remote,
            Error::Unsafe(_) | Error::Integrity(_) | Error::AuditLog(_) => Exit::Unsafe,
            Error::Failed(_) => Exit::Failed,
            Error::Unresolved(_) => Exit::Unresolved,
        }
    }

    /// Shorthand for a usage error.
    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
                Error::Integrity(format!("vault database is damaged: {e}"))
            }
            Some(ErrorCode::DiskFull) => Error::Failed(
                "disk full: the vault could not be written; nothing was changed".into(),
            ),
            _ => Error::Failed(format!("vault database: {e}")),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Failed(format!("I/O: {e}"))
    }
}

/// The result type of the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
