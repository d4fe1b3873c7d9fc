//! Shipping API v2 in the SP-API sandbox: `getRates`, `purchaseShipment`,
//! `getShipmentDocuments` and `cancelShipment` for Amazon orders, with Amazon's checks.
//!
//! The services, prices, tracking numbers and ZPL labels are the MWS sandbox's
//! ([`super::shipping`]), so both sandboxes sell the same labels. What is v2's own:
//!
//! - **getRates**: `channelDetails` must name an Amazon order the sandbox has (merchant
//!   fulfilled, `Unshipped` or `PartiallyShipped`); `shipFrom` is checked against the model's
//!   `Address`; exactly one package, its dimensions, weight, insured value, reference id and
//!   items (order item ids with at most their unshipped quantity). A `shipTo` is ignored, as
//!   Amazon ignores it for Amazon orders, but counted
//!   ([`super::spapi::SpSandboxHandle::ship_to_received`]). The `requestToken` and its rates
//!   expire after [`REQUEST_TOKEN_LIFETIME`] of sandbox time. The express service is
//!   ineligible above [`EXPRESS_MAX_OUNCES`].
//! - **purchaseShipment**: an `x-amzn-IdempotencyKey` seen before with the same body gets
//!   the first reply again (nothing bought); with another body it is refused. The document
//!   specification must match one the rate supports. Buying the label confirms the shipment
//!   as `confirmShipment` does (the order's items ship; the package joins the order's packages
//!   and [`super::spapi::SpSandboxHandle::confirmations`]). Labels are ZPL (203 or 300 dpi)
//!   or PDF (300 dpi), base64, not gzipped.
//! - **getShipmentDocuments**: the same label again, for a shipment not cancelled.
//! - **cancelShipment**: within [`CANCEL_WINDOW`] of the purchase (the MWS sandbox has no
//!   carrier-scan rule); the items go back to unshipped so a new label can be bought.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use rand::RngExt;
use serde_json::{Value, json};

use super::State;
use super::data::{SimOrder, fmt_time};
use super::http::HttpRequest;
use super::shipping::{SERVICES, cents, label_zpl, tracking_number};
use super::spapi::{Reply, SimPackage, SpState, err, invalid, ok_json};
use crate::spapi::{IDEMPOTENCY_HEADER, SHIPPING_BUSINESS_HEADER, shipping_business};

/// How long a `requestToken` (and its rates) stays valid, in sandbox time.
pub const REQUEST_TOKEN_LIFETIME: Duration = Duration::minutes(10);
/// How long after the purchase a label can be cancelled, in sandbox time.
pub const CANCEL_WINDOW: Duration = Duration::hours(24);
/// The heaviest package the express service takes (70 lb).
pub const EXPRESS_MAX_OUNCES: f64 = 70.0 * 16.0;

/// The index in [`SERVICES`] of the express service (ineligible for heavy packages).
const EXPRESS: usize = 2;

const BUSINESSES: &[&str] = &[
    "AmazonShipping_US",
    "AmazonShipping_IN",
    "AmazonShipping_UK",
    "AmazonShipping_UAE",
    "AmazonShipping_SA",
    "AmazonShipping_EG",
    "AmazonShipping_IT",
    "AmazonShipping_ES",
    "AmazonShipping_FR",
    "AmazonShipping_JP",
];

/// One supported document specification: (format, DPIs). Every one is 4x6 INCH, page layout
/// `DEFAULT`, no file joining, document type `LABEL` (mandatory).
const SPECS: &[(&str, &[u32])] = &[("ZPL", &[203, 300]), ("PDF", &[300])];
const INVALID_SPEC: &str = "An invalid documentation specification was provided.";

/// A label bought through `purchaseShipment` (ground truth).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimLabel {
    /// `shipmentId`.
    pub shipment_id: String,
    /// The Amazon order.
    pub order_id: String,
    /// The `rateId` bought.
    pub rate_id: String,
    /// `serviceId`.
    pub service_id: String,
    /// `carrierId` (`UPS`, `USPS`).
    pub carrier: String,
    /// `trackingId`.
    pub tracking: String,
    /// The `x-amzn-IdempotencyKey` it was bought with.
    pub idempotency_key: Option<String>,
    /// The label format bought (`ZPL`, `PDF`).
    pub format: String,
    /// Whether `cancelShipment` cancelled it.
    pub cancelled: bool,
    /// Sandbox time of the purchase.
    pub purchased_at: DateTime<Utc>,
}

struct QuotedRate {
    rate_id: String,
    service: usize,
}

struct Quote {
    order_id: String,
    package_ref: String,
    items: Vec<(String, u32)>,
    ounces: f64,
    rates: Vec<QuotedRate>,
    expires: DateTime<Utc>,
}

struct Shipment {
    label: SimLabel,
    service: usize,
    package_ref: String,
    items: Vec<(String, u32)>,
    ounces: f64,
    dpi: u32,
}

/// A reply kept for an idempotency key: (canonical request body, status, body, error code).
type Kept = (Vec<u8>, u16, Vec<u8>, Option<String>);

/// The sandbox's Shipping API v2 state (part of the SP-API sandbox's state).
#[derive(Default)]
pub struct ShippingV2 {
    quotes: HashMap<String, Quote>,
    shipments: Vec<Shipment>,
    idempotent: HashMap<String, Kept>,
    /// `getRates` requests that carried a `shipTo`.
    pub(super) ship_to_received: usize,
    /// `getRates` requests past the gate.
    pub(super) rate_requests: usize,
}

impl ShippingV2 {
    /// Every label bought, in order.
    pub(super) fn labels(&self) -> Vec<SimLabel> {
        self.shipments.iter().map(|s| s.label.clone()).collect()
    }
}

type Checked<T> = std::result::Result<T, Reply>;

// ---- reading JSON bodies ----

fn body_json(req: &HttpRequest) -> Checked<Value> {
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(invalid("The request body is not a JSON object.")),
    }
}

fn field<'a>(v: &'a Value, path: &str, key: &str) -> Checked<&'a Value> {
    match v.get(key) {
        None | Some(Value::Null) => Err(invalid(&format!("{path}{key} is required."))),
        Some(x) => Ok(x),
    }
}

fn string<'a>(v: &'a Value, path: &str, key: &str) -> Checked<&'a str> {
    field(v, path, key)?
        .as_str()
        .ok_or_else(|| invalid(&format!("{path}{key} must be a string.")))
}

fn number(v: &Value, path: &str, key: &str) -> Checked<f64> {
    field(v, path, key)?
        .as_f64()
        .ok_or_else(|| invalid(&format!("{path}{key} must be a number.")))
}

fn positive(v: &Value, path: &str, key: &str) -> Checked<f64> {
    let n = number(v, path, key)?;
    if n > 0.0 {
        Ok(n)
    } else {
        Err(invalid(&format!("{path}{key} must be greater than 0.")))
    }
}

fn one_of<'a>(v: &'a Value, path: &str, key: &str, allowed: &[&str]) -> Checked<&'a str> {
    let s = string(v, path, key)?;
    if allowed.contains(&s) {
        Ok(s)
    } else {
        Err(invalid(&format!(
            "{path}{key} must be one of {}.",
            allowed.join(", ")
        )))
    }
}

/// The model's `Address`: required fields and length limits.
fn check_address(v: &Value, path: &str) -> Checked<()> {
    if !v.is_object() {
        return Err(invalid(&format!("{path} must be an object.")));
    }
    let p = format!("{path}.");
    let length = |key: &str, min: usize, max: usize, required: bool| -> Checked<()> {
        if !required && v.get(key).is_none_or(Value::is_null) {
            return Ok(());
        }
        let n = string(v, &p, key)?.chars().count();
        if n < min || n > max {
            return Err(invalid(&format!(
                "{p}{key} must be {min} to {max} characters long."
            )));
        }
        Ok(())
    };
    length("name", 1, 50, true)?;
    length("addressLine1", 1, 60, true)?;
    length("addressLine2", 1, 60, false)?;
    length("addressLine3", 1, 60, false)?;
    length("stateOrRegion", 1, usize::MAX, true)?;
    length("city", 1, usize::MAX, true)?;
    length("postalCode", 1, usize::MAX, true)?;
    length("email", 0, 64, false)?;
    length("phoneNumber", 1, 20, false)?;
    let cc = string(v, &p, "countryCode")?;
    if cc.len() != 2 || !cc.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid(&format!(
            "{p}countryCode must be a two-letter ISO 3166-1 alpha-2 code."
        )));
    }
    Ok(())
}

/// `x-amzn-shipping-business-id`, if sent: a known business, and (when `marketplace` is
/// known) the one that serves it.
fn check_business(req: &HttpRequest, marketplace: Option<&str>) -> Checked<()> {
    let Some(b) = req.header(SHIPPING_BUSINESS_HEADER) else {
        return Ok(());
    };
    if !BUSINESSES.contains(&b) {
        return Err(invalid(&format!(
            "{SHIPPING_BUSINESS_HEADER} must be one of {}.",
            BUSINESSES.join(", ")
        )));
    }
    if let Some(m) = marketplace
        && shipping_business(m) != Some(b)
    {
        return Err(invalid(&format!(
            "{SHIPPING_BUSINESS_HEADER} {b} does not serve the order's marketplace {m}."
        )));
    }
    Ok(())
}

