//! Where a PostgreSQL store is, and its password.
//!
//! `postgres://[USER@]HOST[:PORT]/DATABASE` (or `postgresql://`), parsed with the `url` crate;
//! `?host=/run/postgresql` reaches the server through a unix socket in that folder, as libpq's
//! `host` parameter does. The URL never carries a password: it is typed on command lines, kept
//! in shell history and printed in messages, so one in it is refused. The password comes from a
//! 0600 file the operator names, or from libpq's pass file (`PGPASSFILE`, else `~/.pgpass`),
//! whose format and matching this module follows (PostgreSQL's "The Password File": lines of
//! `host:port:database:user:password`, `*` matching anything, `\:` and `\\` escaped, a unix
//! socket matching the host `localhost`, the file ignored unless only its owner can read it).
//! Printing a [`StoreUri`] (`Display` and `Debug`) shows the user, host, port and database
//! only.
//!
//! TLS with certificate verification is required except to loopback or a unix socket
//! ([`StoreUri::needs_tls`]).

use std::fmt;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::vault::key::Passphrase;

/// PostgreSQL's port when the URL names none.
pub const DEFAULT_PORT: u16 = 5432;

/// How the server is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgHost {
    /// A host name or address, over TCP.
    Tcp(String),
    /// The folder of the server's unix socket.
    Socket(PathBuf),
}

/// A PostgreSQL store's place, without its password.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUri {
    /// The role to connect as.
    pub user: String,
    /// Where the server is.
    pub host: PgHost,
    /// Its port (for a socket, the number in the socket file's name).
    pub port: u16,
    /// The database.
    pub database: String,
}

impl StoreUri {
    /// Parses a store URL; `default_user` is the role when the URL names none (libpq takes the
    /// OS user's name). Errors are usage errors that never repeat the URL (it might hold a
    /// password).
    pub fn parse(s: &str, default_user: &str) -> Result<StoreUri> {
        let bad = |why: &str| {
            Error::usage(format!(
                "the store URL {why}: give postgres://[USER@]HOST[:PORT]/DATABASE"
            ))
        };
        let u = url::Url::parse(s).map_err(|_| bad("is not a URL"))?;
        if !matches!(u.scheme(), "postgres" | "postgresql") {
            return Err(bad("is not a postgres:// URL"));
        }
        if u.password().is_some() {
            return Err(Error::usage(
                "the store URL holds a password: remove it and give it in a 0600 file \
                 (--password-file) or in ~/.pgpass, never on the command line",
            ));
        }
        let database = u.path().trim_start_matches('/');
        if database.is_empty() || database.contains('/') {
            return Err(bad("names no database"));
        }
        let database = percent_decoded(database).ok_or_else(|| bad("has a bad database name"))?;
        let mut user = match u.username() {
            "" => default_user.to_string(),
            name => percent_decoded(name).ok_or_else(|| bad("has a bad user name"))?,
        };
        let mut socket = None;
        let mut port = u.port();
        for (k, v) in u.query_pairs() {
            match k.as_ref() {
                "host" if v.starts_with('/') => socket = Some(PathBuf::from(v.as_ref())),
                "port" => port = Some(v.parse().map_err(|_| bad("has a bad port"))?),
                "user" if !v.is_empty() && !v.chars().any(char::is_control) => {
                    user = v.into_owned()
                }
                "host" => return Err(bad("has a host parameter that is not a socket folder")),
                "sslmode" | "application_name" | "connect_timeout" => {}
                _ => return Err(bad("has a parameter fulfill does not take")),
            }
        }
        let host = match (socket, u.host_str()) {
            (Some(dir), None) => PgHost::Socket(dir),
            (Some(_), Some(_)) => return Err(bad("names both a host and a socket folder")),
            (None, Some(h)) => PgHost::Tcp(h.trim_matches(['[', ']']).to_string()),
            (None, None) => return Err(bad("names no host")),
        };
        Ok(StoreUri {
            user,
            host,
            port: port.unwrap_or(DEFAULT_PORT),
            database,
        })
    }

