//! `--to cups:QUEUE` against a real CUPS (`support::cups`): a raw queue whose device is a
//! loopback socket this test listens on receives the label's exact bytes; a queue that refuses
//! jobs, one that does not exist and a server that is not there are each one line, exit 1, and
//! a `label.failed` record. Needs the distribution's `cups` package: fails (never skips)
//! without it.

use crate::fetch_support;
use crate::support;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use fetch_support::CliEnv;
use support::Run;
use support::cups::Cups;

struct Env {
    e: CliEnv,
    pat: PathBuf,
}

impl Env {
    fn new(seed: u64) -> Env {
        let e = CliEnv::new(30, seed, 3000.0, "");
        assert_eq!(e.fetch().code, 0);
        let (r, pat) = e.dir.add_operator("olga", &e.pass, "pat", "packer");
        assert_eq!(r.code, 0, "{}", r.stderr);
        Env { e, pat }
    }

    /// The binary as packer `pat`, with `CUPS_SERVER` set to `server` when given.
    fn as_pat(&self, server: Option<&Path>, args: &[&str]) -> Run {
        let mut c = self.e.dir.fulfill();
        if let Some(s) = server {
            c.env("CUPS_SERVER", s);
        }
        c.args(["--operator", "pat", "--passphrase-file"])
            .arg(&self.pat)
            .args(args);
        support::run(&mut c)
    }

    fn orders(&self, n: usize) -> Vec<String> {
        self.e.order_ids(
            "lifecycle = 'unshipped' AND pii_state = 'sealed' AND pii_missing = 0 AND items_fetched = 1",
            n,
        )
    }

    fn records(&self, event: &str) -> Vec<serde_json::Value> {
        self.e
            .dir
            .audit_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["event"] == event)
            .collect()
    }
}

/// A loopback "printer": every connection's bytes, read to the end, come out of the channel.
fn printer() -> (String, mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { break };
            let mut got = Vec::new();
            let _ = c.read_to_end(&mut got);
            if tx.send(got).is_err() {
                break;
            }
        }
    });
    (addr, rx)
}

#[test]
fn a_label_through_a_real_cups_raw_queue_arrives_byte_for_byte() {
    let t = Env::new(71);
    let id = t.orders(1).remove(0);
    let cups = Cups::start();
    let (addr, jobs) = printer();
    cups.add_raw_queue("zebra", &format!("socket://{addr}"));

    // The same label to a file first: what the printer must receive, byte for byte.
    let file = t.e.dir.path().join("expected.zpl");
    let r = t.as_pat(None, &["label", &id, "--out", file.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let expected = std::fs::read(&file).unwrap();
    assert!(
        support::count(&expected, format!("^FD{id}^FS").as_bytes()) > 0,
        "the label has its order id"
    );

    let r = t.as_pat(Some(&cups.socket), &["label", &id, "--to", "cups:zebra"]);
    assert_eq!(r.code, 0, "{}\ncupsd:\n{}", r.stderr, cups.log());
    assert!(
        r.stdout
            .contains(&format!("Label for {id} -> cups cups:zebra (job ")),
        "{}",
        r.stdout
    );
    let got = jobs
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("no job reached the printer ({e}); cupsd:\n{}", cups.log()));
    assert_eq!(
        got,
        expected,
        "the queue passed the ZPL through untouched:\n{}",
        String::from_utf8_lossy(&got)
    );

    let printed = t.records("label.printed");
    let last = printed.last().unwrap();
    assert_eq!(last["destination"], "cups");
    assert_eq!(last["target"], "cups:zebra");
    assert_eq!(last["order"], id.as_str());
    // No file was written for it: the spool folder holds nothing.
    let spool = t.e.dir.home().join("spool");
    assert!(
        !spool.exists() || std::fs::read_dir(&spool).unwrap().next().is_none(),
        "a CUPS job leaves no file in spool/"
    );
}

#[test]
fn a_refused_missing_or_unreachable_queue_is_one_line_and_exit_1() {
    let t = Env::new(72);
    let id = t.orders(1).remove(0);
    let cups = Cups::start();
    let (addr, _jobs) = printer();
    cups.add_raw_queue("zebra", &format!("socket://{addr}"));
    cups.admin("cupsreject", &["zebra"]);

    let one_line = |r: &Run, says: &str| {
        assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
        assert_eq!(r.stderr.trim_end().lines().count(), 1, "{}", r.stderr);
        assert!(r.stderr.contains(says), "{}", r.stderr);
    };
    let r = t.as_pat(Some(&cups.socket), &["label", &id, "--to", "cups:zebra"]);
    one_line(&r, "CUPS queue zebra is not accepting jobs");
    let r = t.as_pat(Some(&cups.socket), &["label", &id, "--to", "cups:nosuch"]);
    one_line(&r, "CUPS queue nosuch does not exist");
    let gone = t.e.dir.path().join("no-cupsd.sock");
    let r = t.as_pat(Some(&gone), &["label", &id, "--to", "cups:zebra"]);
    one_line(&r, "cannot reach the CUPS server");

    let failed = t.records("label.failed");
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert!(failed.iter().all(|f| f["destination"] == "cups"));

    // Positive control: accepting again, the same label prints.
    cups.admin("cupsaccept", &["zebra"]);
    let r = t.as_pat(Some(&cups.socket), &["label", &id, "--to", "cups:zebra"]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // Usage errors, before anything is opened: a name CUPS would not give a queue, a remote
    // server.
    let r = t.as_pat(Some(&cups.socket), &["label", &id, "--to", "cups:a/b"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = t.as_pat(
        Some(Path::new("print.example.com:631")),
        &["label", &id, "--to", "cups:zebra"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("only the local CUPS server"),
        "{}",
        r.stderr
    );
}