fn random_id(st: &mut State, n: usize) -> String {
    let b: Vec<u8> = (0..n).map(|_| st.rng.random()).collect();
    URL_SAFE_NO_PAD.encode(b)
}

fn unshipped(o: &SimOrder, item: &str) -> Option<u32> {
    o.items
        .iter()
        .find(|i| i.info.order_item_id == item)
        .map(|i| {
            i.info
                .quantity_ordered
                .saturating_sub(i.info.quantity_shipped.unwrap_or(0))
        })
}

fn order_of<'a>(st: &'a State, order_id: &str) -> Checked<(usize, &'a SimOrder)> {
    let Some(&i) = st.index.get(order_id) else {
        return Err(invalid(&format!(
            "Order {order_id} was not found for this seller."
        )));
    };
    Ok((i, &st.orders[i]))
}

fn check_shippable(o: &SimOrder, order_id: &str) -> Checked<()> {
    if o.order.info.fulfillment_channel.as_deref() != Some("MFN") {
        return Err(invalid(&format!(
            "Order {order_id} is fulfilled by Amazon; only seller-fulfilled orders can be shipped."
        )));
    }
    match o.order.info.order_status.as_str() {
        "Unshipped" | "PartiallyShipped" => Ok(()),
        other => Err(invalid(&format!(
            "Order {order_id} is {other}; only Unshipped or PartiallyShipped orders can be shipped."
        ))),
    }
}

fn promise(now: DateTime<Utc>, service: usize) -> Value {
    let days = SERVICES[service].5;
    json!({
        "deliveryWindow": {
            "start": fmt_time(now + Duration::days(days)),
            "end": fmt_time(now + Duration::days(days + 2)),
        },
        "pickupWindow": {
            "start": fmt_time(now),
            "end": fmt_time(now + Duration::hours(8)),
        },
    })
}

fn supported_specs() -> Value {
    SPECS
        .iter()
        .map(|(format, dpis)| {
            json!({
                "format": format,
                "size": {"width": 4, "length": 6, "unit": "INCH"},
                "printOptions": [{
                    "supportedDPIs": dpis,
                    "supportedPageLayouts": ["DEFAULT"],
                    "supportedFileJoiningOptions": [false],
                    "supportedDocumentDetails": [{"name": "LABEL", "isMandatory": true}],
                }],
            })
        })
        .collect()
}

// ---- getRates ----

/// `POST /shipping/v2/shipments/rates`.
pub(super) fn get_rates(
    st: &mut State,
    s: &mut SpState,
    req: &HttpRequest,
    now: DateTime<Utc>,
) -> Reply {
    s.shipping.rate_requests += 1;
    match rates(st, s, req, now) {
        Ok(r) | Err(r) => r,
    }
}

fn rates(st: &mut State, s: &mut SpState, req: &HttpRequest, now: DateTime<Utc>) -> Checked<Reply> {
    let body = body_json(req)?;
    if body.get("shipTo").is_some_and(|v| !v.is_null()) {
        s.shipping.ship_to_received += 1;
    }
    let channel = field(&body, "", "channelDetails")?;
    if string(channel, "channelDetails.", "channelType")? != "AMAZON" {
        return Err(invalid(
            "channelDetails.channelType must be AMAZON: the sandbox rates Amazon orders only.",
        ));
    }
    let details = field(channel, "channelDetails.", "amazonOrderDetails")?;
    let order_id = string(details, "channelDetails.amazonOrderDetails.", "orderId")?.to_string();
    let (_, o) = order_of(st, &order_id)?;
    check_business(req, o.order.info.marketplace_id.as_deref())?;
    check_shippable(o, &order_id)?;
    check_address(field(&body, "", "shipFrom")?, "shipFrom")?;
    let packages = field(&body, "", "packages")?
        .as_array()
        .ok_or_else(|| invalid("packages must be an array."))?;
    let [pkg] = packages.as_slice() else {
        return Err(invalid(
            "At this time, each shipment is limited to a single package.",
        ));
    };
    let pp = "packages[0].";
    if !pkg.is_object() {
        return Err(invalid("packages[0] must be an object."));
    }
    let dims = field(pkg, pp, "dimensions")?;
    let dp = "packages[0].dimensions.";
    for k in ["length", "width", "height"] {
        positive(dims, dp, k)?;
    }
    one_of(dims, dp, "unit", &["INCH", "CENTIMETER"])?;
    let weight = field(pkg, pp, "weight")?;
    let wp = "packages[0].weight.";
    let value = positive(weight, wp, "value")?;
    let ounces = match one_of(weight, wp, "unit", &["GRAM", "KILOGRAM", "OUNCE", "POUND"])? {
        "GRAM" => value / 28.349_523,
        "KILOGRAM" => value * 35.273_962,
        "POUND" => value * 16.0,
        _ => value,
    };
    let insured = field(pkg, pp, "insuredValue")?;
    let ip = "packages[0].insuredValue.";
    if number(insured, ip, "value")? < 0.0 {
        return Err(invalid(
            "packages[0].insuredValue.value must not be negative.",
        ));
    }
    let unit = string(insured, ip, "unit")?;
    if unit.len() != 3 || !unit.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid(
            "packages[0].insuredValue.unit must be a 3-letter ISO 4217 currency code.",
        ));
    }
    let package_ref = string(pkg, pp, "packageClientReferenceId")?;
    if package_ref.trim().is_empty() {
        return Err(invalid(
            "packages[0].packageClientReferenceId must not be empty.",
        ));
    }
    let list = field(pkg, pp, "items")?
        .as_array()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| invalid("packages[0].items must be a non-empty array."))?;
    let mut items: Vec<(String, u32)> = Vec::new();
    for (n, it) in list.iter().enumerate() {
        let p = format!("packages[0].items[{n}].");
        let id = string(it, &p, "itemIdentifier")?;
        let q = field(it, &p, "quantity")?
            .as_u64()
            .filter(|q| *q >= 1)
            .and_then(|q| u32::try_from(q).ok())
            .ok_or_else(|| invalid(&format!("{p}quantity must be an integer of at least 1.")))?;
        match items.iter_mut().find(|(i, _)| i == id) {
            Some((_, sum)) => *sum = sum.saturating_add(q),
            None => items.push((id.to_string(), q)),
        }
    }
    for (id, q) in &items {
        let Some(left) = unshipped(o, id) else {
            return Err(invalid(&format!(
                "itemIdentifier {id} is not an OrderItemId of order {order_id}."
            )));
        };
        if *q > left {
            return Err(invalid(&format!(
                "The quantity of item {id} exceeds its unshipped quantity ({left})."
            )));
        }
    }
    let package_ref = package_ref.to_string();
    let token = random_id(st, 32);
    let mut rates = Vec::new();
    let mut out = Vec::new();
    let mut ineligible = Vec::new();
    for (i, (carrier, service_id, name, _, _, _)) in SERVICES.iter().enumerate() {
        if i == EXPRESS && ounces > EXPRESS_MAX_OUNCES {
            ineligible.push(json!({
                "serviceId": service_id,
                "serviceName": name,
                "carrierName": carrier,
                "carrierId": carrier,
                "ineligibilityReasons": [{
                    "code": "WEIGHT_RESTRICTIONS",
                    "message": "The package is heavier than the service's 70 lb limit.",
                }],
            }));
            continue;
        }
        let rate_id = random_id(st, 24);
        let c = cents(i, ounces);
        out.push(json!({
            "rateId": rate_id,
            "carrierId": carrier,
            "carrierName": carrier,
            "serviceId": service_id,
            "serviceName": name,
            "billedWeight": {"value": ounces.ceil(), "unit": "OUNCE"},
            "totalCharge": {"value": c as f64 / 100.0, "unit": "USD"},
            "promise": promise(now, i),
            "supportedDocumentSpecifications": supported_specs(),
            "requiresAdditionalInputs": false,
        }));
        rates.push(QuotedRate {
            rate_id,
            service: i,
        });
    }
    // Expired quotes are kept a day, so a late purchase hears "expired", not "invalid".
    s.shipping
        .quotes
        .retain(|_, q| q.expires + Duration::days(1) > now);
    s.shipping.quotes.insert(
        token.clone(),
        Quote {
            order_id,
            package_ref,
            items,
            ounces,
            rates,
            expires: now + REQUEST_TOKEN_LIFETIME,
        },
    );
    Ok(ok_json(&json!({"payload": {
        "requestToken": token,
        "rates": out,
        "ineligibleRates": ineligible,
    }})))
}

// ---- purchaseShipment ----

