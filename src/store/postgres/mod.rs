//! The PostgreSQL backend of [`super::sql::Sql`]: one vault shared by several packing stations
//! (issue 20), through the synchronous `postgres` client (`../shared/docs/STATIONS.md` §1).
//!
//! - **Where, and how safely.** A [`PgConn`] reaches the server named by a
//!   [`StoreUri`] over TCP or a unix socket. Beyond loopback and sockets
//!   it speaks TLS and verifies the server's certificate and name against the platform's roots,
//!   or the authorities of a CA file ([`ConnectOptions`]), with rustls and ring; it never
//!   falls back to plain text ([`Transport`]). Connecting, handshake and authentication
//!   included, gives up after [`CONNECT_TIMEOUT`].
//! - **Errors** are one line, name the store by its redacted form and never the password: an
//!   unreachable, silent or lost server is [`Error::Remote`] (exit 4), a refused password
//!   [`Error::Denied`] (exit 3), an untrusted certificate or a server without TLS
//!   [`Error::Unsafe`] (exit 5). A serialization failure or deadlock (40001, 40P01) is
//!   [`SqlError::Conflict`], for the caller to run the unit of work again. Other server
//!   errors carry the server's message and SQLSTATE (which name constraints, never values).
//! - **Statements** are the store's portable SQL: `?N` placeholders become `$N`
//!   ([`placeholders`]), each text is prepared once per connection, and rows stream until the
//!   caller stops. Values are bound by the types the server inferred for the parameters
//!   (an integer to `BIGINT`, `INTEGER`, `SMALLINT` with range checks, or `BOOLEAN` as 0/1;
//!   a real to `DOUBLE PRECISION` or `REAL`; text to the text types; bytes to `BYTEA`) and
//!   read back by the columns' types; anything else is an error naming the parameter or
//!   column and the types. So the store's SQL says a type where PostgreSQL cannot infer one:
//!   `SELECT ?1` is text, `COALESCE(?1, 0)` is `INTEGER`, `sum()` of `BIGINT`s is `NUMERIC`
//!   (CAST it to `BIGINT`).
//! - **Transactions**: [`PgConn::begin`] (`REPEATABLE READ`, `READ ONLY` for reads),
//!   [`PgConn::commit`], [`PgConn::rollback`].
//! - **Schema**: [`PgConn::migrate`] (`migrations/postgres/`, see [`migrate`]).

mod backend;
pub mod migrate;
pub mod placeholders;
mod value;

pub use backend::{IDLE_IN_TRANSACTION, LOCK_WAIT, PgStore, WRITE_LOCK};

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ::postgres::config::SslMode;
use ::postgres::error::SqlState;
use ::postgres::fallible_iterator::FallibleIterator;
use ::postgres::types::ToSql;

use super::sql::{Dialect, Result, Row, Sql, SqlError, ToValue};
use super::uri::{PgHost, StoreUri};
use crate::error::Error;
use crate::vault::key::Passphrase;

/// How long connecting may take before the server counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Prepared statements a connection keeps (the store has about two hundred).
pub const STATEMENT_CACHE: usize = 512;

/// How a connection reaches its server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Plain text: only to loopback or a unix socket.
    Plain,
    /// TLS with the server's certificate verified against the platform's roots.
    Tls,
}

impl Transport {
    /// What `uri` gets: TLS with a verified certificate everywhere but loopback and a unix
    /// socket ([`StoreUri::needs_tls`]).
    pub fn for_store(uri: &StoreUri) -> Transport {
        if uri.needs_tls() {
            Transport::Tls
        } else {
            Transport::Plain
        }
    }
}

