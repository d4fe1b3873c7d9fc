//! A real PostgreSQL for tests (the recipe measured in `../shared/docs/STATIONS.md` §3): the
//! distribution's server (`/usr/lib/postgresql/NN/bin`), a throwaway cluster made by `initdb` in
//! a folder of its own, listening only on a unix socket there (no TCP port, no system service
//! touched), stopped and removed when dropped (kept and named when the test failed).
//!
//! The server refuses to run as root, and CI runs as root: then `initdb` and `postgres` run as
//! the distribution's `postgres` user through `setpriv` (util-linux), which execs in place, so
//! the child this harness holds is the postmaster itself. Readiness is an event, not a wait:
//! the server's "ready to accept connections" line on stderr (read by a thread that keeps every
//! line in `postgres.log`).
//!
//! A missing server fails the test with what to install (`postgresql`); it never skips.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How a cluster listens besides its unix socket.
#[derive(Default)]
pub struct Options {
    /// Also listen on 127.0.0.1 (a free port, `Pg::port`), where every role logs in with a
    /// SCRAM-SHA-256 password (`host all all 127.0.0.1/32 scram-sha-256`).
    pub tcp: bool,
    /// Serve TLS on that port with this certificate chain and key (PEM).
    pub tls: Option<(String, String)>,
}

/// A running throwaway cluster.
pub struct Pg {
    tmp: Option<tempfile::TempDir>,
    dir: PathBuf,
    child: Child,
    running: bool,
    bin: PathBuf,
    /// The folder its unix socket is in (libpq's `host=`).
    pub socket_dir: PathBuf,
    /// The port number the socket is named by (`.s.PGSQL.<port>`).
    pub port: u16,
}

/// The newest installed server's `bin` folder (`FULFILL_TEST_PG_BIN` wins).
fn server_bin() -> PathBuf {
    if let Some(b) = std::env::var_os("FULFILL_TEST_PG_BIN") {
        return PathBuf::from(b);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL is not installed: install the `postgresql` package \
             (`apt-get install -y --no-install-recommends postgresql`; scripts/test does) to run \
             these tests"
        ),
    }
}

