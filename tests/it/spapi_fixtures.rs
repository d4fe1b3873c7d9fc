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

/// A marketplace of another region is refused as Amazon refuses it (issue 22): a 400
/// `InvalidInput` naming it, nothing listed; the region's own marketplace is listed.
#[test]
fn the_sandbox_refuses_a_marketplace_of_another_region() {
    let (_, sb) = sandbox();
    let token = access_token(&sb);
    let search = |markets: &str| {
        raw(
            &sb,
            "GET",
            &format!(
                "/orders/2026-01-01/orders?marketplaceIds={markets}&lastUpdatedAfter=2026-02-20T00:00:00Z&maxResultsPerPage=100"
            ),
            &token,
        )
    };
    let (status, body) = search("ATVPDKIKX0DER");
    assert_eq!(status, 200, "{body}");
    for other in ["A1PA6795UKMFR9", "ATVPDKIKX0DER,A1PA6795UKMFR9"] {
        let (status, body) = search(other);
        assert_eq!(status, 400, "{other}: {body}");
        assert_eq!(body["errors"][0]["code"], "InvalidInput", "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("A1PA6795UKMFR9") && message.contains("region"),
            "{message}"
        );
    }
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

// ---- Shipping API v2 ----

/// The model's example reply of a Shipping v2 operation (Amazon's examples leave out the
/// `payload` envelope the schema puts around them).
fn shipping_example(model: &Value, path: &str, verb: &str) -> Value {
    model["paths"][path][verb]["responses"]["200"]["examples"]["application/json"].clone()
}

fn shipping_model() -> Value {
    serde_json::from_slice(&std::fs::read(shared("shippingV2.json")).unwrap()).unwrap()
}

#[test]
fn shipping_v2_model_examples_parse_bare_and_in_their_envelope() {
    use fulfill::spapi::shipping::{parse_cancel, parse_documents, parse_purchase, parse_rates};
    let m = shipping_model();
    let rates = shipping_example(&m, "/shipping/v2/shipments/rates", "post");
    let purchase = shipping_example(&m, "/shipping/v2/shipments", "post");
    let docs = shipping_example(&m, "/shipping/v2/shipments/{shipmentId}/documents", "get");
    let cancel = shipping_example(&m, "/shipping/v2/shipments/{shipmentId}/cancel", "put");
    for wrap in [false, true] {
        let body = |v: &Value| {
            bytes(&if wrap {
                serde_json::json!({ "payload": v })
            } else {
                v.clone()
            })
        };
        let r = parse_rates(&body(&rates)).unwrap();
        assert_eq!(
            r.quote.pin.as_deref(),
            Some("6DCCEDD3FF961C15FEB94F342D41C")
        );
        let o = &r.quote.offers[0];
        assert_eq!(
            (o.service_id.as_str(), o.carrier.as_str()),
            ("FOORSID", "FOO SHIP GRD")
        );
        assert!(o.label_formats.contains(&"ZPL203".to_string()), "{o:?}");
        // The rate offers PNG and ZPL: fulfill asks for ZPL at 203 dpi.
        assert_eq!(r.specs[0].1.label_format(), "ZPL203");

        // `trackingId` is a number in Amazon's example (a string in its schema): read either.
        let p = parse_purchase(&body(&purchase), Some("ZPL")).unwrap();
        assert_eq!(p.shipment_id, "87852211788104");
        assert_eq!(p.tracking_id.as_deref(), Some("1578648261977"));
        // A PNG where ZPL was asked for (and not a PNG at all): bought, but not printed.
        assert!(p.label.unwrap().is_err());

        let d = parse_documents(&body(&docs)).unwrap();
        assert_eq!(
            (d.shipment_id.as_str(), d.tracking_id.as_deref()),
            ("445454-3232-3232", Some("T1234567"))
        );
        parse_cancel(&body(&cancel)).unwrap();
    }
}

fn call_json(
    sb: &SpSandboxHandle,
    method: &str,
    target: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (u16, Vec<u8>) {
    let mut h = vec![
        ("User-Agent".to_string(), "test/1".to_string()),
        ("x-amz-access-token".to_string(), token.to_string()),
        (
            "x-amzn-shipping-business-id".to_string(),
            "AmazonShipping_US".to_string(),
        ),
    ];
    h.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    if body.is_some() {
        h.push(("Content-Type".into(), "application/json".into()));
    }
    let r = sb.call(&HttpRequest {
        method: method.into(),
        target: target.into(),
        headers: h,
        body: body.map(bytes).unwrap_or_default(),
    });
    (r.status, r.body)
}

#[test]
fn the_sandboxs_shipping_v2_replies_are_in_amazons_model_and_parse() {
    use fulfill::model::shipping::{LabelRequest, Package, ShipFrom, Weight};
    use fulfill::spapi::shipping::{
        PurchaseRequest, RatesRequest, parse_cancel, parse_documents, parse_purchase, parse_rates,
    };
    let (clock, sb) = sandbox();
    clock.advance(chrono::Duration::minutes(5));
    let token = access_token(&sb);
    let o = sb
        .orders()
        .into_iter()
        .find(|o| {
            o.order.info.order_status == "Unshipped"
                && o.order.info.fulfillment_channel.as_deref() == Some("MFN")
        })
        .expect("an unshipped MFN order");
    let id = o.order.info.amazon_order_id.clone();
    let req = LabelRequest {
        order_id: id.clone(),
        items: o
            .items
            .iter()
            .map(|i| (i.info.order_item_id.clone(), i.info.quantity_ordered))
            .collect(),
        ship_from: ShipFrom {
            name: "Acme Warehouse".into(),
            address_line1: "10 Jay St".into(),
            city: "Brooklyn".into(),
            state: Some("NY".into()),
            postal_code: "11201".into(),
            country: "US".into(),
            email: "ship@acme.example".into(),
            phone: "7181231234".into(),
            ..Default::default()
        },
        package: Package::parse("10x8x4in").unwrap(),
        weight: Weight::parse("12oz").unwrap(),
        experience: "DeliveryConfirmationWithoutSignature",
    };
    let body: Value =
        serde_json::from_slice(&RatesRequest::new(&req, "USD").unwrap().to_json()).unwrap();
    assert!(body.get("shipTo").is_none(), "no ship-to is sent");
    let m = shipping_model();
    let mut bad = Vec::new();
    in_model(
        &m,
        &m["definitions"]["GetRatesRequest"],
        &body,
        "request",
        &mut bad,
    );

    let (status, rates) = call_json(
        &sb,
        "POST",
        "/shipping/v2/shipments/rates",
        &token,
        &[],
        Some(&body),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&rates));
    let parsed = parse_rates(&rates).unwrap();
    let (rate_id, spec) = parsed.specs[0].clone();
    let purchase = PurchaseRequest {
        request_token: parsed.quote.pin.clone().unwrap(),
        rate_id,
        requested_document_specification: spec,
    };
    let pbody: Value = serde_json::from_slice(&purchase.to_json()).unwrap();
    in_model(
        &m,
        &m["definitions"]["PurchaseShipmentRequest"],
        &pbody,
        "request",
        &mut bad,
    );
    let (status, bought) = call_json(
        &sb,
        "POST",
        "/shipping/v2/shipments",
        &token,
        &[("x-amzn-IdempotencyKey", "0123456789abcdef0123456789abcdef")],
        Some(&pbody),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bought));
    let p = parse_purchase(&bought, Some("ZPL")).unwrap();
    assert!(p.label.unwrap().is_ok());
    let (status, docs) = call_json(
        &sb,
        "GET",
        &format!(
            "/shipping/v2/shipments/{}/documents?packageClientReferenceId={id}",
            p.shipment_id
        ),
        &token,
        &[],
        None,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&docs));
    assert_eq!(parse_documents(&docs).unwrap().tracking_id, p.tracking_id);
    let (status, cancel) = call_json(
        &sb,
        "PUT",
        &format!("/shipping/v2/shipments/{}/cancel", p.shipment_id),
        &token,
        &[],
        None,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&cancel));
    parse_cancel(&cancel).unwrap();

    // Every key either side sends is in Amazon's model.
    let v = |b: &[u8]| serde_json::from_slice::<Value>(b).unwrap();
    for (def, reply) in [
        ("GetRatesResponse", v(&rates)),
        ("PurchaseShipmentResponse", v(&bought)),
        ("GetShipmentDocumentsResponse", v(&docs)),
        ("CancelShipmentResponse", v(&cancel)),
    ] {
        in_model(&m, &m["definitions"][def], &reply, def, &mut bad);
    }
    assert!(bad.is_empty(), "keys not in Amazon's model: {bad:?}");
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
    let m = shipping_model();
    for (path, verb) in [
        ("/shipping/v2/shipments/rates", "post"),
        ("/shipping/v2/shipments", "post"),
        ("/shipping/v2/shipments/{shipmentId}/documents", "get"),
    ] {
        let ex = shipping_example(&m, path, verb);
        out.push(bytes(&serde_json::json!({ "payload": ex })));
    }
    out
}

