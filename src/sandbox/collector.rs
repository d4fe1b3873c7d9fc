//! A syslog collector on loopback: what a remote anchor (`anchor.remote`) sends to, for the
//! demo and the tests. It takes RFC 5424 messages framed by octet counting (RFC 6587 3.4.1),
//! over plain TCP or TLS (RFC 5425) when given a server configuration, one connection at a
//! time, and keeps each message; [`Collector::export`] writes what it holds as the lines an
//! `audit --anchors` export would have.
//!
//! Connections are served in the order they were made, so a message sent before
//! [`Collector::export`] is called is in the export: the export sends its own marker and waits
//! for it (no timing involved).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::error::{Error, Result};

/// The longest message taken (a head is about 150 bytes).
const MAX_MESSAGE: usize = 8 << 10;

/// How long one connection may stall before it is dropped.
const IDLE: Duration = Duration::from_secs(5);

/// A running collector; it stops with the process.
pub struct Collector {
    addr: SocketAddr,
    tls: Option<Arc<rustls::ClientConfig>>,
    state: Arc<(Mutex<State>, Condvar)>,
}

#[derive(Default)]
struct State {
    messages: Vec<String>,
    connections: u64,
    markers_seen: u64,
    markers_sent: u64,
}

const MARKER: &str = "fulfill-collector-marker";

impl Collector {
    /// Starts a plain TCP collector on a free loopback port.
    pub fn start() -> Result<Collector> {
        Self::start_with(None, None)
    }

    /// Starts a TLS collector with `server` (its certificate) on a free loopback port;
    /// `client` is a configuration that trusts it, used for [`Collector::export`]'s marker.
    pub fn start_tls(
        server: Arc<rustls::ServerConfig>,
        client: Arc<rustls::ClientConfig>,
    ) -> Result<Collector> {
        Self::start_with(Some(server), Some(client))
    }

    fn start_with(
        server: Option<Arc<rustls::ServerConfig>>,
        client: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Collector> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| Error::Failed(format!("cannot start the syslog collector: {e}")))?;
        let addr = listener.local_addr()?;
        let state: Arc<(Mutex<State>, Condvar)> = Arc::default();
        let shared = state.clone();
        std::thread::Builder::new()
            .name("syslog-collector".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    let Ok(tcp) = conn else { continue };
                    let _ = tcp.set_read_timeout(Some(IDLE));
                    let got = match &server {
                        None => read_frames(BufReader::new(tcp)),
                        Some(cfg) => match rustls::ServerConnection::new(cfg.clone()) {
                            Ok(c) => read_frames(BufReader::new(rustls::StreamOwned::new(c, tcp))),
                            Err(_) => Vec::new(),
                        },
                    };
                    let (lock, cv) = &*shared;
                    let mut st = lock.lock().unwrap_or_else(|p| p.into_inner());
                    st.connections += 1;
                    for m in got {
                        if m.ends_with(MARKER) {
                            st.markers_seen += 1;
                        } else {
                            st.messages.push(m);
                        }
                    }
                    cv.notify_all();
                }
            })?;
        Ok(Collector {
            addr,
            tls: client,
            state,
        })
    }

    /// `tcp://127.0.0.1:PORT` or `tls://localhost:PORT`: what `anchor.remote` is set to.
    pub fn url(&self) -> String {
        match self.tls {
            None => format!("tcp://{}", self.addr),
            Some(_) => format!("tls://localhost:{}", self.addr.port()),
        }
    }

    /// Every message received so far (after the ones sent before this call).
    pub fn messages(&self) -> Result<Vec<String>> {
        self.sync()?;
        let st = self.state.0.lock().unwrap_or_else(|p| p.into_inner());
        Ok(st.messages.clone())
    }

    /// How many connections were made to it so far (its own markers left out), whether or
    /// not a message came through (a TLS handshake that failed counts).
    pub fn connections(&self) -> Result<u64> {
        self.sync()?;
        let st = self.state.0.lock().unwrap_or_else(|p| p.into_inner());
        Ok(st.connections - st.markers_sent)
    }

    /// Writes every message received so far to `path` (new, 0600), one per line.
    pub fn export(&self, path: &Path) -> Result<()> {
        let mut text = self.messages()?.join("\n");
        text.push('\n');
        crate::home::create_new_private(path, text.as_bytes())
    }

    /// Sends a marker on a new connection and waits until the collector has read it: every
    /// connection made before is then read too.
    fn sync(&self) -> Result<()> {
        let want = {
            let mut st = self.state.0.lock().unwrap_or_else(|p| p.into_inner());
            st.markers_sent += 1;
            st.markers_sent
        };
        let line = format!("<86>1 - - fulfill - - - {MARKER}");
        let frame = format!("{} {line}", line.len());
        let tcp = TcpStream::connect(self.addr)?;
        match &self.tls {
            None => {
                let mut tcp = tcp;
                tcp.write_all(frame.as_bytes())?;
            }
            Some(cfg) => {
                let name = rustls::pki_types::ServerName::try_from("localhost")
                    .map_err(|e| Error::Failed(e.to_string()))?;
                let conn = rustls::ClientConnection::new(cfg.clone(), name)
                    .map_err(|e| Error::Failed(e.to_string()))?;
                let mut s = rustls::StreamOwned::new(conn, tcp);
                s.write_all(frame.as_bytes())?;
                s.conn.send_close_notify();
                s.flush()?;
            }
        }
        let (lock, cv) = &*self.state;
        let mut st = lock.lock().unwrap_or_else(|p| p.into_inner());
        while st.markers_seen < want {
            let (next, timeout) = cv
                .wait_timeout(st, Duration::from_secs(30))
                .unwrap_or_else(|p| p.into_inner());
            st = next;
            if timeout.timed_out() && st.markers_seen < want {
                return Err(Error::Failed(
                    "the syslog collector did not read its marker".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Reads `LEN SP MSG` frames until the peer closes, stalls or breaks the framing.
fn read_frames(mut r: impl BufRead) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let mut len = Vec::new();
        let Ok(n) = (&mut r).take(8).read_until(b' ', &mut len) else {
            return out;
        };
        if n == 0 || len.pop() != Some(b' ') {
            return out;
        }
        let Some(len) = std::str::from_utf8(&len)
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|&n| n <= MAX_MESSAGE)
        else {
            return out;
        };
        let mut msg = vec![0; len];
        if r.read_exact(&mut msg).is_err() {
            return out;
        }
        match String::from_utf8(msg) {
            Ok(m) => out.push(m),
            Err(_) => return out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_read_until_the_framing_breaks() {
        let got = read_frames(&b"5 hello3 abc"[..]);
        assert_eq!(got, vec!["hello", "abc"]);
        assert_eq!(read_frames(&b"2 ok99999999 x"[..]), vec!["ok"]);
        assert_eq!(read_frames(&b"x hello"[..]), Vec::<String>::new());
        assert_eq!(read_frames(&b"9 short"[..]), Vec::<String>::new());
    }

    #[test]
    fn a_message_sent_before_export_is_in_it() {
        let c = Collector::start().unwrap();
        let frame =
            crate::audit::anchor::rfc5424_frame("audit-head vault=v seq=1", chrono::Utc::now());
        let mut s = TcpStream::connect(c.addr).unwrap();
        s.write_all(frame.as_bytes()).unwrap();
        drop(s);
        let got = c.messages().unwrap();
        assert_eq!(got.len(), 1);
        assert!(got[0].ends_with("audit-head vault=v seq=1"));
    }
}
