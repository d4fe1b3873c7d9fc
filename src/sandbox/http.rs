//! The sandbox's HTTP/1.1 transport on `std::net`, one request per connection.
//!
//! Why not tiny_http: the `reset` and `truncate` faults need to close a connection in the middle
//! of a reply, and tiny_http keeps every connection open for the next request with no way to
//! close it from the handler, so a client would wait for the missing bytes until its timeout.
//! So the sandbox owns the socket: request heads are parsed by `httparse` (hyper's parser),
//! and replies are written with `Connection: close`. Bodies need a `Content-Length` (clients
//! send one; chunked gets 411). This is a test and training server on loopback only; the
//! client side uses reqwest.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Largest request head and body the sandbox reads.
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 64 * 1024 * 1024;

/// A request as received.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target: path and optional `?query`.
    pub target: String,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// A header's value (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path part of the target.
    pub fn path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(self.target.as_str(), |(p, _)| p)
    }

    /// The query string (without `?`), or "".
    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }
}

/// How a reply reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delivery {
    /// Normally.
    #[default]
    Normal,
    /// After this delay.
    Slow(Duration),
    /// Not at all: the connection is closed.
    Reset,
    /// Head and half of the body, then the connection is closed.
    Truncate,
    /// Head at once, then the body one byte per this interval (a reply that never ends in
    /// practice: the client must cut it).
    Trickle(Duration),
}

/// A reply.
#[derive(Debug, Clone, Default)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers besides `Content-Length` and `Connection`.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// How to deliver it.
    pub delivery: Delivery,
}

impl HttpResponse {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        411 => "Length Required",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Serves on `listener` until `stop` is set, calling `handle` for each request on its own thread.
pub fn serve<H>(listener: TcpListener, stop: Arc<AtomicBool>, handle: H) -> JoinHandle<()>
where
    H: Fn(HttpRequest) -> HttpResponse + Send + Sync + 'static,
{
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let Ok(stream) = conn else { continue };
            let handle = Arc::clone(&handle);
            std::thread::spawn(move || connection(stream, &*handle));
        }
    })
}

/// Wakes a blocked `accept` so the server thread sees its stop flag.
pub fn wake(addr: SocketAddr) {
    let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
}

fn connection(stream: TcpStream, handle: &(dyn Fn(HttpRequest) -> HttpResponse + Send + Sync)) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let resp = match read_request(&mut BufReader::new(&stream), &mut writer) {
        Ok(Some(req)) => handle(req),
        Ok(None) => return, // closed before a request (e.g. the stop wake-up)
        Err(status) => HttpResponse {
            status,
            ..Default::default()
        },
    };
    let _ = write_response(&mut writer, &resp);
    let _ = writer.shutdown(Shutdown::Both);
}

fn read_request(r: &mut impl BufRead, w: &mut TcpStream) -> Result<Option<HttpRequest>, u16> {
    // Read the head (up to the blank line), bounded.
    let mut head = Vec::new();
    loop {
        let n = r
            .by_ref()
            .take((MAX_HEAD - head.len()) as u64)
            .read_until(b'\n', &mut head)
            .map_err(|_| 400u16)?;
        if n == 0 {
            return if head.iter().all(u8::is_ascii_whitespace) {
                Ok(None)
            } else {
                Err(400)
            };
        }
        if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
            if head.iter().all(u8::is_ascii_whitespace) {
                head.clear(); // blank lines before a request are allowed
                continue;
            }
            break;
        }
        if head.len() >= MAX_HEAD {
            return Err(413);
        }
    }
    let mut slots = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut slots);
    match parsed.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) | Err(_) => return Err(400),
    }
    let (Some(method), Some(target)) = (parsed.method, parsed.path) else {
        return Err(400);
    };
    let mut req = HttpRequest {
        method: method.to_owned(),
        target: target.to_owned(),
        ..Default::default()
    };
    for h in parsed.headers.iter() {
        let v = std::str::from_utf8(h.value).map_err(|_| 400u16)?;
        req.headers.push((h.name.to_owned(), v.trim().to_owned()));
    }
    if req
        .header("Transfer-Encoding")
        .is_some_and(|t| !t.eq_ignore_ascii_case("identity"))
    {
        return Err(411);
    }
    let len: usize = match req.header("Content-Length") {
        Some(v) => v.parse().map_err(|_| 400u16)?,
        None => 0,
    };
    if len > MAX_BODY {
        return Err(413);
    }
    if len > 0
        && req
            .header("Expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .map_err(|_| 400u16)?;
    }
    req.body = vec![0; len];
    r.read_exact(&mut req.body).map_err(|_| 400u16)?;
    Ok(Some(req))
}

fn write_response(w: &mut TcpStream, resp: &HttpResponse) -> std::io::Result<()> {
    match resp.delivery {
        Delivery::Reset => return Ok(()),
        Delivery::Slow(d) => std::thread::sleep(d),
        Delivery::Normal | Delivery::Truncate | Delivery::Trickle(_) => {}
    }
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        resp.body.len()
    ));
    w.write_all(head.as_bytes())?;
    if let Delivery::Trickle(every) = resp.delivery {
        w.flush()?;
        // Stops when the client hangs up (the write fails).
        for b in &resp.body {
            std::thread::sleep(every);
            w.write_all(std::slice::from_ref(b))?;
            w.flush()?;
        }
        return Ok(());
    }
    let body = match resp.delivery {
        Delivery::Truncate => &resp.body[..resp.body.len() / 2],
        _ => &resp.body[..],
    };
    w.write_all(body)?;
    w.flush()
}
