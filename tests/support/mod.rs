//! Shared test fixtures: a temp folder that survives a failing test, private secret files,
//! a vault with an owner, and the `fulfill` binary with a clean environment.
#![allow(dead_code)]

pub mod cups;
pub mod pg;

use std::fs;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use chrono::{DateTime, Utc};
use fulfill::config::Profile;
use fulfill::home::Home;
use fulfill::safety::Environment;
use fulfill::vault::Vault;
use fulfill::vault::key::{Credential, Passphrase};

/// The owner's passphrase in every test vault.
pub const OWNER_PASS: &str = "owner passphrase, long enough";

/// A temp folder kept (and printed) when the test panics, so its vault and logs can be read.
pub struct TestDir {
    syslog: std::sync::OnceLock<SyslogListener>,
    /// The cluster the homes' rows go to under `FULFILL_TEST_STORE=postgres` (dropped, so
    /// stopped, before the folder is removed).
    pg: std::sync::OnceLock<pg::Pg>,
    /// Homes keep their rows on PostgreSQL whatever `FULFILL_TEST_STORE` says.
    on_postgres: bool,
    dir: Option<tempfile::TempDir>,
}

impl TestDir {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("fulfill-test-")
            .tempdir()
            .unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        TestDir {
            dir: Some(dir),
            syslog: std::sync::OnceLock::new(),
            pg: std::sync::OnceLock::new(),
            on_postgres: false,
        }
    }

    /// A folder whose homes keep their rows on a PostgreSQL cluster of its own.
    pub fn on_postgres() -> Self {
        let mut d = TestDir::new();
        d.on_postgres = true;
        d
    }

    /// Where this folder's homes keep their rows: `None` for `vault.db` (the default), or,
    /// when `FULFILL_TEST_STORE=postgres`, the URL of a database on a throwaway cluster of this
    /// folder's own: the suite run against the PostgreSQL backend.
    pub fn store_url(&self) -> Option<String> {
        if !self.on_postgres && std::env::var("FULFILL_TEST_STORE").ok()?.as_str() != "postgres" {
            return None;
        }
        let pg = self.pg.get_or_init(|| {
            let pg = pg::Pg::start();
            pg.psql("postgres", "CREATE DATABASE vault");
            pg
        });
        Some(pg.socket_url("vault"))
    }

    /// The cluster this folder's homes keep their rows on (after [`TestDir::store_url`]).
    pub fn pg(&self) -> &pg::Pg {
        self.pg.get().expect("the homes' rows are on PostgreSQL")
    }

    /// The stand-in for the system logger homes made by [`TestDir::init`] anchor to
    /// (`--anchor-syslog`): a datagram socket in this folder, read by a thread.
    pub fn syslog(&self) -> &SyslogListener {
        self.syslog
            .get_or_init(|| SyslogListener::bind(&self.path().join("syslog.sock")))
    }

    /// Everything the stand-in system logger received so far, as an export file for
    /// `audit --anchors` (what `journalctl -t fulfill -o cat` would give).
    pub fn syslog_export(&self) -> PathBuf {
        let p = self.path().join("syslog-export.txt");
        fs::write(&p, self.syslog().lines().join("\n") + "\n").unwrap();
        p
    }

    pub fn path(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }

    /// A file readable only by this user (passphrase and key files).
    pub fn secret_file(&self, name: &str, content: &str) -> PathBuf {
        let p = self.path().join(name);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&p)
            .unwrap();
        std::io::Write::write_all(&mut f, content.as_bytes()).unwrap();
        p
    }

    /// The default home inside this folder.
    pub fn home(&self) -> PathBuf {
        self.path().join("home")
    }

    /// The `fulfill` binary with a clean environment: this folder's home, no TTY.
    pub fn fulfill(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_fulfill"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("FULFILL_HOME", self.home())
            .env("USER", "nobody-in-particular")
            .stdin(Stdio::null());
        c
    }
}

impl TestDir {
    /// `fulfill init` with owner `olga` (a sandbox home if asked); returns her passphrase file.
    pub fn init(&self, sandbox: bool) -> PathBuf {
        self.init_with(&[], sandbox)
    }

    /// A sandbox home made at the given `--now`.
    pub fn init_sandbox_at(&self, now: &str) -> PathBuf {
        self.init_with(&["--now", now], true)
    }

    fn init_with(&self, global: &[&str], sandbox: bool) -> PathBuf {
        let owner = self.secret_file("owner.pass", &format!("{OWNER_PASS}\n"));
        let mut c = self.fulfill();
        c.args(global)
            .args(["init", "--profile", "mws-2020"])
            .arg("--anchor-syslog")
            .arg(self.syslog().path());
        if sandbox {
            c.arg("--sandbox");
        }
        if let Some(url) = self.store_url() {
            c.args(["--store", &url]);
        }
        let r = run(c.args(["--owner", "olga", "--passphrase-file"]).arg(&owner));
        assert_eq!(r.code, 0, "init: {}", r.stderr);
        // The recovery key init shows once, kept as `recovery.key` beside the home.
        if let Some(k) = r
            .stdout
            .lines()
            .skip_while(|l| !l.starts_with("Recovery key for"))
            .nth(1)
        {
            self.secret_file("recovery.key", k.trim());
        }
        owner
    }

