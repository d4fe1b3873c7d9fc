//! Anchors for the chain head that the operators of this machine cannot rewrite.
//!
//! After every committed append the new head (`vault`, `seq`, `hash`, and `from`, the first
//! record that commit added) is sent to each configured anchor ([`Anchors`], from the
//! `[anchor]` table of `config.toml`):
//! - **the system log** (`anchor.syslog`, default `/dev/log`): one RFC 3164 datagram to the
//!   local socket journald or rsyslog listen on. The shared OS user can add lines there but
//!   cannot edit or remove what root's logger already holds.
//! - **a remote collector** (`anchor.remote`, `tcp://HOST:PORT` or `tls://HOST:PORT`): one
//!   RFC 5424 message with RFC 6587 octet-counting framing, over TLS (RFC 5425) where the
//!   collector has a certificate (checked against `anchor.remote_ca`, else the system's roots).
//!   Nobody with a shell on this machine can reach what the collector stored.
//!
//! A log rolled back or rewritten with a kept copy of `logs/audit.key` then disagrees with the
//! heads an anchor saw. `fulfill audit --anchors FILE` (an export: `journalctl -t fulfill -o
//! cat`, or the collector's file) checks every head against the chain and names the spans of
//! records no head covers ([`check`]); a span no head covers is where a kept key could have
//! rewritten records unnoticed.
//!
//! Sending never stops an action (it has committed), but it is not silent: when an anchor
//! starts failing the vault records `anchor.unsent` (with the reason) and warns once, when it
//! works again `anchor.resumed`; `audit` tries every anchor itself and fails R25 while one
//! cannot be reached or none is configured.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use super::Head;

/// The socket the system logger listens on.
pub const SYSLOG_SOCKET: &str = "/dev/log";

/// The tag the messages carry (`journalctl -t fulfill`).
pub const TAG: &str = "fulfill";

/// How long one send may take (connect, then write), so a collector that is down costs each
/// command at most this per address.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(3);

/// The message for a head: what [`parse`] reads back. `from` is the first record the commit
/// added (records `from..=head.seq` are covered by this head).
pub fn message(vault_id: &str, head: &Head, from: u64) -> String {
    format!(
        "audit-head vault={vault_id} seq={} hash={} from={from}",
        head.seq, head.hash
    )
}

/// Where heads go: the `[anchor]` table of `config.toml`, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Anchors {
    /// The system logger's datagram socket, unless turned off.
    pub syslog: Option<PathBuf>,
    /// The remote collector, if one is set.
    pub remote: Option<Remote>,
}

/// A remote syslog collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// TLS (RFC 5425) rather than plain TCP (RFC 6587).
    pub tls: bool,
    /// A PEM file of the certificate authority the collector's certificate must chain to
    /// (the system's roots when absent).
    pub ca: Option<PathBuf>,
}

impl Remote {
    /// Parses `tcp://HOST:PORT` or `tls://HOST:PORT` (the form `config set anchor.remote`
    /// takes). The port is required; nothing after it is allowed.
    pub fn parse(s: &str, ca: Option<PathBuf>) -> Result<Remote, String> {
        let url = reqwest::Url::parse(s)
            .map_err(|e| format!("{s:?} is not tcp://HOST:PORT or tls://HOST:PORT ({e})"))?;
        let tls = match url.scheme() {
            "tcp" => false,
            "tls" => true,
            other => return Err(format!("scheme {other:?}: use tcp:// or tls://")),
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("{s:?} names no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = url
            .port()
            .ok_or_else(|| format!("{s:?} names no port (syslog over TCP: 601, over TLS: 6514)"))?;
        if !url.username().is_empty()
            || url.password().is_some()
            || !matches!(url.path(), "" | "/")
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(format!("{s:?}: only a scheme, a host and a port"));
        }
        Ok(Remote {
            host,
            port,
            tls,
            ca,
        })
    }
}

impl std::fmt::Display for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "tls" } else { "tcp" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// What happened to one anchor's send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// `syslog` or `remote` (the name records and findings use).
    pub anchor: &'static str,
    /// Where it went (a socket path or a URL; never PII).
    pub to: String,
    /// Why it did not arrive, if it did not.
    pub error: Option<String>,
}

impl Anchors {
    /// Whether any anchor is configured.
    pub fn any(&self) -> bool {
        self.syslog.is_some() || self.remote.is_some()
    }

    /// These anchors without the ones named (`syslog`, `remote`).
    pub fn without(&self, names: &[&str]) -> Anchors {
        Anchors {
            syslog: self.syslog.clone().filter(|_| !names.contains(&"syslog")),
            remote: self.remote.clone().filter(|_| !names.contains(&"remote")),
        }
    }

