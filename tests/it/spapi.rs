//! The SP-API client against the in-process SP-API sandbox, over real HTTP on 127.0.0.1, with
//! one ManualClock shared by both: waiting advances it, nothing sleeps.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use fulfill::clock::{Clock, ManualClock, parse_time};
use fulfill::mws::client::{CallRecord, ManualTime, Observer};
use fulfill::mws::model::parse_mws_time;
use fulfill::sandbox::spapi::{SpSandbox, SpSandboxHandle};
use fulfill::sandbox::{FaultSpec, HttpRequest, HttpResponse, SandboxConfig, SandboxOrder};
use fulfill::spapi::client::{CallError, Client, SearchQuery, Verdict};
use fulfill::spapi::model::{ConfirmItem, ConfirmShipmentRequest, PackageDetail, PackageStatus};
use fulfill::spapi::op;
use fulfill::{Error, Exit};

struct Env {
    clock: Arc<ManualClock>,
    sb: SpSandboxHandle,
}

fn t0() -> DateTime<Utc> {
    parse_time("2026-03-02T09:00:00Z").unwrap()
}

fn env(orders: usize, seed: u64, faults: &str) -> Env {
    let clock = Arc::new(ManualClock::new(t0()));
    let mut cfg = SandboxConfig::new(clock.clone());
    cfg.orders = orders;
    cfg.seed = seed;
    cfg.faults = FaultSpec::parse(faults).unwrap();
    let sb = SpSandbox::start(cfg).unwrap();
    // Orders placed in the last 2 minutes are not searchable yet; move past them.
    clock.advance(Duration::minutes(3));
    Env { clock, sb }
}

#[derive(Default)]
struct Rec(Vec<CallRecord>);

impl Observer for Rec {
    fn call(&mut self, r: &CallRecord) -> fulfill::Result<()> {
        self.0.push(r.clone());
        Ok(())
    }
}

impl Rec {
    fn count(&self, op: &str, f: impl Fn(&CallRecord) -> bool) -> usize {
        self.0.iter().filter(|r| r.action == op && f(r)).count()
    }
}

impl Env {
    fn client(&self) -> Client {
        Client::new(
            self.sb.spapi_credentials(1.0).unwrap(),
            Arc::new(ManualTime(self.clock.clone())),
        )
        .unwrap()
    }

    /// Every page from `after`, as the fetch loop would page it.
    fn fetch_all(
        &self,
        c: &mut Client,
        q: &SearchQuery,
        rec: &mut Rec,
    ) -> Result<(Vec<String>, String, Vec<SandboxOrder>), CallError> {
        let mut ids = Vec::new();
        let mut truth = Vec::new();
        let mut token: Option<String> = None;
        let mut before = String::new();
        loop {
            let page = c.search_orders(q, token.as_deref(), rec)?;
            if token.is_none() {
                // Ground truth at the moment Amazon fixed the result (the first page).
                truth = self.sb.orders();
            }
            assert!(page.rejected.is_empty(), "{:?}", page.rejected);
            ids.extend(page.orders.iter().map(|o| o.order_id.clone()));
            if let Some(b) = page.last_updated_before {
                before = b;
            }
            match page.next_token {
                Some(t) => token = Some(t),
                None => return Ok((ids, before, truth)),
            }
        }
    }
}

/// Ground truth: merchant-fulfilled orders updated in [after, before).
fn expected(
    truth: &[SandboxOrder],
    after: DateTime<Utc>,
    before: DateTime<Utc>,
) -> BTreeSet<String> {
    truth
        .iter()
        .filter(|o| o.order.info.fulfillment_channel.as_deref() == Some("MFN"))
        .filter(|o| {
            let t = parse_mws_time(&o.order.info.last_update_date).unwrap();
            t >= after && t < before
        })
        .map(|o| o.order.info.amazon_order_id.clone())
        .collect()
}

fn check_exact(truth: &[SandboxOrder], ids: &[String], after: DateTime<Utc>, before: &str) {
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique.len(), ids.len(), "no order twice");
    let before = parse_mws_time(before).unwrap();
    let want = expected(truth, after, before);
    assert!(
        want.len() > 500,
        "positive control: {} orders expected",
        want.len()
    );
    assert_eq!(unique, want);
}