/// How to connect, beyond what the store's URL says.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// The transport: `None` for what the URL requires ([`Transport::for_store`]). TLS may
    /// be asked for where plain text would do (a loopback server with a certificate); plain
    /// text where TLS is required is refused.
    pub transport: Option<Transport>,
    /// Trust the certificate authorities in this PEM file instead of the system's roots (a
    /// warehouse's own CA).
    pub ca_file: Option<PathBuf>,
    /// How long connecting may take, from the first packet to the server's welcome
    /// (`None`: [`CONNECT_TIMEOUT`]).
    pub timeout: Option<Duration>,
}

/// One connection to a PostgreSQL store.
pub struct PgConn {
    client: RefCell<::postgres::Client>,
    prepared: RefCell<HashMap<String, ::postgres::Statement>>,
    /// The store's redacted name, for messages.
    store: String,
}

impl PgConn {
    /// Connects to the store at `uri` as its user, with `password` when the server asks for
    /// one, over the [`Transport`] the URL requires.
    pub fn connect(uri: &StoreUri, password: Option<&Passphrase>) -> crate::error::Result<PgConn> {
        PgConn::connect_with(uri, password, &ConnectOptions::default())
    }

    /// Connects as `options` say.
    pub fn connect_with(
        uri: &StoreUri,
        password: Option<&Passphrase>,
        options: &ConnectOptions,
    ) -> crate::error::Result<PgConn> {
        let transport = options
            .transport
            .unwrap_or_else(|| Transport::for_store(uri));
        if transport == Transport::Plain && uri.needs_tls() {
            return Err(Error::Unsafe(format!(
                "the store {uri} is not on this machine: fulfill reaches it only over TLS"
            )));
        }
        let mut config = ::postgres::Config::new();
        config
            .user(&uri.user)
            .dbname(&uri.database)
            .port(uri.port)
            .application_name("fulfill")
            // A server host that vanishes mid-session (no FIN, no RST) is noticed: unanswered
            // writes give up after 30 s, an idle connection after about a minute of probes.
            .tcp_user_timeout(Duration::from_secs(30))
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .keepalives_interval(Duration::from_secs(10))
            .keepalives_retries(3);
        match &uri.host {
            PgHost::Tcp(h) => config.host(h),
            PgHost::Socket(dir) => config.host_path(dir),
        };
        if let Some(p) = password {
            config.password(p.expose_secret());
        }
        let tls = match transport {
            Transport::Plain => {
                config.ssl_mode(SslMode::Disable);
                None
            }
            Transport::Tls => {
                // `require` verifies the certificate and the host name with the rustls
                // connector (rust-postgres #988, #1252).
                config.ssl_mode(SslMode::Require);
                Some(tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(
                    uri,
                    options.ca_file.as_deref(),
                )?))
            }
        };
        // The client's own timeout bounds only the socket's connect; a server that accepts
        // and then says nothing would hold the handshake forever. So the whole attempt runs
        // on a thread of its own and is given up when the time is over (the thread ends
        // when the attempt does, and drops what it made).
        let timeout = options.timeout.unwrap_or(CONNECT_TIMEOUT);
        config.connect_timeout(timeout);
        let (sent, received) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("store-connect".into())
            .spawn(move || {
                let _ = sent.send(match tls {
                    None => config.connect(::postgres::NoTls),
                    Some(tls) => config.connect(tls),
                });
            })
            .map_err(|e| Error::Failed(format!("cannot start connecting to the store: {e}")))?;
        let client = match received.recv_timeout(timeout) {
            Ok(connected) => connected.map_err(|e| connect_error(uri, &e))?,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                return Err(Error::Remote(format!(
                    "the store {uri} did not answer within {} ms",
                    timeout.as_millis()
                )));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Error::Failed(format!(
                    "connecting to the store {uri} stopped without an answer"
                )));
            }
        };
        Ok(PgConn {
            client: RefCell::new(client),
            prepared: RefCell::new(HashMap::new()),
            store: uri.to_string(),
        })
    }

    /// The store, as a person reads it (its redacted URL).
    pub fn store_name(&self) -> &str {
        &self.store
    }

    /// Begins a transaction: `REPEATABLE READ`, and `READ ONLY` when `read_only`. A
    /// serialization failure inside it is [`SqlError::Conflict`].
    pub fn begin(&self, read_only: bool) -> Result<()> {
        self.batch(if read_only {
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        } else {
            "BEGIN ISOLATION LEVEL REPEATABLE READ"
        })
    }

    /// Commits the transaction begun with [`PgConn::begin`].
    pub fn commit(&self) -> Result<()> {
        self.batch("COMMIT")
    }

    /// Rolls the transaction back.
    pub fn rollback(&self) -> Result<()> {
        self.batch("ROLLBACK")
    }

    fn batch(&self, sql: &str) -> Result<()> {
        self.client_mut()?
            .batch_execute(sql)
            .map_err(|e| self.sql_error(&e))
    }

    fn client_mut(&self) -> Result<std::cell::RefMut<'_, ::postgres::Client>> {
        self.client.try_borrow_mut().map_err(|_| {
            SqlError::Value("a statement ran while another statement's rows were read".into())
        })
    }

    /// The prepared statement for `sql` (rewritten to `$N`), prepared on first use.
    fn prepare(&self, client: &mut ::postgres::Client, sql: &str) -> Result<::postgres::Statement> {
        if let Some(st) = self.prepared.borrow().get(sql) {
            return Ok(st.clone());
        }
        let (text, _) = placeholders::rewrite(sql)?;
        let st = client.prepare(&text).map_err(|e| self.sql_error(&e))?;
        let mut prepared = self.prepared.borrow_mut();
        if prepared.len() >= STATEMENT_CACHE {
            prepared.clear();
        }
        prepared.insert(sql.to_owned(), st.clone());
        Ok(st)
    }

    /// Forgets every prepared statement (after the schema changed).
    fn forget_prepared(&self) {
        self.prepared.borrow_mut().clear();
    }

    /// `params` converted for `st`'s parameter types.
    fn bind<'a>(
        st: &::postgres::Statement,
        params: &'a [&'a dyn ToValue],
    ) -> Result<Vec<value::Bound<'a>>> {
        if st.params().len() != params.len() {
            return Err(SqlError::Value(format!(
                "the statement takes {} parameters, {} given",
                st.params().len(),
                params.len()
            )));
        }
        params
            .iter()
            .zip(st.params())
            .enumerate()
            .map(|(i, (p, ty))| value::bind(i + 1, p.to_value()?, ty))
            .collect()
    }

    /// A statement's error as the store's: conflicts to retry, a lost server (exit 4), or a
    /// failure worded with the server's message (which names constraints, never values).
    fn sql_error(&self, e: &::postgres::Error) -> SqlError {
        if let Some(code) = e.code()
            && (*code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED)
        {
            return SqlError::Conflict;
        }
        if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
            return SqlError::Backend(Error::Failed(format!(
                "the store {} stayed locked by another station's unit of work for {} s; try again",
                self.store,
                backend::LOCK_WAIT.as_secs()
            )));
        }
        if lost(e) {
            return SqlError::Backend(Error::Remote(format!(
                "lost the connection to the store {}",
                self.store
            )));
        }
        SqlError::Backend(Error::Failed(match e.as_db_error() {
            Some(db) => format!(
                "vault database: {} (SQLSTATE {})",
                one_line(db.message()),
                db.code().code()
            ),
            None => format!("vault database: {}", one_line(&e.to_string())),
        }))
    }
}