/// `POST /shipping/v2/shipments`.
pub(super) fn purchase(
    st: &mut State,
    s: &mut SpState,
    req: &HttpRequest,
    now: DateTime<Utc>,
) -> Reply {
    let key = req
        .header(IDEMPOTENCY_HEADER)
        .filter(|k| !k.is_empty())
        .map(str::to_string);
    // The same JSON written differently (spacing, key order) is the same request.
    let canonical = serde_json::from_slice::<Value>(&req.body)
        .ok()
        .and_then(|v| serde_json::to_vec(&v).ok())
        .unwrap_or_else(|| req.body.clone());
    if let Some(k) = &key
        && let Some((seen, status, body, code)) = s.shipping.idempotent.get(k)
    {
        if *seen != canonical {
            return invalid("The idempotency key was used with a different request.");
        }
        return Reply {
            status: *status,
            body: body.clone(),
            code: code.clone(),
        };
    }
    let reply = match buy(st, s, req, key.clone(), now) {
        Ok(r) | Err(r) => r,
    };
    if let Some(k) = key {
        s.shipping.idempotent.insert(
            k,
            (
                canonical,
                reply.status,
                reply.body.clone(),
                reply.code.clone(),
            ),
        );
    }
    reply
}

/// The requested document specification, checked against the supported ones: (format, dpi).
fn check_spec(spec: &Value) -> Checked<(&'static str, u32)> {
    let p = "requestedDocumentSpecification.";
    if !spec.is_object() {
        return Err(invalid("requestedDocumentSpecification must be an object."));
    }
    let format = string(spec, p, "format")?;
    let size = field(spec, p, "size")?;
    let sp = "requestedDocumentSpecification.size.";
    let (w, l, u) = (
        number(size, sp, "width")?,
        number(size, sp, "length")?,
        string(size, sp, "unit")?,
    );
    let join = field(spec, p, "needFileJoining")?
        .as_bool()
        .ok_or_else(|| {
            invalid("requestedDocumentSpecification.needFileJoining must be a boolean.")
        })?;
    let types = field(spec, p, "requestedDocumentTypes")?
        .as_array()
        .ok_or_else(|| {
            invalid("requestedDocumentSpecification.requestedDocumentTypes must be an array.")
        })?;
    let dpi = match spec.get("dpi") {
        None | Some(Value::Null) => None,
        Some(d) => Some(
            d.as_u64()
                .and_then(|d| u32::try_from(d).ok())
                .ok_or_else(|| invalid("requestedDocumentSpecification.dpi must be an integer."))?,
        ),
    };
    let layout = match spec.get("pageLayout") {
        None | Some(Value::Null) => "DEFAULT",
        Some(v) => v.as_str().ok_or_else(|| {
            invalid("requestedDocumentSpecification.pageLayout must be a string.")
        })?,
    };
    let Some((format, dpis)) = SPECS.iter().find(|(f, _)| *f == format) else {
        return Err(invalid(INVALID_SPEC));
    };
    let dpi = dpi.unwrap_or(dpis[0]);
    let ok = w == 4.0
        && l == 6.0
        && u == "INCH"
        && dpis.contains(&dpi)
        && layout == "DEFAULT"
        && !join
        && !types.is_empty()
        && types.iter().all(|t| t.as_str() == Some("LABEL"));
    if ok {
        Ok((format, dpi))
    } else {
        Err(invalid(INVALID_SPEC))
    }
}

fn buy(
    st: &mut State,
    s: &mut SpState,
    req: &HttpRequest,
    key: Option<String>,
    now: DateTime<Utc>,
) -> Checked<Reply> {
    let body = body_json(req)?;
    let token = string(&body, "", "requestToken")?;
    let rate_id = string(&body, "", "rateId")?;
    let spec = field(&body, "", "requestedDocumentSpecification")?;
    let Some(quote) = s.shipping.quotes.get(token) else {
        return Err(invalid("The request token is invalid."));
    };
    if quote.expires <= now {
        return Err(invalid("The request token has expired; get rates again."));
    }
    let Some(rate) = quote.rates.iter().find(|r| r.rate_id == rate_id) else {
        return Err(invalid(
            "The rateId is not one of the rates returned for this request token.",
        ));
    };
    let (i, o) = order_of(st, &quote.order_id)?;
    check_business(req, o.order.info.marketplace_id.as_deref())?;
    let (format, dpi) = check_spec(spec)?;
    check_shippable(o, &quote.order_id)?;
    for (id, q) in &quote.items {
        let left = unshipped(o, id).unwrap_or(0);
        if *q > left {
            return Err(invalid(&format!(
                "Item {id} of order {} has only {left} left to ship: a label was bought or a \
                 shipment confirmed since these rates were quoted; get rates again.",
                quote.order_id
            )));
        }
    }
    let service = rate.service;
    let rate_id = rate.rate_id.clone();
    let (order_id, package_ref, items, ounces) = (
        quote.order_id.clone(),
        quote.package_ref.clone(),
        quote.items.clone(),
        quote.ounces,
    );
    let (carrier, service_id, service_name, _, _, _) = SERVICES[service];
    let shipment_id = super::api::uuid(st);
    let tracking = tracking_number(st, carrier);
    let delay = Duration::seconds(st.rng.random_range(86_400..3 * 86_400));
    let o = &mut st.orders[i];
    for (id, q) in &items {
        if let Some(it) = o.items.iter_mut().find(|it| &it.info.order_item_id == id) {
            *it.info.quantity_shipped.get_or_insert(0) += q;
        }
    }
    let all = o
        .items
        .iter()
        .all(|it| it.info.quantity_shipped.unwrap_or(0) >= it.info.quantity_ordered);
    o.cancel_at = None;
    o.set_status(if all { "Shipped" } else { "PartiallyShipped" }, now);
    // Buying through Amazon Shipping confirms the shipment, as confirmShipment would.
    let p = SimPackage {
        order_id: order_id.clone(),
        package_reference_id: package_ref.clone(),
        carrier_code: carrier.to_string(),
        carrier_name: Some(carrier.to_string()),
        shipping_method: Some(service_name.to_string()),
        tracking_number: tracking.clone(),
        ship_date: fmt_time(now),
        items: items.clone(),
        confirmed_at: now,
        delivered_at: now + delay,
    };
    s.packages
        .entry(order_id.clone())
        .or_default()
        .push(p.clone());
    s.confirmations.push(p);
    let contents = label(&st.orders[i], &tracking, service, ounces, (format, dpi));
    s.shipping.shipments.push(Shipment {
        label: SimLabel {
            shipment_id: shipment_id.clone(),
            order_id,
            rate_id,
            service_id: service_id.to_string(),
            carrier: carrier.to_string(),
            tracking: tracking.clone(),
            idempotency_key: key,
            format: format.to_string(),
            cancelled: false,
            purchased_at: now,
        },
        service,
        package_ref: package_ref.clone(),
        items,
        ounces,
        dpi,
    });
    Ok(ok_json(&json!({"payload": {
        "shipmentId": shipment_id,
        "packageDocumentDetails": [{
            "packageClientReferenceId": package_ref,
            "trackingId": tracking,
            "packageDocuments": [{"type": "LABEL", "format": format, "contents": contents}],
        }],
        "promise": promise(now, service),
    }})))
}

/// The label, base64: ZPL (the MWS sandbox's, at `dpi`) or a one-page PDF.
fn label(
    o: &SimOrder,
    tracking: &str,
    service: usize,
    ounces: f64,
    (format, dpi): (&str, u32),
) -> String {
    let name = SERVICES[service].2;
    let bytes = if format == "PDF" {
        label_pdf(o, tracking, name, ounces)
    } else {
        label_zpl(o, tracking, name, dpi)
    };
    STANDARD.encode(bytes)
}

fn label_pdf(o: &SimOrder, tracking: &str, service: &str, ounces: f64) -> Vec<u8> {
    use crate::label::picklist::win_ansi;
    use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};
    let pii = &o.order.pii;
    let mut lines: Vec<String> = [
        pii.recipient_name.as_ref(),
        pii.address_line1.as_ref(),
        pii.address_line2.as_ref(),
        pii.city.as_ref(),
        pii.state_or_region.as_ref(),
        pii.postal_code.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|l| l.expose_pii().to_string())
    .collect();
    lines.push(String::new());
    lines.push(format!("{service}   {} oz", ounces.ceil()));
    lines.push(format!("Tracking: {tracking}"));
    let (catalog, tree, page, body, font) = (
        Ref::new(1),
        Ref::new(2),
        Ref::new(3),
        Ref::new(4),
        Ref::new(5),
    );
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids([page]).count(1);
    // 4x6 inches.
    let (w, h) = (288.0, 432.0);
    let mut c = Content::new();
    for (k, l) in lines.iter().enumerate() {
        c.begin_text();
        c.set_font(Name(b"F1"), 14.0);
        c.next_line(20.0, h - 40.0 - 20.0 * k as f32);
        c.show(Str(&win_ansi(l)));
        c.end_text();
    }
    let mut pg = pdf.page(page);
    pg.media_box(Rect::new(0.0, 0.0, w, h));
    pg.parent(tree);
    pg.contents(body);
    let mut res = pg.resources();
    res.fonts().pair(Name(b"F1"), font);
    res.finish();
    pg.finish();
    pdf.stream(body, &c.finish());
    pdf.type1_font(font)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.finish()
}