#[test]
fn pages_over_1000_orders_exactly_with_every_parameter_resent() {
    let e = env(1000, 3, "");
    let mut c = e.client();
    let mut rec = Rec::default();
    let after = t0() - Duration::days(4);
    let (ids, before, truth) = e
        .fetch_all(&mut c, &SearchQuery::since(after), &mut rec)
        .unwrap();
    check_exact(&truth, &ids, after, &before);
    // Pages of 100, one token for the run.
    let pages = rec.count(op::SEARCH_ORDERS, |r| r.status == Some(200));
    assert_eq!(pages, ids.len().div_ceil(100));
    assert_eq!(e.sb.access_tokens_issued(), 1);
    // Every page re-sent every other parameter unchanged.
    let searches: Vec<Vec<(String, String)>> =
        e.sb.requests()
            .into_iter()
            .filter(|r| r.action.as_deref() == Some(op::SEARCH_ORDERS))
            .map(|r| {
                r.params
                    .into_iter()
                    .filter(|(k, _)| k != "paginationToken")
                    .collect()
            })
            .collect();
    assert!(searches.windows(2).all(|w| w[0] == w[1]));
    let p = &searches[0];
    for (k, v) in [
        ("fulfilledBy", "MERCHANT"),
        ("marketplaceIds", "ATVPDKIKX0DER"),
        (
            "includedData",
            "RECIPIENT,BUYER,FULFILLMENT,PACKAGES,PROCEEDS",
        ),
    ] {
        assert!(p.contains(&(k.to_string(), v.to_string())), "{k} in {p:?}");
    }
    // Audit records: request ids captured, no secrets.
    assert!(
        rec.0
            .iter()
            .filter(|r| r.status.is_some())
            .all(|r| r.request_id.is_some())
    );
}

#[test]
fn pii_arrives_in_pii_types_and_withheld_fields_are_absent() {
    let e = env(200, 5, "");
    let mut c = e.client();
    let mut rec = Rec::default();
    let page = c
        .search_orders(
            &SearchQuery::since(t0() - Duration::days(4)),
            None,
            &mut rec,
        )
        .unwrap();
    let marker = e.sb.pii_marker();
    let unshipped: Vec<_> = page
        .orders
        .iter()
        .filter(|o| o.pii.address_line1.is_some())
        .collect();
    assert!(!unshipped.is_empty());
    for o in &unshipped {
        assert!(
            o.pii
                .postal_code
                .as_ref()
                .unwrap()
                .expose_pii()
                .contains(&marker)
        );
        assert!(!format!("{o:?}").contains(&marker), "Debug never shows PII");
    }
    // Pending orders come without PII, as Amazon sends them.
    assert!(page.orders.iter().any(|o| o.pii.is_empty()));
    // A recipient without a name (PII withheld) is an order like any other, flagged
    // unaddressable by the PII type.
    let nameless: Vec<_> = page
        .orders
        .iter()
        .filter(|o| o.pii.recipient_name.is_none() && o.pii.city.is_some())
        .collect();
    assert!(!nameless.is_empty());
    assert!(nameless.iter().all(|o| o.pii.is_unaddressable()));
}

#[test]
fn a_429_storm_and_an_empty_bucket_never_lose_a_page() {
    // Request 1 is the LWA token, 2 the first page; 3..=8 are answered 429 whatever the bucket.
    let e = env(1000, 4, "throttle@3-8");
    let mut c = e.client();
    let mut rec = Rec::default();
    let after = t0() - Duration::days(4);
    let q = SearchQuery {
        max_results_per_page: Some(25),
        ..SearchQuery::since(after)
    };
    let start = e.clock.now();
    let (ids, before, truth) = e.fetch_all(&mut c, &q, &mut rec).unwrap();
    check_exact(&truth, &ids, after, &before);
    assert_eq!(rec.count(op::SEARCH_ORDERS, |r| r.throttled), 6);
    // More pages than the burst of 20: the client waited for the bucket (on the manual clock)
    // instead of being refused.
    let pages = ids.len().div_ceil(25);
    assert!(pages > 20);
    let refused =
        e.sb.requests()
            .iter()
            .filter(|r| r.status == 429 && r.fault.is_none())
            .count();
    assert_eq!(
        refused, 0,
        "the client never sent what its model said would be throttled"
    );
    assert!(e.clock.now() - start > Duration::seconds(((pages - 20) as f64 / 0.0056) as i64 - 200));
}

