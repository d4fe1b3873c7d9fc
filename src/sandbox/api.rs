//! Request handling: checks as Amazon made them, then the Orders and Feeds actions.

use chrono::{DateTime, Duration, Utc};
use rand::RngExt;

use crate::mws::merchant::{MF_NS, MF_PATH, MF_VERSION};
use crate::mws::model::parse_mws_time;
use crate::mws::throttle::Denied;
use crate::mws::{
    FEEDS_NS, FEEDS_PATH, FEEDS_VERSION, ORDERS_NS, ORDERS_PATH, ORDERS_VERSION, sign,
};
use crate::sandbox::faults::FaultKind;
use crate::sandbox::feeds::FeedRecord;
use crate::sandbox::http::{Delivery, HttpRequest, HttpResponse};
use crate::sandbox::{RequestRecord, Shared, State, respond};

/// Orders per page when `MaxResultsPerPage` is not given (Amazon's default and maximum).
pub const ORDERS_PER_PAGE: usize = 100;
/// Items per `ListOrderItems` page (Amazon does not document one; small so item paging shows).
pub const ITEMS_PER_PAGE: usize = 10;
/// Feed processing: `_IN_PROGRESS_` after this, in sandbox time.
pub const FEED_START: Duration = Duration::seconds(30);
/// Feed processing: `_DONE_` after this, in sandbox time.
pub const FEED_DONE: Duration = Duration::minutes(2);

/// What a `NextToken` stands for.
#[derive(Debug, Clone)]
pub enum Token {
    /// The rest of a `ListOrders` result.
    Orders {
        /// Matching order ids, in order.
        ids: Vec<String>,
        /// Next index.
        offset: usize,
        /// Page size.
        page: usize,
        /// (`CreatedBefore` or `LastUpdatedBefore`, value).
        before: (&'static str, String),
    },
    /// The rest of an order's items.
    Items {
        /// The order.
        order_id: String,
        /// Next index.
        offset: usize,
    },
    /// The rest of a feed submission list.
    Feeds {
        /// Submission ids.
        ids: Vec<String>,
        /// Next index.
        offset: usize,
        /// Page size.
        page: usize,
    },
}

#[derive(Debug)]
pub(super) struct Fail {
    status: u16,
    kind: &'static str,
    code: &'static str,
    message: String,
}

pub(super) fn fail(status: u16, code: &'static str, message: impl Into<String>) -> Fail {
    Fail {
        status,
        kind: "Sender",
        code,
        message: message.into(),
    }
}

pub(super) fn invalid(message: impl Into<String>) -> Fail {
    fail(400, "InvalidParameterValue", message)
}

pub(super) fn missing(name: &str) -> Fail {
    fail(
        400,
        "MissingParameter",
        format!("The request must contain the parameter {name}."),
    )
}

enum Section {
    Orders,
    Feeds,
    MerchantFulfillment,
}

impl Section {
    fn ns(&self) -> &'static str {
        match self {
            Section::Orders => ORDERS_NS,
            Section::Feeds => FEEDS_NS,
            Section::MerchantFulfillment => MF_NS,
        }
    }
}

pub(super) struct Params(Vec<(String, String)>);

impl Params {
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub(super) fn req(&self, name: &str) -> Result<&str, Fail> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| missing(name))
    }
    /// `Prefix.1`, `Prefix.2`, ... values.
    fn list(&self, prefix: &str) -> Vec<&str> {
        let mut v: Vec<(u32, &str)> = self
            .0
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(prefix)?.parse().ok()?, v.as_str())))
            .collect();
        v.sort_by_key(|x| x.0);
        v.into_iter().map(|x| x.1).collect()
    }
    /// A required list `Name.Member.N` of 1 to 50 values (Amazon's limit for these lists).
    fn list_required(&self, prefix: &str, what: &str) -> Result<Vec<&str>, Fail> {
        let v = self.list(prefix);
        if v.is_empty() {
            return Err(missing(&format!("{prefix}1")));
        }
        if v.len() > 50 {
            return Err(invalid(format!("At most 50 {what} values are allowed.")));
        }
        Ok(v)
    }
    fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, Fail> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => DateTime::parse_from_rfc3339(v)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| invalid(format!("{name} {v:?} is not an ISO 8601 date-time."))),
        }
    }
}