/// A command for `program` run as the `postgres` user when this process is root.
fn as_server_user(program: &Path) -> Command {
    if rustix::process::getuid().is_root() {
        let mut c = Command::new(super::system_tool("setpriv", "util-linux"));
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--reset-env",
            "--",
        ])
        .arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl Pg {
    /// Makes a cluster in a folder of its own, starts its server and waits until it accepts
    /// connections.
    pub fn start() -> Pg {
        Pg::start_with(Options::default())
    }

    /// Like [`Pg::start`], also listening on 127.0.0.1 with password logins (and TLS) as
    /// `opts` say.
    pub fn start_with(opts: Options) -> Pg {
        let bin = server_bin();
        let tmp = tempfile::Builder::new()
            .prefix("fulfill-pg-")
            .tempdir()
            .unwrap();
        // The server user passes through (0711) to its own folders below.
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        let dir = tmp.path().to_path_buf();
        let data = dir.join("data");
        let socket_dir = dir.join("socket");
        for d in [&data, &socket_dir] {
            std::fs::create_dir(d).unwrap();
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let mut server_ids = None;
        if rustix::process::getuid().is_root() {
            let id = |flag: &str| -> u32 {
                let r = super::run(Command::new("id").args([flag, "postgres"]));
                assert_eq!(
                    r.code, 0,
                    "no `postgres` user (the postgresql package makes it): {}",
                    r.stderr
                );
                r.stdout.trim().parse().unwrap()
            };
            let (uid, gid) = (id("-u"), id("-g"));
            server_ids = Some((uid, gid));
            for d in [&data, &socket_dir] {
                rustix::fs::chown(
                    d,
                    Some(rustix::process::Uid::from_raw(uid)),
                    Some(rustix::process::Gid::from_raw(gid)),
                )
                .unwrap();
            }
        }
        let init = super::run(
            as_server_user(&bin.join("initdb"))
                .arg("-D")
                .arg(&data)
                .args([
                    "-A",
                    "trust",
                    "-N",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                ]),
        );
        assert_eq!(
            init.code, 0,
            "initdb failed: {}{}",
            init.stdout, init.stderr
        );
        // One port number per cluster: without TCP it only names the socket file, so any
        // free-looking number will do (the process id keeps parallel test binaries apart);
        // with TCP, a port the system says is free now.
        let port = if opts.tcp {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .unwrap()
                .port()
        } else {
            20000 + (std::process::id() % 20000) as u16
        };
        let mut settings = vec![
            "fsync=off".to_string(),
            format!("unix_socket_directories={}", socket_dir.display()),
        ];
        if opts.tcp {
            settings.push("listen_addresses=127.0.0.1".into());
            settings.push("password_encryption=scram-sha-256".into());
            // First match wins: password logins over loopback TCP, before initdb's trust line.
            let hba = data.join("pg_hba.conf");
            let old = std::fs::read_to_string(&hba).unwrap();
            std::fs::write(
                &hba,
                format!("host all all 127.0.0.1/32 scram-sha-256\n{old}"),
            )
            .unwrap();
        } else {
            settings.push("listen_addresses=".into());
        }
        if let Some((cert, key)) = &opts.tls {
            assert!(opts.tcp, "TLS is served on the TCP port");
            let (cert_file, key_file) = (data.join("server.crt"), data.join("server.key"));
            std::fs::write(&cert_file, cert).unwrap();
            std::fs::write(&key_file, key).unwrap();
            for f in [&cert_file, &key_file] {
                std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o600)).unwrap();
                if let Some((uid, gid)) = server_ids {
                    rustix::fs::chown(
                        f,
                        Some(rustix::process::Uid::from_raw(uid)),
                        Some(rustix::process::Gid::from_raw(gid)),
                    )
                    .unwrap();
                }
            }
            settings.push("ssl=on".into());
            settings.push(format!("ssl_cert_file={}", cert_file.display()));
            settings.push(format!("ssl_key_file={}", key_file.display()));
        }
        let mut server = as_server_user(&bin.join("postgres"));
        server.arg("-D").arg(&data);
        for s in &settings {
            server.args(["-c", s]);
        }
        let mut child = server
            .args(["-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.join("postgres").display()));
        let stderr = child.stderr.take().unwrap();
        let ready = super::watch_log(
            stderr,
            dir.join("postgres.log"),
            "ready to accept connections".into(),
        );
        let pg = Pg {
            tmp: Some(tmp),
            dir,
            child,
            running: true,
            bin,
            socket_dir,
            port,
        };
        match ready.recv_timeout(Duration::from_secs(60)) {
            Ok(()) => pg,
            Err(e) => panic!("postgres did not come up ({e:?}); its log:\n{}", pg.log()),
        }
    }

    /// `psql` connected to database `db` as the superuser, one statement, its output unaligned.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let r = super::run(
            Command::new(self.bin.join("psql"))
                .arg("-h")
                .arg(&self.socket_dir)
                .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", db])
                .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]),
        );
        assert_eq!(r.code, 0, "psql {sql}: {}{}", r.stdout, r.stderr);
        r.stdout
    }

    /// A `pg_dump` of database `db` (plain SQL, written to `to`): a copy of the server as an
    /// operator or a backup job would take it.
    pub fn dump(&self, db: &str, to: &Path) {
        let r = super::run(
            Command::new(self.bin.join("pg_dump"))
                .arg("-h")
                .arg(&self.socket_dir)
                .args([
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                    "-d",
                    db,
                    "-f",
                ])
                .arg(to),
        );
        assert_eq!(r.code, 0, "pg_dump {db}: {}{}", r.stdout, r.stderr);
    }

    /// Database `db` replaced by the dump in `from` (dropped, made again, the dump run into it).
    pub fn restore(&self, db: &str, from: &Path) {
        self.psql("postgres", &format!("DROP DATABASE {db}"));
        self.psql("postgres", &format!("CREATE DATABASE {db}"));
        let r = super::run(
            Command::new(self.bin.join("psql"))
                .arg("-h")
                .arg(&self.socket_dir)
                .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", db])
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"])
                .arg(from),
        );
        assert_eq!(
            r.code,
            0,
            "psql -f {}: {}{}",
            from.display(),
            r.stdout,
            r.stderr
        );
    }

    /// Stops the server now (a fast shutdown: its backends end their sessions), as a
    /// server that goes away mid-session would; the cluster's folder stays until drop.
    pub fn stop(&mut self) {
        if !std::mem::replace(&mut self.running, false) {
            return;
        }
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
        }
        let _ = self.child.wait();
    }

    /// The store URL of database `db` through the unix socket, as the superuser `postgres`
    /// (the socket's port and the user as parameters, as `store.toml` keeps them).
    pub fn socket_url(&self, db: &str) -> String {
        format!(
            "postgres:///{db}?host={}&port={}&user=postgres",
            self.socket_dir.display(),
            self.port
        )
    }

    /// The store URL of database `db` as `user` over loopback TCP (a cluster started with
    /// `Options { tcp: true, .. }`).
    pub fn tcp_url(&self, user: &str, db: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{db}", self.port)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        // A fast shutdown (SIGINT): the postmaster ends its backends and exits.
        self.stop();
        if std::thread::panicking()
            && let Some(tmp) = self.tmp.take()
        {
            eprintln!(
                "the PostgreSQL cluster's folder is kept in {}",
                tmp.keep().display()
            );
        }
    }
}