#[test]
fn server_errors_resets_truncation_and_garbage_are_retried() {
    let e = env(
        1000,
        6,
        "internal@2,reset@4,truncate@6,malformed@8,slow@9,delay=0.01",
    );
    let mut c = e.client();
    let mut rec = Rec::default();
    let after = t0() - Duration::days(4);
    let (ids, before, truth) = e
        .fetch_all(&mut c, &SearchQuery::since(after), &mut rec)
        .unwrap();
    check_exact(&truth, &ids, after, &before);
    let errors: Vec<_> = rec.0.iter().filter_map(|r| r.error.clone()).collect();
    for kind in ["InternalFailure", "malformed_response"] {
        assert!(errors.iter().any(|e| e == kind), "{kind} in {errors:?}");
    }
    assert!(errors.len() >= 4, "{errors:?}");
}

#[test]
fn the_token_is_reused_and_refreshed_shortly_before_it_expires() {
    let e = env(50, 7, "");
    let mut c = e.client();
    let mut rec = Rec::default();
    let id = e.sb.orders()[0].order.info.amazon_order_id.clone();
    c.get_order(&id, &mut rec).unwrap();
    e.clock.advance(Duration::minutes(58));
    c.get_order(&id, &mut rec).unwrap();
    assert_eq!(e.sb.access_tokens_issued(), 1, "reused within the hour");
    e.clock.advance(Duration::seconds(90)); // 59.5 min: within 60 s of expiry
    assert!(!c.has_fresh_token());
    c.get_order(&id, &mut rec).unwrap();
    assert_eq!(e.sb.access_tokens_issued(), 2, "refreshed before expiry");
    assert!(
        e.sb.requests().iter().all(|r| r.status != 403),
        "never sent an expired token"
    );
    assert_eq!(rec.count(op::LWA_TOKEN, |r| r.status == Some(200)), 2);
}

#[test]
fn an_expired_token_mid_run_is_refreshed_once() {
    let e = env(50, 8, "expired-token@3");
    let mut c = e.client();
    let mut rec = Rec::default();
    let id = e.sb.orders()[0].order.info.amazon_order_id.clone();
    c.get_order(&id, &mut rec).unwrap();
    c.get_order(&id, &mut rec).unwrap();
    assert_eq!(e.sb.access_tokens_issued(), 2);
    assert_eq!(rec.count(op::GET_ORDER, |r| r.status == Some(403)), 1);
    // The sandbox expiring every token works the same way.
    e.sb.expire_access_tokens();
    c.get_order(&id, &mut rec).unwrap();
    assert_eq!(e.sb.access_tokens_issued(), 3);
}