    /// The binary acting as operator `name`, unlocking with passphrase file `pass`.
    pub fn as_op(&self, name: &str, pass: &Path) -> Command {
        let mut c = self.fulfill();
        c.args(["--operator", name, "--passphrase-file"]).arg(pass);
        c
    }

    /// `operator add NAME --role ROLE` run by `by`; the new operator's passphrase file is
    /// `NAME.pass` (the passphrase: "NAME passphrase long enough").
    pub fn add_operator(&self, by: &str, by_pass: &Path, name: &str, role: &str) -> (Run, PathBuf) {
        let p = self.secret_file(
            &format!("{name}.pass"),
            &format!("{name} passphrase long enough\n"),
        );
        let r = run(self
            .as_op(by, by_pass)
            .args([
                "operator",
                "add",
                name,
                "--role",
                role,
                "--new-passphrase-file",
            ])
            .arg(&p));
        (r, p)
    }

    /// The home's audit day files, oldest first.
    pub fn audit_day_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(self.home().join("logs"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("audit-")
            })
            .collect();
        files.sort();
        files
    }

    /// Every audit record in the home, as text.
    pub fn audit_text(&self) -> String {
        self.audit_day_files()
            .iter()
            .map(|p| fs::read_to_string(p).unwrap())
            .collect()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(d) = self.dir.take()
        {
            let p = d.keep();
            eprintln!("test failed; its files are kept in {}", p.display());
        }
    }
}

/// A datagram socket standing in for `/dev/log`: a thread keeps every datagram. Datagrams
/// are read in the order they were sent, so [`SyslogListener::lines`] sends its own marker and
/// waits for it to see everything sent before the call.
pub struct SyslogListener {
    path: PathBuf,
    state: Received,
    markers: std::sync::atomic::AtomicU64,
}

/// The datagrams received, and the last marker seen.
type Received = std::sync::Arc<(std::sync::Mutex<(Vec<String>, u64)>, std::sync::Condvar)>;

const SYSLOG_MARKER: &str = "test-syslog-marker ";

