//! An anchor for the chain head that the operators cannot rewrite: the system log.
//!
//! After every committed append the new head (`vault`, `seq`, `hash`) is sent as one syslog
//! message (RFC 3164 over the local datagram socket, `/dev/log`, where journald or rsyslog
//! listen). The shared OS user can add lines there but cannot edit or remove what root's logger
//! already holds, so a log rolled back to a copy, however carefully (records, head, key file
//! and all), still disagrees with the heads the system log saw. `fulfill audit --anchors FILE`
//! (an export such as `journalctl -t fulfill -o cat > FILE`) checks every anchored head
//! against the chain ([`check`]).
//!
//! Sending is best effort (no syslog daemon in a container is not a reason to stop shipping);
//! that there was none is visible to the auditor as missing anchors.

use std::os::unix::net::UnixDatagram;
use std::path::Path;

use super::Head;

/// The socket the system logger listens on.
pub const SYSLOG_SOCKET: &str = "/dev/log";

/// The tag the messages carry (`journalctl -t fulfill`).
pub const TAG: &str = "fulfill";

/// The message for a head: what [`parse`] reads back.
pub fn message(vault_id: &str, head: &Head) -> String {
    format!(
        "audit-head vault={vault_id} seq={} hash={}",
        head.seq, head.hash
    )
}

/// Sends the head to the system logger at `socket` (facility auth, level info). Errors are
/// returned for the caller to note; they never stop an action.
pub fn send(socket: &Path, vault_id: &str, head: &Head) -> std::io::Result<()> {
    let s = UnixDatagram::unbound()?;
    s.connect(socket)?;
    // <PRI> = facility 10 (authpriv) * 8 + severity 6 (info).
    let line = format!(
        "<86>{TAG}[{}]: {}",
        std::process::id(),
        message(vault_id, head)
    );
    s.send(line.as_bytes()).map(drop)
}

/// One anchored head read back from a system log export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchored {
    /// Sequence number.
    pub seq: u64,
    /// Hash of that record.
    pub hash: String,
}

/// Every anchored head of vault `vault_id` in an export of the system log (any line format:
/// the message is found wherever it stands in the line). Malformed lines are skipped.
pub fn parse(text: &str, vault_id: &str) -> Vec<Anchored> {
    let prefix = format!("audit-head vault={vault_id} seq=");
    text.lines()
        .filter_map(|l| {
            let rest = &l[l.find(&prefix)? + prefix.len()..];
            let (seq, rest) = rest.split_once(" hash=")?;
            let hash: String = rest.chars().take(64).collect();
            (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(())?;
            Some(Anchored {
                seq: seq.parse().ok()?,
                hash,
            })
        })
        .collect()
}

/// What the anchors say about the chain: each anchored head must be a record of the chain
/// (`hash_of(seq)`, `None` when the log has no such record) unless it was pruned (at or
/// before `pruned_through`), and none may lie beyond the log's last record.
pub fn check(
    anchors: &[Anchored],
    last_seq: u64,
    pruned_through: u64,
    hash_of: impl Fn(u64) -> Option<String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(max) = anchors.iter().map(|a| a.seq).max()
        && max > last_seq
    {
        problems.push(format!(
            "the system log saw the chain at seq {max}, but the log ends at seq {last_seq}: records were removed and the log rolled back"
        ));
    }
    for a in anchors
        .iter()
        .filter(|a| a.seq <= last_seq && a.seq > pruned_through)
    {
        match hash_of(a.seq) {
            Some(h) if h == a.hash => {}
            Some(_) => problems.push(format!(
                "record seq {} is not the one the system log saw: the log was rewritten",
                a.seq
            )),
            None => problems.push(format!(
                "record seq {} that the system log saw is missing",
                a.seq
            )),
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_goes_out_as_one_datagram_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        let head = Head {
            seq: 42,
            hash: "ab".repeat(32),
            day: None,
        };
        send(&path, "v1", &head).unwrap();
        let mut buf = [0u8; 512];
        let n = server.recv(&mut buf).unwrap();
        let line = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(line.starts_with("<86>fulfill["), "{line}");
        let got = parse(&format!("Dec 01 10:00:00 host {}\n", &line[4..]), "v1");
        assert_eq!(
            got,
            vec![Anchored {
                seq: 42,
                hash: "ab".repeat(32)
            }]
        );
        assert!(parse(line, "v2").is_empty(), "another vault's heads");
    }

    #[test]
    fn anchors_beyond_the_end_or_with_another_hash_are_problems() {
        let a = |seq: u64, h: &str| Anchored {
            seq,
            hash: h.repeat(64),
        };
        let hash_of = |s: u64| (s <= 10).then(|| "a".repeat(64));
        assert!(check(&[a(3, "a"), a(10, "a")], 10, 0, hash_of).is_empty());
        assert_eq!(check(&[a(12, "a")], 10, 0, hash_of).len(), 1);
        assert_eq!(check(&[a(5, "b")], 10, 0, hash_of).len(), 1);
        assert!(
            check(&[a(5, "b")], 10, 6, hash_of).is_empty(),
            "pruned heads are not checked"
        );
    }
}