#[test]
fn denied_twice_is_a_clear_error() {
    let e = env(50, 9, "expired-token@2-20");
    let mut c = e.client();
    let mut rec = Rec::default();
    let id = e.sb.orders()[0].order.info.amazon_order_id.clone();
    let err: Error = c.get_order(&id, &mut rec).unwrap_err().into();
    let msg = err.to_string();
    assert!(
        msg.contains("denied getOrder") && msg.contains("re-authorise"),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
    assert_eq!(err.exit(), Exit::Remote);
}

#[test]
fn a_revoked_refresh_token_says_to_reauthorise() {
    let e = env(50, 10, "");
    let mut c = e.client();
    let mut rec = Rec::default();
    let id = e.sb.orders()[0].order.info.amazon_order_id.clone();
    c.get_order(&id, &mut rec).unwrap();
    e.sb.revoke_refresh_token();
    let ce = c.get_order(&id, &mut rec).unwrap_err();
    assert!(matches!(ce, CallError::Reauthorize), "{ce:?}");
    let err: Error = ce.into();
    assert_eq!(err.exit(), Exit::Remote);
    let msg = err.to_string();
    assert!(msg.contains("re-authorise the app"), "{msg}");
    assert!(!msg.contains('\n'));
    assert_eq!(
        rec.count(op::LWA_TOKEN, |r| r.error.as_deref()
            == Some("invalid_grant")),
        1
    );
}

#[test]
fn a_wrong_client_secret_is_not_a_reauthorisation() {
    let e = env(20, 12, "");
    let mut creds = e.sb.spapi_credentials(1.0).unwrap();
    let good = creds.to_plaintext();
    let mut v: serde_json::Value = serde_json::from_slice(&good).unwrap();
    v["lwa_client_secret"] = "wrong".into();
    creds = fulfill::spapi::credentials::SpApiCredentials::from_plaintext(
        &serde_json::to_vec(&v).unwrap(),
    )
    .unwrap();
    let mut c = Client::new(creds, Arc::new(ManualTime(e.clock.clone()))).unwrap();
    let id = e.sb.orders()[0].order.info.amazon_order_id.clone();
    let err: Error = c.get_order(&id, &mut Rec::default()).unwrap_err().into();
    assert!(err.to_string().contains("client id or secret"), "{err}");
}

#[test]
fn an_expired_or_damaged_pagination_token_restarts_from_the_watermark() {
    let e = env(300, 13, "");
    let mut c = e.client();
    let mut rec = Rec::default();
    let q = SearchQuery {
        max_results_per_page: Some(10),
        ..SearchQuery::since(t0() - Duration::days(4))
    };
    let p1 = c.search_orders(&q, None, &mut rec).unwrap();
    let tok = p1.next_token.unwrap();
    // Within 24 h the token works, also twice (a retried page).
    e.clock.advance(Duration::hours(23));
    c.search_orders(&q, Some(&tok), &mut rec).unwrap();
    c.search_orders(&q, Some(&tok), &mut rec).unwrap();
    e.clock.advance(Duration::hours(2));
    let ce = c.search_orders(&q, Some(&tok), &mut rec).unwrap_err();
    assert!(matches!(ce, CallError::PaginationExpired), "{ce:?}");
    // Bound to the other parameters.
    let other = SearchQuery::since(t0() - Duration::days(3));
    let p = c.search_orders(&q, None, &mut rec).unwrap();
    let ce = c
        .search_orders(&other, p.next_token.as_deref(), &mut rec)
        .unwrap_err();
    assert!(matches!(ce, CallError::PaginationExpired), "{ce:?}");
    // A damaged token (fault) too.
    let n = e.sb.request_count() as u64 + 1;
    e.sb.set_faults(FaultSpec::parse(&format!("corrupt-token@{n}")).unwrap(), 1);
    let p = c.search_orders(&q, None, &mut rec).unwrap();
    let ce = c
        .search_orders(&q, p.next_token.as_deref(), &mut rec)
        .unwrap_err();
    assert!(matches!(ce, CallError::PaginationExpired), "{ce:?}");
    let msg = Error::from(ce).to_string();
    assert!(msg.contains("watermark"), "{msg}");
}

#[test]
fn a_sandbox_timebase_follows_the_sandboxs_clock() {
    let e = env(20, 19, "");
    let wrong = e.clock.now() - Duration::days(1);
    let mut c = Client::new(
        e.sb.spapi_credentials(1.0).unwrap(),
        Arc::new(fulfill::mws::client::SandboxTime::new(wrong, 1.0)),
    )
    .unwrap();
    assert!(c.now() < e.clock.now() - Duration::hours(23));
    let id = e.sb.orders()[0].order.info.amazon_order_id.clone();
    c.get_order(&id, &mut Rec::default()).unwrap();
    let off = (c.now() - e.clock.now()).num_seconds().abs();
    assert!(off < 5, "{off} s off the sandbox's clock");
}

#[test]
fn the_rate_amazon_reports_is_adopted() {
    let e = env(20, 14, "");
    e.sb.set_rate_limit(op::GET_ORDER, 0.1);
    let mut c = e.client();
    let id = e.sb.orders()[0].order.info.amazon_order_id.clone();
    c.get_order(&id, &mut Rec::default()).unwrap();
    let state: serde_json::Value = serde_json::from_str(&c.throttle_state()).unwrap();
    let g = state
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["operation"] == op::GET_ORDER)
        .unwrap();
    assert_eq!(g["rate"], 0.1);
    // The saved model carries over to the next run.
    let mut next = e.client();
    next.restore_throttle_state(&c.throttle_state());
    assert_eq!(next.throttle_state(), c.throttle_state());
    // Past the burst the client paces at the reported rate, so Amazon never refuses it.
    let start = e.clock.now();
    for _ in 0..35 {
        c.get_order(&id, &mut Rec::default()).unwrap();
    }
    let refused = e.sb.requests().iter().filter(|r| r.status == 429).count();
    assert_eq!(refused, 0);
    assert!(
        e.clock.now() - start >= Duration::seconds(50),
        "paced at 0.1/s past the burst"
    );
}

