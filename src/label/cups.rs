//! Printing through the local CUPS server (`--to cups:QUEUE`): one IPP Print-Job per print job.
//!
//! The IPP messages are the `ipp` crate's (encoding and parsing; its own HTTP clients are left
//! out), carried by the same reqwest as the Amazon calls. Which server, as `lp` finds it:
//! `CUPS_SERVER` (a socket path, or `HOST[:PORT]`), else the system's socket
//! `/run/cups/cups.sock`, else `localhost:631`. Only a local server is taken: a label holds an
//! address, and IPP here is plain HTTP, so a remote `CUPS_SERVER` is refused (the local CUPS
//! forwards to a remote queue itself, over its own encrypted link if so configured).
//!
//! A ZPL job goes as `application/vnd.cups-raw` (what `lp -o raw` sends: no filter touches
//! it); a PDF as `application/pdf`, so an office queue with a driver prints it. CUPS spools
//! the job and answers at once; what happens at the printer later is CUPS's to report
//! (`lpstat`). A queue that does not exist or does not accept jobs, a server that does not
//! answer or asks for a password: one line, [`Error::Failed`] (exit 1).

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipp::model::{IppVersion, StatusCode};
use ipp::operation::IppOperation;
use ipp::parser::IppParser;
use ipp::prelude::{IppOperationBuilder, IppPayload, Uri};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The system's CUPS socket (libcups' default domain socket on Linux).
pub const SYSTEM_SOCKET: &str = "/run/cups/cups.sock";

/// Where the CUPS server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Server {
    /// A unix domain socket.
    Socket(PathBuf),
    /// A loopback `HOST:PORT`.
    Local(String),
}

impl Server {
    /// The server `lp` would use, from `CUPS_SERVER`'s value (`var`) and whether the system's
    /// socket exists. A remote host is refused (labels hold addresses; this is plain HTTP).
    pub fn resolve(var: Option<&str>, system_socket: bool) -> Result<Server> {
        match var.map(str::trim).filter(|v| !v.is_empty()) {
            Some(v) if v.starts_with('/') => Ok(Server::Socket(PathBuf::from(v))),
            Some(v) => {
                let (host, port) = split_host_port(v).ok_or_else(|| {
                    Error::usage(format!(
                        "CUPS_SERVER={v:?}: give a socket path or HOST[:PORT] of the local CUPS"
                    ))
                })?;
                if !matches!(host, "localhost" | "127.0.0.1" | "::1" | "[::1]") {
                    return Err(Error::usage(format!(
                        "CUPS_SERVER={v:?}: only the local CUPS server is used (labels hold \
                         addresses); add the remote queue to the local CUPS instead"
                    )));
                }
                let host = if host == "::1" { "[::1]" } else { host };
                Ok(Server::Local(format!("{host}:{port}")))
            }
            None if system_socket => Ok(Server::Socket(PathBuf::from(SYSTEM_SOCKET))),
            None => Ok(Server::Local("localhost:631".into())),
        }
    }

    /// The server for this process: `CUPS_SERVER`, the system socket, or `localhost:631`.
    pub fn from_env() -> Result<Server> {
        let var = std::env::var("CUPS_SERVER").ok();
        Self::resolve(var.as_deref(), Path::new(SYSTEM_SOCKET).exists())
    }

    fn describe(&self) -> String {
        match self {
            Server::Socket(p) => p.display().to_string(),
            Server::Local(a) => a.clone(),
        }
    }

    /// The HTTP authority requests are addressed to (the socket's is `localhost`).
    fn authority(&self) -> &str {
        match self {
            Server::Socket(_) => "localhost",
            Server::Local(a) => a,
        }
    }
}

/// `HOST[:PORT]` (port 631 by default; `[v6]:PORT` or a bare `::1`).
fn split_host_port(v: &str) -> Option<(&str, u16)> {
    if v == "::1" {
        return Some((v, 631));
    }
    if let Some(rest) = v.strip_prefix('[') {
        let (h, tail) = rest.split_once(']')?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if tail.is_empty() => 631,
            None => return None,
        };
        return Some((h, port));
    }
    match v.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => Some((h, p.parse().ok()?)),
        Some(_) => None,
        None => Some((v, 631)),
    }
}

/// A CUPS queue on a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    /// The queue's name, as `lpstat -p` lists it.
    pub name: String,
    /// Where its server listens.
    pub server: Server,
}

impl Queue {
    /// The queue named in `--to cups:NAME` on `server`; refuses a name CUPS would not give a
    /// queue (`lpadmin`: printable, no space, `/`, `\`, `#`, quotes; at most 127 bytes), which
    /// also keeps it a plain URI path segment.
    pub fn new(name: &str, server: Server) -> Result<Queue> {
        let ok = !name.is_empty()
            && name.len() <= 127
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"/\\#'\"?%".contains(&b));
        if !ok {
            return Err(Error::usage(format!(
                "--to cups:{}: not a CUPS queue name (`lpstat -p` lists them)",
                crate::term::clean(name)
            )));
        }
        Ok(Queue {
            name: name.to_string(),
            server,
        })
    }
}