    /// Whether the connection must be TLS with a verified certificate: everywhere but
    /// loopback and a unix socket.
    pub fn needs_tls(&self) -> bool {
        match &self.host {
            PgHost::Socket(_) => false,
            PgHost::Tcp(h) => {
                !(h.eq_ignore_ascii_case("localhost")
                    || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()))
            }
        }
    }

    /// The password libpq's pass file gives this store: `PGPASSFILE` (`pgpassfile`) if set,
    /// else `~/.pgpass` under `home`. `None` when there is no file or no line matches. A file
    /// others can read is refused (libpq ignores it with a warning; a store password left
    /// readable is worth an error).
    pub fn pass_file_password(
        &self,
        pgpassfile: Option<&Path>,
        home: &Path,
    ) -> Result<Option<Passphrase>> {
        let path = pgpassfile.map_or_else(|| home.join(".pgpass"), Path::to_path_buf);
        Ok(read_private(&path, "pass file")?.and_then(|text| self.pass_file_lookup(&text)))
    }

    /// The password of the first line of a pass file's `text` that matches this store.
    pub fn pass_file_lookup(&self, text: &str) -> Option<Passphrase> {
        let host = match &self.host {
            PgHost::Tcp(h) => h.as_str(),
            PgHost::Socket(_) => "localhost",
        };
        let port = self.port.to_string();
        let want = [
            host,
            port.as_str(),
            self.database.as_str(),
            self.user.as_str(),
        ];
        text.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .find_map(|line| {
                let fields = split_pass_line(line)?;
                let matches = fields[..4]
                    .iter()
                    .zip(want)
                    .all(|(f, w)| f.as_str() == "*" || f.as_str() == w);
                matches.then(|| Passphrase::new(fields[4].to_string()))
            })
    }
}

/// A pass-file line's five fields, unescaped (`\:` and `\\`); `None` for a line without five.
fn split_pass_line(line: &str) -> Option<[zeroize::Zeroizing<String>; 5]> {
    let mut fields: Vec<zeroize::Zeroizing<String>> = vec![zeroize::Zeroizing::new(String::new())];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    fields.last_mut()?.push(n);
                }
            }
            ':' if fields.len() < 5 => fields.push(zeroize::Zeroizing::new(String::new())),
            c => fields.last_mut()?.push(c),
        }
    }
    fields.try_into().ok()
}

/// The text of a file holding a secret (the pass file, a password file): `None` when there is
/// no such file; refused when others can read it (a password left readable is worth an
/// error, where libpq only warns).
pub(crate) fn read_private(path: &Path, what: &str) -> Result<Option<zeroize::Zeroizing<String>>> {
    let cannot = |e: std::io::Error| {
        Error::Failed(format!("cannot read the {what} {}: {e}", path.display()))
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(cannot(e)),
    };
    if !meta.is_file() {
        return Ok(None);
    }
    if meta.mode() & 0o077 != 0 {
        return Err(Error::Unsafe(format!(
            "the {what} {} can be read by others: chmod 600 it",
            path.display()
        )));
    }
    Ok(Some(zeroize::Zeroizing::new(
        std::fs::read_to_string(path).map_err(cannot)?,
    )))
}

fn percent_decoded(s: &str) -> Option<String> {
    let s = percent_encoding::percent_decode_str(s).decode_utf8().ok()?;
    (!s.is_empty() && !s.chars().any(char::is_control)).then(|| s.into_owned())
}

impl StoreUri {
    /// The URL that parses back to this store (what `store.toml` keeps): names
    /// percent-encoded, a socket folder, its port and the user as parameters.
    pub fn to_url(&self) -> String {
        use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode as enc};
        let (user, db) = (
            enc(&self.user, NON_ALPHANUMERIC),
            enc(&self.database, NON_ALPHANUMERIC),
        );
        match &self.host {
            PgHost::Tcp(h) if h.contains(':') => {
                format!("postgres://{user}@[{h}]:{}/{db}", self.port)
            }
            PgHost::Tcp(h) => format!("postgres://{user}@{h}:{}/{db}", self.port),
            PgHost::Socket(dir) => format!(
                "postgres:///{db}?host={}&port={}&user={user}",
                enc(&dir.to_string_lossy(), NON_ALPHANUMERIC),
                self.port
            ),
        }
    }
}

impl fmt::Display for StoreUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            PgHost::Tcp(h) if h.contains(':') => write!(
                f,
                "postgres://{}@[{h}]:{}/{}",
                self.user, self.port, self.database
            ),
            PgHost::Tcp(h) => write!(
                f,
                "postgres://{}@{h}:{}/{}",
                self.user, self.port, self.database
            ),
            PgHost::Socket(dir) => write!(
                f,
                "postgres://{}@:{}/{}?host={}",
                self.user,
                self.port,
                self.database,
                dir.display()
            ),
        }
    }
}