// ---- getShipmentDocuments ----

/// `GET /shipping/v2/shipments/{shipmentId}/documents`.
pub(super) fn documents(
    st: &State,
    s: &SpState,
    id: &str,
    req: &HttpRequest,
    q: &[(String, String)],
) -> Reply {
    match docs(st, s, id, req, q) {
        Ok(r) | Err(r) => r,
    }
}

fn single<'a>(q: &'a [(String, String)], name: &str) -> Checked<Option<&'a str>> {
    let mut it = q.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let first = it.next();
    if it.next().is_some() {
        return Err(invalid(&format!("{name} is given more than once.")));
    }
    Ok(first)
}

fn shipment<'a>(s: &'a SpState, id: &str) -> Checked<&'a Shipment> {
    s.shipping
        .shipments
        .iter()
        .find(|x| x.label.shipment_id == id)
        .ok_or_else(|| err(404, "NotFound", "The shipment was not found.", None))
}

fn docs(
    st: &State,
    s: &SpState,
    id: &str,
    req: &HttpRequest,
    q: &[(String, String)],
) -> Checked<Reply> {
    check_business(req, None)?;
    let sh = shipment(s, id)?;
    let (i, o) = order_of(st, &sh.label.order_id)?;
    check_business(req, o.order.info.marketplace_id.as_deref())?;
    match single(q, "packageClientReferenceId")? {
        None => return Err(invalid("packageClientReferenceId is required.")),
        Some(r) if r != sh.package_ref => {
            return Err(invalid(
                "packageClientReferenceId is not a package of this shipment.",
            ));
        }
        Some(_) => {}
    }
    if sh.label.cancelled {
        return Err(invalid("The shipment was cancelled."));
    }
    let format = single(q, "format")?.unwrap_or(&sh.label.format);
    let Some((format, dpis)) = SPECS.iter().find(|(f, _)| *f == format) else {
        return Err(invalid(&format!(
            "format {format} is not supported by this shipment's service."
        )));
    };
    let dpi = match single(q, "dpi")? {
        None if *format == sh.label.format => sh.dpi,
        None => dpis[0],
        Some(d) => d
            .parse::<u32>()
            .ok()
            .filter(|d| dpis.contains(d))
            .ok_or_else(|| invalid(&format!("dpi {d} is not supported for {format} labels.")))?,
    };
    let contents = label(
        &st.orders[i],
        &sh.label.tracking,
        sh.service,
        sh.ounces,
        (format, dpi),
    );
    Ok(ok_json(&json!({"payload": {
        "shipmentId": sh.label.shipment_id,
        "packageDocumentDetail": {
            "packageClientReferenceId": sh.package_ref,
            "trackingId": sh.label.tracking,
            "packageDocuments": [{"type": "LABEL", "format": format, "contents": contents}],
        },
    }})))
}

// ---- cancelShipment ----

/// `PUT /shipping/v2/shipments/{shipmentId}/cancel`.
pub(super) fn cancel(
    st: &mut State,
    s: &mut SpState,
    id: &str,
    req: &HttpRequest,
    now: DateTime<Utc>,
) -> Reply {
    match cancel_label(st, s, id, req, now) {
        Ok(r) | Err(r) => r,
    }
}