fn confirm_body(o: &SandboxOrder, reference: &str) -> ConfirmShipmentRequest {
    ConfirmShipmentRequest {
        marketplace_id: "ATVPDKIKX0DER".into(),
        package_detail: PackageDetail {
            package_reference_id: reference.into(),
            carrier_code: "USPS".into(),
            carrier_name: None,
            shipping_method: Some("Priority Mail".into()),
            tracking_number: "9400111899223197428497".into(),
            ship_date: "2026-03-02T09:10:00.000Z".into(),
            ship_from_supply_source_id: None,
            order_items: o
                .items
                .iter()
                .map(|i| ConfirmItem {
                    order_item_id: i.info.order_item_id.clone(),
                    quantity: i.info.quantity_ordered - i.info.quantity_shipped.unwrap_or(0),
                    transparency_codes: vec![],
                })
                .filter(|i| i.quantity > 0)
                .collect(),
        },
        cod_collection_method: None,
    }
}

fn rejected(v: Verdict) -> (String, String) {
    match v {
        Verdict::Rejected { code, reason } => (code, reason),
        v => panic!("expected a rejection, got {v:?}"),
    }
}

#[test]
fn confirm_shipment_verdicts_and_packages_reaching_delivered() {
    let e = env(300, 15, "");
    let mut c = e.client();
    let mut rec = Rec::default();
    let truth = e.sb.orders();
    let mfn = |status: &str| {
        truth
            .iter()
            .filter(|o| o.order.info.fulfillment_channel.as_deref() == Some("MFN"))
            .filter(|o| o.order.info.order_status == status)
            .collect::<Vec<_>>()
    };
    let unshipped = mfn("Unshipped");
    assert!(unshipped.len() >= 3);
    let (a, b, d) = (unshipped[0], unshipped[1], unshipped[2]);
    let id = a.order.info.amazon_order_id.clone();

    // Accepted: 204, the order ships, a package appears and is delivered days later.
    assert_eq!(
        c.confirm_shipment(&id, &confirm_body(a, "1"), &mut rec)
            .unwrap(),
        Verdict::Accepted
    );
    assert_eq!(
        rec.count(op::CONFIRM_SHIPMENT, |r| r.status == Some(204)),
        1
    );
    let conf = e.sb.confirmations();
    assert_eq!((conf.len(), conf[0].order_id.as_str()), (1, id.as_str()));
    let o = c.get_order(&id, &mut rec).unwrap();
    assert_eq!(o.packages.len(), 1);
    assert_eq!(o.packages[0].status, Some(PackageStatus::InTransit));
    assert!(!o.delivered());
    e.clock.advance(Duration::days(3) + Duration::minutes(1));
    let o = c.get_order(&id, &mut rec).unwrap();
    assert!(o.delivered());
    // Delivery updated the order: a search from the old watermark sees it again.
    assert!(parse_mws_time(&o.last_updated_time).unwrap() > t0());

    // Already shipped.
    let (_, why) = rejected(
        c.confirm_shipment(&id, &confirm_body(a, "2"), &mut rec)
            .unwrap(),
    );
    assert!(why.contains("already fulfilled"), "{why}");
    // Unknown order.
    let (code, _) = rejected(
        c.confirm_shipment("999-0000000-0000000", &confirm_body(b, "1"), &mut rec)
            .unwrap(),
    );
    assert_eq!(code, "NotFound");
    // An item not in the order.
    let mut bad = confirm_body(b, "1");
    bad.package_detail.order_items[0].order_item_id = "12345".into();
    let (_, why) = rejected(
        c.confirm_shipment(&b.order.info.amazon_order_id, &bad, &mut rec)
            .unwrap(),
    );
    assert!(why.contains("OrderItemId"), "{why}");
    // More than was ordered.
    let mut bad = confirm_body(b, "1");
    bad.package_detail.order_items[0].quantity += 1;
    let (_, why) = rejected(
        c.confirm_shipment(&b.order.info.amazon_order_id, &bad, &mut rec)
            .unwrap(),
    );
    assert!(why.contains("exceeds"), "{why}");
    // A package reference that is not a positive number is refused before sending.
    let sent = e.sb.request_count();
    let (_, why) = rejected(
        c.confirm_shipment(
            &b.order.info.amazon_order_id,
            &confirm_body(b, "A1"),
            &mut rec,
        )
        .unwrap(),
    );
    assert!(why.contains("PackageReferenceId"), "{why}");
    assert_eq!(e.sb.request_count(), sent);
    // Canceled by the buyer.
    assert!(e.sb.cancel_order(&d.order.info.amazon_order_id));
    let (_, why) = rejected(
        c.confirm_shipment(
            &d.order.info.amazon_order_id,
            &confirm_body(d, "1"),
            &mut rec,
        )
        .unwrap(),
    );
    assert!(why.contains("canceled"), "{why}");
    // Still fine afterwards: b confirmed in two packages.
    let mut first = confirm_body(b, "1");
    first.package_detail.order_items.truncate(1);
    let bid = b.order.info.amazon_order_id.clone();
    assert_eq!(
        c.confirm_shipment(&bid, &first, &mut rec).unwrap(),
        Verdict::Accepted
    );
    let (_, why) = rejected(c.confirm_shipment(&bid, &first, &mut rec).unwrap());
    assert!(
        why.contains("already used")
            || why.contains("already fulfilled")
            || why.contains("exceeds"),
        "{why}"
    );
    assert_eq!(e.sb.confirmations().len(), 2);
}

