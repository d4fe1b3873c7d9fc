//! Where finished label files go: `spool/`, a file the operator named, or a raw TCP printer;
//! each recorded and tracked per order so `purge` shreds it with the order's PII.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use zeroize::Zeroizing;

use super::Printed;
use crate::audit::{Event, Outcome};
use crate::error::{Error, Result};
use crate::safety::Environment;
use crate::vault::{Session, labels};

/// Where labels go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `spool/RANDOM.zpl` in the home (the default).
    Spool,
    /// A file the operator named (all labels of the run, one after another).
    File(PathBuf),
    /// A raw TCP label printer.
    Printer(String),
}

impl Destination {
    /// From `--to URI` / `--out FILE`.
    pub fn parse(to: Option<&str>, out: Option<&Path>) -> Result<Destination> {
        match (to, out) {
            (Some(_), Some(_)) => Err(Error::usage("give --to or --out, not both")),
            (None, Some(f)) => Ok(Destination::File(f.to_path_buf())),
            (None, None) => Ok(Destination::Spool),
            (Some(uri), None) => {
                let addr = uri.strip_prefix("tcp://").ok_or_else(|| {
                    Error::usage(format!(
                        "--to {uri:?}: only raw TCP printers are supported, as tcp://HOST:PORT"
                    ))
                })?;
                if !addr.contains(':') {
                    return Err(Error::usage(format!(
                        "--to {uri:?}: give the port too (label printers listen on 9100)"
                    )));
                }
                Ok(Destination::Printer(addr.to_string()))
            }
        }
    }

    /// What the audit record says.
    pub fn kind(&self) -> &'static str {
        match self {
            Destination::Spool => "spool",
            Destination::File(_) => "file",
            Destination::Printer(_) => "printer",
        }
    }
}

/// Checks a destination and returns its folder (spool, created 0700) or file path.
pub(crate) fn prepare(s: &Session<'_>, env: &Environment, dest: &Destination) -> Result<PathBuf> {
    match dest {
        Destination::Spool => {
            let spool = s.vault().home().spool_dir();
            if !spool.exists() {
                std::fs::DirBuilder::new().mode(0o700).create(&spool)?;
            }
            env.check_location(&spool)?;
            Ok(spool)
        }
        Destination::File(p) => out_path(env, p),
        Destination::Printer(_) => Ok(PathBuf::new()),
    }
}

/// What the label files are.
pub(crate) struct Rendering {
    /// File extension in spool/, and the format in the record (`zpl`, `pdf`, `png`).
    pub(crate) ext: &'static str,
    /// Resolution, when the tool rendered it.
    pub(crate) dpi: Option<u32>,
}