fn cancel_label(
    st: &mut State,
    s: &mut SpState,
    id: &str,
    req: &HttpRequest,
    now: DateTime<Utc>,
) -> Checked<Reply> {
    check_business(req, None)?;
    let sh = shipment(s, id)?;
    let (i, o) = order_of(st, &sh.label.order_id)?;
    check_business(req, o.order.info.marketplace_id.as_deref())?;
    if sh.label.cancelled {
        return Err(invalid("The shipment is already cancelled."));
    }
    if now >= sh.label.purchased_at + CANCEL_WINDOW {
        return Err(invalid(
            "The shipment can no longer be cancelled: labels can be cancelled within 24 hours of purchase.",
        ));
    }
    let (order_id, tracking, items) = (
        sh.label.order_id.clone(),
        sh.label.tracking.clone(),
        sh.items.clone(),
    );
    if let Some(sh) = s
        .shipping
        .shipments
        .iter_mut()
        .find(|x| x.label.shipment_id == id)
    {
        sh.label.cancelled = true;
    }
    // Its items may go on a new label.
    let o = &mut st.orders[i];
    for (item, q) in &items {
        if let Some(it) = o.items.iter_mut().find(|it| &it.info.order_item_id == item) {
            let shipped = it.info.quantity_shipped.get_or_insert(0);
            *shipped = shipped.saturating_sub(*q);
        }
    }
    let none = o
        .items
        .iter()
        .all(|it| it.info.quantity_shipped.unwrap_or(0) == 0);
    o.set_status(
        if none {
            "Unshipped"
        } else {
            "PartiallyShipped"
        },
        now,
    );
    // The package no longer travels: it leaves the order's packages (its confirmation stays
    // in the ground-truth log, `confirmations()`).
    if let Some(pk) = s.packages.get_mut(&order_id) {
        pk.retain(|p| p.tracking_number != tracking);
    }
    Ok(ok_json(&json!({"payload": {}})))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::{ManualClock, parse_time};
    use crate::sandbox::faults::FaultSpec;
    use crate::sandbox::http::{Delivery, HttpResponse};
    use crate::sandbox::spapi::{SpSandbox, SpSandboxHandle};
    use crate::sandbox::{SandboxConfig, SandboxOrder};
    use crate::spapi::{LWA_TOKEN_PATH, op};

    struct Env {
        clock: Arc<ManualClock>,
        sb: SpSandboxHandle,
        token: String,
    }

    fn env() -> Env {
        let clock = Arc::new(ManualClock::new(
            parse_time("2026-03-02T09:00:00Z").unwrap(),
        ));
        let mut cfg = SandboxConfig::new(clock.clone());
        cfg.orders = 80;
        cfg.seed = 11;
        let sb = SpSandbox::start(cfg).unwrap();
        let token = access_token(&sb);
        Env { clock, sb, token }
    }

    /// An access token from the sandbox's LWA endpoint, as a client gets one.
    fn access_token(sb: &SpSandboxHandle) -> String {
        let c = sb.credentials();
        let form = crate::mws::sign::encode_params([
            ("grant_type", "refresh_token"),
            ("refresh_token", c.refresh_token.as_str()),
            ("client_id", c.lwa_client_id.as_str()),
            ("client_secret", c.lwa_client_secret.as_str()),
        ]);
        let r = sb.call(&HttpRequest {
            method: "POST".into(),
            target: LWA_TOKEN_PATH.into(),
            headers: vec![(
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: form.into_bytes(),
        });
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        v["access_token"].as_str().unwrap().to_string()
    }

    impl Env {
        fn request(
            &self,
            method: &str,
            target: &str,
            body: &[u8],
            headers: &[(&str, &str)],
        ) -> HttpResponse {
            let mut h = vec![
                ("User-Agent".to_string(), "fulfill-test/1.0".to_string()),
                ("x-amz-access-token".to_string(), self.token.clone()),
                ("Content-Type".to_string(), "application/json".to_string()),
            ];
            h.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            self.sb.call(&HttpRequest {
                method: method.into(),
                target: target.into(),
                headers: h,
                body: body.to_vec(),
            })
        }

        fn call(
            &self,
            method: &str,
            target: &str,
            body: Option<&Value>,
            headers: &[(&str, &str)],
        ) -> (u16, Value) {
            let bytes = body
                .map(|b| serde_json::to_vec(b).unwrap())
                .unwrap_or_default();
            let r = self.request(method, target, &bytes, headers);
            let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            (r.status, v)
        }

        /// An unshipped merchant-fulfilled order with nothing shipped yet.
        fn order(&self) -> SandboxOrder {
            self.sb
                .orders()
                .into_iter()
                .find(|o| {
                    o.order.info.order_status == "Unshipped"
                        && o.order.info.fulfillment_channel.as_deref() == Some("MFN")
                        && o.items
                            .iter()
                            .all(|i| i.info.quantity_shipped.unwrap_or(0) == 0)
                })
                .expect("an unshipped MFN order")
        }

        fn rates(&self, body: &Value) -> (u16, Value) {
            self.call("POST", SHIPPING_RATES, Some(body), &[])
        }

        /// Rates for every item of `o`: (requestToken, first rateId).
        fn quote(&self, o: &SandboxOrder) -> (String, String) {
            let (st, v) = self.rates(&rates_body(o));
            assert_eq!(st, 200, "{v}");
            let p = &v["payload"];
            (
                p["requestToken"].as_str().unwrap().to_string(),
                p["rates"][0]["rateId"].as_str().unwrap().to_string(),
            )
        }

        fn purchase(&self, body: &Value, key: Option<&str>) -> (u16, Value) {
            let h: Vec<(&str, &str)> = key.map(|k| (IDEMPOTENCY_HEADER, k)).into_iter().collect();
            self.call("POST", SHIPPING_PURCHASE, Some(body), &h)
        }

        fn status(&self, order_id: &str) -> String {
            self.sb
                .orders()
                .into_iter()
                .find(|o| o.order.info.amazon_order_id == order_id)
                .unwrap()
                .order
                .info
                .order_status
        }
    }

    const SHIPPING_RATES: &str = crate::spapi::SHIPPING_RATES_PATH;
    const SHIPPING_PURCHASE: &str = crate::spapi::SHIPPING_PURCHASE_PATH;

    fn docs_path(id: &str, query: &str) -> String {
        format!(
            "{}{id}{}?{query}",
            crate::spapi::SHIPPING_SHIPMENT_PREFIX,
            crate::spapi::SHIPPING_DOCUMENTS_SUFFIX
        )
    }

    fn cancel_path(id: &str) -> String {
        format!(
            "{}{id}{}",
            crate::spapi::SHIPPING_SHIPMENT_PREFIX,
            crate::spapi::SHIPPING_CANCEL_SUFFIX
        )
    }

    fn rates_body(o: &SandboxOrder) -> Value {
        let items: Vec<Value> = o
            .items
            .iter()
            .map(|i| json!({"itemIdentifier": i.info.order_item_id, "quantity": i.info.quantity_ordered}))
            .collect();
        json!({
            "channelDetails": {
                "channelType": "AMAZON",
                "amazonOrderDetails": {"orderId": o.order.info.amazon_order_id},
            },
            "shipFrom": {
                "name": "Example Warehouse",
                "addressLine1": "1 Dock Road",
                "city": "Seattle",
                "stateOrRegion": "WA",
                "postalCode": "98101",
                "countryCode": "US",
            },
            "packages": [{
                "dimensions": {"length": 10, "width": 8, "height": 4, "unit": "INCH"},
                "weight": {"value": 20, "unit": "OUNCE"},
                "insuredValue": {"value": 0, "unit": "USD"},
                "packageClientReferenceId": "pkg-1",
                "items": items,
            }],
        })
    }

    fn spec(format: &str, dpi: u32) -> Value {
        json!({
            "format": format,
            "size": {"width": 4, "length": 6, "unit": "INCH"},
            "dpi": dpi,
            "pageLayout": "DEFAULT",
            "needFileJoining": false,
            "requestedDocumentTypes": ["LABEL"],
        })
    }

    fn buy_body(token: &str, rate: &str, spec: Value) -> Value {
        json!({"requestToken": token, "rateId": rate, "requestedDocumentSpecification": spec})
    }

    fn label_text(doc: &Value) -> String {
        let b = STANDARD.decode(doc["contents"].as_str().unwrap()).unwrap();
        String::from_utf8_lossy(&b).into_owned()
    }

    fn message(v: &Value) -> &str {
        v["errors"][0]["message"].as_str().unwrap_or("")
    }

    /// Rates for an unshipped order: one per service, every required Rate field, documents
    /// ZPL 203/300 and PDF 300; the business header of the order's marketplace is accepted.
    #[test]
    fn rates_for_an_unshipped_order_have_every_required_field() {
        let e = env();
        let o = e.order();
        let (st, v) = e.call(
            "POST",
            SHIPPING_RATES,
            Some(&rates_body(&o)),
            &[(SHIPPING_BUSINESS_HEADER, "AmazonShipping_US")],
        );
        assert_eq!(st, 200, "{v}");
        let p = &v["payload"];
        assert!(p["requestToken"].as_str().is_some_and(|t| !t.is_empty()));
        let rates = p["rates"].as_array().unwrap();
        assert_eq!(rates.len(), SERVICES.len());
        assert_eq!(p["ineligibleRates"], json!([]));
        let mut ids: Vec<&str> = rates
            .iter()
            .map(|r| r["rateId"].as_str().unwrap())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), rates.len(), "rate ids are unique");
        for r in rates {
            for k in [
                "rateId",
                "carrierId",
                "carrierName",
                "serviceId",
                "serviceName",
                "totalCharge",
                "billedWeight",
                "promise",
                "supportedDocumentSpecifications",
                "requiresAdditionalInputs",
            ] {
                assert!(r.get(k).is_some(), "{k} in {r}");
            }
            assert!(r["totalCharge"]["value"].is_number());
            assert_eq!(r["totalCharge"]["unit"], "USD");
            for w in ["deliveryWindow", "pickupWindow"] {
                for t in ["start", "end"] {
                    let s = r["promise"][w][t].as_str().unwrap();
                    assert!(DateTime::parse_from_rfc3339(s).is_ok(), "{s}");
                }
            }
            let specs = r["supportedDocumentSpecifications"].as_array().unwrap();
            assert_eq!(specs[0]["format"], "ZPL");
            assert_eq!(
                specs[0]["printOptions"][0]["supportedDPIs"],
                json!([203, 300])
            );
            assert_eq!(specs[1]["format"], "PDF");
            assert_eq!(specs[1]["printOptions"][0]["supportedDPIs"], json!([300]));
            assert_eq!(r["requiresAdditionalInputs"], false);
        }
        // Priced as the MWS sandbox prices: base + per ounce.
        assert_eq!(
            rates[0]["totalCharge"]["value"],
            json!(cents(0, 20.0) as f64 / 100.0)
        );
        assert_eq!(e.sb.rate_requests(), 1);
        assert_eq!(e.sb.ship_to_received(), 0);
        let log = e.sb.requests();
        let last = log.last().unwrap();
        assert_eq!(last.action.as_deref(), Some(op::GET_RATES));
        assert_eq!(last.status, 200);

        // Heavy: the express service is ineligible, with the model's required fields.
        let mut heavy = rates_body(&o);
        heavy["packages"][0]["weight"] = json!({"value": 80, "unit": "POUND"});
        let (st, v) = e.rates(&heavy);
        assert_eq!(st, 200, "{v}");
        assert_eq!(
            v["payload"]["rates"].as_array().unwrap().len(),
            SERVICES.len() - 1
        );
        let inel = &v["payload"]["ineligibleRates"][0];
        assert_eq!(inel["serviceId"], SERVICES[EXPRESS].1);
        assert_eq!(
            inel["ineligibilityReasons"][0]["code"],
            "WEIGHT_RESTRICTIONS"
        );
    }

    /// Each broken field is refused with 400 InvalidInput and a message naming it.
    #[test]
    fn missing_or_invalid_fields_are_refused() {
        let e = env();
        let o = e.order();
        let good = rates_body(&o);
        let afn =
            e.sb.orders()
                .into_iter()
                .find(|o| o.order.info.fulfillment_channel.as_deref() == Some("AFN"))
                .unwrap();
        let shipped = e.sb.orders().into_iter().find(|o| {
            o.order.info.fulfillment_channel.as_deref() == Some("MFN")
                && o.order.info.order_status == "Pending"
        });
        type Edit = Box<dyn Fn(&mut Value)>;
        let mut cases: Vec<(Edit, &str)> = vec![
            (
                Box::new(|b| b["channelDetails"]["channelType"] = json!("EXTERNAL")),
                "channelType",
            ),
            (
                Box::new(|b| {
                    b["channelDetails"]["amazonOrderDetails"]["orderId"] =
                        json!("111-0000000-0000000")
                }),
                "was not found",
            ),
            (
                Box::new(move |b| {
                    b["channelDetails"]["amazonOrderDetails"]["orderId"] =
                        json!(afn.order.info.amazon_order_id)
                }),
                "fulfilled by Amazon",
            ),
            (
                Box::new(|b| {
                    b.as_object_mut().unwrap().remove("shipFrom");
                }),
                "shipFrom is required",
            ),
            (
                Box::new(|b| b["shipFrom"]["name"] = json!("x".repeat(51))),
                "shipFrom.name",
            ),
            (
                Box::new(|b| b["shipFrom"]["addressLine1"] = json!("")),
                "shipFrom.addressLine1",
            ),
            (
                Box::new(|b| {
                    b["shipFrom"].as_object_mut().unwrap().remove("postalCode");
                }),
                "shipFrom.postalCode is required",
            ),
            (
                Box::new(|b| {
                    let p = b["packages"][0].clone();
                    b["packages"] = json!([p.clone(), p]);
                }),
                "limited to a single package",
            ),
            (
                Box::new(|b| b["packages"] = json!([])),
                "limited to a single package",
            ),
            (
                Box::new(|b| b["packages"][0]["dimensions"]["height"] = json!(0)),
                "dimensions.height",
            ),
            (
                Box::new(|b| b["packages"][0]["dimensions"]["unit"] = json!("FOOT")),
                "dimensions.unit",
            ),
            (
                Box::new(|b| b["packages"][0]["weight"]["value"] = json!(-1)),
                "weight.value",
            ),
            (
                Box::new(|b| b["packages"][0]["weight"]["unit"] = json!("STONE")),
                "weight.unit",
            ),
            (
                Box::new(|b| b["packages"][0]["insuredValue"]["value"] = json!(-0.5)),
                "insuredValue.value",
            ),
            (
                Box::new(|b| b["packages"][0]["insuredValue"]["unit"] = json!("DOLLARS")),
                "insuredValue.unit",
            ),
            (
                Box::new(|b| b["packages"][0]["packageClientReferenceId"] = json!("")),
                "packageClientReferenceId",
            ),
            (
                Box::new(|b| b["packages"][0]["items"] = json!([])),
                "items must be a non-empty",
            ),
            (
                Box::new(|b| {
                    b["packages"][0]["items"][0]["itemIdentifier"] = json!("99999999999999")
                }),
                "not an OrderItemId",
            ),
            (
                Box::new(|b| b["packages"][0]["items"][0]["quantity"] = json!(0)),
                "quantity",
            ),
            (
                Box::new(|b| b["packages"][0]["items"][0]["quantity"] = json!(1000)),
                "exceeds its unshipped quantity",
            ),
            (
                Box::new(|b| b["packages"][0]["items"][0]["quantity"] = json!("1")),
                "quantity",
            ),
        ];
        if let Some(p) = shipped {
            cases.push((
                Box::new(move |b| {
                    b["channelDetails"]["amazonOrderDetails"]["orderId"] =
                        json!(p.order.info.amazon_order_id)
                }),
                "only Unshipped or PartiallyShipped",
            ));
        }
        for (edit, want) in &cases {
            let mut b = good.clone();
            edit(&mut b);
            let (st, v) = e.rates(&b);
            assert_eq!(st, 400, "{want}: {v}");
            assert_eq!(v["errors"][0]["code"], "InvalidInput", "{v}");
            assert!(message(&v).contains(want), "{want}: {v}");
        }
        for (h, want) in [
            ("AmazonShipping_UK", "does not serve"),
            ("AmazonShipping_XX", "must be one of"),
        ] {
            let (st, v) = e.call(
                "POST",
                SHIPPING_RATES,
                Some(&good),
                &[(SHIPPING_BUSINESS_HEADER, h)],
            );
            assert_eq!(st, 400, "{v}");
            assert!(message(&v).contains(want), "{v}");
        }
        let r = e.request("POST", SHIPPING_RATES, b"{not json", &[]);
        assert_eq!(r.status, 400);
        // Positive control: the unedited body is fine.
        assert_eq!(e.rates(&good).0, 200);
        assert!(e.sb.labels().is_empty());
    }

    /// The gate applies: no token, no User-Agent.
    #[test]
    fn the_gate_applies_to_shipping_operations() {
        let e = env();
        let o = e.order();
        let body = serde_json::to_vec(&rates_body(&o)).unwrap();
        let r = e.sb.call(&HttpRequest {
            method: "POST".into(),
            target: SHIPPING_RATES.into(),
            headers: vec![("User-Agent".into(), "t/1".into())],
            body: body.clone(),
        });
        assert_eq!(r.status, 403);
        let r = e.sb.call(&HttpRequest {
            method: "PUT".into(),
            target: cancel_path("x"),
            headers: vec![("x-amz-access-token".into(), e.token.clone())],
            body: Vec::new(),
        });
        assert_eq!(r.status, 400);
        assert_eq!(e.sb.rate_requests(), 0);
        let r = e.request("POST", SHIPPING_RATES, &body, &[]);
        assert_eq!(r.status, 200);
        assert!(
            r.headers
                .iter()
                .any(|(k, v)| k == "x-amzn-RateLimit-Limit" && v == "80"),
            "{:?}",
            r.headers
        );
        assert_eq!(e.sb.rate_requests(), 1);
    }

    /// A shipTo is accepted, ignored and counted.
    #[test]
    fn a_ship_to_is_ignored_but_counted() {
        let e = env();
        let o = e.order();
        let mut b = rates_body(&o);
        b["shipTo"] = json!({"name": "Somebody", "addressLine1": "2 Road", "city": "X",
            "stateOrRegion": "CA", "postalCode": "90001", "countryCode": "US"});
        let (st, v) = e.rates(&b);
        assert_eq!(st, 200, "{v}");
        assert_eq!(e.sb.ship_to_received(), 1);
        e.rates(&rates_body(&o));
        assert_eq!(e.sb.ship_to_received(), 1);
        assert_eq!(e.sb.rate_requests(), 2);
    }

    /// Purchase: the order ships, the package is confirmed, the label carries the buyer's
    /// address and the tracking number.
    #[test]
    fn purchase_ships_the_order_and_confirms_the_package() {
        let e = env();
        let o = e.order();
        let id = o.order.info.amazon_order_id.clone();
        let before = e.sb.last_updated(&id).unwrap();
        e.clock.advance(Duration::minutes(1));
        let (tok, rate) = e.quote(&o);
        let (st, v) = e.purchase(&buy_body(&tok, &rate, spec("ZPL", 203)), None);
        assert_eq!(st, 200, "{v}");
        let p = &v["payload"];
        let sid = p["shipmentId"].as_str().unwrap();
        let d = &p["packageDocumentDetails"][0];
        assert_eq!(d["packageClientReferenceId"], "pkg-1");
        let tracking = d["trackingId"].as_str().unwrap();
        let doc = &d["packageDocuments"][0];
        assert_eq!(doc["type"], "LABEL");
        assert_eq!(doc["format"], "ZPL");
        let zpl = label_text(doc);
        assert!(
            zpl.starts_with("^XA") && zpl.trim_end().ends_with("^XZ"),
            "{zpl}"
        );
        assert!(zpl.contains(tracking));
        let name = o.order.pii.recipient_name.as_ref().unwrap().expose_pii();
        assert!(zpl.contains(&name.replace(['^', '~'], " ")), "{zpl}");
        assert!(zpl.contains(&e.sb.pii_marker()));

        assert_eq!(e.status(&id), "Shipped");
        let c = e.sb.confirmations();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].order_id, id);
        assert_eq!(c[0].tracking_number, tracking);
        assert_eq!(c[0].package_reference_id, "pkg-1");
        assert!(e.sb.last_updated(&id).unwrap() > before);
        let l = e.sb.labels();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].shipment_id, sid);
        assert_eq!(l[0].rate_id, rate);
        assert_eq!(l[0].service_id, SERVICES[0].1);
        assert_eq!(l[0].carrier, SERVICES[0].0);
        assert_eq!(l[0].format, "ZPL");
        assert!(!l[0].cancelled);
        assert!(tracking.starts_with("1Z"), "UPS format: {tracking}");
        // With its check digit: the number a packer would type passes the tool's own check.
        let ups = crate::model::tracking::Carrier::Code("UPS");
        let checked = crate::model::tracking::check_tracking(&ups, tracking, false).unwrap();
        assert_eq!(checked.number, tracking);
        // A later getOrder shows the package.
        let (st, v) = e.call(
            "GET",
            &format!(
                "{}{id}?includedData=PACKAGES",
                crate::spapi::GET_ORDER_PREFIX
            ),
            None,
            &[],
        );
        assert_eq!(st, 200);
        assert_eq!(v["order"]["packages"][0]["trackingNumber"], tracking);
        // Buying again on the same quote: the items have shipped.
        let (st, v) = e.purchase(&buy_body(&tok, &rate, spec("ZPL", 203)), None);
        assert_eq!(st, 400, "{v}");
        assert!(message(&v).contains("Shipped"), "{v}");
    }

    /// A PDF label is a PDF.
    #[test]
    fn pdf_labels_are_pdfs() {
        let e = env();
        let o = e.order();
        let (tok, rate) = e.quote(&o);
        let (st, v) = e.purchase(&buy_body(&tok, &rate, spec("PDF", 300)), None);
        assert_eq!(st, 200, "{v}");
        let doc = &v["payload"]["packageDocumentDetails"][0]["packageDocuments"][0];
        assert_eq!(doc["format"], "PDF");
        assert!(label_text(doc).starts_with("%PDF-"));
        assert_eq!(e.sb.labels()[0].format, "PDF");
    }

    /// The same key and body: the first reply again, one label bought. Another body: refused.
    #[test]
    fn idempotent_replay_buys_once_and_a_reused_key_is_refused() {
        let e = env();
        let o = e.order();
        let (tok, rate) = e.quote(&o);
        let body = buy_body(&tok, &rate, spec("ZPL", 203));
        let first = e.request(
            "POST",
            SHIPPING_PURCHASE,
            &serde_json::to_vec(&body).unwrap(),
            &[(IDEMPOTENCY_HEADER, "k-1")],
        );
        assert_eq!(first.status, 200);
        // The same JSON, pretty-printed.
        let again = e.request(
            "POST",
            SHIPPING_PURCHASE,
            &serde_json::to_vec_pretty(&body).unwrap(),
            &[(IDEMPOTENCY_HEADER, "k-1")],
        );
        assert_eq!(again.status, 200);
        assert_eq!(again.body, first.body);
        assert_eq!(e.sb.labels().len(), 1);
        assert_eq!(e.sb.labels()[0].idempotency_key.as_deref(), Some("k-1"));
        assert_eq!(e.sb.confirmations().len(), 1);

        let other = buy_body(&tok, &rate, spec("ZPL", 300));
        let (st, v) = e.purchase(&other, Some("k-1"));
        assert_eq!(st, 400);
        assert_eq!(v["errors"][0]["code"], "InvalidInput");
        assert_eq!(
            message(&v),
            "The idempotency key was used with a different request."
        );
        assert_eq!(e.sb.labels().len(), 1);
    }

    /// A reset after a purchase loses only the reply: the retry with the key gets it.
    #[test]
    fn a_reset_purchase_is_bought_and_the_retry_replays_it() {
        let e = env();
        let o = e.order();
        let (tok, rate) = e.quote(&o);
        let body = buy_body(&tok, &rate, spec("ZPL", 203));
        for kind in ["reset", "truncate", "malformed"] {
            let key = format!("key-{kind}");
            let mut b = body.clone();
            if kind != "reset" {
                // A fresh order and quote for each fault.
                let o =
                    e.sb.orders()
                        .into_iter()
                        .find(|x| {
                            x.order.info.order_status == "Unshipped"
                                && x.order.info.fulfillment_channel.as_deref() == Some("MFN")
                                && x.items
                                    .iter()
                                    .all(|i| i.info.quantity_shipped.unwrap_or(0) == 0)
                        })
                        .unwrap();
                let (t, r) = e.quote(&o);
                b = buy_body(&t, &r, spec("ZPL", 203));
            }
            let n = e.sb.labels().len();
            e.sb.set_faults(FaultSpec::parse(&format!("{kind}=1")).unwrap(), 1);
            let lost = e.request(
                "POST",
                SHIPPING_PURCHASE,
                &serde_json::to_vec(&b).unwrap(),
                &[(IDEMPOTENCY_HEADER, &key)],
            );
            e.sb.set_faults(FaultSpec::none(), 1);
            match kind {
                "reset" => assert_eq!(lost.delivery, Delivery::Reset),
                "truncate" => assert_eq!(lost.delivery, Delivery::Truncate),
                _ => assert!(serde_json::from_slice::<Value>(&lost.body).is_err()),
            }
            assert_eq!(e.sb.labels().len(), n + 1, "{kind}: bought");
            let (st, v) = e.purchase(&b, Some(&key));
            assert_eq!(st, 200, "{v}");
            assert_eq!(v["payload"]["shipmentId"], e.sb.labels()[n].shipment_id);
            assert_eq!(e.sb.labels().len(), n + 1, "{kind}: bought once");
        }
        // An internal error buys nothing.
        e.sb.set_faults(FaultSpec::parse("internal=1").unwrap(), 1);
        let r = e.request("POST", SHIPPING_PURCHASE, b"{}", &[]);
        e.sb.set_faults(FaultSpec::none(), 1);
        assert_eq!(r.status, 500);
    }

    /// Tokens expire after 10 minutes of sandbox time; unknown tokens and rates are refused.
    #[test]
    fn expired_unknown_tokens_and_rates_are_refused() {
        let e = env();
        let o = e.order();
        let (tok, rate) = e.quote(&o);
        let (st, v) = e.purchase(&buy_body("nope", &rate, spec("ZPL", 203)), None);
        assert_eq!((st, message(&v)), (400, "The request token is invalid."));
        let (st, v) = e.purchase(&buy_body(&tok, "nope", spec("ZPL", 203)), None);
        assert_eq!(st, 400);
        assert!(message(&v).contains("rateId"), "{v}");
        let (st, v) = e.purchase(
            &json!({"rateId": rate, "requestedDocumentSpecification": spec("ZPL", 203)}),
            None,
        );
        assert_eq!((st, message(&v)), (400, "requestToken is required."));
        e.clock.advance(REQUEST_TOKEN_LIFETIME);
        let (st, v) = e.purchase(&buy_body(&tok, &rate, spec("ZPL", 203)), None);
        assert_eq!(
            (st, message(&v)),
            (400, "The request token has expired; get rates again.")
        );
        assert!(e.sb.labels().is_empty());
        assert_eq!(e.status(&o.order.info.amazon_order_id), "Unshipped");
    }

    /// A document specification the rate does not support is refused.
    #[test]
    fn unsupported_document_specifications_are_refused() {
        let e = env();
        let o = e.order();
        let (tok, rate) = e.quote(&o);
        let mut bad = vec![spec("PNG", 203), spec("ZPL", 600), spec("PDF", 203)];
        let mut s = spec("ZPL", 203);
        s["size"]["length"] = json!(8);
        bad.push(s);
        let mut s = spec("ZPL", 203);
        s["pageLayout"] = json!("LEFT");
        bad.push(s);
        let mut s = spec("ZPL", 203);
        s["needFileJoining"] = json!(true);
        bad.push(s);
        let mut s = spec("ZPL", 203);
        s["requestedDocumentTypes"] = json!(["LABEL", "PACKSLIP"]);
        bad.push(s);
        let mut s = spec("ZPL", 203);
        s["requestedDocumentTypes"] = json!([]);
        bad.push(s);
        for s in bad {
            let (st, v) = e.purchase(&buy_body(&tok, &rate, s.clone()), None);
            assert_eq!(st, 400, "{s}");
            assert_eq!(message(&v), INVALID_SPEC, "{s}");
        }
        let mut s = spec("ZPL", 203);
        s.as_object_mut().unwrap().remove("size");
        let (st, v) = e.purchase(&buy_body(&tok, &rate, s), None);
        assert_eq!(
            (st, message(&v)),
            (400, "requestedDocumentSpecification.size is required.")
        );
        assert!(e.sb.labels().is_empty());
        // dpi and pageLayout are optional.
        let mut s = spec("ZPL", 203);
        s.as_object_mut().unwrap().remove("dpi");
        s.as_object_mut().unwrap().remove("pageLayout");
        let (st, v) = e.purchase(&buy_body(&tok, &rate, s), None);
        assert_eq!(st, 200, "{v}");
    }

    /// getShipmentDocuments gives the same tracking and label; its parameters are checked.
    #[test]
    fn documents_return_the_same_tracking_and_label() {
        let e = env();
        let o = e.order();
        let (tok, rate) = e.quote(&o);
        let (_, v) = e.purchase(&buy_body(&tok, &rate, spec("ZPL", 203)), None);
        let sid = v["payload"]["shipmentId"].as_str().unwrap().to_string();
        let bought = &v["payload"]["packageDocumentDetails"][0];
        for q in [
            "packageClientReferenceId=pkg-1",
            "packageClientReferenceId=pkg-1&format=ZPL&dpi=203",
        ] {
            let (st, d) = e.call("GET", &docs_path(&sid, q), None, &[]);
            assert_eq!(st, 200, "{d}");
            assert_eq!(d["payload"]["shipmentId"], sid);
            let detail = &d["payload"]["packageDocumentDetail"];
            assert_eq!(detail["trackingId"], bought["trackingId"]);
            assert_eq!(detail["packageClientReferenceId"], "pkg-1");
            assert_eq!(detail["packageDocuments"][0], bought["packageDocuments"][0]);
        }
        let (st, d) = e.call(
            "GET",
            &docs_path(&sid, "packageClientReferenceId=pkg-1&format=ZPL&dpi=300"),
            None,
            &[],
        );
        assert_eq!(st, 200);
        let z300 = label_text(&d["payload"]["packageDocumentDetail"]["packageDocuments"][0]);
        assert!(z300.contains("^FO73,88"), "scaled to 300 dpi: {z300}");
        let (st, d) = e.call(
            "GET",
            &docs_path(&sid, "packageClientReferenceId=pkg-1&format=PDF"),
            None,
            &[],
        );
        assert_eq!(st, 200);
        assert!(
            label_text(&d["payload"]["packageDocumentDetail"]["packageDocuments"][0])
                .starts_with("%PDF-")
        );
        for (q, want) in [
            ("format=ZPL", "packageClientReferenceId is required."),
            (
                "packageClientReferenceId=pkg-2",
                "packageClientReferenceId is not a package of this shipment.",
            ),
            ("packageClientReferenceId=pkg-1&format=PNG", "format PNG"),
            (
                "packageClientReferenceId=pkg-1&format=PDF&dpi=203",
                "dpi 203",
            ),
            ("packageClientReferenceId=pkg-1&dpi=abc", "dpi abc"),
        ] {
            let (st, d) = e.call("GET", &docs_path(&sid, q), None, &[]);
            assert_eq!(st, 400, "{q}: {d}");
            assert!(message(&d).contains(want), "{q}: {d}");
        }
        let (st, d) = e.call(
            "GET",
            &docs_path("unknown", "packageClientReferenceId=pkg-1"),
            None,
            &[],
        );
        assert_eq!(st, 404);
        assert_eq!(d["errors"][0]["code"], "NotFound");
    }

    /// Cancel: documents refused, the order unshipped again and labelled anew; a second
    /// cancel and a late one are refused.
    #[test]
    fn cancel_unships_the_order_and_only_once() {
        let mut e = env();
        let o = e.order();
        let id = o.order.info.amazon_order_id.clone();
        let (tok, rate) = e.quote(&o);
        let (_, v) = e.purchase(&buy_body(&tok, &rate, spec("ZPL", 203)), None);
        let sid = v["payload"]["shipmentId"].as_str().unwrap().to_string();
        assert_eq!(e.status(&id), "Shipped");
        e.clock.advance(Duration::minutes(30));
        let (st, v) = e.call("PUT", &cancel_path(&sid), None, &[]);
        assert_eq!(st, 200, "{v}");
        assert_eq!(v, json!({"payload": {}}));
        assert_eq!(e.status(&id), "Unshipped");
        let after =
            e.sb.orders()
                .into_iter()
                .find(|x| x.order.info.amazon_order_id == id)
                .unwrap();
        assert!(
            after
                .items
                .iter()
                .all(|i| i.info.quantity_shipped.unwrap_or(0) == 0)
        );
        assert!(e.sb.labels()[0].cancelled);
        let (st, d) = e.call(
            "GET",
            &docs_path(&sid, "packageClientReferenceId=pkg-1"),
            None,
            &[],
        );
        assert_eq!((st, message(&d)), (400, "The shipment was cancelled."));
        let (st, d) = e.call("PUT", &cancel_path(&sid), None, &[]);
        assert_eq!(
            (st, message(&d)),
            (400, "The shipment is already cancelled.")
        );
        let (st, _) = e.call("PUT", &cancel_path("unknown"), None, &[]);
        assert_eq!(st, 404);
        // The package left the order's packages.
        let (_, v) = e.call(
            "GET",
            &format!(
                "{}{id}?includedData=PACKAGES",
                crate::spapi::GET_ORDER_PREFIX
            ),
            None,
            &[],
        );
        assert_eq!(v["order"]["packages"], json!([]));

        // A new label for the same items; cancelling it a day later is refused.
        let (tok, rate) = e.quote(&o);
        let (st, v) = e.purchase(&buy_body(&tok, &rate, spec("ZPL", 203)), None);
        assert_eq!(st, 200, "{v}");
        let sid2 = v["payload"]["shipmentId"].as_str().unwrap().to_string();
        assert_ne!(sid2, sid);
        assert_eq!(e.status(&id), "Shipped");
        e.clock.advance(CANCEL_WINDOW);
        e.token = access_token(&e.sb);
        let (st, d) = e.call("PUT", &cancel_path(&sid2), None, &[]);
        assert_eq!(st, 400);
        assert!(message(&d).contains("within 24 hours"), "{d}");
        assert_eq!(e.status(&id), "Shipped");
    }

    /// Hostile bodies and paths get 4xx answers, never a panic.
    #[test]
    fn hostile_requests_are_refused_without_panicking() {
        let e = env();
        let o = e.order();
        let good = rates_body(&o);
        let mut bodies: Vec<Vec<u8>> = [
            "",
            "null",
            "[]",
            "1e999",
            "\"x\"",
            "{\"channelDetails\":[]}",
            "{\"packages\":\"x\"}",
            "{\"requestToken\":1,\"rateId\":[]}",
        ]
        .iter()
        .map(|b| b.as_bytes().to_vec())
        .collect();
        bodies.push(vec![0xff, 0xfe, b'{']);
        for k in ["channelDetails", "shipFrom", "packages"] {
            let mut b = good.clone();
            b[k] = json!(null);
            bodies.push(serde_json::to_vec(&b).unwrap());
            b[k] = json!([[1], {"a": -1}]);
            bodies.push(serde_json::to_vec(&b).unwrap());
        }
        let mut b = good.clone();
        b["packages"][0]["items"][0]["quantity"] = json!(u64::MAX);
        bodies.push(serde_json::to_vec(&b).unwrap());
        b["packages"][0]["weight"]["value"] = json!(1e308);
        bodies.push(serde_json::to_vec(&b).unwrap());
        let (tok, rate) = e.quote(&o);
        let mut p = buy_body(&tok, &rate, spec("ZPL", 203));
        p["requestedDocumentSpecification"]["dpi"] = json!(-1);
        bodies.push(serde_json::to_vec(&p).unwrap());
        p["requestedDocumentSpecification"] = json!("ZPL");
        bodies.push(serde_json::to_vec(&p).unwrap());
        for body in &bodies {
            for (m, path) in [
                ("POST", SHIPPING_RATES.to_string()),
                ("POST", SHIPPING_PURCHASE.to_string()),
                ("PUT", cancel_path("%00")),
                ("GET", docs_path("x", "dpi=%zz")),
            ] {
                let r = e.request(m, &path, body, &[(IDEMPOTENCY_HEADER, "h")]);
                assert!(
                    (400..500).contains(&r.status),
                    "{m} {path} {}: {}",
                    String::from_utf8_lossy(body),
                    r.status
                );
            }
        }
        assert!(e.sb.labels().is_empty());
    }

    // ---- the responses against the model ----

    fn resolve<'a>(model: &'a Value, mut s: &'a Value) -> &'a Value {
        while let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let name = r.trim_start_matches("#/definitions/");
            s = &model["definitions"][name];
            assert!(!s.is_null(), "unresolved {r}");
        }
        s
    }

    /// Every `required` property present, enum values in their enum, types as declared,
    /// recursively through `$ref`s, `properties` and `items`.
    fn check(model: &Value, schema: &Value, v: &Value, at: &str, seen: &mut usize) {
        let s = resolve(model, schema);
        *seen += 1;
        if let Some(e) = s.get("enum").and_then(Value::as_array) {
            assert!(e.contains(v), "{at}: {v} not in {e:?}");
        }
        match s.get("type").and_then(Value::as_str) {
            Some("object") => assert!(v.is_object(), "{at}: {v} is not an object"),
            Some("array") => assert!(v.is_array(), "{at}: {v} is not an array"),
            Some("string") => assert!(v.is_string(), "{at}: {v} is not a string"),
            Some("number") => assert!(v.is_number(), "{at}: {v} is not a number"),
            Some("integer") => assert!(v.is_i64() || v.is_u64(), "{at}: {v} is not an integer"),
            Some("boolean") => assert!(v.is_boolean(), "{at}: {v} is not a boolean"),
            _ => {}
        }
        if let Some(req) = s.get("required").and_then(Value::as_array) {
            for k in req {
                let k = k.as_str().unwrap();
                assert!(v.get(k).is_some(), "{at}: required {k} missing in {v}");
            }
        }
        if let (Some(props), Some(obj)) = (
            s.get("properties").and_then(Value::as_object),
            v.as_object(),
        ) {
            for (k, x) in obj {
                if let Some(ps) = props.get(k) {
                    check(model, ps, x, &format!("{at}.{k}"), seen);
                }
            }
        }
        if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
            for (n, x) in arr.iter().enumerate() {
                check(model, items, x, &format!("{at}[{n}]"), seen);
            }
        }
    }

    #[test]
    fn every_success_response_has_the_fields_the_model_requires() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/fixtures/spapi/shippingV2.json");
        let model: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let e = env();
        let o = e.order();
        let mut heavy = rates_body(&o);
        heavy["packages"][0]["weight"] = json!({"value": 40, "unit": "KILOGRAM"});
        let (st, rates) = e.rates(&heavy);
        assert_eq!(st, 200);
        assert!(
            !rates["payload"]["ineligibleRates"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        let (_, rates) = e.rates(&rates_body(&o));
        let tok = rates["payload"]["requestToken"].as_str().unwrap();
        let rate = rates["payload"]["rates"][1]["rateId"].as_str().unwrap();
        let (st, bought) = e.purchase(&buy_body(tok, rate, spec("PDF", 300)), Some("schema"));
        assert_eq!(st, 200, "{bought}");
        let sid = bought["payload"]["shipmentId"].as_str().unwrap();
        let (st, docs) = e.call(
            "GET",
            &docs_path(sid, "packageClientReferenceId=pkg-1&format=ZPL&dpi=203"),
            None,
            &[],
        );
        assert_eq!(st, 200);
        let (st, cancelled) = e.call("PUT", &cancel_path(sid), None, &[]);
        assert_eq!(st, 200);
        let (st, bad) = e.call("PUT", &cancel_path(sid), None, &[]);
        assert_eq!(st, 400);
        for (name, v) in [
            ("GetRatesResponse", &heavy_rates(&e, &o)),
            ("GetRatesResponse", &rates),
            ("PurchaseShipmentResponse", &bought),
            ("GetShipmentDocumentsResponse", &docs),
            ("CancelShipmentResponse", &cancelled),
            ("ErrorList", &bad),
        ] {
            let mut seen = 0;
            assert!(
                v.get("payload").is_some() || name == "ErrorList",
                "{name}: {v}"
            );
            check(&model, &model["definitions"][name], v, name, &mut seen);
            assert!(
                seen > 2 || name == "CancelShipmentResponse",
                "{name}: walked {seen}"
            );
        }
    }

    fn heavy_rates(e: &Env, o: &SandboxOrder) -> Value {
        let mut heavy = rates_body(o);
        heavy["packages"][0]["weight"] = json!({"value": 40, "unit": "KILOGRAM"});
        e.rates(&heavy).1
    }
}