impl SyslogListener {
    pub fn bind(path: &Path) -> Self {
        let sock = std::os::unix::net::UnixDatagram::bind(path).unwrap();
        let state: Received = Default::default();
        let shared = state.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 << 10];
            while let Ok(n) = sock.recv(&mut buf) {
                let line = String::from_utf8_lossy(&buf[..n]).into_owned();
                let (lock, cv) = &*shared;
                let mut st = lock.lock().unwrap();
                match line.strip_prefix(SYSLOG_MARKER) {
                    Some(n) => st.1 = n.parse().unwrap(),
                    None => st.0.push(line),
                }
                cv.notify_all();
            }
        });
        SyslogListener {
            path: path.to_path_buf(),
            state,
            markers: Default::default(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every datagram received before this call.
    pub fn lines(&self) -> Vec<String> {
        let n = self
            .markers
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        let s = std::os::unix::net::UnixDatagram::unbound().unwrap();
        s.send_to(format!("{SYSLOG_MARKER}{n}").as_bytes(), &self.path)
            .unwrap();
        let (lock, cv) = &*self.state;
        let st = cv.wait_while(lock.lock().unwrap(), |st| st.1 < n).unwrap();
        st.0.clone()
    }
}

/// The result of running the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// The audit records of one day file.
pub fn records(path: &Path) -> Vec<fulfill::audit::Record> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The rows of the home at `home` as sqlite3 shows them: its `vault.db`, or, when its rows
/// are on PostgreSQL (`store.toml`), a snapshot of the server's rows copied into an in-memory
/// SQLite database of the same schema, for tests that read rows to check them (a write to
/// the snapshot changes nothing on the server: the tests that write rows as an insider
/// stay in `tests/it/sqlite_file_tests.txt`).
pub fn rows_of(home: &Path) -> rusqlite::Connection {
    use fulfill::store::location::Location;
    use fulfill::store::sql::{Sql, ValueRef};
    let uri = match Location::of_home(&Home::unchecked(home)).unwrap() {
        Location::File(path) => {
            let c = rusqlite::Connection::open(path).unwrap();
            c.busy_timeout(std::time::Duration::from_secs(30)).unwrap();
            return c;
        }
        Location::Postgres { uri, .. } => uri,
    };
    let server = fulfill::store::postgres::PgConn::connect(&uri, None).unwrap();
    let mut c = rusqlite::Connection::open_in_memory().unwrap();
    fulfill::store::sqlite::migrate(&mut c).unwrap();
    let tx = c.transaction().unwrap();
    for table in fulfill::vault::store::TABLES {
        let mut rows: Vec<Vec<rusqlite::types::Value>> = Vec::new();
        server
            .query(&format!("SELECT * FROM {table}"), &[], &mut |r| {
                let row = (0..r.column_count())
                    .map(|i| {
                        Ok(match r.value(i)? {
                            ValueRef::Null => rusqlite::types::Value::Null,
                            ValueRef::Integer(n) => rusqlite::types::Value::Integer(n),
                            ValueRef::Real(x) => rusqlite::types::Value::Real(x),
                            ValueRef::Text(t) => rusqlite::types::Value::Text(t.to_string()),
                            ValueRef::Blob(b) => rusqlite::types::Value::Blob(b.to_vec()),
                        })
                    })
                    .collect::<fulfill::store::sql::Result<Vec<_>>>()?;
                rows.push(row);
                Ok(std::ops::ControlFlow::Continue(()))
            })
            .unwrap();
        for row in rows {
            let marks = (1..=row.len())
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ");
            tx.execute(
                &format!("INSERT INTO {table} VALUES ({marks})"),
                rusqlite::params_from_iter(row),
            )
            .unwrap();
        }
    }
    tx.commit().unwrap();
    c
}

/// Moves the vault's chain head to record `r` with sqlite3, as an insider would.
pub fn set_head(home: &Path, r: &fulfill::audit::Record) {
    let db = rusqlite::Connection::open(home.join("vault.db")).unwrap();
    for (k, v) in [
        ("audit_head_seq", r.seq.to_string()),
        ("audit_head_hash", r.hash.clone().unwrap()),
    ] {
        db.execute(
            "UPDATE meta SET value = ?2 WHERE key = ?1",
            rusqlite::params![k, v],
        )
        .unwrap();
    }
}

/// A fixed starting time for tests.
pub fn t0() -> DateTime<Utc> {
    fulfill::clock::parse_time("2026-03-01T09:00:00Z").unwrap()
}

/// A new home with a vault and its owner `olga`, through the library.
pub fn new_vault(dir: &TestDir, profile: Profile, sandbox: bool) -> Vault {
    let home = Home::create(&dir.home(), &Environment::system()).unwrap();
    let mut config = fulfill::config::Config::for_profile(profile);
    config
        .set(
            "anchor.syslog",
            &dir.syslog().path().display().to_string(),
            profile,
        )
        .unwrap();
    fulfill::home::write_private(&home.config_path(), config.to_toml().as_bytes()).unwrap();
    if let Some(url) = dir.store_url() {
        fulfill::store::location::Location::Postgres {
            uri: fulfill::store::uri::StoreUri::parse(&url, "postgres").unwrap(),
            password_file: None,
        }
        .write_to(&home)
        .unwrap();
    }
    Vault::create(
        &home,
        "olga",
        Passphrase::new(OWNER_PASS.into()),
        profile,
        sandbox,
        t0(),
    )
    .unwrap()
}

/// A passphrase credential.
pub fn pass(p: &str) -> Credential {
    Credential::Passphrase(Passphrase::new(p.to_string()))
}

/// Every occurrence of `needle` in the files under `dir` (recursively): (path, count).
pub fn scan_dir(dir: &Path, needle: &[u8]) -> Vec<(PathBuf, usize)> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = fs::read(&p) {
                let n = count(&bytes, needle);
                if n > 0 {
                    hits.push((p, n));
                }
            }
        }
    }
    hits
}

/// The path of a system tool (looked for on `PATH`, then in `/usr/bin` and `/usr/sbin`), or a
/// failure that says which distribution package to install: a test that needs one fails, never
/// skips.
pub fn system_tool(name: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "{name} is not installed: install the `{package}` package \
             (`apt-get install -y --no-install-recommends {package}`; scripts/test does) to run these \
             tests"
        )
    })
}

/// Occurrences of `needle` in `hay`.
pub fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

