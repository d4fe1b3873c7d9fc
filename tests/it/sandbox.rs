//! The sandbox through its public API, over real HTTP, and as the `fulfill sandbox` binary.
//! Time moves with a ManualClock; nothing sleeps.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use fulfill::clock::{Clock, ManualClock, parse_time};
use fulfill::mws::model::{FulfillmentFeed, FulfillmentItem, FulfillmentMessage, Order};
use fulfill::mws::xml::{self, XmlError};
use fulfill::mws::{FULFILLMENT_FEED_TYPE, ORDERS_PATH, sign};
use fulfill::sandbox::api::signed_request;
use fulfill::sandbox::{FaultKind, FaultSpec, HttpResponse, Sandbox, SandboxConfig, SandboxHandle};

struct Env {
    clock: Arc<ManualClock>,
    sb: SandboxHandle,
}

fn t0() -> DateTime<Utc> {
    parse_time("2026-03-02T09:00:00Z").unwrap()
}

fn env_with(orders: usize, seed: u64, faults: &str) -> Env {
    let clock = Arc::new(ManualClock::new(t0()));
    let mut cfg = SandboxConfig::new(clock.clone());
    cfg.orders = orders;
    cfg.seed = seed;
    cfg.faults = FaultSpec::parse(faults).unwrap();
    Env {
        clock,
        sb: Sandbox::start(cfg).unwrap(),
    }
}

fn env() -> Env {
    env_with(120, 7, "")
}

type Resp = (u16, HashMap<String, String>, Vec<u8>);
type Edit = dyn Fn(&mut Vec<(String, String)>);

impl Env {
    fn host(&self) -> String {
        self.sb.addr().to_string()
    }

    fn orders_params(&self, action: &str) -> Vec<(String, String)> {
        let c = self.sb.credentials();
        vec![
            ("Action".into(), action.into()),
            ("SellerId".into(), c.seller_id),
            ("Version".into(), "2013-09-01".into()),
        ]
    }

    fn list_orders_params(&self) -> Vec<(String, String)> {
        let mut p = self.orders_params("ListOrders");
        p.push((
            "MarketplaceId.Id.1".into(),
            self.sb.credentials().marketplace_id,
        ));
        p.push((
            "CreatedAfter".into(),
            sign::timestamp(t0() - Duration::days(10)),
        ));
        p
    }

    /// In-process call, signed at the sandbox's current time.
    fn call(&self, path: &str, params: &[(String, String)]) -> HttpResponse {
        let p: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let req = signed_request(
            &self.sb.credentials(),
            "POST",
            &self.host(),
            path,
            &p,
            self.clock.now(),
            true,
            None,
        );
        self.sb.call(&req)
    }

    /// Over HTTP with reqwest; `in_body` picks form body vs query string.
    fn send(
        &self,
        method: &str,
        path: &str,
        params: &[(String, String)],
        in_body: bool,
        body: Option<(&str, Vec<u8>)>,
    ) -> reqwest::Result<Resp> {
        let p: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let req = signed_request(
            &self.sb.credentials(),
            method,
            &self.host(),
            path,
            &p,
            self.clock.now(),
            in_body,
            body,
        );
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::blocking::Client::builder()
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .unwrap();
        let url = format!("{}{}", self.sb.base_url(), req.target);
        let mut rb = client
            .request(method.parse().unwrap(), url)
            .body(req.body.clone());
        for (k, v) in &req.headers {
            if k != "Host" {
                rb = rb.header(k, v);
            }
        }
        let r = rb.send()?;
        let status = r.status().as_u16();
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        let bytes = r.bytes()?.to_vec();
        Ok((status, headers, bytes))
    }
}

fn code_of(body: &[u8]) -> String {
    xml::parse_error_response(body).unwrap().code
}