/// What one job is: its title (order ids only: CUPS keeps titles in its job history), the
/// operator it is printed for, and its format (`zpl`, `pdf`, `png`).
#[derive(Debug, Clone, Copy)]
pub struct JobInfo<'a> {
    /// The job's title.
    pub title: &'a str,
    /// The `requesting-user-name`.
    pub user: &'a str,
    /// The file format: `zpl`, `pdf` or `png`.
    pub format: &'a str,
}

/// The IPP document-format for a file format.
fn document_format(format: &str) -> &'static str {
    match format {
        "pdf" => "application/pdf",
        "png" => "image/png",
        _ => "application/vnd.cups-raw",
    }
}

/// Sends `bytes` to `queue` as one Print-Job; returns the job id CUPS gave it.
pub fn print(queue: &Queue, job: JobInfo<'_>, bytes: &[u8]) -> Result<i32> {
    let server = queue.server.describe();
    let q = &queue.name;
    let uri: Uri = format!("ipp://{}/printers/{q}", queue.server.authority())
        .parse()
        .map_err(|e| Error::usage(format!("--to cups:{q}: {e}")))?;
    let op = IppOperationBuilder::print_job(uri, IppPayload::empty())
        .user_name(job.user)
        .job_title(job.title)
        .document_format(document_format(job.format))
        .build()
        .map_err(|e| Error::usage(format!("--to cups:{q}: {e}")))?;
    let mut request = op.into_ipp_request();
    // One request id per message is all IPP asks; CUPS echoes it.
    request.header_mut().request_id = 1;
    request.header_mut().version = IppVersion::v1_1();
    let head = request.to_bytes();
    let mut body = Zeroizing::new(Vec::with_capacity(head.len() + bytes.len()));
    body.extend_from_slice(&head);
    body.extend_from_slice(bytes);
    let len = body.len() as u64;

    // reqwest is built without a default TLS provider; the crate's one is ring (plain HTTP
    // here, but the client refuses to build without one).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut http = reqwest::blocking::Client::builder()
        .user_agent(concat!("fulfill/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60));
    if let Server::Socket(p) = &queue.server {
        http = http.unix_socket(p.clone());
    }
    let http = http
        .build()
        .map_err(|e| Error::Failed(format!("cannot set up the CUPS client: {e}")))?;
    let url = format!("http://{}/printers/{q}", queue.server.authority());
    let reply = http
        .post(url)
        .header("content-type", "application/ipp")
        .body(reqwest::blocking::Body::sized(Cursor::new(body), len))
        .send()
        .map_err(|e| {
            Error::Failed(format!(
                "CUPS queue {q}: cannot reach the CUPS server at {server} ({}); is cupsd \
                 running? (`lpstat -r`)",
                root_cause(&e)
            ))
        })?;
    match reply.status().as_u16() {
        200 => {}
        401 | 403 => {
            return Err(Error::Failed(format!(
                "CUPS queue {q}: the CUPS server at {server} asks to authenticate (HTTP {}); \
                 fulfill sends no password: allow Print-Job for local users in cupsd.conf",
                reply.status().as_u16()
            )));
        }
        404 => return Err(not_found(q)),
        s => {
            return Err(Error::Failed(format!(
                "CUPS queue {q}: the CUPS server at {server} answered HTTP {s}"
            )));
        }
    }
    let answer = IppParser::new(reply.take(1 << 20))
        .parse()
        .map_err(|e| Error::Failed(format!("CUPS queue {q}: unreadable IPP reply: {e}")))?;
    let status = answer.header().status_code();
    if status.is_success() {
        return Ok(job_id(&answer).unwrap_or(0));
    }
    let said = status_message(&answer)
        .map(|m| format!(": {}", crate::term::clean(&m)))
        .unwrap_or_default();
    Err(match status {
        StatusCode::ClientErrorNotFound => not_found(q),
        StatusCode::ServerErrorNotAcceptingJobs => Error::Failed(format!(
            "CUPS queue {q} is not accepting jobs{said} (`cupsaccept {q}` lets it take them again)"
        )),
        StatusCode::ClientErrorNotAuthenticated
        | StatusCode::ClientErrorNotAuthorized
        | StatusCode::ClientErrorForbidden => Error::Failed(format!(
            "CUPS queue {q}: the CUPS server refused the job ({status}){said}; allow Print-Job \
             for local users in cupsd.conf"
        )),
        _ => Error::Failed(format!("CUPS queue {q} refused the job ({status}){said}")),
    })
}

fn not_found(q: &str) -> Error {
    Error::Failed(format!(
        "CUPS queue {q} does not exist on this CUPS server (`lpstat -p` lists the queues)"
    ))
}

/// The innermost cause of a transport error ("Connection refused", "No such file or directory").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

fn attribute<'a>(
    answer: &'a ipp::request::IppRequestResponse,
    name: &str,
) -> Option<&'a ipp::value::IppValue> {
    answer
        .attributes()
        .groups()
        .iter()
        .flat_map(|g| g.attributes())
        .find(|a| AsRef::<str>::as_ref(a.name()) == name)
        .map(|a| a.value())
}

