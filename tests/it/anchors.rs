//! Anchors for the audit chain's head (issue 18 item 2): an anchor that cannot be reached is
//! recorded and fails `audit` until it works again; no anchor at all is a finding; a rewrite
//! with a kept copy of `logs/audit.key` is caught by a collector the test runs on loopback (TCP
//! and TLS); `audit --anchors` names the spans of records no head covers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fulfill::sandbox::collector::Collector;

use crate::support::{Run, SyslogListener, TestDir, records, run};

const DAYS: [&str; 3] = [
    "2026-03-01T09:00:00Z",
    "2026-03-02T09:00:00Z",
    "2026-03-03T09:00:00Z",
];
const AUDIT_AT: &str = "2026-03-04T09:00:00Z";

/// A sandbox home made with `anchor_args` at init (owner `olga`).
fn home_with(dir: &TestDir, anchor_args: &[&str]) -> PathBuf {
    let pass = dir.secret_file("owner.pass", crate::support::OWNER_PASS);
    let r = run(dir
        .fulfill()
        .args([
            "--now",
            DAYS[0],
            "init",
            "--profile",
            "mws-2020",
            "--sandbox",
        ])
        .args(["--owner", "olga"])
        .args(anchor_args)
        .arg("--passphrase-file")
        .arg(&pass));
    assert_eq!(r.code, 0, "init: {}{}", r.stdout, r.stderr);
    pass
}

fn as_olga(dir: &TestDir, pass: &Path, now: &str, args: &[&str]) -> Run {
    run(dir.as_op("olga", pass).args(["--now", now]).args(args))
}

/// Three commands a day on three days; returns the writer's key file as it was after day 2
/// (the insider's copy).
fn three_days(dir: &TestDir, pass: &Path) -> Vec<u8> {
    let mut kept = Vec::new();
    for (i, day) in DAYS.iter().enumerate() {
        for _ in 0..3 {
            let r = as_olga(dir, pass, day, &["operator", "list"]);
            assert_eq!(r.code, 0, "{}", r.stderr);
        }
        if i == 1 {
            kept = std::fs::read(dir.home().join("logs/audit.key")).unwrap();
        }
    }
    kept
}

fn day_file(dir: &TestDir, i: usize) -> PathBuf {
    dir.home()
        .join(format!("logs/audit-{}.jsonl", &DAYS[i][..10]))
}

/// What an insider with a kept copy of the key file does: day 3's records rewritten (the
/// operator of each changed), each re-chained and sealed with the key evolved from the copy,
/// the key file and the vault's head moved on to match. Every MAC verifies.
fn rewrite_day3_with_kept_key(dir: &TestDir, kept: &[u8]) {
    let next_seq = u64::from_be_bytes(kept[4..12].try_into().unwrap());
    let mut key: [u8; 32] = kept[12..44].try_into().unwrap();
    let day2 = records(&day_file(dir, 1));
    let mut prev = day2.last().unwrap().hash.clone().unwrap();
    let mut recs = records(&day_file(dir, 2));
    assert_eq!(
        recs[0].seq, next_seq,
        "the copy was taken at the end of day 2"
    );
    for r in &mut recs {
        r.operator = Some("mallory".into());
        r.prev = prev.clone();
        r.hash = None;
        r.mac = None;
        let hash = r.compute_hash();
        r.mac = Some(fulfill::audit::fss::mac(&key, &hash));
        r.hash = Some(hash.clone());
        prev = hash;
        key = *fulfill::audit::fss::evolve(&key);
    }
    let text: String = recs.iter().map(|r| r.to_line() + "\n").collect();
    std::fs::write(day_file(dir, 2), text).unwrap();
    let last = recs.last().unwrap();
    let mut file = kept[..4].to_vec();
    file.extend_from_slice(&(last.seq + 1).to_be_bytes());
    file.extend_from_slice(&key);
    std::fs::write(dir.home().join("logs/audit.key"), file).unwrap();
    crate::support::set_head(&dir.home(), last);
}

