//! SP-API contract tests: Amazon's static-sandbox examples (read from `../shared`, never
//! copied) parse with fulfill's parsers; the built-in sandbox answers in the same shape (every
//! key it sends is in Amazon's model, with the type the examples use); the parsers never panic
//! on arbitrary or mutated input.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use fulfill::clock::{ManualClock, parse_time};
use fulfill::mws::client::{CallRecord, ManualTime, Observer};
use fulfill::sandbox::SandboxConfig;
use fulfill::sandbox::http::HttpRequest;
use fulfill::sandbox::spapi::{SpSandbox, SpSandboxHandle};
use fulfill::spapi::client::{Client, Verdict};
use fulfill::spapi::model::{
    self, ConfirmShipmentRequest, FulfillmentStatus, PackageStatus, parse_confirm_request,
    parse_errors, parse_get_order, parse_search_orders,
};
use proptest::prelude::*;
use serde_json::Value;

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/spapi")
        .join(rel)
}

fn example(op: &str) -> Value {
    let p = shared(&format!("sandbox-examples/{op}.json"));
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

/// `(request, response)` pairs for a status.
fn cases(op: &str, status: &str) -> Vec<(Value, Value)> {
    let v = example(op);
    let list = v["static"][status].as_array().cloned().unwrap_or_default();
    assert!(!list.is_empty(), "{op} has {status} examples");
    list.into_iter()
        .map(|c| (c["request"].clone(), c["response"].clone()))
        .collect()
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

#[test]
fn search_orders_examples_parse() {
    let mut seen = 0;
    for (_, resp) in cases("orders_2026-01-01.searchOrders", "200") {
        let page = parse_search_orders(&bytes(&resp)).unwrap();
        assert!(page.rejected.is_empty(), "{:?}", page.rejected);
        assert_eq!(page.orders.len(), resp["orders"].as_array().unwrap().len());
        for o in &page.orders {
            assert!(!o.items.is_empty());
            assert!(o.pii.recipient_name.is_some() && o.pii.buyer_email.is_some());
            seen += 1;
        }
    }
    assert_eq!(seen, 3);
    let first = &cases("orders_2026-01-01.searchOrders", "200")[0].1;
    let p = parse_search_orders(&bytes(first)).unwrap();
    assert_eq!(
        p.next_token.as_deref(),
        Some("2YgYW55IGNhcm5hbCBwbGVhc3VyZS4")
    );
    assert_eq!(p.created_before.as_deref(), Some("2024-12-25T03:00:00Z"));
    let o = &p.orders[0];
    assert_eq!(o.order_id, "250-1234567-8901234");
    assert_eq!(o.fulfillment_status, FulfillmentStatus::Shipped);
    assert_eq!(o.pii.postal_code.as_ref().unwrap().expose_pii(), "150-0002");
    assert!(o.is_prime());
    let uk = &cases("orders_2026-01-01.searchOrders", "200")[1].1;
    let p = parse_search_orders(&bytes(uk)).unwrap();
    assert_eq!(
        p.orders[0].packages[0].status,
        Some(PackageStatus::InTransit)
    );
    assert_eq!(
        p.orders[0].packages[0].items,
        vec![("20276543210987".to_string(), 1)]
    );
    assert!(!p.orders[0].delivered());
    assert_eq!(
        p.orders[0].deliver_by.latest_date_time.as_deref(),
        Some("2024-12-28T23:59:59Z")
    );
    for (_, resp) in cases("orders_2026-01-01.searchOrders", "400") {
        assert_eq!(parse_errors(&bytes(&resp)).unwrap().code(), "InvalidInput");
        assert!(parse_search_orders(&bytes(&resp)).is_err());
    }
}

#[test]
fn get_order_examples_parse() {
    for (req, resp) in cases("orders_2026-01-01.getOrder", "200") {
        let o = parse_get_order(&bytes(&resp)).unwrap();
        assert_eq!(
            o.order_id,
            req["parameters"]["orderId"]["value"].as_str().unwrap()
        );
        assert!(o.pii.address_line1.is_some());
    }
    let gifts = cases("orders_2026-01-01.getOrder", "200")
        .iter()
        .flat_map(|(_, r)| parse_get_order(&bytes(r)).unwrap().items)
        .filter(|i| i.gift_message.is_some())
        .count();
    assert!(gifts >= 1, "the example's gift message is read");
    for (_, resp) in cases("orders_2026-01-01.getOrder", "400") {
        assert!(parse_errors(&bytes(&resp)).is_some());
    }
}

#[test]
fn confirm_shipment_examples() {
    for (req, _) in cases("ordersV0.confirmShipment", "204") {
        let body = parse_confirm_request(&bytes(&req["parameters"]["body"]["value"])).unwrap();
        body.validate().unwrap();
        assert_eq!(body.package_detail.package_reference_id, "1");
        // Our encoding reads back the same.
        let again: Value = serde_json::from_slice(&body.to_json()).unwrap();
        assert_eq!(again, req["parameters"]["body"]["value"]);
    }
    for (req, resp) in cases("ordersV0.confirmShipment", "400") {
        let body = parse_confirm_request(&bytes(&req["parameters"]["body"]["value"])).unwrap();
        assert!(body.validate().is_err(), "shipDate 02/21/2022 is refused");
        assert_eq!(parse_errors(&bytes(&resp)).unwrap().code(), "Invalid Input");
    }
}

// ---- the built-in sandbox has Amazon's shape ----

struct Quiet;
impl Observer for Quiet {
    fn call(&mut self, _: &CallRecord) -> fulfill::Result<()> {
        Ok(())
    }
}

fn sandbox() -> (Arc<ManualClock>, SpSandboxHandle) {
    let clock = Arc::new(ManualClock::new(
        parse_time("2026-03-02T09:00:00Z").unwrap(),
    ));
    let mut cfg = SandboxConfig::new(clock.clone());
    cfg.orders = 150;
    cfg.seed = 11;
    (clock.clone(), SpSandbox::start(cfg).unwrap())
}

fn raw(sb: &SpSandboxHandle, method: &str, target: &str, token: &str) -> (u16, Value) {
    let r = sb.call(&HttpRequest {
        method: method.into(),
        target: target.into(),
        headers: vec![
            ("User-Agent".into(), "test/1".into()),
            ("x-amz-access-token".into(), token.into()),
        ],
        body: Vec::new(),
    });
    (
        r.status,
        serde_json::from_slice(&r.body).unwrap_or(Value::Null),
    )
}

fn access_token(sb: &SpSandboxHandle) -> String {
    let c = sb.credentials();
    let form = reqwest::Url::parse_with_params(
        "http://x/",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", c.refresh_token.as_str()),
            ("client_id", c.lwa_client_id.as_str()),
            ("client_secret", c.lwa_client_secret.as_str()),
        ],
    )
    .unwrap()
    .query()
    .unwrap()
    .to_string();
    let r = sb.call(&HttpRequest {
        method: "POST".into(),
        target: "/auth/o2/token".into(),
        headers: vec![(
            "Content-Type".into(),
            "application/x-www-form-urlencoded;charset=UTF-8".into(),
        )],
        body: form.into_bytes(),
    });
    assert_eq!(r.status, 200);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

/// `path:type` for every key, arrays as `[]`.
fn paths(v: &Value, at: &str, out: &mut BTreeMap<String, &'static str>) {
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    out.insert(at.to_string(), kind);
    match v {
        Value::Array(a) => a.iter().for_each(|x| paths(x, &format!("{at}[]"), out)),
        Value::Object(m) => m
            .iter()
            .for_each(|(k, x)| paths(x, &format!("{at}.{k}"), out)),
        _ => {}
    }
}

/// Every key of `v` is a property of the model's schema `schema` (following `$ref`s).
fn in_model(model: &Value, schema: &Value, v: &Value, at: &str, bad: &mut Vec<String>) {
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => &model["definitions"][r.trim_start_matches("#/definitions/")],
        None => schema,
    };
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match schema["properties"].get(k) {
                    Some(s) => in_model(model, s, x, &format!("{at}.{k}"), bad),
                    None => bad.push(format!("{at}.{k}")),
                }
            }
        }
        Value::Array(a) => a
            .iter()
            .for_each(|x| in_model(model, &schema["items"], x, &format!("{at}[]"), bad)),
        _ => {}
    }
}