#[test]
fn seventh_rapid_list_orders_is_throttled_and_one_more_after_a_minute() {
    let e = env();
    let p = e.list_orders_params();
    for i in 0..6 {
        let r = e.call(ORDERS_PATH, &p);
        assert_eq!(
            r.status,
            200,
            "call {i}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let r = e.call(ORDERS_PATH, &p);
    assert_eq!(r.status, 503);
    assert_eq!(code_of(&r.body), "RequestThrottled");
    e.clock.advance(Duration::seconds(59));
    assert_eq!(e.call(ORDERS_PATH, &p).status, 503);
    e.clock.advance(Duration::seconds(1));
    assert_eq!(e.call(ORDERS_PATH, &p).status, 200);
    assert_eq!(e.call(ORDERS_PATH, &p).status, 503);
    // GetOrder has its own bucket.
    let mut g = e.orders_params("GetOrder");
    g.push(("AmazonOrderId.Id.1".into(), "111-0000000-0000000".into()));
    assert_eq!(e.call(ORDERS_PATH, &g).status, 200);
    let log = e.sb.requests();
    assert_eq!(log.len(), 11);
    assert_eq!(
        log.iter()
            .filter(|r| r.error_code.as_deref() == Some("RequestThrottled"))
            .count(),
        3
    );
}

fn same_order(a: &Order, b: &Order) {
    assert_eq!(a.info, b.info, "{}", a.info.amazon_order_id);
    assert!(a.pii == b.pii, "PII differs for {}", a.info.amazon_order_id);
}

#[test]
fn list_orders_pages_over_http_and_matches_ground_truth() {
    let e = env_with(250, 11, "");
    let truth = e.sb.orders();
    let mut p = e.list_orders_params();
    let mut seen: Vec<Order> = Vec::new();
    // First page as a form POST, later pages as GET with a query string.
    let (status, headers, body) = e.send("POST", ORDERS_PATH, &p, true, None).unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(headers.contains_key("x-mws-request-id"));
    let mut res = xml::parse_list_orders(&body[..], |o| {
        seen.push(o);
        Ok(())
    })
    .unwrap();
    assert_eq!(res.order_count, 100);
    assert!(res.created_before.is_some());
    while let Some(token) = res.next_token.clone() {
        p = e.orders_params("ListOrdersByNextToken");
        p.push(("NextToken".into(), token));
        let (status, _, body) = e.send("GET", ORDERS_PATH, &p, false, None).unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        res = xml::parse_list_orders(&body[..], |o| {
            seen.push(o);
            Ok(())
        })
        .unwrap();
    }
    let before =
        fulfill::mws::model::parse_mws_time(res.created_before.as_deref().unwrap()).unwrap();
    let expected: Vec<_> = truth
        .iter()
        .filter(|o| {
            fulfill::mws::model::parse_mws_time(&o.order.info.purchase_date).unwrap() < before
        })
        .collect();
    assert_eq!(seen.len(), expected.len());
    let by_id: HashMap<_, _> = truth
        .iter()
        .map(|o| (o.order.info.amazon_order_id.clone(), o))
        .collect();
    let mut with_pii = 0;
    for o in &seen {
        let t = &by_id[&o.info.amazon_order_id].order;
        if matches!(o.info.order_status.as_str(), "Pending" | "Canceled") {
            assert!(
                o.pii.is_empty() && o.info.order_total.is_none(),
                "{}",
                o.info.order_status
            );
            assert_eq!(o.info.amazon_order_id, t.info.amazon_order_id);
        } else {
            same_order(o, t);
            with_pii += 1;
        }
    }
    assert!(with_pii > 100);
    // Every PII value carries the marker; the data covers several scripts and awkward text.
    let marker = e.sb.pii_marker();
    let all: String = seen
        .iter()
        .flat_map(|o| {
            o.pii
                .fields()
                .into_iter()
                .map(|(_, v)| v.expose_pii().to_owned())
        })
        .collect::<Vec<_>>()
        .join("\n");
    for v in all.lines().filter(|l| !l.is_empty()) {
        assert!(v.contains(&marker), "unmarked PII value");
    }
    for needle in ["&", "<", "\"", "^", "~", "é", "Д", "Ζ", "山", "م"] {
        assert!(all.contains(needle), "no {needle:?} in generated PII");
    }
}

#[test]
fn item_lists_page_with_next_token() {
    let e = env_with(150, 5, "");
    let truth = e.sb.orders();
    let big = truth
        .iter()
        .find(|o| o.items.len() > 10)
        .expect("a multi-item order");
    let mut p = e.orders_params("ListOrderItems");
    p.push((
        "AmazonOrderId".into(),
        big.order.info.amazon_order_id.clone(),
    ));
    let r = e.call(ORDERS_PATH, &p);
    let mut page = xml::parse_list_order_items(&r.body[..]).unwrap();
    let mut items = std::mem::take(&mut page.items);
    while let Some(t) = page.next_token.clone() {
        let mut p = e.orders_params("ListOrderItemsByNextToken");
        p.push(("NextToken".into(), t));
        let r = e.call(ORDERS_PATH, &p);
        assert_eq!(r.status, 200);
        page = xml::parse_list_order_items(&r.body[..]).unwrap();
        items.append(&mut page.items);
    }
    assert_eq!(items.len(), big.items.len());
    let pending = big.order.info.order_status == "Pending";
    for (a, b) in items.iter().zip(&big.items) {
        assert_eq!(a.info.order_item_id, b.info.order_item_id);
        assert_eq!(a.info.quantity_ordered, b.info.quantity_ordered);
        assert!(a.gift_message_text == b.gift_message_text);
        if !pending {
            assert_eq!(a.info, b.info);
        }
    }
    // A ListOrders token is no ListOrderItems token; an unknown token is corrupted.
    let mut p = e.orders_params("ListOrderItemsByNextToken");
    p.push(("NextToken".into(), "bm90IGEgdG9rZW4=".into()));
    assert_eq!(code_of(&e.call(ORDERS_PATH, &p).body), "NextTokenCorrupted");
}

#[test]
fn checks_like_amazons() {
    let e = env();
    let good = e.list_orders_params();
    let host = e.host();
    let creds = e.sb.credentials();
    let p: Vec<(&str, &str)> = good.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    // Signed for another path, method or host than used.
    let mut req = signed_request(&creds, "POST", &host, "/", &p, e.clock.now(), true, None);
    req.target = ORDERS_PATH.into();
    let r = e.sb.call(&req);
    assert_eq!(
        (r.status, code_of(&r.body)),
        (403, "SignatureDoesNotMatch".into())
    );
    let mut req = signed_request(
        &creds,
        "GET",
        &host,
        ORDERS_PATH,
        &p,
        e.clock.now(),
        true,
        None,
    );
    req.method = "POST".into();
    assert_eq!(code_of(&e.sb.call(&req).body), "SignatureDoesNotMatch");
    let req = signed_request(
        &creds,
        "POST",
        "127.0.0.1",
        ORDERS_PATH,
        &p,
        e.clock.now(),
        true,
        None,
    );
    let mut req2 = req.clone();
    req2.headers[0].1 = host.clone();
    assert_eq!(code_of(&e.sb.call(&req2).body), "SignatureDoesNotMatch");

    // A signed form POST to Orders as `c` at time `t`.
    let post = |c: &fulfill::sandbox::Credentials, t| {
        e.sb.call(&signed_request(
            c,
            "POST",
            &host,
            ORDERS_PATH,
            &p,
            t,
            true,
            None,
        ))
    };
    // Wrong secret, unknown key, stale timestamp.
    let mut bad = creds.clone();
    bad.secret_key.push('x');
    let r = post(&bad, e.clock.now());
    assert_eq!(code_of(&r.body), "SignatureDoesNotMatch");
    let mut bad = creds.clone();
    bad.access_key_id = "AKIAUNKNOWN".into();
    let r = post(&bad, e.clock.now());
    assert_eq!(
        (r.status, code_of(&r.body)),
        (403, "InvalidAccessKeyId".into())
    );
    let r = post(&creds, e.clock.now() - Duration::minutes(16));
    assert_eq!((r.status, code_of(&r.body)), (400, "RequestExpired".into()));
    // Requests that reach the quota check use up the ListOrders bucket: let it refill.
    e.clock.advance(Duration::minutes(10));
    let r = e.sb.call(&signed_request(
        &creds,
        "POST",
        &host,
        ORDERS_PATH,
        &p,
        e.clock.now() + Duration::minutes(14),
        true,
        None,
    ));
    assert_eq!(r.status, 200);

    // Parameter rules.
    let cases: Vec<(Box<Edit>, &str)> = vec![
        (
            Box::new(|p| {
                p.push((
                    "LastUpdatedAfter".into(),
                    sign::timestamp(t0() - Duration::days(1)),
                ))
            }),
            "InvalidParameterValue",
        ),
        (
            Box::new(|p| p.retain(|(k, _)| k != "MarketplaceId.Id.1")),
            "MissingParameter",
        ),
        (
            Box::new(|p| p.push(("OrderStatus.Status.1".into(), "Unshipped".into()))),
            "InvalidParameterValue",
        ),
        (
            Box::new(|p| {
                p.retain(|(k, _)| k != "CreatedAfter");
                p.push((
                    "LastUpdatedAfter".into(),
                    sign::timestamp(t0() + Duration::hours(1)),
                ));
            }),
            "InvalidParameterValue",
        ),
        (
            Box::new(|p| p.retain(|(k, _)| k != "CreatedAfter")),
            "InvalidParameterValue",
        ),
    ];
    for (i, (edit, code)) in cases.iter().enumerate() {
        e.clock.advance(Duration::minutes(2));
        let mut p = e.list_orders_params();
        edit(&mut p);
        let r = e.call(ORDERS_PATH, &p);
        assert_eq!(
            (r.status, code_of(&r.body)),
            (400, code.to_string()),
            "case {i}"
        );
    }
    let mut p = e.list_orders_params();
    p.push(("OrderStatus.Status.1".into(), "Unshipped".into()));
    p.push(("OrderStatus.Status.2".into(), "PartiallyShipped".into()));
    e.clock.advance(Duration::minutes(2));
    assert_eq!(e.call(ORDERS_PATH, &p).status, 200);
    // A bad path is InvalidAddress; nothing panics on junk.
    let r = e.sb.call(&fulfill::sandbox::HttpRequest {
        method: "POST".into(),
        target: "/Sellers/?%zz".into(),
        ..Default::default()
    });
    assert_eq!((r.status, code_of(&r.body)), (404, "InvalidAddress".into()));
    let r = e.sb.call(&fulfill::sandbox::HttpRequest {
        method: "GET".into(),
        target: "/Orders/2013-09-01?a=%zz".into(),
        ..Default::default()
    });
    assert_eq!(r.status, 400);
}

#[test]
fn fulfillment_feed_is_validated_processed_and_ships_the_order() {
    let e = env_with(80, 3, "");
    let truth = e.sb.orders();
    let mfn = truth
        .iter()
        .find(|o| {
            o.order.info.order_status == "Unshipped"
                && o.order.info.fulfillment_channel.as_deref() == Some("MFN")
                && o.items.len() >= 2
        })
        .expect("an unshipped MFN order");
    let afn = truth
        .iter()
        .find(|o| o.order.info.fulfillment_channel.as_deref() == Some("AFN"))
        .unwrap();
    let id = mfn.order.info.amazon_order_id.clone();
    let msg = |n: u64, order: &str, items: Vec<FulfillmentItem>| FulfillmentMessage {
        message_id: n,
        amazon_order_id: Some(order.into()),
        fulfillment_date: sign::timestamp(t0()),
        carrier_name: Some("Bob's \"Fast\" & <Cheap>".into()),
        shipper_tracking_number: Some("TRK1".into()),
        items,
        ..Default::default()
    };
    let items = mfn
        .items
        .iter()
        .map(|it| FulfillmentItem {
            amazon_order_item_code: Some(it.info.order_item_id.clone()),
            quantity: Some(it.info.quantity_ordered - it.info.quantity_shipped.unwrap_or(0)),
            ..Default::default()
        })
        .filter(|i| i.quantity != Some(0))
        .collect();
    let mut no_tracking = msg(4, &id, Vec::new());
    no_tracking.shipper_tracking_number = None;
    let feed = FulfillmentFeed {
        merchant_identifier: e.sb.credentials().seller_id,
        messages: vec![
            msg(1, &id, items),
            msg(2, &afn.order.info.amazon_order_id, Vec::new()),
            msg(3, "999-0000000-0000000", Vec::new()),
            no_tracking,
        ],
    };
    let body = xml::write_fulfillment_feed(&feed);
    let md5 = sign::content_md5(&body);
    let mut p = vec![
        ("Action".to_owned(), "SubmitFeed".to_owned()),
        ("Merchant".into(), e.sb.credentials().seller_id),
        ("Version".into(), "2009-01-01".into()),
        ("FeedType".into(), FULFILLMENT_FEED_TYPE.into()),
        (
            "MarketplaceIdList.Id.1".into(),
            e.sb.credentials().marketplace_id,
        ),
        ("ContentMD5Value".into(), sign::content_md5(b"other")),
    ];
    let (status, _, resp) = e
        .send("POST", "/", &p, false, Some(("text/xml", body.clone())))
        .unwrap();
    assert_eq!(
        (status, code_of(&resp)),
        (400, "ContentMD5DoesNotMatch".into())
    );
    p.pop();
    p.push(("ContentMD5Value".into(), md5));
    let (status, _, resp) = e
        .send(
            "POST",
            "/Feeds/2009-01-01",
            &p,
            false,
            Some(("text/xml", body.clone())),
        )
        .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
    let sub = xml::parse_submit_feed(&resp[..]).unwrap();
    assert_eq!(sub.info.feed_processing_status, "_SUBMITTED_");
    let fid = sub.info.feed_submission_id.clone();

    let list = |e: &Env| {
        let mut p = vec![
            ("Action".to_owned(), "GetFeedSubmissionList".to_owned()),
            ("Merchant".into(), e.sb.credentials().seller_id),
            ("Version".into(), "2009-01-01".into()),
            ("FeedSubmissionIdList.Id.1".into(), fid.clone()),
        ];
        p.sort();
        let r = e.call("/", &p);
        xml::parse_feed_submission_list(&r.body[..])
            .unwrap()
            .submissions[0]
            .feed_processing_status
            .clone()
    };
    let result = |e: &Env| {
        let p = vec![
            ("Action".to_owned(), "GetFeedSubmissionResult".to_owned()),
            ("Merchant".into(), e.sb.credentials().seller_id),
            ("Version".into(), "2009-01-01".into()),
            ("FeedSubmissionId".into(), fid.clone()),
        ];
        e.call("/", &p)
    };
    assert_eq!(code_of(&result(&e).body), "FeedProcessingResultNotReady");
    e.clock.advance(Duration::seconds(45));
    assert_eq!(list(&e), "_IN_PROGRESS_");
    e.clock.advance(Duration::minutes(2));
    assert_eq!(list(&e), "_DONE_");
    let r = result(&e);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-MD5").unwrap(), sign::content_md5(&r.body));
    let report = xml::parse_feed_result(&r.body).unwrap();
    assert_eq!(
        (
            report.messages_processed,
            report.messages_successful,
            report.messages_with_error
        ),
        (4, 1, 3)
    );
    assert!(!report.message_failed(1));
    for n in [2, 3, 4] {
        assert!(report.message_failed(n), "message {n}");
    }
    // Ground truth and later ListOrders show the order shipped.
    let now = e.sb.orders();
    let shipped = now
        .iter()
        .find(|o| o.order.info.amazon_order_id == id)
        .unwrap();
    assert_eq!(shipped.order.info.order_status, "Shipped");
    let feeds = e.sb.feeds();
    assert_eq!(feeds.len(), 1);
    assert_eq!(feeds[0].body, body);
    let mut g = e.orders_params("GetOrder");
    g.push(("AmazonOrderId.Id.1".into(), id.clone()));
    let (orders, _) = xml::parse_orders_vec(&e.call(ORDERS_PATH, &g).body[..]).unwrap();
    assert_eq!(orders[0].info.order_status, "Shipped");
}

#[test]
fn time_brings_new_orders_and_status_changes() {
    let e = env_with(30, 9, "");
    let before = e.sb.orders();
    e.clock.advance(Duration::days(1));
    let after = e.sb.orders();
    assert!(
        after.len() > before.len() + 20,
        "{} -> {}",
        before.len(),
        after.len()
    );
    assert!(
        after[30..]
            .iter()
            .all(|o| o.order.info.order_status != "Pending"
                || o.order.info.fulfillment_channel.is_some())
    );
    let pending_then: Vec<_> = before
        .iter()
        .filter(|o| o.order.info.order_status == "Pending")
        .map(|o| o.order.info.amazon_order_id.clone())
        .collect();
    for id in pending_then {
        let o = after
            .iter()
            .find(|o| o.order.info.amazon_order_id == id)
            .unwrap();
        assert_ne!(o.order.info.order_status, "Pending");
    }
    // Same seed, same data.
    let again = env_with(30, 9, "");
    let ids = |v: &[fulfill::sandbox::SandboxOrder]| {
        v.iter()
            .map(|o| o.order.info.amazon_order_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&again.sb.orders()), ids(&before));
    assert_eq!(again.sb.credentials(), e.sb.credentials());
}

#[test]
fn each_fault_kind_is_what_it_says() {
    let e = env_with(
        250,
        4,
        "throttle@1,internal@2,malformed@3,corrupt-token@4,slow@6,delay=0.3,reset@7,truncate@8",
    );
    let p = e.list_orders_params();
    let (s, _, b) = e.send("POST", ORDERS_PATH, &p, true, None).unwrap();
    assert_eq!((s, code_of(&b)), (503, "RequestThrottled".into()));
    let (s, _, b) = e.send("POST", ORDERS_PATH, &p, true, None).unwrap();
    assert_eq!((s, code_of(&b)), (500, "InternalError".into()));
    let (s, _, b) = e.send("POST", ORDERS_PATH, &p, true, None).unwrap();
    assert_eq!(s, 200);
    assert!(matches!(
        xml::parse_orders_vec(&b[..]),
        Err(XmlError::Malformed(_))
    ));
    let (s, _, b) = e.send("POST", ORDERS_PATH, &p, true, None).unwrap();
    assert_eq!(s, 200);
    let (_, res) = xml::parse_orders_vec(&b[..]).unwrap();
    let mut t = e.orders_params("ListOrdersByNextToken");
    t.push(("NextToken".into(), res.next_token.unwrap()));
    let (s, _, b) = e.send("POST", ORDERS_PATH, &t, true, None).unwrap(); // request 5
    assert_eq!((s, code_of(&b)), (400, "NextTokenCorrupted".into()));
    e.clock.advance(Duration::minutes(10));
    let started = std::time::Instant::now();
    let (s, _, _) = e.send("POST", ORDERS_PATH, &p, true, None).unwrap();
    assert_eq!(s, 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    assert!(
        e.send("POST", ORDERS_PATH, &p, true, None).is_err(),
        "reset"
    );
    assert!(
        e.send("POST", ORDERS_PATH, &p, true, None).is_err(),
        "truncate"
    );
    assert_eq!(e.send("POST", ORDERS_PATH, &p, true, None).unwrap().0, 200);
    let faults: Vec<_> = e.sb.requests().iter().map(|r| r.fault).collect();
    assert_eq!(
        faults,
        vec![
            Some(FaultKind::Throttle),
            Some(FaultKind::Internal),
            Some(FaultKind::Malformed),
            Some(FaultKind::CorruptToken),
            None,
            Some(FaultKind::Slow),
            Some(FaultKind::Reset),
            Some(FaultKind::Truncate),
            None
        ]
    );

    // Clock skew: the server is 20 minutes ahead, so a correct timestamp is expired.
    e.sb.set_faults(FaultSpec::parse("skew=1200").unwrap(), 4);
    let r = e.call(ORDERS_PATH, &p);
    assert_eq!(code_of(&r.body), "RequestExpired");
    let ts = r.header("x-mws-timestamp").unwrap();
    assert_eq!(
        fulfill::mws::model::parse_mws_time(ts).unwrap(),
        e.clock.now() + Duration::minutes(20)
    );

    // Rate faults repeat for a seed.
    let run = |seed| {
        let e = env_with(5, 1, "");
        e.sb.set_faults(FaultSpec::parse("internal=0.5").unwrap(), seed);
        (0..20)
            .map(|_| e.call(ORDERS_PATH, &e.list_orders_params()).status)
            .collect::<Vec<_>>()
    };
    assert_eq!(run(3), run(3));
    assert!(run(3).contains(&500) && run(3).contains(&200));
}

#[test]
fn the_binary_prints_one_json_line_and_serves() {
    let exe = env!("CARGO_BIN_EXE_fulfill");
    let mut child = Command::new(exe)
        .args([
            "sandbox",
            "--api",
            "mws",
            "--orders",
            "5",
            "--seed",
            "3",
            "--time-scale",
            "60",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    for k in [
        "base_url",
        "seller_id",
        "access_key_id",
        "secret_key",
        "marketplace_id",
        "time_scale",
    ] {
        assert!(v.get(k).is_some(), "{k} missing from {line}");
    }
    assert_eq!(v["time_scale"], 60.0);
    let base = v["base_url"].as_str().unwrap().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let r = reqwest::blocking::Client::new()
        .post(format!("{base}{ORDERS_PATH}"))
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let body = r.bytes().unwrap();
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(status, 400);
    assert_eq!(code_of(&body), "InvalidParameterValue");

    let out = Command::new(exe)
        .args(["sandbox", "--addr", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    let out = Command::new(exe)
        .args(["sandbox", "--faults", "boom=1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