/// A random UUID-shaped id (request ids, shipment ids).
pub(super) fn uuid(st: &mut State) -> String {
    request_id(st)
}

fn request_id(st: &mut State) -> String {
    let b: [u8; 16] = st.rng.random();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn new_token(st: &mut State, t: Token) -> String {
    use base64::Engine;
    let b: [u8; 36] = st.rng.random();
    // Standard base64 with `+ /` (and `=` when padded), like Amazon's tokens.
    let mut s = base64::engine::general_purpose::STANDARD.encode(b);
    s.push_str("==");
    st.tokens.insert(s.clone(), t);
    s
}

/// The end of the page of `ids` starting at `offset`, and a `NextToken` for the rest (made by
/// `rest(ids, next offset)`) when there is more.
fn page_token(
    st: &mut State,
    ids: &[String],
    offset: usize,
    page: usize,
    rest: impl FnOnce(Vec<String>, usize) -> Token,
) -> (usize, Option<String>) {
    let end = (offset + page).min(ids.len());
    let token = (end < ids.len()).then(|| new_token(st, rest(ids.to_vec(), end)));
    (end, token)
}

/// The `NextToken` a listing page carries under the token faults: `endless-token` gives the
/// last page a fresh token that serves it again; `repeat-token` sends back the token the
/// request came with (a first page gets a fresh one for itself). `again` makes a token for
/// this page.
fn faulty_token(
    st: &mut State,
    fault: Option<FaultKind>,
    given: Option<&str>,
    token: Option<String>,
    again: impl FnOnce() -> Token,
) -> Option<String> {
    match (fault, given) {
        (Some(FaultKind::RepeatToken), Some(t)) => Some(t.to_owned()),
        (Some(FaultKind::RepeatToken), None) => Some(new_token(st, again())),
        (Some(FaultKind::EndlessToken), _) if token.is_none() => Some(new_token(st, again())),
        _ => token,
    }
}

/// Handles one request: the whole pipeline, never panicking on input.
pub(crate) fn handle(shared: &Shared, req: &HttpRequest) -> HttpResponse {
    let now = shared.clock.now();
    let mut st = shared.lock();
    st.seq += 1;
    let seq = st.seq;
    let fault = st.faults.decide(seq);
    let skew = Duration::seconds(st.faults.spec().skew_secs);
    let slow_delay = st.faults.spec().slow_delay;
    let server_now = now + skew;
    st.refresh(now, &shared.creds.seller_id);
    let rid = request_id(&mut st);

    let section = match req.path() {
        ORDERS_PATH => Some(Section::Orders),
        "/" | FEEDS_PATH => Some(Section::Feeds),
        MF_PATH => Some(Section::MerchantFulfillment),
        _ => None,
    };
    let params = parse_params(req);
    let action = params
        .as_ref()
        .ok()
        .and_then(|p| p.get("Action").map(str::to_owned));
    let outcome: Reply = match (&section, &params) {
        (None, _) => Err(fail(
            404,
            "InvalidAddress",
            format!("Resource {} is not found on this server.", req.path()),
        )),
        (_, Err(f)) => Err(fail(f.status, f.code, f.message.clone())),
        (Some(sec), Ok(p)) => run(shared, &mut st, req, sec, p, fault, server_now, now, &rid),
    };
    let ns = section
        .as_ref()
        .map_or("https://mws.amazonservices.com/", Section::ns);
    let (status, mut body, mut headers, code) = match outcome {
        Ok((body, headers)) => (200, body, headers, None),
        Err(f) => (
            f.status,
            respond::error(ns, f.kind, f.code, &f.message, &rid),
            Vec::new(),
            Some(f.code.to_owned()),
        ),
    };
    let drip = st.faults.spec().drip;
    let mut delivery = Delivery::Normal;
    match fault {
        Some(FaultKind::Slow) => delivery = Delivery::Slow(slow_delay),
        Some(FaultKind::Trickle) => delivery = Delivery::Trickle(drip),
        Some(FaultKind::Reset) => delivery = Delivery::Reset,
        Some(FaultKind::Truncate) => delivery = Delivery::Truncate,
        Some(FaultKind::Malformed) if status == 200 => body = malformed(body),
        Some(FaultKind::CorruptToken) => body = corrupt_token(body),
        _ => {}
    }
    if !headers.iter().any(|(k, _)| k == "Content-Type") {
        headers.push(("Content-Type".into(), "text/xml".into()));
    }
    headers.push(("x-mws-request-id".into(), rid));
    headers.push((
        "x-mws-timestamp".into(),
        server_now.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
    ));
    let logged = params
        .map(|p| p.0.into_iter().filter(|(k, _)| k != "Signature").collect())
        .unwrap_or_default();
    st.requests.push(RequestRecord {
        seq,
        at: now,
        method: req.method.clone(),
        path: req.path().to_owned(),
        action,
        params: logged,
        status,
        error_code: code,
        fault,
    });
    shared.served.notify_all();
    HttpResponse {
        status,
        headers,
        body,
        delivery,
    }
}

fn malformed(mut body: Vec<u8>) -> Vec<u8> {
    // Cut the closing root tag and leave an unclosed element and a bare `&`.
    if let Some(pos) = body.windows(2).rposition(|w| w == b"</") {
        body.truncate(pos);
    }
    body.extend_from_slice(b"<Unclosed attr=\"x\">R&D\n");
    body
}

fn corrupt_token(body: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8_lossy(&body).into_owned();
    let (Some(a), Some(b)) = (text.find("<NextToken>"), text.find("</NextToken>")) else {
        return body;
    };
    let start = a + "<NextToken>".len();
    if b <= start + 8 {
        return body;
    }
    // Drop characters from the middle, as a truncating proxy or bad quoting would.
    let mut t = text;
    t.replace_range(start + 4..start + 8, "");
    t.into_bytes()
}

fn parse_params(req: &HttpRequest) -> Result<Params, Fail> {
    let bad = || invalid("The request has a malformed percent-encoded parameter.");
    let mut p = sign::parse_query(req.query(), true).ok_or_else(bad)?;
    let form = req.header("Content-Type").is_some_and(|c| {
        c.to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    if req.method == "POST" && form && !p.iter().any(|(k, _)| k == "Action") {
        let body = std::str::from_utf8(&req.body).map_err(|_| bad())?;
        p.extend(sign::parse_query(body, true).ok_or_else(bad)?);
    }
    Ok(Params(p))
}

#[allow(clippy::too_many_arguments)]
fn run(
    shared: &Shared,
    st: &mut State,
    req: &HttpRequest,
    section: &Section,
    p: &Params,
    fault: Option<FaultKind>,
    server_now: DateTime<Utc>,
    now: DateTime<Utc>,
    rid: &str,
) -> Reply {
    let creds = &shared.creds;
    let action = p
        .get("Action")
        .filter(|a| !a.is_empty())
        .ok_or_else(|| invalid("Either Action or Operation query parameter must be present."))?;
    let key = p.req("AWSAccessKeyId")?;
    if key != creds.access_key_id {
        return Err(fail(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        ));
    }
    let given = p.req("Signature")?;
    if p.get("SignatureVersion") != Some("2") {
        return Err(invalid("SignatureVersion must be 2."));
    }
    if p.get("SignatureMethod") != Some(sign::SIGNATURE_METHOD) {
        return Err(invalid(
            "SignatureMethod must be HmacSHA256 in the sandbox.",
        ));
    }
    let host = req
        .header("Host")
        .ok_or_else(|| fail(400, "MissingParameter", "The Host header is missing."))?;
    let expected = sign::sign(
        &creds.secret_key,
        &req.method,
        host,
        req.path(),
        p.0.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
    if !sign::signatures_match(&expected, given) {
        return Err(fail(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ));
    }
    let ts = p.req("Timestamp")?;
    let ts = parse_mws_time(ts)
        .filter(|_| ts.contains('T'))
        .ok_or_else(|| fail(400, "MalformedInput", "timestamp must follow ISO8601"))?;
    if (ts - server_now).abs() > Duration::minutes(15) {
        return Err(fail(
            400,
            "RequestExpired",
            "Request signature is too far in the past and has expired. Timestamp date: ".to_owned()
                + &ts.to_rfc3339(),
        ));
    }
    let (version, seller) = match section {
        Section::Orders => (ORDERS_VERSION, p.get("SellerId")),
        Section::MerchantFulfillment => (MF_VERSION, p.get("SellerId")),
        Section::Feeds => (FEEDS_VERSION, p.get("Merchant").or(p.get("SellerId"))),
    };
    if p.get("Version") != Some(version) {
        return Err(invalid(format!(
            "Version must be {version} for this section."
        )));
    }
    match seller {
        None => {
            return Err(missing(if !matches!(section, Section::Feeds) {
                "SellerId"
            } else {
                "Merchant"
            }));
        }
        Some(s) if s != creds.seller_id => {
            return Err(fail(
                401,
                "AccessDenied",
                "Access to the seller account was denied.",
            ));
        }
        _ => {}
    }
    let known = match section {
        Section::Orders => matches!(
            action,
            "ListOrders"
                | "ListOrdersByNextToken"
                | "ListOrderItems"
                | "ListOrderItemsByNextToken"
                | "GetOrder"
                | "GetServiceStatus"
        ),
        Section::Feeds => matches!(
            action,
            "SubmitFeed"
                | "GetFeedSubmissionList"
                | "GetFeedSubmissionListByNextToken"
                | "GetFeedSubmissionResult"
        ),
        Section::MerchantFulfillment => matches!(
            action,
            "GetEligibleShippingServices" | "CreateShipment" | "GetShipment" | "CancelShipment"
        ),
    };
    if !known {
        return Err(fail(
            400,
            "InvalidAction",
            format!("The action {action} is not valid for this web service."),
        ));
    }
    if fault == Some(FaultKind::Throttle) {
        return Err(fail(503, "RequestThrottled", "Request is throttled"));
    }
    if fault == Some(FaultKind::Refuse) {
        return Err(fail(
            400,
            "InvalidRequest",
            "The request cannot be processed for this seller now.",
        ));
    }
    match st.throttle.try_acquire(action, now) {
        Ok(()) => {}
        Err(Denied::Throttled(_)) => {
            return Err(fail(503, "RequestThrottled", "Request is throttled"));
        }
        Err(Denied::QuotaExceeded(_)) => {
            return Err(fail(
                503,
                "QuotaExceeded",
                "The total number of requests in an hour was exceeded.",
            ));
        }
    }
    if fault == Some(FaultKind::Internal) {
        return Err(Fail {
            status: 500,
            kind: "Receiver",
            code: "InternalError",
            message: "We encountered an internal error. Please try again.".into(),
        });
    }
    let ctx = Ctx {
        shared,
        now,
        rid,
        fault,
    };
    match action {
        "ListOrders" => ctx.list_orders(st, p),
        "ListOrdersByNextToken" => ctx.orders_by_token(st, p),
        "GetOrder" => ctx.get_order(st, p),
        "ListOrderItems" => ctx.list_items(st, p),
        "ListOrderItemsByNextToken" => ctx.items_by_token(st, p),
        "GetServiceStatus" => Ok((
            respond::envelope(action, ORDERS_NS, rid, |w| {
                crate::mws::xml::text_element(w, "Status", "GREEN")?;
                crate::mws::xml::text_element(w, "Timestamp", &crate::sandbox::data::fmt_time(now))
            }),
            Vec::new(),
        )),
        "GetEligibleShippingServices" | "CreateShipment" | "GetShipment" | "CancelShipment" => {
            super::shipping::handle(action, st, p, now, &shared.creds.seller_id)
                .map(|body| (respond::envelope(action, MF_NS, rid, body), Vec::new()))
        }
        "SubmitFeed" => ctx.submit_feed(st, req, p),
        "GetFeedSubmissionList" => ctx.feed_list(st, p),
        "GetFeedSubmissionListByNextToken" => ctx.feed_list_by_token(st, p),
        _ => ctx.feed_result(st, p),
    }
}

struct Ctx<'a> {
    shared: &'a Shared,
    now: DateTime<Utc>,
    rid: &'a str,
    fault: Option<FaultKind>,
}

type Reply = Result<(Vec<u8>, Vec<(String, String)>), Fail>;

impl Ctx<'_> {
    fn xml(
        &self,
        action: &str,
        ns: &str,
        body: impl FnOnce(&mut quick_xml::Writer<Vec<u8>>) -> std::io::Result<()>,
    ) -> Reply {
        Ok((respond::envelope(action, ns, self.rid, body), Vec::new()))
    }

    fn check_marketplaces(&self, ids: &[&str]) -> Result<(), Fail> {
        for id in ids {
            if *id != self.shared.creds.marketplace_id {
                return Err(invalid(format!(
                    "Invalid MarketplaceId {id}: the seller is not registered there."
                )));
            }
        }
        Ok(())
    }

    fn list_orders(&self, st: &mut State, p: &Params) -> Reply {
        let markets = p.list_required("MarketplaceId.Id.", "MarketplaceId")?;
        self.check_marketplaces(&markets)?;
        let created = p.time("CreatedAfter")?;
        let updated = p.time("LastUpdatedAfter")?;
        let (after, by_update) = match (created, updated) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "Only one of CreatedAfter or LastUpdatedAfter may be specified.",
                ));
            }
            (None, None) => {
                return Err(invalid(
                    "CreatedAfter or LastUpdatedAfter must be specified",
                ));
            }
            (Some(a), None) => (a, false),
            (None, Some(a)) => (a, true),
        };
        let (before_name, other) = if by_update {
            ("LastUpdatedBefore", "CreatedBefore")
        } else {
            ("CreatedBefore", "LastUpdatedBefore")
        };
        if p.get(other).is_some() {
            return Err(invalid(format!(
                "{other} cannot be combined with {}.",
                if by_update {
                    "LastUpdatedAfter"
                } else {
                    "CreatedAfter"
                }
            )));
        }
        let latest = self.now - Duration::minutes(2);
        if after > self.now {
            return Err(invalid(format!(
                "{} is in the future.",
                if by_update {
                    "LastUpdatedAfter"
                } else {
                    "CreatedAfter"
                }
            )));
        }
        let before = match p.time(before_name)? {
            Some(b) if b > latest => {
                return Err(invalid(format!(
                    "{before_name} must be no later than two minutes before the request time."
                )));
            }
            Some(b) if b <= after => {
                return Err(invalid(format!(
                    "{before_name} must be later than the After date."
                )));
            }
            Some(b) => b,
            None => latest,
        };
        let statuses = p.list("OrderStatus.Status.");
        if statuses.contains(&"Unshipped") != statuses.contains(&"PartiallyShipped") {
            return Err(invalid(
                "OrderStatus Unshipped and PartiallyShipped must be used together.",
            ));
        }
        const STATUSES: &[&str] = &[
            "PendingAvailability",
            "Pending",
            "Unshipped",
            "PartiallyShipped",
            "Shipped",
            "Canceled",
            "Unfulfillable",
            "InvoiceUnconfirmed",
        ];
        if let Some(s) = statuses.iter().find(|s| !STATUSES.contains(s)) {
            return Err(invalid(format!("Invalid OrderStatus {s}.")));
        }
        let channels = p.list("FulfillmentChannel.Channel.");
        if let Some(c) = channels.iter().find(|c| !matches!(**c, "AFN" | "MFN")) {
            return Err(invalid(format!("Invalid FulfillmentChannel {c}.")));
        }
        let page = match p.get("MaxResultsPerPage") {
            None => ORDERS_PER_PAGE,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| invalid("MaxResultsPerPage must be 1 to 100."))?,
        };
        let mut hits: Vec<(DateTime<Utc>, &str)> = st
            .orders
            .iter()
            .filter(|o| {
                let t = if by_update { o.last_update } else { o.purchase };
                t >= after && t < before && o.purchase < before
            })
            .filter(|o| {
                statuses.is_empty() || statuses.contains(&o.order.info.order_status.as_str())
            })
            .filter(|o| {
                channels.is_empty()
                    || o.order
                        .info
                        .fulfillment_channel
                        .as_deref()
                        .is_some_and(|c| channels.contains(&c))
            })
            .map(|o| {
                (
                    if by_update { o.last_update } else { o.purchase },
                    o.order.info.amazon_order_id.as_str(),
                )
            })
            .collect();
        hits.sort();
        let ids: Vec<String> = hits.into_iter().map(|(_, id)| id.to_owned()).collect();
        let before = (before_name, crate::sandbox::data::fmt_time(before));
        self.orders_page(st, "ListOrders", None, ids, 0, page, before)
    }

    #[allow(clippy::too_many_arguments)]
    fn orders_page(
        &self,
        st: &mut State,
        action: &str,
        given: Option<&str>,
        ids: Vec<String>,
        offset: usize,
        page: usize,
        before: (&'static str, String),
    ) -> Reply {
        let again = Token::Orders {
            ids: ids.clone(),
            offset,
            page,
            before: before.clone(),
        };
        let (end, token) = page_token(st, &ids, offset, page, |ids, offset| Token::Orders {
            ids,
            offset,
            page,
            before: before.clone(),
        });
        let token = faulty_token(st, self.fault, given, token, || again);
        let orders = &st.orders;
        let index = &st.index;
        self.xml(action, ORDERS_NS, |w| {
            if let Some(t) = &token {
                crate::mws::xml::text_element(w, "NextToken", t)?;
            }
            crate::mws::xml::text_element(w, before.0, &before.1)?;
            w.write_event(quick_xml::events::Event::Start(
                quick_xml::events::BytesStart::new("Orders"),
            ))?;
            for id in &ids[offset..end] {
                if let Some(i) = index.get(id) {
                    respond::order(w, &orders[*i])?;
                }
            }
            w.write_event(quick_xml::events::Event::End(
                quick_xml::events::BytesEnd::new("Orders"),
            ))
        })
    }

    fn token(&self, st: &mut State, p: &Params) -> Result<Token, Fail> {
        let t = p.req("NextToken")?;
        st.tokens
            .get(t)
            .cloned()
            .ok_or_else(|| fail(400, "NextTokenCorrupted", "We could not decode your NextToken. Possible reasons include improper quoting or a truncation problem."))
    }

    fn orders_by_token(&self, st: &mut State, p: &Params) -> Reply {
        match self.token(st, p)? {
            Token::Orders {
                ids,
                offset,
                page,
                before,
            } => self.orders_page(
                st,
                "ListOrdersByNextToken",
                p.get("NextToken"),
                ids,
                offset,
                page,
                before,
            ),
            _ => Err(invalid("This NextToken was not issued by ListOrders.")),
        }
    }

    fn get_order(&self, st: &mut State, p: &Params) -> Reply {
        let ids = p.list_required("AmazonOrderId.Id.", "AmazonOrderId")?;
        let found: Vec<usize> = ids
            .iter()
            .filter_map(|id| st.index.get(*id).copied())
            .collect();
        let orders = &st.orders;
        self.xml("GetOrder", ORDERS_NS, |w| {
            w.write_event(quick_xml::events::Event::Start(
                quick_xml::events::BytesStart::new("Orders"),
            ))?;
            for i in found {
                respond::order(w, &orders[i])?;
            }
            w.write_event(quick_xml::events::Event::End(
                quick_xml::events::BytesEnd::new("Orders"),
            ))
        })
    }

    fn list_items(&self, st: &mut State, p: &Params) -> Reply {
        let id = p.req("AmazonOrderId")?.to_owned();
        if !st.index.contains_key(&id) {
            return Err(invalid(format!("Invalid AmazonOrderId: {id}")));
        }
        self.items_page(st, "ListOrderItems", None, id, 0)
    }

    fn items_by_token(&self, st: &mut State, p: &Params) -> Reply {
        match self.token(st, p)? {
            Token::Items { order_id, offset } => self.items_page(
                st,
                "ListOrderItemsByNextToken",
                p.get("NextToken"),
                order_id,
                offset,
            ),
            _ => Err(invalid("This NextToken was not issued by ListOrderItems.")),
        }
    }

    fn items_page(
        &self,
        st: &mut State,
        action: &str,
        given: Option<&str>,
        order_id: String,
        offset: usize,
    ) -> Reply {
        let i = *st
            .index
            .get(&order_id)
            .ok_or_else(|| invalid("Unknown order."))?;
        let n = st.orders[i].items.len();
        let end = (offset + ITEMS_PER_PAGE).min(n);
        let token = (end < n).then(|| {
            new_token(
                st,
                Token::Items {
                    order_id: order_id.clone(),
                    offset: end,
                },
            )
        });
        let again = Token::Items {
            order_id: order_id.clone(),
            offset,
        };
        let token = faulty_token(st, self.fault, given, token, || again);
        let o = &st.orders[i];
        let pending = o.order.info.order_status == "Pending";
        self.xml(action, ORDERS_NS, |w| {
            if let Some(t) = &token {
                crate::mws::xml::text_element(w, "NextToken", t)?;
            }
            crate::mws::xml::text_element(w, "AmazonOrderId", &order_id)?;
            w.write_event(quick_xml::events::Event::Start(
                quick_xml::events::BytesStart::new("OrderItems"),
            ))?;
            for it in &o.items[offset.min(end)..end] {
                respond::item(w, it, pending)?;
            }
            w.write_event(quick_xml::events::Event::End(
                quick_xml::events::BytesEnd::new("OrderItems"),
            ))
        })
    }

    fn submit_feed(&self, st: &mut State, req: &HttpRequest, p: &Params) -> Reply {
        if req.method != "POST" {
            return Err(invalid("SubmitFeed must be sent with POST."));
        }
        let feed_type = p.req("FeedType")?.to_owned();
        self.check_marketplaces(&p.list("MarketplaceIdList.Id."))?;
        let md5 = p
            .get("ContentMD5Value")
            .or(req.header("Content-MD5"))
            .ok_or_else(|| {
                fail(
                    400,
                    "ContentMD5Missing",
                    "The Content-MD5 HTTP header or the ContentMD5Value parameter is required.",
                )
            })?;
        let actual = sign::content_md5(&req.body);
        if md5 != actual {
            return Err(fail(
                400,
                "ContentMD5DoesNotMatch",
                format!(
                    "the Content-MD5 HTTP header you passed for your feed ({md5}) did not match the Content-MD5 we calculated for your feed ({actual})"
                ),
            ));
        }
        let id = format!(
            "5{}",
            (0..10)
                .map(|_| char::from(b'0' + st.rng.random_range(0..10u8)))
                .collect::<String>()
        );
        let feed = FeedRecord {
            id,
            feed_type,
            body: req.body.clone(),
            submitted: self.now,
            started: self.now + FEED_START,
            done: self.now + FEED_DONE,
            report: None,
            report_bytes: None,
        };
        let info = feed.info(self.now);
        st.feeds.push(feed);
        self.xml("SubmitFeed", FEEDS_NS, |w| respond::feed_info(w, &info))
    }

    fn feed_list(&self, st: &mut State, p: &Params) -> Reply {
        let ids = p.list("FeedSubmissionIdList.Id.");
        let types = p.list("FeedTypeList.Type.");
        let statuses = p.list("FeedProcessingStatusList.Status.");
        let page = match p.get("MaxCount") {
            None => 10,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| invalid("MaxCount must be 1 to 100."))?,
        };
        let from = p
            .time("SubmittedFromDate")?
            .unwrap_or(self.now - Duration::days(90));
        let to = p
            .time("SubmittedToDate")?
            .unwrap_or(self.now + Duration::days(1));
        let now = self.now;
        let list: Vec<String> = st
            .feeds
            .iter()
            .rev()
            .filter(|f| {
                if !ids.is_empty() {
                    return ids.contains(&f.id.as_str());
                }
                (types.is_empty() || types.contains(&f.feed_type.as_str()))
                    && (statuses.is_empty() || statuses.contains(&f.status(now)))
                    && f.submitted >= from
                    && f.submitted <= to
            })
            .map(|f| f.id.clone())
            .collect();
        self.feed_page(st, "GetFeedSubmissionList", list, 0, page)
    }

    fn feed_list_by_token(&self, st: &mut State, p: &Params) -> Reply {
        match self.token(st, p)? {
            Token::Feeds { ids, offset, page } => {
                self.feed_page(st, "GetFeedSubmissionListByNextToken", ids, offset, page)
            }
            _ => Err(invalid(
                "This NextToken was not issued by GetFeedSubmissionList.",
            )),
        }
    }

    fn feed_page(
        &self,
        st: &mut State,
        action: &str,
        ids: Vec<String>,
        offset: usize,
        page: usize,
    ) -> Reply {
        let (end, token) = page_token(st, &ids, offset, page, |ids, offset| Token::Feeds {
            ids,
            offset,
            page,
        });
        let infos: Vec<_> = ids[offset..end]
            .iter()
            .filter_map(|id| st.feeds.iter().find(|f| &f.id == id))
            .map(|f| f.info(self.now))
            .collect();
        self.xml(action, FEEDS_NS, |w| {
            if let Some(t) = &token {
                crate::mws::xml::text_element(w, "NextToken", t)?;
            }
            crate::mws::xml::text_element(
                w,
                "HasNext",
                if token.is_some() { "true" } else { "false" },
            )?;
            for i in &infos {
                respond::feed_info(w, i)?;
            }
            Ok(())
        })
    }

    fn feed_result(&self, st: &mut State, p: &Params) -> Reply {
        let id = p.req("FeedSubmissionId")?;
        let f = st
            .feeds
            .iter()
            .find(|f| f.id == id)
            .ok_or_else(|| invalid(format!("FeedSubmissionId {id} was not found.")))?;
        let Some(bytes) = &f.report_bytes else {
            return Err(fail(
                400,
                "FeedProcessingResultNotReady",
                "Feed Submission Result is not ready for Feed Submission Id: ".to_owned() + id,
            ));
        };
        let headers = vec![
            ("Content-Type".to_owned(), "text/xml".to_owned()),
            ("Content-MD5".to_owned(), sign::content_md5(bytes)),
        ];
        Ok((bytes.clone(), headers))
    }
}