#[test]
fn a_confirmation_whose_reply_was_lost_is_a_duplicate_not_a_failure() {
    let e = env(200, 17, "");
    let mut c = e.client();
    let mut rec = Rec::default();
    let truth = e.sb.orders();
    let o = first_unshipped_mfn(&truth);
    let id = o.order.info.amazon_order_id.clone();
    // Request 1 is the LWA token; request 2 confirms, and its reply is lost.
    e.sb.set_faults(FaultSpec::parse("reset@2").unwrap(), 1);
    let v = c
        .confirm_shipment(&id, &confirm_body(o, "1"), &mut rec)
        .unwrap();
    assert!(matches!(v, Verdict::Duplicate { .. }), "{v:?}");
    assert_eq!(e.sb.confirmations().len(), 1, "confirmed once");
    // Without a lost reply the same answer is a plain rejection (positive control).
    let (_, why) = rejected(
        c.confirm_shipment(&id, &confirm_body(o, "1"), &mut rec)
            .unwrap(),
    );
    assert!(why.contains("already fulfilled"), "{why}");
}

#[test]
fn no_token_secret_or_pii_in_any_error_or_record() {
    let e = env(200, 16, "expired-token@4-30");
    let marker = e.sb.pii_marker();
    let creds = e.sb.credentials();
    let mut texts: Vec<String> = Vec::new();
    let mut c = e.client();
    let mut rec = Rec::default();
    let truth = e.sb.orders();
    let o = first_unshipped_mfn(&truth);
    let id = o.order.info.amazon_order_id.clone();
    // Positive control: the marker is in what the sandbox serves.
    let order = c.get_order(&id, &mut rec).unwrap();
    assert!(
        order
            .pii
            .postal_code
            .as_ref()
            .unwrap()
            .expose_pii()
            .contains(&marker)
    );
    texts.push(format!("{order:?}"));
    texts.push(format!("{c:?}"));
    texts.push(format!("{:?}", e.client().credentials()));
    for _ in 0..2 {
        if let Err(ce) = c.get_order(&id, &mut rec) {
            texts.push(format!("{ce:?}"));
            texts.push(Error::from(ce).to_string());
        }
    }
    e.sb.revoke_refresh_token();
    let ce = c
        .search_orders(
            &SearchQuery::since(t0() - Duration::days(1)),
            None,
            &mut rec,
        )
        .unwrap_err();
    texts.push(format!("{ce:?}"));
    texts.push(Error::from(ce).to_string());
    texts.extend(rec.0.iter().map(|r| format!("{r:?}")));
    texts.extend(e.sb.requests().iter().map(|r| format!("{:?}", r.params)));
    assert!(texts.len() > 10);
    let secrets = [
        marker.as_str(),
        creds.lwa_client_secret.as_str(),
        creds.refresh_token.as_str(),
        "Atza|",
        "Atzr|",
    ];
    for t in &texts {
        for s in secrets {
            assert!(!t.contains(s), "{s:?} leaked into {t}");
        }
    }
    // Positive control for the scan: it would have caught a leak.
    let leaked = format!("{:?}", creds);
    assert!(secrets.iter().any(|s| leaked.contains(s)));
    let _: HashSet<&str> = HashSet::new();
}

// ---- the sandbox's own checks, in-process ----