#[test]
fn sandbox_replies_have_amazons_shape() {
    let (clock, sb) = sandbox();
    clock.advance(chrono::Duration::minutes(5));
    // Give one order a package that is delivered, so packages are in the replies.
    let mut client = Client::new(
        sb.spapi_credentials(1.0).unwrap(),
        Arc::new(ManualTime(clock.clone())),
    )
    .unwrap();
    let truth = sb.orders();
    let o = truth
        .iter()
        .find(|o| {
            o.order.info.order_status == "Unshipped"
                && o.order.info.fulfillment_channel.as_deref() == Some("MFN")
        })
        .expect("an unshipped MFN order");
    let id = o.order.info.amazon_order_id.clone();
    let body = ConfirmShipmentRequest {
        marketplace_id: "ATVPDKIKX0DER".into(),
        package_detail: model::PackageDetail {
            package_reference_id: "1".into(),
            carrier_code: "UPS".into(),
            carrier_name: None,
            shipping_method: Some("UPS Ground".into()),
            tracking_number: "1Z999AA10123456784".into(),
            ship_date: "2026-03-02T09:05:00.000Z".into(),
            ship_from_supply_source_id: None,
            order_items: o
                .items
                .iter()
                .map(|i| model::ConfirmItem {
                    order_item_id: i.info.order_item_id.clone(),
                    quantity: i.info.quantity_ordered,
                    transparency_codes: vec![],
                })
                .collect(),
        },
        cod_collection_method: None,
    };
    assert_eq!(
        client.confirm_shipment(&id, &body, &mut Quiet).unwrap(),
        Verdict::Accepted
    );
    clock.advance(chrono::Duration::days(4));
    let token = access_token(&sb);
    let q = "marketplaceIds=ATVPDKIKX0DER&lastUpdatedAfter=2026-02-20T00:00:00Z&includedData=BUYER,RECIPIENT,PROCEEDS,FULFILLMENT,PACKAGES&maxResultsPerPage=100";
    let (status, search) = raw(
        &sb,
        "GET",
        &format!("/orders/2026-01-01/orders?{q}"),
        &token,
    );
    assert_eq!(status, 200, "{search}");
    let (status, get) = raw(
        &sb,
        "GET",
        &format!(
            "/orders/2026-01-01/orders/{id}?includedData=BUYER,RECIPIENT,PROCEEDS,FULFILLMENT,PACKAGES"
        ),
        &token,
    );
    assert_eq!(status, 200, "{get}");
    assert_eq!(
        get["order"]["packages"][0]["packageStatus"]["status"],
        "DELIVERED"
    );

    // 1. Every key the sandbox sends is in Amazon's model.
    let model: Value =
        serde_json::from_slice(&std::fs::read(shared("orders_2026-01-01.json")).unwrap()).unwrap();
    let mut bad = Vec::new();
    in_model(
        &model,
        &model["definitions"]["SearchOrdersResponse"],
        &search,
        "",
        &mut bad,
    );
    in_model(
        &model,
        &model["definitions"]["GetOrderResponse"],
        &get,
        "",
        &mut bad,
    );
    assert!(bad.is_empty(), "keys not in Amazon's model: {bad:?}");
    // Positive control: a key that is not in the model is caught.
    let mut caught = Vec::new();
    in_model(
        &model,
        &model["definitions"]["GetOrderResponse"],
        &serde_json::json!({"order": {"madeUp": 1}}),
        "",
        &mut caught,
    );
    assert_eq!(caught, vec![".order.madeUp".to_string()]);

    // 2. Keys both send have the same JSON type, and the examples' core keys are all there.
    let mut ours = BTreeMap::new();
    paths(&search, "", &mut ours);
    paths(&get["order"], ".orders[]", &mut ours);
    let mut amazon = BTreeMap::new();
    for (_, r) in cases("orders_2026-01-01.searchOrders", "200") {
        paths(&r, "", &mut amazon);
    }
    for (_, r) in cases("orders_2026-01-01.getOrder", "200") {
        paths(&r["order"], ".orders[]", &mut amazon);
    }
    let mut shared_keys = 0;
    for (k, t) in &ours {
        if let Some(a) = amazon.get(k) {
            assert_eq!(t, a, "{k}: sandbox {t}, Amazon {a}");
            shared_keys += 1;
        }
    }
    assert!(shared_keys > 40, "{shared_keys}");
    for core in [
        ".orders[].orderId",
        ".orders[].createdTime",
        ".orders[].lastUpdatedTime",
        ".orders[].salesChannel.marketplaceId",
        ".orders[].buyer.buyerEmail",
        ".orders[].recipient.deliveryAddress.addressLine1",
        ".orders[].recipient.deliveryAddress.postalCode",
        ".orders[].fulfillment.fulfillmentStatus",
        ".orders[].fulfillment.deliverByWindow.latestDateTime",
        ".orders[].orderItems[].orderItemId",
        ".orders[].orderItems[].quantityOrdered",
        ".orders[].orderItems[].product.sellerSku",
        ".orders[].orderItems[].fulfillment.quantityFulfilled",
        ".orders[].packages[].packageReferenceId",
        ".orders[].packages[].packageStatus.status",
        ".orders[].packages[].packageItems[].orderItemId",
        ".pagination.nextToken",
    ] {
        assert!(amazon.contains_key(core), "Amazon's examples have {core}");
        if core != ".pagination.nextToken" {
            assert!(ours.contains_key(core), "the sandbox sends {core}");
        }
    }
    // And our parser reads the sandbox's reply.
    let page = parse_search_orders(&bytes(&search)).unwrap();
    assert!(page.rejected.is_empty() && !page.orders.is_empty());
    assert!(parse_get_order(&bytes(&get)).unwrap().delivered());
}