/// Builds a signed request as a client would send it (for tests and the demo).
///
/// `in_body` puts the parameters in a form body (POST); otherwise they go in the query string.
/// `body` is the raw feed for `SubmitFeed` (its `ContentMD5Value` must already be in `params`).
#[allow(clippy::too_many_arguments)]
pub fn signed_request(
    creds: &crate::sandbox::Credentials,
    method: &str,
    host: &str,
    path: &str,
    params: &[(&str, &str)],
    timestamp: DateTime<Utc>,
    in_body: bool,
    body: Option<(&str, Vec<u8>)>,
) -> HttpRequest {
    let ts = sign::timestamp(timestamp);
    let mut all: Vec<(&str, &str)> = vec![
        ("AWSAccessKeyId", creds.access_key_id.as_str()),
        ("SignatureMethod", sign::SIGNATURE_METHOD),
        ("SignatureVersion", "2"),
        ("Timestamp", ts.as_str()),
    ];
    all.extend_from_slice(params);
    let sig = sign::sign(&creds.secret_key, method, host, path, all.iter().copied());
    all.push(("Signature", sig.as_str()));
    let encoded = sign::encode_params(all.iter().copied());
    let mut headers = vec![("Host".to_owned(), host.to_owned())];
    let (target, body) = if in_body {
        headers.push((
            "Content-Type".into(),
            "application/x-www-form-urlencoded; charset=utf-8".into(),
        ));
        (path.to_owned(), encoded.into_bytes())
    } else {
        let b = match body {
            Some((ct, b)) => {
                headers.push(("Content-Type".into(), ct.to_owned()));
                b
            }
            None => Vec::new(),
        };
        (format!("{path}?{encoded}"), b)
    };
    HttpRequest {
        method: method.to_owned(),
        target,
        headers,
        body,
    }
}
