//! A real CUPS for tests (facts measured in `../shared/docs/CUPS.md`): the distribution's
//! `cupsd` in the foreground with a private ServerRoot, spool, cache, state and temp folder
//! inside the test's folder, listening only on a unix socket there (no TCP port, no system
//! service touched). Clients reach it with `CUPS_SERVER=<socket>`; as root, `lpadmin` over the
//! socket is authorised.
//!
//! Readiness is an event, not a wait: cupsd logs to stderr (`ErrorLog stderr`), and a reader
//! thread reports the line that says it listens on our socket (written after `listen()`, so a
//! connect made after it is queued). The same thread keeps every log line in `cupsd.log` in the
//! test's folder, which survives a failing test.
//!
//! A missing `cupsd` or `lpadmin` fails the test with what to install; it never skips.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `cupsd`, stopped when dropped (its folder removed, or kept and named when the
/// test failed).
pub struct Cups {
    tmp: Option<tempfile::TempDir>,
    dir: PathBuf,
    child: Child,
    /// The unix socket it listens on (give it to clients as `CUPS_SERVER`).
    pub socket: PathBuf,
}

impl Cups {
    /// Starts `cupsd` with its files in a folder of its own and waits until it listens.
    ///
    /// The folder is not inside the test's (0700) folder: a backend runs as CUPS's `lp` user
    /// and opens the spooled job file itself, so every folder above the spool must let `lp`
    /// pass (0711: passable, not listable; cupsd makes the spool itself `root:lp` 0710).
    pub fn start() -> Cups {
        let cupsd = super::system_tool("cupsd", "cups");
        let tmp = tempfile::Builder::new()
            .prefix("fulfill-cups-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        let dir = tmp.path();
        for sub in ["spool", "cache", "state", "tmp", "ppd"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let socket = dir.join("cups.sock");
        let conf = dir.join("cupsd.conf");
        let files = dir.join("cups-files.conf");
        std::fs::write(
            &conf,
            format!(
                "# A private cupsd for one test: a unix socket only, nothing kept after a job; no\n\
                 # policy given, so cupsd applies its built-in default (Print-Job open to local\n\
                 # users, administration for @SYSTEM). A <Location> is needed for the peer's\n\
                 # credentials (PeerCred) to be looked at: without one, lpadmin is refused.\n\
                 Listen {sock}\n\
                 LogLevel info\n\
                 Browsing No\n\
                 WebInterface No\n\
                 PreserveJobFiles No\n\
                 PreserveJobHistory No\n\
                 <Location />\n  Order allow,deny\n</Location>\n",
                sock = socket.display()
            ),
        )
        .unwrap();
        // Administration (lpadmin, cupsreject) over the socket is authorised by the peer's
        // credentials: the group this test runs as is the system group.
        let group = super::run(Command::new("id").arg("-gn"))
            .stdout
            .trim()
            .to_string();
        std::fs::write(
            &files,
            format!(
                "ServerRoot {d}\nRequestRoot {d}/spool\nCacheDir {d}/cache\nStateDir {d}/state\n\
                 TempDir {d}/tmp\nErrorLog stderr\nAccessLog {d}/access_log\nPageLog {d}/page_log\n\
                 Printcap {d}/printcap\nSandboxing Relaxed\nPeerCred on\nSystemGroup {g}\n",
                d = dir.display(),
                g = group
            ),
        )
        .unwrap();
        let mut child = Command::new(&cupsd)
            .arg("-f")
            .arg("-c")
            .arg(&conf)
            .arg("-s")
            .arg(&files)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", cupsd.display()));
        let stderr = child.stderr.take().unwrap();
        let ready = super::watch_log(
            stderr,
            dir.join("cupsd.log"),
            format!("Listening to {}", socket.display()),
        );
        let cups = Cups {
            dir: dir.to_path_buf(),
            tmp: Some(tmp),
            child,
            socket,
        };
        match ready.recv_timeout(Duration::from_secs(30)) {
            Ok(()) => cups,
            Err(e) => panic!(
                "cupsd did not come up ({e:?}); its log:\n{}",
                std::fs::read_to_string(cups.dir.join("cupsd.log")).unwrap_or_default()
            ),
        }
    }

    /// A CUPS client tool (`lpadmin`, `cupsreject`, `lp`, ...) pointed at this server.
    pub fn client(&self, tool: &str) -> Command {
        let package = if tool.starts_with("cups") || tool == "lpadmin" {
            "cups"
        } else {
            "cups-client"
        };
        let mut c = Command::new(super::system_tool(tool, package));
        c.env("CUPS_SERVER", &self.socket).stdin(Stdio::null());
        c
    }

    /// Runs a client tool and asserts it succeeded.
    pub fn admin(&self, tool: &str, args: &[&str]) {
        let r = super::run(self.client(tool).args(args));
        assert_eq!(r.code, 0, "{tool} {args:?}: {}{}", r.stdout, r.stderr);
    }

    /// A raw queue (no driver, no filter: the bytes go through untouched) whose device is
    /// `device`, e.g. `socket://127.0.0.1:PORT`, enabled and accepting jobs.
    pub fn add_raw_queue(&self, name: &str, device: &str) {
        self.admin("lpadmin", &["-p", name, "-E", "-v", device, "-m", "raw"]);
    }

    /// cupsd's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("cupsd.log")).unwrap_or_default()
    }
}

impl Drop for Cups {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking()
            && let Some(tmp) = self.tmp.take()
        {
            eprintln!("cupsd's folder is kept in {}", tmp.keep().display());
        }
    }
}