/// Sends finished labels (order id, bytes) to `dest` (`target` from [`prepare`]), each
/// recorded as `label.printed` and tracked; see [`print`].
pub(crate) fn deliver(
    s: &Session<'_>,
    dest: &Destination,
    target: &Path,
    files: &[(String, Zeroizing<Vec<u8>>)],
    how: &Rendering,
    now: DateTime<Utc>,
) -> Result<Vec<Printed>> {
    let printed = |order: &str, t: &str| Printed {
        order_id: order.to_string(),
        destination: dest.kind(),
        target: t.to_string(),
    };
    let event = |p: &Printed| {
        Event::new("label.printed")
            .operator(s.name())
            .field("order", p.order_id.as_str())
            .field("format", how.ext)
            .field("dpi", how.dpi)
            .field("destination", p.destination)
            .field("target", p.target.as_str())
    };
    let mut out = Vec::new();
    match dest {
        Destination::Spool => {
            for (order, z) in files {
                // Named by the tool, never after the order id Amazon sent: tracked in the
                // vault, which is how purge and audit find it.
                // A label printed again replaces its earlier spool file (one per order and
                // format), as a reprint should.
                let earlier = labels::files_of(s.vault().conn(), std::slice::from_ref(order))?
                    .into_iter()
                    .map(|t| t.path)
                    .find(|p| {
                        p.parent() == Some(target)
                            && p.extension().is_some_and(|e| e == how.ext)
                            && p.file_stem()
                                .is_some_and(|n| is_spool_name(&n.to_string_lossy()))
                    });
                let path =
                    earlier.unwrap_or_else(|| target.join(format!("{}.{}", spool_name(), how.ext)));
                let p = printed(order, &path.to_string_lossy());
                write_tracked(s, &[(p.clone(), event(&p))], &path, z, now)?;
                out.push(p);
            }
        }
        Destination::File(_) => {
            let mut all =
                Zeroizing::new(Vec::with_capacity(files.iter().map(|(_, z)| z.len()).sum()));
            for (_, z) in files {
                all.extend_from_slice(z);
            }
            let t = target.to_string_lossy();
            let ps: Vec<(Printed, Event)> = files
                .iter()
                .map(|(order, _)| {
                    let p = printed(order, &t);
                    let e = event(&p);
                    (p, e)
                })
                .collect();
            write_tracked(s, &ps, target, &all, now)?;
            out.extend(ps.into_iter().map(|(p, _)| p));
        }
        Destination::Printer(addr) => {
            for (order, z) in files {
                let p = printed(order, addr);
                // Recorded before it is sent: a label never prints unrecorded.
                s.vault().record_with(&[event(&p)], now, |tx| {
                    labels::track(tx, None, order, s.name(), now)
                })?;
                if let Err(e) = send_to_printer(addr, z) {
                    let failed = Event::new("label.failed")
                        .operator(s.name())
                        .outcome(Outcome::Failed)
                        .field("order", order.as_str())
                        .field("target", addr.as_str());
                    s.vault().record(&[failed], now)?;
                    return Err(e);
                }
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// A fresh `spool/` file name: 128 random bits in hex.
fn spool_name() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Whether a file stem is one [`spool_name`] made.
fn is_spool_name(stem: &str) -> bool {
    stem.len() == 32 && stem.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Writes `bytes` to `path` (0600, atomically) and records and tracks it for every order in
/// `labels`; removes the file again if the records cannot be written.
fn write_tracked(
    s: &Session<'_>,
    labels: &[(Printed, Event)],
    path: &Path,
    bytes: &[u8],
    now: DateTime<Utc>,
) -> Result<()> {
    let id = crate::home::write_identified(path, bytes)?;
    let events: Vec<Event> = labels.iter().map(|(_, e)| e.clone()).collect();
    let recorded = s.vault().record_with(&events, now, |tx| {
        for (p, _) in labels {
            labels::track(tx, Some((&p.target, id)), &p.order_id, s.name(), now)?;
        }
        Ok(())
    });
    if recorded.is_err() {
        let _ = std::fs::remove_file(path);
    }
    recorded
}

/// An `--out FILE` path made absolute, refused on removable media or in a cloud-sync folder.
fn out_path(env: &Environment, p: &Path) -> Result<PathBuf> {
    let name = p
        .file_name()
        .ok_or_else(|| Error::usage(format!("--out {}: not a file name", p.display())))?;
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let parent = std::fs::canonicalize(&parent)
        .map_err(|e| Error::usage(format!("--out {}: {e}", p.display())))?;
    env.check_location(&parent)?;
    Ok(parent.join(name))
}

/// Sends bytes to a raw TCP printer (5 s to connect, 30 s to write).
pub fn send_to_printer(addr: &str, bytes: &[u8]) -> Result<()> {
    let fail = |e: std::io::Error| Error::Failed(format!("printer {addr}: {e}"));
    let sock = addr
        .to_socket_addrs()
        .map_err(fail)?
        .next()
        .ok_or_else(|| Error::Failed(format!("printer {addr}: no such address")))?;
    let mut s = TcpStream::connect_timeout(&sock, Duration::from_secs(5)).map_err(fail)?;
    s.set_write_timeout(Some(Duration::from_secs(30)))
        .map_err(fail)?;
    s.write_all(bytes).and_then(|()| s.flush()).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse() {
        assert_eq!(Destination::parse(None, None).unwrap(), Destination::Spool);
        assert_eq!(
            Destination::parse(Some("tcp://10.0.0.5:9100"), None).unwrap(),
            Destination::Printer("10.0.0.5:9100".into())
        );
        assert!(Destination::parse(Some("lpr://x"), None).is_err());
        assert!(Destination::parse(Some("tcp://x"), None).is_err());
        assert!(Destination::parse(Some("tcp://x:1"), Some(Path::new("f"))).is_err());
    }
}