    /// Where each configured anchor sends to: (name, socket path or URL).
    pub fn destinations(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(p) = &self.syslog {
            out.push(("syslog", p.display().to_string()));
        }
        if let Some(r) = &self.remote {
            out.push(("remote", r.to_string()));
        }
        out
    }

    /// Sends the head to every anchor; one result each, in a fixed order (syslog, remote).
    pub fn send(&self, vault_id: &str, head: &Head, from: u64, now: DateTime<Utc>) -> Vec<Sent> {
        let msg = message(vault_id, head, from);
        let mut out = Vec::new();
        if let Some(path) = &self.syslog {
            out.push(Sent {
                anchor: "syslog",
                to: path.display().to_string(),
                error: send_syslog(path, &msg)
                    .err()
                    .map(|e| bounded(&e.to_string())),
            });
        }
        if let Some(r) = &self.remote {
            out.push(Sent {
                anchor: "remote",
                to: r.to_string(),
                error: send_remote(r, &msg, now).err().map(|e| bounded(&e)),
            });
        }
        out
    }
}

/// A reason short enough for a record (errors can quote what a peer sent).
fn bounded(s: &str) -> String {
    let s: String = s.chars().filter(|c| !c.is_control()).take(200).collect();
    s
}

/// Sends one RFC 3164 datagram to the system logger at `socket` (facility authpriv, level
/// info).
pub fn send_syslog(socket: &Path, msg: &str) -> std::io::Result<()> {
    let s = UnixDatagram::unbound()?;
    s.set_write_timeout(Some(SEND_TIMEOUT))?;
    s.connect(socket)?;
    // <PRI> = facility 10 (authpriv) * 8 + severity 6 (info).
    let line = format!("<86>{TAG}[{}]: {msg}", std::process::id());
    s.send(line.as_bytes()).map(drop)
}

/// The RFC 5424 message for `msg`, framed by octet counting (RFC 6587 3.4.1, RFC 5425 4.3).
pub fn rfc5424_frame(msg: &str, now: DateTime<Utc>) -> String {
    let host = rustix::system::uname()
        .nodename()
        .to_str()
        .ok()
        .filter(|h| !h.is_empty() && h.len() <= 255 && h.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| "-".to_string());
    let line = format!(
        "<86>1 {} {host} {TAG} {} - - {msg}",
        now.to_rfc3339_opts(SecondsFormat::Millis, true),
        std::process::id()
    );
    format!("{} {line}", line.len())
}

/// Sends one framed message to the collector, over TLS where asked.
fn send_remote(r: &Remote, msg: &str, now: DateTime<Utc>) -> Result<(), String> {
    let frame = rfc5424_frame(msg, now);
    let addrs: Vec<_> = (r.host.as_str(), r.port)
        .to_socket_addrs()
        .map_err(|e| format!("{r}: {e}"))?
        .collect();
    let mut last = format!("{r}: the name has no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, SEND_TIMEOUT) {
            Ok(tcp) => {
                tcp.set_write_timeout(Some(SEND_TIMEOUT))
                    .and_then(|()| tcp.set_read_timeout(Some(SEND_TIMEOUT)))
                    .map_err(|e| format!("{r}: {e}"))?;
                let _ = tcp.set_nodelay(true);
                return if r.tls {
                    send_tls(r, tcp, frame.as_bytes())
                } else {
                    let mut tcp = tcp;
                    tcp.write_all(frame.as_bytes())
                        .and_then(|()| tcp.flush())
                        .map_err(|e| format!("{r}: {e}"))
                };
            }
            Err(e) => last = format!("{r}: {e}"),
        }
    }
    Err(last)
}

fn send_tls(r: &Remote, tcp: TcpStream, frame: &[u8]) -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = tls_config(r)?;
    let name =
        rustls::pki_types::ServerName::try_from(r.host.clone()).map_err(|e| format!("{r}: {e}"))?;
    let conn =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| format!("{r}: {e}"))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(frame)
        .and_then(|()| tls.flush())
        .map_err(|e| format!("{r}: {e}"))?;
    tls.conn.send_close_notify();
    let _ = tls.flush();
    Ok(())
}

