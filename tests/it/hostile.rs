//! `fulfill fetch` against a hostile server on 127.0.0.1 (issue 9, part 7): a redirect to
//! another port, an endless body, 20,000 nested elements, orders whose ids are a path or carry
//! an escape sequence, items with a bad id, and remote text meant to drive the terminal. Each
//! runs the real binary in a sandbox home whose credentials point at the server, and checks the
//! one-line error, the exit code, what was stored and what was printed.

use crate::support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use rusqlite::Connection;
use support::{Run, TestDir, count, run, scan_dir};

/// A request as the hostile server saw it.
struct Req {
    body: String,
}

type Handler = dyn Fn(&Req, &mut TcpStream) + Send + Sync;

/// A tiny HTTP/1.1 server: one request per connection, the handler writes the raw reply.
struct Server {
    port: u16,
    /// Requests received.
    hits: Arc<AtomicUsize>,
}

impl Server {
    fn start(handler: impl Fn(&Req, &mut TcpStream) + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        let h = hits.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let handler = handler.clone();
                let hits = h.clone();
                std::thread::spawn(move || {
                    if let Some(req) = read_request(&mut conn) {
                        hits.fetch_add(1, Ordering::SeqCst);
                        handler(&req, &mut conn);
                    }
                    let _ = conn.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Server { port, hits }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Reads one request: the head (parsed by httparse) and a `Content-Length` body.
fn read_request(conn: &mut TcpStream) -> Option<Req> {
    let mut r = BufReader::new(conn.try_clone().ok()?);
    let mut head = Vec::new();
    loop {
        let n = r.read_until(b'\n', &mut head).ok()?;
        if n == 0 {
            return None;
        }
        if head.ends_with(b"\r\n\r\n") {
            break;
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    parsed.parse(&head).ok()?;
    let len = parsed
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Req {
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn reply(conn: &mut TcpStream, status: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(body);
}

/// A sandbox home whose MWS endpoint is `endpoint`; owner `olga`, key-file fetcher `cron`.
struct Home {
    dir: TestDir,
    pass: PathBuf,
    key: PathBuf,
}

impl Home {
    fn new(endpoint: &str) -> Home {
        let dir = TestDir::new();
        let pass = dir.init(true);
        let key = dir.path().join("cron.key");
        let home = Home { dir, pass, key };
        let sk = home.dir.secret_file("mws.secret", "hostile-test-secret");
        home.owner(&[
            "credentials",
            "set",
            "--api",
            "mws",
            "--seller-id",
            "A1EXAMPLE0TEST",
            "--access-key-id",
            "AKIAEXAMPLEHOSTILE",
            "--secret-key-file",
            sk.to_str().unwrap(),
            "--marketplace",
            "ATVPDKIKX0DER",
            "--endpoint",
            endpoint,
            "--time-scale",
            "2000",
        ]);
        let key = home.key.to_str().unwrap().to_owned();
        home.owner(&[
            "operator",
            "add",
            "cron",
            "--role",
            "fetcher",
            "--key-file",
            &key,
        ]);
        home
    }

    fn owner(&self, args: &[&str]) -> Run {
        let r = run(self.dir.as_op("olga", &self.pass).args(args));
        assert_eq!(r.code, 0, "fulfill {args:?}: {}{}", r.stdout, r.stderr);
        r
    }

    fn fetch(&self) -> Run {
        run(self.dir.fulfill().args([
            "--operator",
            "cron",
            "--operator-key-file",
            self.key.to_str().unwrap(),
            "fetch",
        ]))
    }

    fn db(&self) -> Connection {
        Connection::open(self.dir.home().join("vault.db")).unwrap()
    }

    fn order_ids(&self) -> Vec<String> {
        let db = self.db();
        let mut st = db
            .prepare("SELECT amazon_order_id FROM orders ORDER BY amazon_order_id")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn watermark(&self) -> Option<String> {
        crate::fetch_support::stored_watermark(&self.db())
    }
}

/// The error line: exactly one line, no control or bidi character.
fn one_clean_line(r: &Run) -> &str {
    let line = r.stderr.trim_end();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        !line.chars().any(fulfill::term::is_unsafe),
        "unsafe character in {line:?}"
    );
    line
}

#[test]
fn a_redirect_to_another_port_is_not_followed() {
    let target = Server::start(|_, c| reply(c, "200 OK", b"<ListOrdersResponse/>"));
    let location = format!("{}/Orders/2013-09-01", target.url());
    let hostile = Server::start(move |_, c| {
        let head = format!(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let _ = c.write_all(head.as_bytes());
    });
    let home = Home::new(&hostile.url());
    let r = home.fetch();
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    let line = one_clean_line(&r);
    assert!(line.contains("redirect (HTTP 307)"), "{line}");
    assert_eq!(hostile.hits(), 1, "a redirect is not retried either");
    assert_eq!(
        target.hits(),
        0,
        "the signed request reached the redirect target"
    );
    assert!(home.order_ids().is_empty() && home.watermark().is_none());
    // Positive control: the target does count a request that reaches it.
    let mut c = TcpStream::connect(("127.0.0.1", target.port)).unwrap();
    c.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let mut sink = Vec::new();
    let _ = c.read_to_end(&mut sink);
    assert_eq!(target.hits(), 1);
}

#[test]
fn an_endless_reply_is_cut_at_the_cap_and_nothing_is_stored() {
    let sent = Arc::new(AtomicU64::new(0));
    let s = sent.clone();
    let hostile = Server::start(move |_, c| {
        // No Content-Length: the body ends when the connection does, and it never does
        // (a bound keeps a broken client from filling the disk or the memory of the machine).
        let _ = c.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nConnection: close\r\n\r\n\
              <ListOrdersResponse><ListOrdersResult><NextToken>",
        );
        let chunk = vec![b'A'; 64 * 1024];
        while s.load(Ordering::SeqCst) < 256 << 20 {
            if c.write_all(&chunk).is_err() {
                return;
            }
            s.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        }
    });
    let home = Home::new(&hostile.url());
    let r = home.fetch();
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    let line = one_clean_line(&r);
    assert!(line.contains("larger than 16 MiB"), "{line}");
    assert!(line.contains("nothing from it was stored"), "{line}");
    assert_eq!(
        hostile.hits(),
        1,
        "an over-size reply is not asked for again"
    );
    let sent = sent.load(Ordering::SeqCst);
    assert!(
        (16 << 20..64 << 20).contains(&sent),
        "sent {sent} bytes before the client stopped reading"
    );
    assert!(home.order_ids().is_empty() && home.watermark().is_none());
}

#[test]
fn twenty_thousand_nested_elements_are_malformed_not_a_crash() {
    let depth = 20_000;
    let mut body = b"<ListOrdersResponse><ListOrdersResult><Orders><Order>".to_vec();
    body.extend(b"<a>".repeat(depth));
    body.extend(b"</a>".repeat(depth));
    body.extend(b"</Order></Orders></ListOrdersResult></ListOrdersResponse>");
    let hostile = Server::start(move |_, c| reply(c, "200 OK", &body));
    let home = Home::new(&hostile.url());
    let r = home.fetch();
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    let line = one_clean_line(&r);
    assert!(line.contains("nested deeper than 64"), "{line}");
    assert!(line.contains("malformed"), "{line}");
    assert!(home.order_ids().is_empty() && home.watermark().is_none());
}

const GOOD: &str = "111-2393723-1586760";
const GOOD_BAD_ITEMS: &str = "111-2393723-1586762";
const GOOD_OTHER_ITEMS: &str = "111-2393723-1586763";
const HOSTILE_SKU: &str = "SKU-\u{1b}[2J\u{1b}]0;pwned\u{7}-\u{202e}lave";

fn order_xml(id: &str) -> String {
    format!(
        "<Order><AmazonOrderId>{id}</AmazonOrderId>\
         <PurchaseDate>2026-03-01T08:00:00Z</PurchaseDate>\
         <LastUpdateDate>2026-03-01T08:30:00Z</LastUpdateDate>\
         <OrderStatus>Unshipped</OrderStatus><FulfillmentChannel>MFN</FulfillmentChannel>\
         <ShipServiceLevel>Std\u{1b}[31m</ShipServiceLevel>\
         <LatestShipDate>2026-03-03T08:00:00Z</LatestShipDate>\
         <ShippingAddress><Name>Hostile Test Buyer</Name><AddressLine1>1 Main St</AddressLine1>\
         <City>Springfield</City><PostalCode>12345</PostalCode><CountryCode>US</CountryCode>\
         </ShippingAddress></Order>"
    )
}

fn items_xml(order: &str, item_id: &str) -> String {
    format!(
        "<ListOrderItemsResponse><ListOrderItemsResult><AmazonOrderId>{order}</AmazonOrderId>\
         <OrderItems><OrderItem><ASIN>B000000001</ASIN><SellerSKU>{HOSTILE_SKU}</SellerSKU>\
         <OrderItemId>{item_id}</OrderItemId><Title>Title \u{1b}[2J\u{202e}</Title>\
         <QuantityOrdered>1</QuantityOrdered></OrderItem></OrderItems></ListOrderItemsResult>\
         <ResponseMetadata><RequestId>88faca76-b600-46d2-b53c-0c8c4533e43a</RequestId>\
         </ResponseMetadata></ListOrderItemsResponse>"
    )
}

#[test]
fn orders_with_hostile_ids_are_refused_alone_and_remote_text_never_reaches_the_terminal() {
    let hostile = Server::start(|req, c| {
        let b = &req.body;
        let body = if b.contains("Action=ListOrderItems") {
            if b.contains(&format!("AmazonOrderId={GOOD}")) {
                items_xml(GOOD, "68828574383266")
            } else if b.contains(&format!("AmazonOrderId={GOOD_OTHER_ITEMS}")) {
                // Items of another order, to be stored under this one.
                items_xml(GOOD, "12345678901234")
            } else {
                items_xml(GOOD_BAD_ITEMS, "../../etc/shadow")
            }
        } else {
            format!(
                "<ListOrdersResponse><ListOrdersResult><Orders>{}{}{}{}{}</Orders>\
                 <LastUpdatedBefore>2026-03-01T09:00:00Z</LastUpdatedBefore></ListOrdersResult>\
                 <ResponseMetadata><RequestId>88faca76-b600-46d2-b53c-0c8c4533e43a</RequestId>\
                 </ResponseMetadata></ListOrdersResponse>",
                order_xml(GOOD),
                order_xml("../../etc/passwd"),
                order_xml("111-2393723-1586761\u{1b}[2J"),
                order_xml(GOOD_BAD_ITEMS),
                order_xml(GOOD_OTHER_ITEMS),
            )
        };
        reply(c, "200 OK", body.as_bytes());
    });
    let home = Home::new(&hostile.url());
    let r = home.fetch();
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let line = one_clean_line(&r);
    assert!(
        line.contains("2 order(s) were refused and not stored")
            && line.contains("not in Amazon's format"),
        "{line}"
    );
    assert!(
        line.contains("the items of 2 order(s) could not be fetched"),
        "{line}"
    );
    assert!(line.contains("OrderItemId"), "{line}");

    // The good orders are stored, the bad ones are not; the good one has its items.
    assert_eq!(home.order_ids(), [GOOD, GOOD_BAD_ITEMS, GOOD_OTHER_ITEMS]);
    assert!(home.watermark().is_some());
    let db = home.db();
    let items: Vec<(String, String, i64)> = db
        .prepare(
            "SELECT i.amazon_order_id, i.order_item_id, o.items_fetched FROM order_items i
             JOIN orders o USING (amazon_order_id)",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(items, [(GOOD.to_string(), "68828574383266".to_string(), 1)]);
    for id in [GOOD_BAD_ITEMS, GOOD_OTHER_ITEMS] {
        let fetched: i64 = db
            .query_row(
                "SELECT items_fetched FROM orders WHERE amazon_order_id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(fetched, 0, "{id}: asked again on the next run");
    }
    drop(db);

    // No bad id anywhere in the home, in a file's bytes or its name. Positive control: the
    // good id is found the same way.
    let home_dir = home.dir.home();
    for bad in [&b"etc/passwd"[..], b"etc/shadow", b"1586761\x1b"] {
        assert_eq!(
            scan_dir(&home_dir, bad),
            vec![],
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    assert!(!scan_dir(&home_dir, GOOD.as_bytes()).is_empty());
    let mut names = Vec::new();
    let mut stack = vec![home_dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            names.push(e.file_name().to_string_lossy().into_owned());
            if e.path().is_dir() {
                stack.push(e.path());
            }
        }
    }
    assert!(names.iter().any(|n| n == "vault.db"), "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| !n.contains("passwd") && !n.contains("1586761") && !n.contains('\u{1b}')),
        "{names:?}"
    );

    // `orders` prints the hostile SKU and service level sanitised: no escape, no bidi override.
    let r = home.owner(&["orders"]);
    assert!(r.stdout.contains(GOOD), "{}", r.stdout);
    assert!(!r.stdout.contains("passwd"));
    assert!(
        !r.stdout
            .chars()
            .any(|c| fulfill::term::is_unsafe(c) && c != '\n'),
        "{:?}",
        r.stdout
    );
    // Positive control: the hostile text was there and was printed, replaced.
    assert!(r.stdout.contains("SKU-\u{FFFD}[2J"), "{}", r.stdout);
    assert_eq!(count(r.stdout.as_bytes(), b"\x1b"), 0);
    // `--json` escapes the same characters and decodes back to what is stored.
    let r = home.owner(&["orders", "--json"]);
    assert!(
        !r.stdout
            .chars()
            .any(|c| fulfill::term::is_unsafe(c) && c != '\n'),
        "{:?}",
        r.stdout
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let sku = v
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["order_id"] == GOOD)
        .and_then(|o| o["items"][0]["sku"].as_str())
        .unwrap()
        .to_owned();
    assert_eq!(sku, HOSTILE_SKU);
}