fn job_id(answer: &ipp::request::IppRequestResponse) -> Option<i32> {
    match attribute(answer, "job-id")? {
        ipp::value::IppValue::Integer(n) => Some(*n),
        _ => None,
    }
}

fn status_message(answer: &ipp::request::IppRequestResponse) -> Option<String> {
    let v = attribute(answer, "status-message")?.to_string();
    let v: String = v.chars().take(200).collect();
    (!v.is_empty()).then_some(v)
}

/// Reads a whole reply body (for tests of the parser path).
#[cfg(test)]
fn parse(bytes: &[u8]) -> ipp::request::IppRequestResponse {
    IppParser::new(Cursor::new(bytes.to_vec()).take(1 << 20))
        .parse()
        .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_is_found_as_lp_finds_it_and_only_a_local_one_is_taken() {
        let r = |v: Option<&str>, sock| Server::resolve(v, sock);
        assert_eq!(r(None, true).unwrap(), Server::Socket(SYSTEM_SOCKET.into()));
        assert_eq!(
            r(None, false).unwrap(),
            Server::Local("localhost:631".into())
        );
        assert_eq!(
            r(Some("/tmp/x/cups.sock"), true).unwrap(),
            Server::Socket("/tmp/x/cups.sock".into())
        );
        assert_eq!(
            r(Some("127.0.0.1:8631"), true).unwrap(),
            Server::Local("127.0.0.1:8631".into())
        );
        assert_eq!(
            r(Some("localhost"), true).unwrap(),
            Server::Local("localhost:631".into())
        );
        assert_eq!(
            r(Some("::1"), true).unwrap(),
            Server::Local("[::1]:631".into())
        );
        assert_eq!(
            r(Some("[::1]:99"), true).unwrap(),
            Server::Local("[::1]:99".into())
        );
        for bad in ["print.example.com", "10.0.0.5:631", "localhost:x", ":631"] {
            let e = r(Some(bad), true).unwrap_err();
            assert_eq!(e.exit(), crate::error::Exit::Usage, "{bad}");
        }
    }

    #[test]
    fn queue_names_are_what_lpadmin_allows() {
        let s = Server::Local("localhost:631".into());
        for ok in ["zebra", "Zebra_ZD421-1", "bench.2"] {
            assert!(Queue::new(ok, s.clone()).is_ok(), "{ok}");
        }
        let long = "x".repeat(128);
        for bad in ["", "a b", "a/b", "a#b", "a?b", "a%2fb", "z\u{1b}[1m", &long] {
            assert!(Queue::new(bad, s.clone()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn zpl_goes_raw_and_pdf_as_pdf() {
        assert_eq!(document_format("zpl"), "application/vnd.cups-raw");
        assert_eq!(document_format("pdf"), "application/pdf");
    }

    #[test]
    fn a_reply_yields_its_job_id_and_status_message() {
        // A Print-Job reply as CUPS 2.4 sends it (operation + job attribute groups).
        let mut resp = ipp::request::IppRequestResponse::new_response(
            IppVersion::v1_1(),
            StatusCode::ServerErrorNotAcceptingJobs,
            1,
        )
        .unwrap();
        resp.attributes_mut().add(
            ipp::model::DelimiterTag::OperationAttributes,
            ipp::attribute::IppAttribute::with_name(
                "status-message",
                ipp::value::IppValue::new_text_without_language(
                    "Destination \"z\" is not accepting jobs.",
                )
                .unwrap(),
            )
            .unwrap(),
        );
        resp.attributes_mut().add(
            ipp::model::DelimiterTag::JobAttributes,
            ipp::attribute::IppAttribute::with_name("job-id", ipp::value::IppValue::Integer(42))
                .unwrap(),
        );
        let back = parse(&resp.to_bytes());
        assert_eq!(
            back.header().status_code(),
            StatusCode::ServerErrorNotAcceptingJobs
        );
        assert_eq!(job_id(&back), Some(42));
        assert_eq!(
            status_message(&back).as_deref(),
            Some("Destination \"z\" is not accepting jobs.")
        );
    }
}