fn tls_config(r: &Remote) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let Some(ca) = &r.ca else {
        use rustls_platform_verifier::ConfigVerifierExt;
        return rustls::ClientConfig::with_platform_verifier()
            .map_err(|e| format!("{r}: the system's certificate roots: {e}"));
    };
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca)
        .map_err(|e| format!("anchor.remote_ca {}: {e}", ca.display()))?;
    for c in certs {
        let c = c.map_err(|e| format!("anchor.remote_ca {}: {e}", ca.display()))?;
        roots
            .add(c)
            .map_err(|e| format!("anchor.remote_ca {}: {e}", ca.display()))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "anchor.remote_ca {} holds no certificate",
            ca.display()
        ));
    }
    Ok(rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// One anchored head read back from an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchored {
    /// Sequence number.
    pub seq: u64,
    /// Hash of that record.
    pub hash: String,
    /// The first record the head's commit added (`seq` itself for messages without it).
    pub from: u64,
}

/// Every anchored head of vault `vault_id` in an export of the system log or a collector's
/// file (any line format: the message is found wherever it stands in the line). Malformed
/// lines are skipped.
pub fn parse(text: &str, vault_id: &str) -> Vec<Anchored> {
    let prefix = format!("audit-head vault={vault_id} seq=");
    text.lines()
        .filter_map(|l| {
            let rest = &l[l.find(&prefix)? + prefix.len()..];
            let (seq, rest) = rest.split_once(" hash=")?;
            let seq: u64 = seq.parse().ok()?;
            let hash: String = rest.chars().take(64).collect();
            (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(())?;
            let from = match rest[64..].strip_prefix(" from=") {
                Some(f) => {
                    let digits: String = f.chars().take_while(char::is_ascii_digit).collect();
                    digits.parse().ok().filter(|&f| f >= 1 && f <= seq)?
                }
                None => seq,
            };
            Some(Anchored { seq, hash, from })
        })
        .collect()
}

/// What an export of anchored heads says about the chain.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Checked {
    /// Heads that contradict the chain (each a sentence).
    pub problems: Vec<String>,
    /// Spans of records (first, last) that no agreeing head covers.
    pub uncovered: Vec<(u64, u64)>,
}