fn form_token(e: &Env) -> String {
    let c = e.sb.credentials();
    let body = format!(
        "grant_type=refresh_token&refresh_token={}&client_id={}&client_secret={}",
        enc(&c.refresh_token),
        enc(&c.lwa_client_id),
        enc(&c.lwa_client_secret)
    );
    let r = e.sb.call(&HttpRequest {
        method: "POST".into(),
        target: "/auth/o2/token".into(),
        headers: vec![(
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: body.into_bytes(),
    });
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["expires_in"], 3600);
    v["access_token"].as_str().unwrap().to_string()
}

fn enc(s: &str) -> String {
    fulfill::mws::sign::percent_encode(s)
}

fn get(e: &Env, target: &str, token: Option<&str>) -> (u16, serde_json::Value, HttpResponse) {
    let mut headers = vec![("User-Agent".to_string(), "fulfill-test/1".to_string())];
    if let Some(t) = token {
        headers.push(("x-amz-access-token".into(), t.into()));
    }
    let r = e.sb.call(&HttpRequest {
        method: "GET".into(),
        target: target.into(),
        headers,
        body: Vec::new(),
    });
    let v = serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null);
    (r.status, v, r)
}

#[test]
fn the_sandbox_checks_what_amazon_checks() {
    let e = env(100, 18, "");
    let tok = form_token(&e);
    let base = "/orders/2026-01-01/orders?marketplaceIds=ATVPDKIKX0DER";
    let after = "lastUpdatedAfter=2026-02-27T00:00:00Z";
    // Positive control.
    let (s, v, r) = get(&e, &format!("{base}&{after}"), Some(&tok));
    assert_eq!(s, 200, "{v}");
    assert!(r.header("x-amzn-RequestId").is_some());
    assert_eq!(r.header("x-amzn-RateLimit-Limit"), Some("0.0056"));
    assert!(v["lastUpdatedBefore"].is_string());
    let bad = |target: String, token: Option<&str>, status: u16, needle: &str| {
        let (s, v, _) = get(&e, &target, token);
        assert_eq!(s, status, "{target}: {v}");
        let text = v.to_string();
        assert!(text.contains(needle), "{target}: {text}");
    };
    bad(format!("{base}&{after}"), None, 403, "no access token");
    bad(
        format!("{base}&{after}"),
        Some("Atza|forged"),
        403,
        "revoked, malformed or invalid",
    );
    bad(
        format!("/orders/2026-01-01/orders?{after}"),
        Some(&tok),
        400,
        "marketplaceIds is required",
    );
    bad(base.to_string(), Some(&tok), 400, "Exactly one of");
    bad(
        format!("{base}&{after}&createdAfter=2026-02-27T00:00:00Z"),
        Some(&tok),
        400,
        "Exactly one of",
    );
    bad(
        format!("{base}&{after}&createdBefore=2026-02-28T00:00:00Z"),
        Some(&tok),
        400,
        "only be used with createdAfter",
    );
    let recent = chrono::SecondsFormat::Secs;
    let too_recent = (e.clock.now() - Duration::seconds(60)).to_rfc3339_opts(recent, true);
    bad(
        format!("{base}&{after}&lastUpdatedBefore={too_recent}"),
        Some(&tok),
        400,
        "at least 2 minutes",
    );
    bad(
        format!("{base}&{after}&maxResultsPerPage=0"),
        Some(&tok),
        400,
        "between 1 and 100",
    );
    bad(
        format!("{base}&{after}&fulfilledBy=NOBODY"),
        Some(&tok),
        400,
        "fulfilledBy",
    );
    bad(
        format!("{base}&{after}&includedData=EVERYTHING"),
        Some(&tok),
        400,
        "includedData",
    );
    bad(
        format!("{base}&lastUpdatedAfter=yesterday"),
        Some(&tok),
        400,
        "ISO 8601",
    );
    bad(
        format!("{base}&{after}&paginationToken=nope"),
        Some(&tok),
        400,
        "pagination token is invalid",
    );
    bad(
        "/orders/2026-01-01/orders/123".into(),
        Some(&tok),
        400,
        "Invalid orderId",
    );
    bad(
        "/orders/2026-01-01/orders/999-9999999-9999999".into(),
        Some(&tok),
        404,
        "NotFound",
    );
    bad("/nowhere".into(), Some(&tok), 404, "NotFound");
    // A User-Agent is required.
    let r = e.sb.call(&HttpRequest {
        method: "GET".into(),
        target: format!("{base}&{after}"),
        headers: vec![("x-amz-access-token".into(), tok.clone())],
        body: Vec::new(),
    });
    assert_eq!(r.status, 400);
    // LWA: wrong secret, wrong refresh token, wrong grant.
    let c = e.sb.credentials();
    for (body, status, code) in [
        (
            format!(
                "grant_type=refresh_token&refresh_token={}&client_id={}&client_secret=x",
                enc(&c.refresh_token),
                enc(&c.lwa_client_id)
            ),
            401,
            "invalid_client",
        ),
        (
            format!(
                "grant_type=refresh_token&refresh_token=Atzr%7Cx&client_id={}&client_secret={}",
                enc(&c.lwa_client_id),
                enc(&c.lwa_client_secret)
            ),
            400,
            "invalid_grant",
        ),
        (
            "grant_type=password".to_string(),
            400,
            "unsupported_grant_type",
        ),
    ] {
        let r = e.sb.call(&HttpRequest {
            method: "POST".into(),
            target: "/auth/o2/token".into(),
            headers: vec![(
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: body.into_bytes(),
        });
        assert_eq!(r.status, status);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"], code);
    }
    // The usage plan: a full bucket (refilled over an hour; refused requests count too) holds
    // 20, then 429 QuotaExceeded.
    e.clock.advance(Duration::hours(1));
    let tok = form_token(&e);
    for _ in 0..20 {
        assert_eq!(get(&e, &format!("{base}&{after}"), Some(&tok)).0, 200);
    }
    let (s, v, _) = get(&e, &format!("{base}&{after}"), Some(&tok));
    assert_eq!(
        (s, v["errors"][0]["code"].as_str()),
        (429, Some("QuotaExceeded"))
    );
    e.clock.advance(Duration::seconds(180));
    assert_eq!(get(&e, &format!("{base}&{after}"), Some(&tok)).0, 200);
    // Access tokens expire after an hour of sandbox time.
    e.clock.advance(Duration::minutes(61));
    let (s, v, _) = get(
        &e,
        "/orders/2026-01-01/orders/999-9999999-9999999",
        Some(&tok),
    );
    assert_eq!(s, 403);
    assert!(v.to_string().contains("has expired"), "{v}");
}

#[test]
fn fulfill_sandbox_api_sp_api_prints_its_connection_line() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_fulfill"))
        .args([
            "sandbox",
            "--api",
            "sp-api",
            "--orders",
            "5",
            "--seed",
            "3",
            "--addr",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    for k in [
        "base_url",
        "token_url",
        "lwa_client_id",
        "lwa_client_secret",
        "refresh_token",
        "seller_id",
        "marketplace_id",
    ] {
        assert!(
            v[k].as_str().is_some_and(|s| !s.is_empty()),
            "{k} in {line}"
        );
    }
    assert!(
        v["base_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert!(v["token_url"].as_str().unwrap().ends_with("/auth/o2/token"));
}

#[test]
fn into_mws_matches_the_sandboxs_ground_truth() {
    let e = env(300, 20, "");
    let mut c = e.client();
    let page = c
        .search_orders(
            &SearchQuery::since(t0() - Duration::days(4)),
            None,
            &mut Rec::default(),
        )
        .unwrap();
    let truth = e.sb.orders();
    let mut compared = 0;
    for o in page.orders {
        let (m, items, _) = o.into_mws();
        let t = truth
            .iter()
            .find(|t| t.order.info.amazon_order_id == m.info.amazon_order_id)
            .unwrap();
        assert_eq!(m.info.order_status, t.order.info.order_status);
        assert_eq!(m.info.fulfillment_channel.as_deref(), Some("MFN"));
        assert_eq!(m.info.order_total, t.order.info.order_total);
        let ours: Vec<_> = items
            .iter()
            .map(|i| {
                (
                    i.info.order_item_id.clone(),
                    i.info.quantity_ordered,
                    i.info.item_price.clone(),
                )
            })
            .collect();
        let want: Vec<_> = t
            .items
            .iter()
            .map(|i| {
                (
                    i.info.order_item_id.clone(),
                    i.info.quantity_ordered,
                    i.info.item_price.clone(),
                )
            })
            .collect();
        assert_eq!(ours, want);
        if m.info.order_status == "Unshipped" {
            assert!(m.pii.postal_code == t.order.pii.postal_code);
            assert!(m.pii.address_line1 == t.order.pii.address_line1);
        }
        compared += 1;
    }
    assert!(compared > 50, "{compared}");
}

/// The first order of the ground truth the seller ships itself and has not shipped yet.
fn first_unshipped_mfn(
    truth: &[fulfill::sandbox::SandboxOrder],
) -> &fulfill::sandbox::SandboxOrder {
    truth
        .iter()
        .find(|o| {
            o.order.info.order_status == "Unshipped"
                && o.order.info.fulfillment_channel.as_deref() == Some("MFN")
        })
        .expect("the sandbox has an unshipped MFN order")
}
