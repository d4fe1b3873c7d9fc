//! Where a home's rows are: `vault.db` beside it (one bench), or a PostgreSQL store shared by
//! several stations, named in the home's `store.toml` (written 0600 by `init --store`):
//!
//! ```toml
//! url = "postgres://fulfill@db.example.com/fulfill"
//! password_file = "/etc/fulfill/db-password"   # optional; else PGPASSFILE or ~/.pgpass
//! ```
//!
//! The URL never holds a password ([`super::uri::StoreUri`] refuses one) and is printed
//! redacted. A home without `store.toml` keeps its rows in `vault.db`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::uri::StoreUri;
use crate::error::{Error, Result};
use crate::home::Home;
use crate::vault::key::Passphrase;

/// `store.toml` as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreFile {
    url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password_file: Option<PathBuf>,
}

/// Where a home's rows are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `vault.db` in the home.
    File(PathBuf),
    /// A PostgreSQL store.
    Postgres {
        /// Where it is.
        uri: StoreUri,
        /// A 0600 file holding the password, if one was given.
        password_file: Option<PathBuf>,
    },
}

impl Location {
    /// The location a home names: its `store.toml` if it has one, else `vault.db`.
    pub fn of_home(home: &Home) -> Result<Location> {
        let path = home.store_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Location::File(home.vault_path()));
            }
            Err(e) => {
                return Err(Error::Failed(format!(
                    "cannot read {}: {e}",
                    path.display()
                )));
            }
        };
        let file: StoreFile = toml::from_str(&text).map_err(|e| {
            Error::Integrity(format!(
                "{} is not a store location: {}",
                path.display(),
                e.message()
            ))
        })?;
        Ok(Location::Postgres {
            uri: StoreUri::parse(&file.url, &default_user())?,
            password_file: file.password_file,
        })
    }

    /// Where it is, for a person: the file's path or the store's URL (never a password).
    pub fn describe(&self) -> String {
        match self {
            Location::File(p) => p.display().to_string(),
            Location::Postgres { uri, .. } => uri.to_string(),
        }
    }

    /// Writes `store.toml` for a PostgreSQL location into a new home (0600, created
    /// exclusively); nothing to write for `vault.db`.
    pub fn write_to(&self, home: &Home) -> Result<()> {
        let Location::Postgres { uri, password_file } = self else {
            return Ok(());
        };
        let file = StoreFile {
            url: uri.to_url(),
            password_file: password_file.clone(),
        };
        let text = toml::to_string(&file)
            .map_err(|e| Error::Failed(format!("cannot write the store location: {e}")))?;
        crate::home::create_new_private(&home.store_path(), text.as_bytes())
    }

    /// The password to give the server: from the password file (which must be 0600), else
    /// from libpq's pass file (`PGPASSFILE`, else `~/.pgpass`), else none (the server may
    /// trust the socket's peer).
    pub fn password(&self) -> Result<Option<Passphrase>> {
        let Location::Postgres { uri, password_file } = self else {
            return Ok(None);
        };
        if let Some(f) = password_file {
            return read_password_file(f).map(Some);
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        let pgpass = std::env::var_os("PGPASSFILE").map(PathBuf::from);
        uri.pass_file_password(pgpass.as_deref(), &home)
    }
}

/// The user a URL without one connects as: the OS user's name, as libpq does.
pub fn default_user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres".to_string())
}

/// A password from a file of its own: 0600 (or stricter), its first line.
fn read_password_file(path: &Path) -> Result<Passphrase> {
    let text = super::uri::read_private(path, "password file")?.ok_or_else(|| {
        Error::usage(format!(
            "the password file {} does not exist",
            path.display()
        ))
    })?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(Error::usage(format!(
            "the password file {} is empty",
            path.display()
        )));
    }
    Ok(Passphrase::new(line.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_home_keeps_its_store_in_store_toml_and_without_one_in_vault_db() {
        let d = tempfile::tempdir().unwrap();
        let home = Home::unchecked(d.path());
        assert_eq!(
            Location::of_home(&home).unwrap(),
            Location::File(home.vault_path())
        );
        let pg = Location::Postgres {
            uri: StoreUri::parse(
                "postgres:///fulfill?host=/tmp/pg&port=20001&user=postgres",
                "x",
            )
            .unwrap(),
            password_file: Some("/etc/fulfill/db-password".into()),
        };
        pg.write_to(&home).unwrap();
        let mode = std::fs::metadata(home.store_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(Location::of_home(&home).unwrap(), pg);
        // Written once: a second write never replaces it.
        assert!(pg.write_to(&home).is_err());
    }

    #[test]
    fn a_store_toml_with_a_field_it_does_not_know_is_refused_as_damaged() {
        let d = tempfile::tempdir().unwrap();
        let home = Home::unchecked(d.path());
        std::fs::write(
            home.store_path(),
            "url = \"postgres://db/v\"\npassword = \"hunter2\"\n",
        )
        .unwrap();
        let e = Location::of_home(&home).unwrap_err();
        assert!(matches!(e, Error::Integrity(_)), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn a_password_file_others_can_read_is_refused_and_its_first_line_is_the_password() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("pw");
        std::fs::write(&f, "s3cret\nignored\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let pg = Location::Postgres {
            uri: StoreUri::parse("postgres://127.0.0.1/v", "x").unwrap(),
            password_file: Some(f.clone()),
        };
        let e = pg.password().unwrap_err();
        assert!(matches!(e, Error::Unsafe(_)), "{e}");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let p = pg.password().unwrap().unwrap();
        assert_eq!(p.expose_secret(), "s3cret");
    }
}