/// Checks anchored heads against the chain: each must be a record of the chain (`hash_of(seq)`,
/// `None` when the log has no such record) unless it was pruned (at or before
/// `pruned_through`), none may lie beyond the log's last record, and the records after
/// `pruned_through` up to `last_seq` not covered by an agreeing head's `from..=seq` are
/// returned as spans.
pub fn check(
    anchors: &[Anchored],
    last_seq: u64,
    pruned_through: u64,
    hash_of: impl Fn(u64) -> Option<String>,
) -> Checked {
    let mut out = Checked::default();
    if let Some(max) = anchors.iter().map(|a| a.seq).max()
        && max > last_seq
    {
        out.problems.push(format!(
            "the anchor saw the chain at seq {max}, but the log ends at seq {last_seq}: records were removed and the log rolled back"
        ));
    }
    let mut covered: Vec<(u64, u64)> = Vec::new();
    for a in anchors
        .iter()
        .filter(|a| a.seq <= last_seq && a.seq > pruned_through)
    {
        match hash_of(a.seq) {
            Some(h) if h == a.hash => covered.push((a.from.max(pruned_through + 1), a.seq)),
            Some(_) => out.problems.push(format!(
                "record seq {} is not the one the anchor saw: the log was rewritten",
                a.seq
            )),
            None => out.problems.push(format!(
                "record seq {} that the anchor saw is missing",
                a.seq
            )),
        }
    }
    out.problems.dedup();
    covered.sort_unstable();
    let mut next = pruned_through + 1;
    for (from, to) in covered {
        if from > next {
            out.uncovered.push((next, from - 1));
        }
        next = next.max(to + 1);
    }
    if next <= last_seq {
        out.uncovered.push((next, last_seq));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(seq: u64) -> Head {
        Head {
            seq,
            hash: "ab".repeat(32),
            day: None,
        }
    }

    #[test]
    fn a_head_goes_out_as_one_datagram_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        let anchors = Anchors {
            syslog: Some(path.clone()),
            remote: None,
        };
        let sent = anchors.send("v1", &head(42), 40, Utc::now());
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].error, None);
        let mut buf = [0u8; 512];
        let n = server.recv(&mut buf).unwrap();
        let line = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(line.starts_with("<86>fulfill["), "{line}");
        let got = parse(&format!("Dec 01 10:00:00 host {}\n", &line[4..]), "v1");
        assert_eq!(
            got,
            vec![Anchored {
                seq: 42,
                hash: "ab".repeat(32),
                from: 40,
            }]
        );
        assert!(parse(line, "v2").is_empty(), "another vault's heads");
    }

    #[test]
    fn a_missing_socket_or_a_closed_port_is_an_error_each() {
        let dir = tempfile::tempdir().unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let anchors = Anchors {
            syslog: Some(dir.path().join("none")),
            remote: Some(Remote::parse(&format!("tcp://127.0.0.1:{port}"), None).unwrap()),
        };
        let sent = anchors.send("v1", &head(1), 1, Utc::now());
        assert_eq!(sent.len(), 2);
        assert!(sent.iter().all(|s| s.error.is_some()), "{sent:?}");
        assert_eq!((sent[0].anchor, sent[1].anchor), ("syslog", "remote"));
    }

    #[test]
    fn the_remote_message_is_rfc5424_with_octet_counting() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
            .unwrap()
            .to_utc();
        let f = rfc5424_frame("audit-head vault=v seq=1", t);
        let (len, msg) = f.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), msg.len());
        assert!(msg.starts_with("<86>1 2026-12-07T10:00:00.000Z "), "{msg}");
        assert!(
            msg.ends_with(" fulfill ") || msg.contains(" fulfill "),
            "{msg}"
        );
        assert!(msg.ends_with(" - - audit-head vault=v seq=1"), "{msg}");
    }

    #[test]
    fn remote_urls_take_a_scheme_a_host_and_a_port_only() {
        let r = Remote::parse("tls://logs.example.com:6514", None).unwrap();
        assert!(r.tls);
        assert_eq!((r.host.as_str(), r.port), ("logs.example.com", 6514));
        assert_eq!(r.to_string(), "tls://logs.example.com:6514");
        let r = Remote::parse("tcp://[::1]:601", None).unwrap();
        assert_eq!((r.host.as_str(), r.tls), ("::1", false));
        assert_eq!(r.to_string(), "tcp://[::1]:601");
        for bad in [
            "udp://h:514",
            "tcp://h",
            "tcp://user@h:601",
            "tcp://h:601/x",
            "tcp://h:601?q",
            "h:601",
            "",
        ] {
            assert!(Remote::parse(bad, None).is_err(), "{bad}");
        }
    }

    fn a(seq: u64, from: u64, h: &str) -> Anchored {
        Anchored {
            seq,
            hash: h.repeat(64),
            from,
        }
    }

    #[test]
    fn anchors_beyond_the_end_or_with_another_hash_are_problems() {
        let hash_of = |s: u64| (s <= 10).then(|| "a".repeat(64));
        let c = check(&[a(3, 1, "a"), a(10, 4, "a")], 10, 0, hash_of);
        assert_eq!(c, Checked::default());
        assert_eq!(check(&[a(12, 11, "a")], 10, 0, hash_of).problems.len(), 1);
        assert_eq!(check(&[a(5, 5, "b")], 10, 0, hash_of).problems.len(), 1);
        assert!(
            check(&[a(5, 5, "b")], 10, 6, hash_of).problems.is_empty(),
            "pruned heads are not checked"
        );
    }

    #[test]
    fn records_no_agreeing_head_covers_are_spans() {
        let hash_of = |s: u64| (s <= 20).then(|| "a".repeat(64));
        // Heads cover 1..=3 and 8..=10; a rewritten head at 15 covers nothing.
        let c = check(
            &[a(3, 1, "a"), a(10, 8, "a"), a(15, 12, "b")],
            20,
            0,
            hash_of,
        );
        assert_eq!(c.uncovered, vec![(4, 7), (11, 20)]);
        assert_eq!(c.problems.len(), 1);
        // No head at all: the whole chain after the pruned part.
        assert_eq!(check(&[], 20, 5, hash_of).uncovered, vec![(6, 20)]);
        // Duplicates and overlaps are fine; an empty log has nothing to cover.
        let c = check(
            &[a(10, 1, "a"), a(10, 1, "a"), a(20, 5, "a")],
            20,
            0,
            hash_of,
        );
        assert!(c.uncovered.is_empty(), "{c:?}");
        assert!(check(&[], 0, 0, hash_of).uncovered.is_empty());
    }

    #[test]
    fn a_from_after_its_seq_or_malformed_is_skipped() {
        let h = "c".repeat(64);
        let text = format!(
            "audit-head vault=v seq=5 hash={h} from=9\naudit-head vault=v seq=5 hash={h} from=x\naudit-head vault=v seq=6 hash={h}\n"
        );
        assert_eq!(
            parse(&text, "v"),
            vec![Anchored {
                seq: 6,
                hash: h,
                from: 6
            }]
        );
    }
}
