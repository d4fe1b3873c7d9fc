//! Where finished label files go: `spool/`, a file the operator named, a raw TCP printer or a
//! queue of the local CUPS server ([`super::cups`]); each recorded and tracked per order so
//! `purge` shreds it with the order's PII.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use zeroize::Zeroizing;

use super::Printed;
use super::cups;
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
    /// A queue of the local CUPS server (`cups:QUEUE`).
    Cups(cups::Queue),
}

impl Destination {
    /// From `--to URI` / `--out FILE`.
    pub fn parse(to: Option<&str>, out: Option<&Path>) -> Result<Destination> {
        match (to, out) {
            (Some(_), Some(_)) => Err(Error::usage("give --to or --out, not both")),
            (None, Some(f)) => Ok(Destination::File(f.to_path_buf())),
            (None, None) => Ok(Destination::Spool),
            (Some(uri), None) => {
                if let Some(queue) = uri.strip_prefix("cups:") {
                    return Ok(Destination::Cups(cups::Queue::new(
                        queue,
                        cups::Server::from_env()?,
                    )?));
                }
                let addr = uri.strip_prefix("tcp://").ok_or_else(|| {
                    Error::usage(format!(
                        "--to {:?}: give a raw TCP printer as tcp://HOST:PORT or a CUPS queue \
                         as cups:QUEUE",
                        crate::term::clean(uri)
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
            Destination::Cups(_) => "cups",
        }
    }

    /// Whether the job leaves this machine's files (a printer or a CUPS queue): nothing is
    /// written to a file here.
    pub fn is_printer(&self) -> bool {
        matches!(self, Destination::Printer(_) | Destination::Cups(_))
    }

    /// A printer destination as the record and the output name it: `HOST:PORT` or
    /// `cups:QUEUE`.
    fn printer_name(&self) -> Option<String> {
        match self {
            Destination::Printer(addr) => Some(addr.clone()),
            Destination::Cups(q) => Some(format!("cups:{}", q.name)),
            Destination::Spool | Destination::File(_) => None,
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
        Destination::Printer(_) | Destination::Cups(_) => Ok(PathBuf::new()),
    }
}

/// What a print job prints: shipping labels or packing slips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Shipping labels (an unshipped order becomes `labelled`).
    Label,
    /// Packing slips (the order's lifecycle is left as it is).
    Slip,
}

impl Kind {
    fn printed(self) -> &'static str {
        match self {
            Kind::Label => "label.printed",
            Kind::Slip => "slip.printed",
        }
    }

    fn failed(self) -> &'static str {
        match self {
            Kind::Label => "label.failed",
            Kind::Slip => "slip.failed",
        }
    }
}

/// What the files of a print job are.
pub(crate) struct Rendering {
    /// File extension in spool/, and the format in the record (`zpl`, `pdf`, `png`).
    pub(crate) ext: &'static str,
    /// Resolution, when the tool rendered it.
    pub(crate) dpi: Option<u32>,
    /// Labels or slips.
    pub(crate) kind: Kind,
}

impl Rendering {
    /// The end of a spool file's name after its random stem: `.zpl`, `.pdf`, `.slip.pdf`.
    fn suffix(&self) -> String {
        match self.kind {
            Kind::Label => format!(".{}", self.ext),
            Kind::Slip => format!(".slip.{}", self.ext),
        }
    }
}

/// One print job: the orders it holds, in order, and its bytes (one ZPL stream or one PDF).
pub(crate) struct Job {
    /// `AmazonOrderId`s.
    pub(crate) orders: Vec<String>,
    /// The whole job.
    pub(crate) bytes: Zeroizing<Vec<u8>>,
    /// The Amazon shipment id of the bought label it is (tracked with its file, so cancelling
    /// that label destroys this file and no other).
    pub(crate) bought: Option<String>,
}

/// Sends one print job to `dest` (`target` from [`prepare`]): one file or one printer
/// connection, recorded as ONE `label.printed` / `slip.printed` (its `count` and `orders`;
/// `order` too when it holds one) in the transaction that tracks the file for every order in
/// it. Returns one [`Printed`] per order.
pub(crate) fn deliver(
    s: &Session<'_>,
    dest: &Destination,
    target: &Path,
    job: &Job,
    how: &Rendering,
    now: DateTime<Utc>,
) -> Result<Vec<Printed>> {
    deliver_opened(s, dest, target, job, how, None, now)
}

/// [`deliver`] with the job's `pii.opened` record still to append (`opening`): for a printer
/// it goes in the same append as the print record, before anything is sent; for a file it is
/// appended before the file is written, and the print record (with the file's identity, for
/// purge) after it.
pub(crate) fn deliver_opened(
    s: &Session<'_>,
    dest: &Destination,
    target: &Path,
    job: &Job,
    how: &Rendering,
    opening: Option<Event>,
    now: DateTime<Utc>,
) -> Result<Vec<Printed>> {
    let mut opening = opening;
    if !dest.is_printer()
        && let Some(ev) = opening.take()
    {
        s.vault().record(&[ev], now)?;
    }
    let event = |t: &str| {
        let mut e = Event::new(how.kind.printed())
            .operator(s.name())
            .field("format", how.ext)
            .field("dpi", how.dpi)
            .field("destination", dest.kind())
            .field("target", t)
            .field("count", job.orders.len() as u64)
            .field("orders", job.orders.clone());
        if let [one] = job.orders.as_slice() {
            e = e.field("order", one.as_str());
        }
        e
    };
    let printed = |t: &str| -> Vec<Printed> {
        job.orders
            .iter()
            .map(|o| Printed {
                order_id: o.clone(),
                destination: dest.kind(),
                target: t.to_string(),
            })
            .collect()
    };
    match dest {
        Destination::Spool => {
            // Named by the tool, never after an order id Amazon sent: tracked in the vault,
            // which is how purge and audit find it. A one-order job printed again replaces
            // its earlier spool file (one per order, kind and format), as a reprint should;
            // a file holding other orders too (a batch) is never overwritten.
            let suffix = how.suffix();
            let mut earlier = None;
            if let [order] = job.orders.as_slice() {
                for t in s
                    .vault()
                    .read(|tx| labels::files_of(tx, std::slice::from_ref(order)))?
                {
                    let ours = t.path.parent() == Some(target)
                        && t.path
                            .file_name()
                            .and_then(|n| n.to_str())
                            .and_then(|n| n.strip_suffix(suffix.as_str()))
                            .is_some_and(is_spool_name);
                    if ours
                        && s.vault().read(|tx| labels::orders_of_path(tx, &t.path))?
                            == [order.clone()]
                    {
                        earlier = Some(t.path);
                        break;
                    }
                }
            }
            let path = earlier.unwrap_or_else(|| target.join(format!("{}{suffix}", spool_name())));
            let t = path.to_string_lossy().into_owned();
            write_tracked(s, how.kind, job, event(&t), &path, now)?;
            Ok(printed(&t))
        }
        Destination::File(_) => {
            let t = target.to_string_lossy().into_owned();
            write_tracked(s, how.kind, job, event(&t), target, now)?;
            Ok(printed(&t))
        }
        Destination::Printer(_) | Destination::Cups(_) => {
            let name = dest.printer_name().unwrap_or_default();
            // Recorded before it is sent: a job never prints unrecorded.
            let events: Vec<Event> = opening.into_iter().chain([event(&name)]).collect();
            s.vault().record_with(&events, now, |tx| {
                for order in &job.orders {
                    track(tx, how.kind, None, order, None, s.name(), now)?;
                }
                Ok(())
            })?;
            let sent = match dest {
                Destination::Cups(q) => {
                    let title = match job.orders.as_slice() {
                        [one] => one.clone(),
                        many => format!("{} orders", many.len()),
                    };
                    let info = cups::JobInfo {
                        title: &title,
                        user: s.name(),
                        format: how.ext,
                    };
                    cups::print(q, info, &job.bytes).map(|id| format!("{name} (job {id})"))
                }
                _ => send_to_printer(&name, &job.bytes).map(|()| name.clone()),
            };
            let shown = match sent {
                Ok(shown) => shown,
                Err(e) => {
                    let mut failed = Event::new(how.kind.failed())
                        .operator(s.name())
                        .outcome(Outcome::Failed)
                        .field("destination", dest.kind())
                        .field("target", name.as_str())
                        .field("count", job.orders.len() as u64)
                        .field("orders", job.orders.clone());
                    if let [one] = job.orders.as_slice() {
                        failed = failed.field("order", one.as_str());
                    }
                    s.vault().record(&[failed], now)?;
                    return Err(e);
                }
            };
            Ok(printed(&shown))
        }
    }
}

/// Tracks a file (or a job sent to a printer: `file` None) for `order` (a bought label's
/// shipment id with it).
fn track(
    tx: &crate::vault::Tx<'_>,
    kind: Kind,
    file: Option<(&str, crate::home::FileIdentity)>,
    order: &str,
    bought: Option<&str>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    match kind {
        Kind::Label => labels::track(tx, file, order, bought, by, now),
        Kind::Slip => labels::track_file(tx, file, order, by, now),
    }
}

/// A fresh `spool/` file name: 128 random bits in hex.
fn spool_name() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Whether a file stem is one [`spool_name`] made.
fn is_spool_name(stem: &str) -> bool {
    stem.len() == 32 && stem.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Writes the job's bytes to `path` (0600, atomically), records `event` and tracks the file
/// for every order of the job; removes the file again if the record cannot be written.
fn write_tracked(
    s: &Session<'_>,
    kind: Kind,
    job: &Job,
    event: Event,
    path: &Path,
    now: DateTime<Utc>,
) -> Result<()> {
    let id = crate::home::write_identified(path, &job.bytes)?;
    let p = path.to_string_lossy();
    let recorded = s.vault().record_with(&[event], now, |tx| {
        for order in &job.orders {
            track(
                tx,
                kind,
                Some((&p, id)),
                order,
                job.bought.as_deref(),
                s.name(),
                now,
            )?;
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
        assert!(matches!(
            Destination::parse(Some("cups:zebra"), None).unwrap(),
            Destination::Cups(q) if q.name == "zebra"
        ));
        assert!(Destination::parse(Some("cups:a/b"), None).is_err());
        assert!(Destination::parse(Some("cups:"), None).is_err());
        assert!(Destination::parse(Some("tcp://x"), None).is_err());
        assert!(Destination::parse(Some("tcp://x:1"), Some(Path::new("f"))).is_err());
    }
}