// ---- never panic ----

static FUZZ: std::sync::OnceLock<(SpSandboxHandle, String)> = std::sync::OnceLock::new();

fn fuzz_init() -> &'static (SpSandboxHandle, String) {
    FUZZ.get_or_init(|| {
        let (_, sb) = sandbox();
        let t = access_token(&sb);
        (sb, t)
    })
}

fn fuzz_sandbox() -> &'static SpSandboxHandle {
    &fuzz_init().0
}

fn fuzz_token() -> &'static str {
    &fuzz_init().1
}

fn fixture_bodies() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for op in [
        "orders_2026-01-01.searchOrders",
        "orders_2026-01-01.getOrder",
    ] {
        for (_, r) in cases(op, "200") {
            out.push(bytes(&r));
        }
    }
    out
}

fn all_parsers(b: &[u8]) {
    let _ = parse_search_orders(b);
    let _ = parse_get_order(b);
    let _ = parse_errors(b);
    let _ = parse_confirm_request(b);
    let _ = model::check_body(b);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..2048)) {
        all_parsers(&b);
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in 0usize..4,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let bodies = fixture_bodies();
        let mut b = bodies[which % bodies.len()].clone();
        for (i, byte) in &edits {
            let at = i.index(b.len());
            b[at] = *byte;
        }
        all_parsers(&b);
        let n = cut.index(b.len() + 1);
        all_parsers(&b[..n]);
    }

    #[test]
    fn the_sandbox_never_panics_on_any_request(
        method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE"]),
        path in prop::sample::select(vec![
            "/orders/2026-01-01/orders",
            "/orders/2026-01-01/orders/111-1111111-1111111",
            "/orders/2026-01-01/orders/%zz",
            "/orders/v0/orders/111-1111111-1111111/shipmentConfirmation",
            "/orders/v0/orders//shipmentConfirmation",
            "/auth/o2/token",
            "/",
        ]),
        query in r"[a-zA-Z=&%0-9:,+._-]{0,80}",
        body in proptest::collection::vec(any::<u8>(), 0..300),
        with_token in any::<bool>(),
    ) {
        let sb = fuzz_sandbox();
        let mut headers = vec![
            ("User-Agent".to_string(), "fuzz/1".to_string()),
            ("Content-Type".to_string(), "application/x-www-form-urlencoded".to_string()),
        ];
        if with_token {
            headers.push(("x-amz-access-token".into(), fuzz_token().into()));
        }
        let r = sb.call(&HttpRequest {
            method: method.into(),
            target: format!("{path}?{query}"),
            headers,
            body,
        });
        prop_assert!((200..600).contains(&r.status));
    }

    #[test]
    fn json_shaped_noise_never_panics(s in r#"[\[\]{}",:0-9a-zA-Z\\ ]{0,300}"#) {
        all_parsers(s.as_bytes());
        let wrapped = format!(r#"{{"orders":[{s}],"order":{s}}}"#);
        all_parsers(wrapped.as_bytes());
    }
}