fn audit(dir: &TestDir, pass: &Path, anchors: Option<&Path>) -> Run {
    let mut c = dir.as_op("olga", pass);
    c.args(["--now", AUDIT_AT, "audit", "--window", "30"]);
    if let Some(a) = anchors {
        c.arg("--anchors").arg(a);
    }
    run(&mut c)
}

fn r25(out: &str) -> String {
    out.lines()
        .skip_while(|l| !l.contains("[R25]"))
        .take_while(|l| l.contains("[R25]") || l.starts_with("      "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn an_unreachable_anchor_is_recorded_warned_once_and_fails_audit_until_it_works() {
    let dir = TestDir::new();
    let sock = dir.path().join("later.sock");
    let pass = home_with(&dir, &["--anchor-syslog", sock.to_str().unwrap()]);
    // init's first commit could not be anchored: one warning, one record.
    let log = dir.audit_text();
    assert_eq!(
        log.matches(r#""event":"anchor.unsent""#).count(),
        1,
        "{log}"
    );
    assert!(log.contains(r#""anchor":"syslog""#), "{log}");
    let r = as_olga(&dir, &pass, DAYS[0], &["operator", "list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !r.stderr.contains("warning"),
        "warned once only: {}",
        r.stderr
    );
    let r = audit(&dir, &pass, None);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let r25 = r25(&r.stdout);
    assert!(r25.starts_with("FAIL"), "{r25}");
    assert!(r25.contains("the syslog anchor"), "{r25}");
    assert!(r25.contains("cannot be reached"), "{r25}");
    // The logger comes up: the next commit records that anchoring works again, and the audit
    // passes, listing the span it was out of reach.
    let _logger = SyslogListener::bind(&sock);
    let r = as_olga(&dir, &pass, DAYS[1], &["operator", "list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let log = dir.audit_text();
    assert_eq!(
        log.matches(r#""event":"anchor.resumed""#).count(),
        1,
        "{log}"
    );
    let r = audit(&dir, &pass, None);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r25_of(&r).contains("the syslog anchor was out of reach from seq"),
        "{}",
        r.stdout
    );
}

fn r25_of(r: &Run) -> String {
    r25(&r.stdout)
}

#[test]
fn a_kept_key_rewrite_with_no_anchor_is_a_finding() {
    let dir = TestDir::new();
    let pass = home_with(&dir, &["--anchor-syslog", "off"]);
    let kept = three_days(&dir, &pass);
    rewrite_day3_with_kept_key(&dir, &kept);
    assert!(dir.audit_text().contains(r#""operator":"mallory""#));
    // Every MAC verifies; what the audit can say is that nothing outside could have caught it.
    let r = audit(&dir, &pass, None);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let r25 = r25_of(&r);
    assert!(r25.starts_with("FAIL"), "{r25}");
    assert!(r25.contains("no anchor is set"), "{r25}");
}

#[test]
fn a_kept_key_rewrite_is_caught_by_a_loopback_collector() {
    let collector = Collector::start().unwrap();
    let dir = TestDir::new();
    let pass = home_with(
        &dir,
        &[
            "--anchor-syslog",
            "off",
            "--anchor-remote",
            &collector.url(),
        ],
    );
    let kept = three_days(&dir, &pass);
    // Before the rewrite the collector's export covers the whole chain.
    let before = dir.path().join("before.txt");
    collector.export(&before).unwrap();
    let r = audit(&dir, &pass, Some(&before));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    rewrite_day3_with_kept_key(&dir, &kept);
    let export = dir.path().join("collector.txt");
    collector.export(&export).unwrap();
    let r = audit(&dir, &pass, Some(&export));
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("is not the one the anchor saw: the log was rewritten"),
        "{}",
        r.stdout
    );
}

/// A TLS collector on loopback with a self-signed certificate for `localhost`, and that
/// certificate in PEM (the authority `anchor.remote_ca` names).
fn tls_collector() -> (Collector, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let client = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let collector = Collector::start_tls(Arc::new(server), Arc::new(client)).unwrap();
    (collector, cert.cert.pem())
}

#[test]
fn a_kept_key_rewrite_is_caught_by_a_collector_over_tls() {
    let (collector, ca_pem) = tls_collector();
    let dir = TestDir::new();
    let ca = dir.path().join("collector-ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let pass = home_with(
        &dir,
        &[
            "--anchor-syslog",
            "off",
            "--anchor-remote",
            &collector.url(),
            "--anchor-remote-ca",
            ca.to_str().unwrap(),
        ],
    );
    assert!(
        !dir.audit_text().contains("anchor.unsent"),
        "{}",
        dir.audit_text()
    );
    let kept = three_days(&dir, &pass);
    rewrite_day3_with_kept_key(&dir, &kept);
    let export = dir.path().join("collector.txt");
    collector.export(&export).unwrap();
    let r = audit(&dir, &pass, Some(&export));
    assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("is not the one the anchor saw"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_collector_whose_certificate_is_not_trusted_is_unreachable() {
    let (collector, _) = tls_collector();
    let dir = TestDir::new();
    // No authority given: the system's roots do not know a self-signed certificate.
    let pass = home_with(
        &dir,
        &[
            "--anchor-syslog",
            "off",
            "--anchor-remote",
            &collector.url(),
        ],
    );
    let log = dir.audit_text();
    assert!(log.contains(r#""event":"anchor.unsent""#), "{log}");
    assert!(log.contains(r#""anchor":"remote""#), "{log}");
    assert!(collector.messages().unwrap().is_empty());
    // A command tries a failing anchor once, however many commits it makes (init makes two:
    // its records, then anchor.unsent): a collector that is down costs one timeout a command.
    assert_eq!(collector.connections().unwrap(), 1);
    let r = as_olga(&dir, &pass, DAYS[0], &["operator", "list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(collector.connections().unwrap(), 2);
    let r = audit(&dir, &pass, None);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r25_of(&r).contains("the remote anchor"), "{}", r.stdout);
}

#[test]
fn an_export_that_covers_nothing_or_part_names_the_spans() {
    let dir = TestDir::new();
    let pass = dir.init_sandbox_at(DAYS[0]);
    three_days(&dir, &pass);
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "no heads here\n").unwrap();
    let r = audit(&dir, &pass, Some(&empty));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let last = records(&day_file(&dir, 2)).pop().unwrap().seq;
    assert!(
        r.stdout.contains(&format!("records seq 1..={last} (")),
        "{}",
        r.stdout
    );
    // The stand-in system logger saw every head: its export covers the chain.
    let full = dir.syslog_export();
    let r = audit(&dir, &pass, Some(&full));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // Only day 1's heads: the rest is a span.
    let first_of_day2 = records(&day_file(&dir, 1))[0].seq;
    let day1: String = std::fs::read_to_string(&full)
        .unwrap()
        .lines()
        .filter(|l| {
            l.split(" seq=")
                .nth(1)
                .and_then(|s| s.split(' ').next())
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|s| s < first_of_day2)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let part = dir.path().join("part.txt");
    std::fs::write(&part, day1).unwrap();
    let r = audit(&dir, &pass, Some(&part));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains(&format!("records seq {first_of_day2}..=")),
        "{}",
        r.stdout
    );
}

#[test]
fn config_set_takes_anchor_settings_and_refuses_bad_ones() {
    let dir = TestDir::new();
    let pass = dir.init(true);
    for bad in [
        &["anchor.remote", "udp://h:514"][..],
        &["anchor.remote", "tcp://h"],
        &["anchor.syslog", "relative/path"],
        &["anchor.remote_ca", "relative.pem"],
        &["anchor.nothing", "x"],
    ] {
        let r = run(dir.as_op("olga", &pass).args(["config", "set"]).args(bad));
        assert_eq!(r.code, 2, "{bad:?}: {}{}", r.stdout, r.stderr);
    }
    let collector = Collector::start().unwrap();
    let r =
        run(dir
            .as_op("olga", &pass)
            .args(["config", "set", "anchor.remote", &collector.url()]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // From the next command on, heads go to the collector too.
    let r = run(dir.as_op("olga", &pass).args(["operator", "list"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got = collector.messages().unwrap();
    assert!(
        got.iter().any(|m| m.contains("audit-head vault=")),
        "{got:?}"
    );
    assert!(dir.audit_text().contains(r#""key":"anchor.remote""#));
}