/// Whether `e` says the server is gone: the connection closed, an I/O error, or the server
/// shutting down or refusing connections (SQLSTATE classes 08 and 57P).
fn lost(e: &::postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        let c = code.code();
        return c.starts_with("08") || c.starts_with("57P");
    }
    chain(e).any(|c| c.is::<std::io::Error>())
}

/// `e` and its causes, looking inside `io::Error`s (whose `source` skips the error they
/// wrap).
fn chain<'e>(
    e: &'e (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'e (dyn std::error::Error + 'static)> {
    let mut next = Some(e);
    std::iter::from_fn(move || {
        let cur = next?;
        next = match cur
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => cur.source(),
        };
        Some(cur)
    })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A failed connection's error, for the user.
fn connect_error(uri: &StoreUri, e: &::postgres::Error) -> Error {
    if let Some(code) = e.code() {
        if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            return Error::Denied(format!(
                "the store {uri} refused {} (authentication failed): check the password in \
                 the password file or ~/.pgpass",
                uri.user
            ));
        }
        if !lost(e) {
            let message = e.as_db_error().map(|db| one_line(db.message()));
            return Error::Remote(format!(
                "the store {uri} refused the connection: {}",
                message.unwrap_or_else(|| code.code().to_string())
            ));
        }
    }
    if let Some(tls) = chain(e).find_map(|c| c.downcast_ref::<rustls::Error>()) {
        return Error::Unsafe(match tls {
            rustls::Error::InvalidCertificate(why) => format!(
                "the store {uri} presented a certificate that is not trusted ({why:?}): \
                 fulfill will not talk to it"
            ),
            other => format!("the TLS connection to the store {uri} failed: {other}"),
        });
    }
    let text = one_line(
        &chain(e)
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(": "),
    );
    if text.contains("server does not support TLS") {
        return Error::Unsafe(format!(
            "the store {uri} does not offer TLS, which fulfill requires beyond this machine"
        ));
    }
    if text.contains("password missing") {
        return Error::Denied(format!(
            "the store {uri} asks for a password for {}: give it in a 0600 file or ~/.pgpass",
            uri.user
        ));
    }
    Error::Remote(format!("cannot reach the store {uri}: {text}"))
}