/// The pages of a PDF as their content streams (uncompressed, as the tool writes them), in
/// file order.
pub fn pdf_streams(pdf: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = pdf;
    while let Some(i) = find(rest, b"stream\n") {
        // Font programs (compressed) and ToUnicode maps are not pages.
        let dict_start = rest[..i].windows(3).rposition(|w| w == b"obj").unwrap_or(0);
        let dict = &rest[dict_start..i];
        let page = find(dict, b"/Filter").is_none() && find(dict, b"/CMap").is_none();
        let body = &rest[i + 7..];
        let Some(j) = find(body, b"\nendstream") else {
            break;
        };
        if page {
            out.push(&body[..j]);
        }
        rest = &body[j + 10..];
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Every Code 128 barcode drawn in a content stream, decoded from the rectangles themselves
/// (`x y w h re`): bars of one height on one baseline are one barcode; widths and gaps in
/// units of the narrowest bar are the modules, read back by the `code128` decoder. Text in
/// strings is skipped, so an address cannot fake a bar. Errors are returned, not hidden.
pub fn pdf_barcodes(stream: &[u8]) -> Vec<Result<String, String>> {
    use std::collections::BTreeMap;
    let mut tokens: Vec<String> = Vec::new();
    let mut rects: BTreeMap<(i64, i64), Vec<(f64, f64)>> = BTreeMap::new();
    let mut i = 0;
    while i < stream.len() {
        match stream[i] {
            b'(' => {
                // A string: skip to its closing parenthesis (nested, escaped).
                let mut depth = 0;
                while i < stream.len() {
                    match stream[i] {
                        b'\\' => i += 1,
                        b'(' => depth += 1,
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                tokens.push("(string)".into());
                i += 1;
            }
            c if c.is_ascii_whitespace() => i += 1,
            _ => {
                let start = i;
                while i < stream.len() && !stream[i].is_ascii_whitespace() && stream[i] != b'(' {
                    i += 1;
                }
                let t = String::from_utf8_lossy(&stream[start..i]).into_owned();
                if t == "re" && tokens.len() >= 4 {
                    let n: Vec<f64> = tokens[tokens.len() - 4..]
                        .iter()
                        .filter_map(|t| t.parse().ok())
                        .collect();
                    if n.len() == 4 {
                        let key = ((n[1] * 100.0).round() as i64, (n[3] * 100.0).round() as i64);
                        rects.entry(key).or_default().push((n[0], n[2]));
                    }
                }
                tokens.push(t);
            }
        }
    }
    rects
        .into_values()
        .filter(|bars| bars.len() >= 10)
        .map(|mut bars| {
            bars.sort_by(|a, b| a.0.total_cmp(&b.0));
            let module = bars.iter().map(|b| b.1).fold(f64::MAX, f64::min);
            let units = |v: f64| -> Result<u8, String> {
                let u = v / module;
                if (u - u.round()).abs() > 0.05 || !(0.0..=4.0).contains(&u.round()) {
                    return Err(format!(
                        "{v} pt is not a whole number of {module} pt modules"
                    ));
                }
                Ok(u.round() as u8)
            };
            let mut code = Vec::new();
            for (k, (x, w)) in bars.iter().enumerate() {
                let space = match bars.get(k + 1) {
                    Some((next, _)) => units(next - x - w)?,
                    None => 0,
                };
                code.push(code128::Bar {
                    width: units(*w)?,
                    space,
                });
            }
            code128::decode_str(&code).map_err(|e| format!("{e:?}"))
        })
        .collect()
}

/// A seller's ship-from address, as `config set ship_from.KEY VALUE` pairs (the seller's, not
/// PII).
pub const SHIP_FROM: [(&str, &str); 8] = [
    ("name", "Acme Warehouse"),
    ("address_line1", "10 Jay St"),
    ("city", "Brooklyn"),
    ("state", "NY"),
    ("postal_code", "11201"),
    ("country", "US"),
    ("email", "ship@acme.example"),
    ("phone", "7181231234"),
];

/// A UPS tracking number with a valid check digit, one per `n` (shipper 999AA1, service 01,
/// package `n`): tests that ship give numbers the tool's check takes.
pub fn ups(n: u32) -> String {
    let body = format!("999AA101{:07}", n % 10_000_000);
    let check = fulfill::model::tracking::ups_check_digit(&body).expect("15 characters");
    format!("1Z{body}{check}")
}

/// A USPS IMpb tracking number (22 digits) with a valid check digit, one per `n`.
pub fn usps(n: u32) -> String {
    let body = format!("94001118992231{:07}", n % 10_000_000);
    let check = fulfill::model::tracking::mod10_31(&body).expect("digits");
    format!("{body}{check}")
}

/// Keeps every line a server writes to `stderr` in the file `log` (from a thread) and sends
/// once on the returned channel when a line contains `ready`; the channel disconnects if the
/// server closes its stderr (exits) first. Readiness is that event, never a wait.
pub fn watch_log(
    stderr: impl std::io::Read + Send + 'static,
    log: PathBuf,
    ready: String,
) -> std::sync::mpsc::Receiver<()> {
    use std::io::{BufRead, Write};
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut log = fs::File::create(log).unwrap();
        let mut ready_tx = Some(ready_tx);
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = writeln!(log, "{line}");
            if line.contains(&ready)
                && let Some(tx) = ready_tx.take()
            {
                let _ = tx.send(());
            }
        }
    });
    ready_rx
}