impl fmt::Debug for StoreUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUri({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn uri(s: &str) -> StoreUri {
        StoreUri::parse(s, "station").unwrap()
    }

    #[test]
    fn a_store_written_as_a_url_parses_back_to_itself() {
        for s in [
            "postgres://db.example.com/fulfill",
            "postgres://st%C3%A4tion@[::1]:6543/v%20ault",
            "postgres:///vault?host=/tmp/pg%20x&port=20123&user=postgres",
            "postgresql://a@127.0.0.1/b?sslmode=require",
        ] {
            let u = uri(s);
            assert_eq!(uri(&u.to_url()), u, "{s}");
        }
        let u = uri("postgres:///vault?host=/tmp/pg&port=20123&user=postgres");
        assert_eq!((u.port, u.user.as_str()), (20123, "postgres"));
        assert!(StoreUri::parse("postgres:///v?host=/tmp&port=x", "s").is_err());
    }

    #[test]
    fn urls_parse_to_host_port_database_and_user() {
        let u = uri("postgres://db.example.com/fulfill");
        assert_eq!(u.host, PgHost::Tcp("db.example.com".into()));
        assert_eq!(
            (u.port, u.database.as_str(), u.user.as_str()),
            (5432, "fulfill", "station")
        );
        assert!(u.needs_tls());
        let u = uri("postgresql://packer@127.0.0.1:6543/vault");
        assert_eq!((u.port, u.user.as_str()), (6543, "packer"));
        assert!(!u.needs_tls(), "loopback");
        assert!(!uri("postgres://[::1]/v").needs_tls());
        assert!(!uri("postgres://LOCALHOST/v").needs_tls());
        assert!(uri("postgres://10.0.0.7/v").needs_tls());
        let u = uri("postgres:///vault?host=/run/postgresql");
        assert_eq!(u.host, PgHost::Socket("/run/postgresql".into()));
        assert!(!u.needs_tls(), "unix socket");
        assert_eq!(
            u.to_string(),
            "postgres://station@:5432/vault?host=/run/postgresql"
        );
    }

    #[test]
    fn a_password_in_the_url_is_refused_and_never_repeated() {
        for s in [
            "postgres://packer:hunter2secret@db/v",
            "postgres://:hunter2secret@db/v",
        ] {
            let e = StoreUri::parse(s, "station").unwrap_err();
            assert!(matches!(e, Error::Usage(_)));
            assert!(e.to_string().contains("~/.pgpass"), "{e}");
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
        for s in [
            "mysql://db/v",
            "postgres://db/",
            "postgres://db/a/b",
            "not a url hunter2",
            "postgres://db/v?password=hunter2",
            "postgres://db/v?host=db2",
            "postgres://db/v?host=/run/postgresql",
        ] {
            let e = StoreUri::parse(s, "station").unwrap_err();
            assert!(matches!(e, Error::Usage(_)), "{s}");
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn printing_shows_no_secret_and_round_trips() {
        let u = uri("postgres://packer@db.example.com:5433/fulfill?sslmode=require");
        assert_eq!(
            u.to_string(),
            "postgres://packer@db.example.com:5433/fulfill"
        );
        assert_eq!(
            format!("{u:?}"),
            "StoreUri(postgres://packer@db.example.com:5433/fulfill)"
        );
        assert_eq!(uri(&u.to_string()), u);
        let v6 = uri("postgres://[2001:db8::1]:5433/f");
        assert_eq!(uri(&v6.to_string()), v6);
    }

    #[test]
    fn the_pass_file_matches_like_libpq() {
        let text = "# comment\n\
                    other.host:5432:fulfill:station:wrong\n\
                    db.example.com:*:fulfill:station:pa\\:ss\\\\word\n\
                    *:*:*:*:fallback\n";
        let u = uri("postgres://db.example.com/fulfill");
        assert_eq!(
            u.pass_file_lookup(text).unwrap().expose_secret(),
            "pa:ss\\word"
        );
        let other = uri("postgres://packer@db.example.com/fulfill");
        assert_eq!(
            other.pass_file_lookup(text).unwrap().expose_secret(),
            "fallback"
        );
        let socket = uri("postgres:///fulfill?host=/run/postgresql");
        assert_eq!(
            socket
                .pass_file_lookup("localhost:5432:fulfill:station:sock\n")
                .unwrap()
                .expose_secret(),
            "sock"
        );
        assert!(u.pass_file_lookup("short:line\n").is_none());
    }

    #[test]
    fn a_pass_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let u = uri("postgres://db/v");
        assert!(
            u.pass_file_password(None, dir.path()).unwrap().is_none(),
            "no file"
        );
        let f = dir.path().join(".pgpass");
        std::fs::write(&f, "*:*:*:*:secret\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = u.pass_file_password(None, dir.path()).unwrap_err();
        assert!(matches!(e, Error::Unsafe(_)), "{e}");
        assert!(!e.to_string().contains("secret"));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let p = u.pass_file_password(None, dir.path()).unwrap().unwrap();
        assert_eq!(p.expose_secret(), "secret");
        // PGPASSFILE wins over ~/.pgpass.
        let g = dir.path().join("other");
        std::fs::write(&g, "*:*:*:*:from-env\n").unwrap();
        std::fs::set_permissions(&g, std::fs::Permissions::from_mode(0o600)).unwrap();
        let p = u.pass_file_password(Some(&g), dir.path()).unwrap().unwrap();
        assert_eq!(p.expose_secret(), "from-env");
    }
}