/// The TLS client: ring, certificate and host name verified against the platform's roots, or
/// only against the authorities in `ca_file`.
fn tls_config(
    uri: &StoreUri,
    ca_file: Option<&Path>,
) -> crate::error::Result<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(ca) = ca_file else {
        use rustls_platform_verifier::ConfigVerifierExt;
        return rustls::ClientConfig::with_platform_verifier().map_err(|e| {
            Error::Unsafe(format!(
                "cannot verify the store {uri}'s certificate: the system's certificate roots: {e}"
            ))
        });
    };
    let bad = |why: String| Error::usage(format!("the store's CA file {}: {why}", ca.display()));
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).map_err(|e| bad(e.to_string()))? {
        roots
            .add(c.map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("it holds no certificate".into()));
    }
    Ok(rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl Sql for PgConn {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&self, sql: &str, params: &[&dyn ToValue]) -> Result<usize> {
        let mut client = self.client_mut()?;
        let st = self.prepare(&mut client, sql)?;
        let bound = PgConn::bind(&st, params)?;
        let refs: Vec<&(dyn ToSql + Sync)> =
            bound.iter().map(|b| b as &(dyn ToSql + Sync)).collect();
        let n = client.execute(&st, &refs).map_err(|e| self.sql_error(&e))?;
        usize::try_from(n).map_err(|_| SqlError::Value("too many rows changed".into()))
    }

    fn execute_batch(&self, sql: &str) -> Result<()> {
        self.batch(sql)
    }

    fn query(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        each: &mut dyn FnMut(&Row<'_>) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        let mut client = self.client_mut()?;
        let st = self.prepare(&mut client, sql)?;
        let bound = PgConn::bind(&st, params)?;
        let mut rows = client
            .query_raw(&st, bound.iter().map(|b| b as &dyn ToSql))
            .map_err(|e| self.sql_error(&e))?;
        while let Some(r) = rows.next().map_err(|e| self.sql_error(&e))? {
            if each(&Row::new(&value::PgRow(&r)))?.is_break() {
                break;
            }
        }
        Ok(())
    }
}