fn all_parsers(b: &[u8]) {
    let _ = parse_search_orders(b);
    let _ = parse_get_order(b);
    let _ = parse_errors(b);
    let _ = parse_confirm_request(b);
    let _ = model::check_body(b);
    let _ = fulfill::spapi::shipping::parse_rates(b);
    let _ = fulfill::spapi::shipping::parse_purchase(b, Some("ZPL"));
    let _ = fulfill::spapi::shipping::parse_documents(b);
    let _ = fulfill::spapi::shipping::parse_cancel(b);
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
            "/shipping/v2/shipments/rates",
            "/shipping/v2/shipments",
            "/shipping/v2/shipments/S1/documents",
            "/shipping/v2/shipments/../cancel",
            "/shipping/v2/shipments//cancel",
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
    fn json_shaped_shipping_requests_never_panic_the_sandbox(
        path in prop::sample::select(vec![
            ("POST", "/shipping/v2/shipments/rates"),
            ("POST", "/shipping/v2/shipments"),
            ("GET", "/shipping/v2/shipments/S1/documents?packageClientReferenceId=x"),
            ("PUT", "/shipping/v2/shipments/S1/cancel"),
        ]),
        body in r#"[\[\]{}",:0-9a-zA-Z. -]{0,300}"#,
        key in prop::option::of("[a-f0-9]{1,40}"),
    ) {
        let sb = fuzz_sandbox();
        let mut headers = vec![
            ("User-Agent".to_string(), "fuzz/1".to_string()),
            ("Content-Type".to_string(), "application/json".to_string()),
            ("x-amz-access-token".to_string(), fuzz_token().to_string()),
            ("x-amzn-shipping-business-id".to_string(), "AmazonShipping_US".to_string()),
        ];
        if let Some(k) = key {
            headers.push(("x-amzn-IdempotencyKey".into(), k));
        }
        for b in [body.clone(), format!(r#"{{"requestToken":{body},"rateId":"r","channelDetails":{{"channelType":"AMAZON","amazonOrderDetails":{{"orderId":{body}}}}},"packages":[{body}],"shipFrom":{body}}}"#)] {
            let r = sb.call(&HttpRequest {
                method: path.0.into(),
                target: path.1.into(),
                headers: headers.clone(),
                body: b.into_bytes(),
            });
            prop_assert!((200..600).contains(&r.status));
        }
    }

    #[test]
    fn json_shaped_noise_never_panics(s in r#"[\[\]{}",:0-9a-zA-Z\\ ]{0,300}"#) {
        all_parsers(s.as_bytes());
        let wrapped = format!(r#"{{"orders":[{s}],"order":{s}}}"#);
        all_parsers(wrapped.as_bytes());
    }
}
