//! Tolerant, namespace-agnostic MWS XML parsers and the fulfillment-feed writer.
//!
//! Parsers stream with quick-xml over any [`BufRead`], match elements by local name only, and
//! ignore elements they do not know (Amazon added elements without notice). `ListOrders` hands
//! each `<Order>` to a callback as soon as it is read, so memory stays flat however long the
//! page. A body whose root is `ErrorResponse` parses to [`XmlError::Mws`] whatever was asked for.
//!
//! **Hostile input.** Every parser reads through one [`Stream`], which refuses a document
//! nested deeper than [`MAX_DEPTH`] or holding more than [`MAX_ELEMENTS`] elements (a clean
//! [`XmlError::Malformed`], never a stack overflow or a runaway tree). Identifiers pass
//! [`crate::mws::ids`]: an order with a bad `AmazonOrderId` is refused alone (listed in
//! [`ListOrdersResult::refused`], never handed on), an item with a bad `OrderItemId` fails its
//! page, a bad feed submission id fails the reply, and a bad request id is dropped. Amazon's
//! error messages and feed result messages are sanitised ([`crate::term`]) as they are read.

use std::io::{BufRead, Write};

use quick_xml::Reader;
use quick_xml::Writer;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use zeroize::{Zeroize, Zeroizing};

use crate::model::plausible::{self, Implausible};
use crate::mws::ids::{self, BadId};
use crate::mws::model::*;
use crate::pii::{BuyerPii, Pii};
use crate::term;

/// Deepest element nesting any MWS reply may have (real replies stay under 10).
pub const MAX_DEPTH: usize = 64;
/// Most elements in one reply (a full `ListOrders` page has about 6,000).
pub const MAX_ELEMENTS: usize = 250_000;
/// Most `<Order>` elements in one listing page (Amazon sends at most 100).
pub const MAX_ORDERS_PER_PAGE: usize = 100;
/// Most `<OrderItem>` elements in one item page (Amazon sends at most 100).
pub const MAX_ITEMS_PER_PAGE: usize = 100;
/// Longest feed result message kept (characters).
const MAX_RESULT_TEXT: usize = 1000;

/// Why a body did not parse.
#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed XML (truncated, broken markup, bad encoding).
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// Well-formed, but not the expected document.
    #[error("unexpected XML: {0}")]
    Unexpected(String),
    /// The body is an MWS `ErrorResponse`.
    #[error("MWS error {}: {}", .0.code, .0.message)]
    Mws(ErrorResponse),
    /// Well-formed, but an identifier that matters for the whole reply is not Amazon's.
    #[error("{0}")]
    BadId(#[from] BadId),
    /// Well-formed, but a quantity or price is outside its plausible bounds
    /// ([`crate::model::plausible`]): the reply is refused like one with a bad id.
    #[error("{0}")]
    Implausible(String),
}

impl From<XmlError> for crate::Error {
    fn from(e: XmlError) -> Self {
        crate::Error::Remote(term::one_line(&e.to_string()))
    }
}

/// A message that quotes remote bytes: sanitised and cut short.
fn malformed(msg: impl std::fmt::Display) -> XmlError {
    XmlError::Malformed(term::one_line(&msg.to_string()))
}

/// A remote element name, safe to quote.
fn shown(name: &str) -> String {
    term::quote(name, 64)
}

/// A small element tree for one record; text is zeroized when dropped (it may be PII).
#[derive(Default)]
pub(super) struct Node {
    pub(super) name: String,
    pub(super) text: Zeroizing<String>,
    pub(super) children: Vec<Node>,
}

impl Node {
    pub(super) fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }
    pub(super) fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
    pub(super) fn text_of(&self, name: &str) -> Option<String> {
        self.child(name).map(|c| c.text.trim().to_owned())
    }
    pub(super) fn text_or_empty(&self, name: &str) -> String {
        self.text_of(name).unwrap_or_default()
    }
    fn num<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.text_of(name).and_then(|t| t.parse().ok())
    }
    pub(super) fn boolean(&self, name: &str) -> Option<bool> {
        self.text_of(name)
            .and_then(|t| match t.to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            })
    }
    pub(super) fn money(&self, name: &str) -> Option<Money> {
        self.child(name).map(|m| Money {
            currency_code: m.text_or_empty("CurrencyCode"),
            amount: m.text_or_empty("Amount"),
        })
    }
    /// Moves a child's text into a [`Pii`] without copying it.
    fn take_pii(&mut self, name: &str) -> Option<Pii> {
        let c = self.children.iter_mut().find(|c| c.name == name)?;
        let s = std::mem::take(&mut *c.text);
        Some(Pii::new(s.trim().to_owned()).tap_zero(s))
    }
}

trait TapZero {
    fn tap_zero(self, s: String) -> Self;
}

impl TapZero for Pii {
    /// Zeroizes the untrimmed original after the trimmed copy was taken.
    fn tap_zero(self, mut s: String) -> Self {
        s.zeroize();
        self
    }
}

/// The streaming reader state.
struct Stream<R: BufRead> {
    reader: Reader<R>,
    buf: Vec<u8>,
    /// Elements open now.
    depth: usize,
    /// Elements read so far.
    elements: usize,
}

impl<R: BufRead> Drop for Stream<R> {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

fn local(name: &str) -> String {
    match name.rsplit_once(':') {
        Some((_, l)) => l.to_owned(),
        None => name.to_owned(),
    }
}

enum Ev {
    Start(String),
    Empty(String),
    End,
    Text(String),
    Eof,
}

impl<R: BufRead> Stream<R> {
    fn new(input: R) -> Self {
        let mut reader = Reader::from_reader(input);
        reader.config_mut().check_end_names = true;
        Stream {
            reader,
            buf: Vec::new(),
            depth: 0,
            elements: 0,
        }
    }

    /// Counts an element opened (`nested`: it has content) against the caps.
    fn opened(&mut self, nested: bool) -> Result<(), XmlError> {
        self.elements += 1;
        if self.elements > MAX_ELEMENTS {
            return Err(XmlError::Malformed(format!(
                "more than {MAX_ELEMENTS} elements in one reply"
            )));
        }
        if nested {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(XmlError::Malformed(format!(
                    "elements nested deeper than {MAX_DEPTH}"
                )));
            }
        }
        Ok(())
    }

    fn next(&mut self) -> Result<Ev, XmlError> {
        loop {
            self.buf.clear();
            let ev = self
                .reader
                .read_event_into(&mut self.buf)
                .map_err(malformed)?;
            return Ok(match ev {
                Event::Start(e) => {
                    let name = local(e.name().as_ref());
                    self.opened(true)?;
                    Ev::Start(name)
                }
                Event::Empty(e) => {
                    let name = local(e.name().as_ref());
                    self.opened(false)?;
                    Ev::Empty(name)
                }
                Event::End(_) => {
                    self.depth = self.depth.saturating_sub(1);
                    Ev::End
                }
                Event::Text(t) => Ev::Text(t.xml10_content().into_owned()),
                Event::CData(t) => Ev::Text(t.xml10_content().into_owned()),
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        Ok(None) => resolve_predefined_entity(&r)
                            .ok_or_else(|| malformed(format!("unknown entity &{};", &*r)))?
                            .to_owned(),
                        Err(e) => return Err(malformed(e)),
                    };
                    Ev::Text(resolved)
                }
                Event::Eof => Ev::Eof,
                _ => continue,
            });
        }
    }

    /// Reads the rest of an element whose start tag was just read.
    fn node(&mut self, name: String) -> Result<Node, XmlError> {
        let mut node = Node {
            name,
            ..Node::default()
        };
        loop {
            match self.next()? {
                Ev::Start(n) => {
                    let child = self.node(n)?;
                    node.children.push(child);
                }
                Ev::Empty(n) => node.children.push(Node {
                    name: n,
                    ..Node::default()
                }),
                Ev::Text(t) => node.text.push_str(&t),
                Ev::End => return Ok(node),
                Ev::Eof => {
                    return Err(XmlError::Malformed(format!(
                        "unexpected end of input inside <{}>",
                        shown(&node.name)
                    )));
                }
            }
        }
    }

    /// The root element's name, skipping the prolog.
    fn root(&mut self) -> Result<(String, bool), XmlError> {
        loop {
            match self.next()? {
                Ev::Start(n) => return Ok((n, false)),
                Ev::Empty(n) => return Ok((n, true)),
                Ev::Text(t) if t.trim().is_empty() => continue,
                Ev::Text(_) => {
                    return Err(XmlError::Malformed("text before the root element".into()));
                }
                Ev::End => return Err(XmlError::Malformed("unexpected end tag".into())),
                Ev::Eof => return Err(XmlError::Malformed("empty document".into())),
            }
        }
    }
}

/// Reads a whole (small) document as a tree; an `ErrorResponse` becomes [`XmlError::Mws`].
pub(super) fn document<R: BufRead>(input: R) -> Result<Node, XmlError> {
    let mut s = Stream::new(input);
    let (name, empty) = s.root()?;
    let root = if empty {
        Node {
            name,
            ..Node::default()
        }
    } else {
        s.node(name)?
    };
    finish(&mut s)?;
    if root.name == "ErrorResponse" {
        return Err(XmlError::Mws(error_from(&root)));
    }
    Ok(root)
}

fn finish<R: BufRead>(s: &mut Stream<R>) -> Result<(), XmlError> {
    loop {
        match s.next()? {
            Ev::Eof => return Ok(()),
            Ev::Text(t) if t.trim().is_empty() => {}
            _ => return Err(XmlError::Malformed("content after the root element".into())),
        }
    }
}

fn error_from(root: &Node) -> ErrorResponse {
    let e = root.child("Error");
    ErrorResponse {
        error_type: e.map(|e| e.text_or_empty("Type")).unwrap_or_default(),
        code: term::quote(&e.map(|e| e.text_or_empty("Code")).unwrap_or_default(), 64),
        message: term::one_line(&e.map(|e| e.text_or_empty("Message")).unwrap_or_default()),
        request_id: ids::request_id(
            root.text_of("RequestID")
                .or_else(|| root.text_of("RequestId")),
        ),
    }
}

/// Parses an `ErrorResponse` body.
pub fn parse_error_response<R: BufRead>(input: R) -> Result<ErrorResponse, XmlError> {
    match document(input) {
        Err(XmlError::Mws(e)) => Ok(e),
        Err(e) => Err(e),
        Ok(root) => Err(XmlError::Unexpected(format!(
            "<{}> is not an ErrorResponse",
            shown(&root.name)
        ))),
    }
}

pub(super) fn request_id(root: &Node) -> Option<String> {
    ids::request_id(
        root.child("ResponseMetadata")
            .and_then(|m| m.text_of("RequestId").or_else(|| m.text_of("RequestID"))),
    )
}

pub(super) fn expect_root(root: &Node, names: &[&str]) -> Result<(), XmlError> {
    if names.contains(&root.name.as_str()) {
        Ok(())
    } else {
        Err(XmlError::Unexpected(format!(
            "expected <{}>, got <{}>",
            names.join("> or <"),
            shown(&root.name)
        )))
    }
}

/// The order, or why it is refused: its `AmazonOrderId` (or `ReplacedOrderId`) is not
/// Amazon's, or its total or unit counts are not plausible ([`crate::model::plausible`]).
/// Checked before any PII is taken out of the tree.
fn checked_order(n: Node) -> Result<Order, String> {
    let id = n.text_or_empty("AmazonOrderId");
    ids::order_id(id.as_str()).map_err(|e| e.to_string())?;
    if let Some(r) = n.text_of("ReplacedOrderId").filter(|r| !r.is_empty()) {
        ids::order_id(&r).map_err(|e| e.to_string())?;
    }
    plausible_order(&n).map_err(|e| format!("order {id}: {e}"))?;
    Ok(order_from(n))
}

/// An order's numbers: `OrderTotal` and the unit counts.
fn plausible_order(n: &Node) -> Result<(), Implausible> {
    if let Some(t) = n.child("OrderTotal") {
        plausible::amount("OrderTotal", &t.text_or_empty("Amount"))?;
    }
    for f in ["NumberOfItemsShipped", "NumberOfItemsUnshipped"] {
        if let Some(v) = n.text_of(f) {
            plausible::units_text(f, &v)?;
        }
    }
    Ok(())
}

/// An item's numbers: its quantities and prices.
fn plausible_item(n: &Node) -> Result<(), Implausible> {
    for f in ["QuantityOrdered", "QuantityShipped"] {
        if let Some(v) = n.text_of(f) {
            plausible::quantity_text(f, &v)?;
        }
    }
    for f in ["ItemPrice", "ShippingPrice"] {
        if let Some(m) = n.child(f) {
            plausible::amount(f, &m.text_or_empty("Amount"))?;
        }
    }
    Ok(())
}

fn order_from(mut n: Node) -> Order {
    let mut pii = BuyerPii {
        buyer_name: n.take_pii("BuyerName"),
        buyer_email: n.take_pii("BuyerEmail"),
        ..BuyerPii::default()
    };
    let mut info = OrderInfo {
        amazon_order_id: n.text_or_empty("AmazonOrderId"),
        seller_order_id: n.text_of("SellerOrderId"),
        purchase_date: n.text_or_empty("PurchaseDate"),
        last_update_date: n.text_or_empty("LastUpdateDate"),
        order_status: n.text_or_empty("OrderStatus"),
        fulfillment_channel: n.text_of("FulfillmentChannel"),
        sales_channel: n.text_of("SalesChannel"),
        order_channel: n.text_of("OrderChannel"),
        ship_service_level: n.text_of("ShipServiceLevel"),
        order_total: n.money("OrderTotal"),
        number_of_items_shipped: n.num("NumberOfItemsShipped"),
        number_of_items_unshipped: n.num("NumberOfItemsUnshipped"),
        payment_method: n.text_of("PaymentMethod"),
        marketplace_id: n.text_of("MarketplaceId"),
        shipment_service_level_category: n.text_of("ShipmentServiceLevelCategory"),
        order_type: n.text_of("OrderType"),
        earliest_ship_date: n.text_of("EarliestShipDate"),
        latest_ship_date: n.text_of("LatestShipDate"),
        earliest_delivery_date: n.text_of("EarliestDeliveryDate"),
        latest_delivery_date: n.text_of("LatestDeliveryDate"),
        is_business_order: n.boolean("IsBusinessOrder"),
        purchase_order_number: n.text_of("PurchaseOrderNumber"),
        is_prime: n.boolean("IsPrime"),
        is_premium_order: n.boolean("IsPremiumOrder"),
        is_replacement_order: n.boolean("IsReplacementOrder"),
        replaced_order_id: n.text_of("ReplacedOrderId"),
        ..OrderInfo::default()
    };
    if let Some(a) = n.children.iter_mut().find(|c| c.name == "ShippingAddress") {
        info.ship_country_code = a.text_of("CountryCode");
        info.address_type = a.text_of("AddressType");
        pii.recipient_name = a.take_pii("Name");
        pii.address_line1 = a.take_pii("AddressLine1");
        pii.address_line2 = a.take_pii("AddressLine2");
        pii.address_line3 = a.take_pii("AddressLine3");
        pii.city = a.take_pii("City");
        pii.county = a.take_pii("County");
        pii.district = a.take_pii("District");
        pii.state_or_region = a.take_pii("StateOrRegion");
        pii.municipality = a.take_pii("Municipality");
        pii.postal_code = a.take_pii("PostalCode");
        pii.phone = a.take_pii("Phone");
    }
    if let Some(t) = n.child("BuyerTaxInfo") {
        let mut flat = Zeroizing::new(String::new());
        for key in ["CompanyLegalName", "TaxingRegion"] {
            if let Some(v) = t.child(key) {
                flat.push_str(&format!("{key}: {}\n", v.text.trim()));
            }
        }
        if let Some(cls) = t.child("TaxClassifications") {
            for c in cls.children("TaxClassification") {
                let name = c.child("Name").map(|x| x.text.trim()).unwrap_or("");
                let value = c.child("Value").map(|x| x.text.trim()).unwrap_or("");
                flat.push_str(&format!("{name}: {value}\n"));
            }
        }
        pii.buyer_tax_info = Some(Pii::new(flat.trim_end().to_owned()));
    }
    Order { info, pii }
}

fn item_from(mut n: Node) -> OrderItem {
    OrderItem {
        gift_message_text: n.take_pii("GiftMessageText"),
        info: OrderItemInfo {
            asin: n.text_or_empty("ASIN"),
            seller_sku: n.text_of("SellerSKU"),
            order_item_id: n.text_or_empty("OrderItemId"),
            title: n.text_of("Title"),
            quantity_ordered: n.num("QuantityOrdered").unwrap_or(0),
            quantity_shipped: n.num("QuantityShipped"),
            item_price: n.money("ItemPrice"),
            shipping_price: n.money("ShippingPrice"),
            is_gift: n.boolean("IsGift"),
            gift_wrap_level: n.text_of("GiftWrapLevel"),
            condition_id: n.text_of("ConditionId"),
        },
    }
}

/// Parses `ListOrdersResponse`, `ListOrdersByNextTokenResponse` or `GetOrderResponse`,
/// handing each order to `on_order` as soon as it is read (an `Err` from it stops parsing).
pub fn parse_list_orders<R, F>(input: R, mut on_order: F) -> Result<ListOrdersResult, XmlError>
where
    R: BufRead,
    F: FnMut(Order) -> Result<(), XmlError>,
{
    let mut s = Stream::new(input);
    let (root, empty) = s.root()?;
    if root == "ErrorResponse" {
        let node = if empty {
            Node::default()
        } else {
            s.node(root)?
        };
        return Err(XmlError::Mws(error_from(&node)));
    }
    let roots = [
        "ListOrdersResponse",
        "ListOrdersByNextTokenResponse",
        "GetOrderResponse",
    ];
    if !roots.contains(&root.as_str()) {
        return Err(XmlError::Unexpected(format!(
            "<{}> is not an Orders list response",
            shown(&root)
        )));
    }
    let mut out = ListOrdersResult::default();
    if empty {
        return Ok(out);
    }
    // Path of open elements below the root (its depth is capped by the stream).
    let mut path: Vec<String> = Vec::new();
    let mut seen = 0usize;
    loop {
        match s.next()? {
            Ev::Start(n) => {
                let parent = path.last().map(String::as_str);
                match parent {
                    Some("Orders") if n == "Order" => {
                        seen += 1;
                        if seen > MAX_ORDERS_PER_PAGE {
                            return Err(XmlError::Malformed(format!(
                                "more than {MAX_ORDERS_PER_PAGE} orders in one page"
                            )));
                        }
                        let node = s.node(n)?;
                        match checked_order(node) {
                            Ok(order) => {
                                out.order_count += 1;
                                on_order(order)?;
                            }
                            Err(why) => out.refused.push(why),
                        }
                    }
                    Some("ResponseMetadata") => {
                        let node = s.node(n)?;
                        if node.name == "RequestId" || node.name == "RequestID" {
                            out.request_id = ids::request_id(Some(node.text.trim().to_owned()));
                        }
                    }
                    Some(p) if path.len() == 1 && p.ends_with("Result") && n != "Orders" => {
                        let node = s.node(n)?;
                        let v = Some(node.text.trim().to_owned());
                        match node.name.as_str() {
                            "NextToken" => out.next_token = v,
                            // Watermarks are stored and printed: only a real time is kept.
                            "CreatedBefore" => out.created_before = v.filter(|t| is_time(t)),
                            "LastUpdatedBefore" => {
                                out.last_updated_before = v.filter(|t| is_time(t))
                            }
                            _ => {}
                        }
                    }
                    _ => path.push(n),
                }
            }
            Ev::Empty(_) | Ev::Text(_) => {}
            Ev::End => {
                if path.pop().is_none() {
                    finish(&mut s)?;
                    return Ok(out);
                }
            }
            Ev::Eof => {
                return Err(XmlError::Malformed(format!(
                    "unexpected end of input inside <{}>",
                    shown(&root)
                )));
            }
        }
    }
}

/// A watermark Amazon may send: an MWS time made of the characters times are written with.
fn is_time(t: &str) -> bool {
    t.len() <= 40
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-:.+%".contains(&b))
        && parse_mws_time(t).is_some()
}

/// Parses the same documents as [`parse_list_orders`] into a vector.
pub fn parse_orders_vec<R: BufRead>(input: R) -> Result<(Vec<Order>, ListOrdersResult), XmlError> {
    let mut orders = Vec::new();
    let res = parse_list_orders(input, |o| {
        orders.push(o);
        Ok(())
    })?;
    Ok((orders, res))
}

/// Parses `ListOrderItemsResponse` or `ListOrderItemsByNextTokenResponse`.
pub fn parse_list_order_items<R: BufRead>(input: R) -> Result<ListOrderItemsResult, XmlError> {
    let mut root = document(input)?;
    expect_root(
        &root,
        &[
            "ListOrderItemsResponse",
            "ListOrderItemsByNextTokenResponse",
        ],
    )?;
    let request_id = request_id(&root);
    let mut out = ListOrderItemsResult {
        request_id,
        ..Default::default()
    };
    let Some(pos) = root
        .children
        .iter()
        .position(|c| c.name.ends_with("Result"))
    else {
        return Ok(out);
    };
    let mut result = root.children.swap_remove(pos);
    out.next_token = result.text_of("NextToken");
    out.amazon_order_id = result.text_of("AmazonOrderId");
    if let Some(id) = &out.amazon_order_id {
        ids::order_id(id)?;
    }
    if let Some(items) = result.children.iter_mut().find(|c| c.name == "OrderItems") {
        let items = std::mem::take(&mut items.children);
        if items.iter().filter(|n| n.name == "OrderItem").count() > MAX_ITEMS_PER_PAGE {
            return Err(XmlError::Malformed(format!(
                "more than {MAX_ITEMS_PER_PAGE} items in one page"
            )));
        }
        // One bad item id, or an implausible quantity or price, fails the page (and so its
        // order): no item of it is handed on.
        for n in items.iter().filter(|n| n.name == "OrderItem") {
            let id = n.text_or_empty("OrderItemId");
            ids::order_item_id(id.as_str())?;
            plausible_item(n)
                .map_err(|e| XmlError::Implausible(format!("order item {id}: {e}")))?;
        }
        for n in items {
            if n.name == "OrderItem" {
                out.items.push(item_from(n));
            }
        }
    }
    Ok(out)
}

fn feed_info(n: &Node) -> Result<FeedSubmissionInfo, XmlError> {
    let id = n.text_or_empty("FeedSubmissionId");
    ids::feed_submission_id(&id)?;
    Ok(FeedSubmissionInfo {
        feed_submission_id: id,
        feed_type: n.text_or_empty("FeedType"),
        submitted_date: n.text_or_empty("SubmittedDate"),
        feed_processing_status: n.text_or_empty("FeedProcessingStatus"),
        started_processing_date: n.text_of("StartedProcessingDate"),
        completed_processing_date: n.text_of("CompletedProcessingDate"),
    })
}

/// Parses `SubmitFeedResponse`.
pub fn parse_submit_feed<R: BufRead>(input: R) -> Result<SubmitFeedResult, XmlError> {
    let root = document(input)?;
    expect_root(&root, &["SubmitFeedResponse"])?;
    let info = root
        .child("SubmitFeedResult")
        .and_then(|r| r.child("FeedSubmissionInfo"))
        .ok_or_else(|| {
            XmlError::Unexpected("SubmitFeedResponse without FeedSubmissionInfo".into())
        })?;
    Ok(SubmitFeedResult {
        info: feed_info(info)?,
        request_id: request_id(&root),
    })
}

/// Parses `GetFeedSubmissionListResponse` or `...ByNextTokenResponse`.
pub fn parse_feed_submission_list<R: BufRead>(input: R) -> Result<FeedSubmissionList, XmlError> {
    let root = document(input)?;
    expect_root(
        &root,
        &[
            "GetFeedSubmissionListResponse",
            "GetFeedSubmissionListByNextTokenResponse",
        ],
    )?;
    let mut out = FeedSubmissionList {
        request_id: request_id(&root),
        ..Default::default()
    };
    if let Some(r) = root.children.iter().find(|c| c.name.ends_with("Result")) {
        out.next_token = r.text_of("NextToken").filter(|t| !t.is_empty());
        out.has_next = r.boolean("HasNext").unwrap_or(false);
        out.submissions = r
            .children("FeedSubmissionInfo")
            .map(feed_info)
            .collect::<Result<_, _>>()?;
    }
    Ok(out)
}

/// Parses a `GetFeedSubmissionResult` body: an XML processing report or a flat-file summary.
pub fn parse_feed_result(bytes: &[u8]) -> Result<ProcessingReport, XmlError> {
    let start = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if start.trim_ascii_start().starts_with(b"<") {
        parse_processing_report(start)
    } else {
        parse_flat_file_report(&String::from_utf8_lossy(start))
    }
}

/// Parses an XML `ProcessingReport` (the `AmazonEnvelope` body of `GetFeedSubmissionResult`).
pub fn parse_processing_report<R: BufRead>(input: R) -> Result<ProcessingReport, XmlError> {
    let root = document(input)?;
    expect_root(&root, &["AmazonEnvelope"])?;
    let report = root
        .children("Message")
        .find_map(|m| m.child("ProcessingReport"))
        .ok_or_else(|| XmlError::Unexpected("AmazonEnvelope without a ProcessingReport".into()))?;
    // The 2014 variant nests StatusCode and ProcessingSummary in <Summary>.
    let summary_holder = report.child("Summary").unwrap_or(report);
    let mut out = ProcessingReport {
        document_transaction_id: report.text_of("DocumentTransactionID"),
        status_code: report
            .text_of("StatusCode")
            .or_else(|| summary_holder.text_of("StatusCode")),
        ..Default::default()
    };
    if let Some(s) = report
        .child("ProcessingSummary")
        .or_else(|| summary_holder.child("ProcessingSummary"))
    {
        out.messages_processed = s.num("MessagesProcessed").unwrap_or(0);
        out.messages_successful = s.num("MessagesSuccessful").unwrap_or(0);
        out.messages_with_error = s.num("MessagesWithError").unwrap_or(0);
        out.messages_with_warning = s.num("MessagesWithWarning").unwrap_or(0);
    }
    for r in report.children("Result") {
        let extra = r.child("AdditionalInfo");
        out.results.push(ProcessingResult {
            message_id: r.num("MessageID"),
            result_code: r.text_or_empty("ResultCode"),
            result_message_code: r.text_of("ResultMessageCode").map(|c| term::quote(&c, 64)),
            result_description: result_text(&r.text_or_empty("ResultDescription")),
            amazon_order_id: extra
                .and_then(|a| a.text_of("AmazonOrderID"))
                .filter(|id| ids::is_valid(ids::IdKind::Order, id)),
            sku: extra.and_then(|a| a.text_of("SKU")),
        });
    }
    Ok(out)
}

/// A feed result message as kept: sanitised, cut to a sane length.
fn result_text(s: &str) -> String {
    term::quote(s, MAX_RESULT_TEXT)
}

/// Parses the tab-separated flat-file processing summary.
pub fn parse_flat_file_report(text: &str) -> Result<ProcessingReport, XmlError> {
    let mut out = ProcessingReport::default();
    let mut lines = text.lines();
    let mut saw_summary = false;
    let mut header: Option<Vec<String>> = None;
    for line in lines.by_ref() {
        let cells: Vec<&str> = line.split('\t').map(str::trim).collect();
        let label = cells.iter().find(|c| !c.is_empty()).copied().unwrap_or("");
        let number = cells
            .iter()
            .rev()
            .find(|c| !c.is_empty())
            .and_then(|c| c.parse::<u64>().ok());
        if label.starts_with("Feed Processing Summary") {
            saw_summary = true;
        } else if label.starts_with("Number of records processed") {
            out.messages_processed = number.unwrap_or(0);
        } else if label.starts_with("Number of records successful") {
            out.messages_successful = number.unwrap_or(0);
        } else if cells
            .first()
            .is_some_and(|c| *c == "original-record-number")
        {
            header = Some(cells.iter().map(|c| c.to_string()).collect());
            break;
        }
    }
    if !saw_summary {
        return Err(XmlError::Unexpected(
            "not a flat-file processing summary".into(),
        ));
    }
    if let Some(header) = header {
        let col = |name: &str| header.iter().position(|h| h == name);
        let (rec, sku, code, kind, msg) = (
            col("original-record-number"),
            col("sku"),
            col("error-code"),
            col("error-type"),
            col("error-message"),
        );
        for line in lines.filter(|l| !l.trim().is_empty()) {
            let cells: Vec<&str> = line.split('\t').collect();
            let get = |i: Option<usize>| i.and_then(|i| cells.get(i)).map(|s| s.trim().to_owned());
            let result = ProcessingResult {
                message_id: get(rec).and_then(|r| r.parse().ok()),
                result_code: get(kind).unwrap_or_default(),
                result_message_code: get(code)
                    .filter(|c| !c.is_empty())
                    .map(|c| term::quote(&c, 64)),
                result_description: result_text(&get(msg).unwrap_or_default()),
                amazon_order_id: None,
                sku: get(sku).filter(|s| !s.is_empty()),
            };
            match result.result_code.as_str() {
                "Error" => out.messages_with_error += 1,
                "Warning" => out.messages_with_warning += 1,
                _ => {}
            }
            out.results.push(result);
        }
    }
    Ok(out)
}

/// A fulfillment message that did not follow the schema, with its `MessageID` when readable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedMessageError {
    /// The `MessageID`, if one was readable.
    pub message_id: Option<u64>,
    /// What was wrong.
    pub reason: String,
}

/// A parsed `_POST_ORDER_FULFILLMENT_DATA_` feed: each message or why it was rejected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedFulfillmentFeed {
    /// `Header/MerchantIdentifier`.
    pub merchant_identifier: String,
    /// `MessageType` (should be `OrderFulfillment`).
    pub message_type: String,
    /// Every `<Message>` in document order.
    pub messages: Vec<Result<FulfillmentMessage, FeedMessageError>>,
}

/// Parses an OrderFulfillment feed, checking each message's elements against the schema order.
pub fn parse_fulfillment_feed<R: BufRead>(input: R) -> Result<ParsedFulfillmentFeed, XmlError> {
    let root = document(input)?;
    expect_root(&root, &["AmazonEnvelope"])?;
    let mut out = ParsedFulfillmentFeed {
        merchant_identifier: root
            .child("Header")
            .map(|h| h.text_or_empty("MerchantIdentifier"))
            .unwrap_or_default(),
        message_type: root.text_or_empty("MessageType"),
        messages: Vec::new(),
    };
    for m in root.children("Message") {
        out.messages.push(fulfillment_message(m));
    }
    Ok(out)
}

/// Schema order of `OrderFulfillment` children (rank per element name).
fn of_rank(name: &str) -> Option<u8> {
    Some(match name {
        "AmazonOrderID" | "MerchantOrderID" => 0,
        "MerchantFulfillmentID" => 1,
        "FulfillmentDate" => 2,
        "FulfillmentData" => 3,
        "CODCollectionMethod" => 4,
        "Item" => 5,
        "ShipFromAddress" => 6,
        _ => return None,
    })
}

fn in_order(node: &Node, rank: impl Fn(&str) -> Option<u8>) -> Result<(), String> {
    let mut last = 0u8;
    for c in &node.children {
        let r = rank(&c.name)
            .ok_or_else(|| format!("unknown element <{}> in <{}>", c.name, node.name))?;
        if r < last {
            return Err(format!(
                "<{}> is out of schema order in <{}>",
                c.name, node.name
            ));
        }
        last = r;
    }
    Ok(())
}

fn fulfillment_message(m: &Node) -> Result<FulfillmentMessage, FeedMessageError> {
    let message_id = m.num::<u64>("MessageID");
    let fail = |reason: String| FeedMessageError { message_id, reason };
    let id = message_id.ok_or_else(|| fail("MessageID is missing or not an integer".into()))?;
    let of = m
        .child("OrderFulfillment")
        .ok_or_else(|| fail("OrderFulfillment is missing".into()))?;
    in_order(of, of_rank).map_err(fail)?;
    let mut msg = FulfillmentMessage {
        message_id: id,
        amazon_order_id: of.text_of("AmazonOrderID"),
        merchant_order_id: of.text_of("MerchantOrderID"),
        merchant_fulfillment_id: of.text_of("MerchantFulfillmentID"),
        fulfillment_date: of
            .text_of("FulfillmentDate")
            .ok_or_else(|| fail("FulfillmentDate is missing".into()))?,
        ..Default::default()
    };
    if msg.amazon_order_id.is_none() && msg.merchant_order_id.is_none() {
        return Err(fail("AmazonOrderID or MerchantOrderID is required".into()));
    }
    if let Some(d) = of.child("FulfillmentData") {
        in_order(d, |n| {
            Some(match n {
                "CarrierCode" | "CarrierName" => 0,
                "ShippingMethod" => 1,
                "ShipperTrackingNumber" => 2,
                _ => return None,
            })
        })
        .map_err(fail)?;
        msg.carrier_code = d.text_of("CarrierCode");
        msg.carrier_name = d.text_of("CarrierName");
        msg.shipping_method = d.text_of("ShippingMethod");
        msg.shipper_tracking_number = d.text_of("ShipperTrackingNumber");
    }
    for it in of.children("Item") {
        in_order(it, |n| {
            Some(match n {
                "AmazonOrderItemCode" | "MerchantOrderItemID" => 0,
                "MerchantFulfillmentItemID" => 1,
                "Quantity" => 2,
                "TransparencyCode" => 3,
                _ => return None,
            })
        })
        .map_err(fail)?;
        let quantity = match it.text_of("Quantity") {
            None => None,
            Some(q) => Some(
                q.parse::<u32>()
                    .ok()
                    .filter(|q| *q > 0)
                    .ok_or_else(|| fail(format!("Quantity {q:?} is not a positive integer")))?,
            ),
        };
        msg.items.push(FulfillmentItem {
            amazon_order_item_code: it.text_of("AmazonOrderItemCode"),
            merchant_order_item_id: it.text_of("MerchantOrderItemID"),
            merchant_fulfillment_item_id: it.text_of("MerchantFulfillmentItemID"),
            quantity,
        });
    }
    Ok(msg)
}

/// Writes one element with escaped text content.
pub fn text_element<W: Write>(w: &mut Writer<W>, name: &str, text: &str) -> std::io::Result<()> {
    w.write_event(Event::Start(BytesStart::new(name)))?;
    w.write_event(Event::Text(BytesText::new(text)))?;
    w.write_event(Event::End(BytesEnd::new(name)))
}

fn opt_element<W: Write>(w: &mut Writer<W>, name: &str, text: Option<&str>) -> std::io::Result<()> {
    match text {
        Some(t) => text_element(w, name, t),
        None => Ok(()),
    }
}

/// Writes the `_POST_ORDER_FULFILLMENT_DATA_` XML for `feed`, elements in schema order and all
/// text escaped.
pub fn write_fulfillment_feed(feed: &FulfillmentFeed) -> Vec<u8> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    // Writing to a Vec cannot fail.
    write_feed_inner(&mut w, feed).expect("writing to memory");
    w.into_inner()
}

fn write_feed_inner<W: Write>(w: &mut Writer<W>, feed: &FulfillmentFeed) -> std::io::Result<()> {
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let mut env = BytesStart::new("AmazonEnvelope");
    env.push_attribute(("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"));
    env.push_attribute(("xsi:noNamespaceSchemaLocation", "amzn-envelope.xsd"));
    w.write_event(Event::Start(env))?;
    w.write_event(Event::Start(BytesStart::new("Header")))?;
    text_element(w, "DocumentVersion", "1.01")?;
    text_element(w, "MerchantIdentifier", &feed.merchant_identifier)?;
    w.write_event(Event::End(BytesEnd::new("Header")))?;
    text_element(w, "MessageType", "OrderFulfillment")?;
    for m in &feed.messages {
        w.write_event(Event::Start(BytesStart::new("Message")))?;
        text_element(w, "MessageID", &m.message_id.to_string())?;
        w.write_event(Event::Start(BytesStart::new("OrderFulfillment")))?;
        match (&m.amazon_order_id, &m.merchant_order_id) {
            (Some(a), _) => text_element(w, "AmazonOrderID", a)?,
            (None, Some(mo)) => text_element(w, "MerchantOrderID", mo)?,
            (None, None) => {}
        }
        opt_element(
            w,
            "MerchantFulfillmentID",
            m.merchant_fulfillment_id.as_deref(),
        )?;
        text_element(w, "FulfillmentDate", &m.fulfillment_date)?;
        let has_data = m.carrier_code.is_some()
            || m.carrier_name.is_some()
            || m.shipping_method.is_some()
            || m.shipper_tracking_number.is_some();
        if has_data {
            w.write_event(Event::Start(BytesStart::new("FulfillmentData")))?;
            match (&m.carrier_code, &m.carrier_name) {
                (Some(c), _) => text_element(w, "CarrierCode", c)?,
                (None, Some(n)) => text_element(w, "CarrierName", n)?,
                (None, None) => {}
            }
            opt_element(w, "ShippingMethod", m.shipping_method.as_deref())?;
            opt_element(
                w,
                "ShipperTrackingNumber",
                m.shipper_tracking_number.as_deref(),
            )?;
            w.write_event(Event::End(BytesEnd::new("FulfillmentData")))?;
        }
        for it in &m.items {
            w.write_event(Event::Start(BytesStart::new("Item")))?;
            match (&it.amazon_order_item_code, &it.merchant_order_item_id) {
                (Some(c), _) => text_element(w, "AmazonOrderItemCode", c)?,
                (None, Some(mi)) => text_element(w, "MerchantOrderItemID", mi)?,
                (None, None) => {}
            }
            opt_element(
                w,
                "MerchantFulfillmentItemID",
                it.merchant_fulfillment_item_id.as_deref(),
            )?;
            if let Some(q) = it.quantity {
                text_element(w, "Quantity", &q.to_string())?;
            }
            w.write_event(Event::End(BytesEnd::new("Item")))?;
        }
        w.write_event(Event::End(BytesEnd::new("OrderFulfillment")))?;
        w.write_event(Event::End(BytesEnd::new("Message")))?;
    }
    w.write_event(Event::End(BytesEnd::new("AmazonEnvelope")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed() -> FulfillmentFeed {
        FulfillmentFeed {
            merchant_identifier: "A1 & <Co>".into(),
            messages: vec![FulfillmentMessage {
                message_id: 1,
                amazon_order_id: Some("113-0000000-0000001".into()),
                fulfillment_date: "2026-01-01T10:00:00Z".into(),
                carrier_name: Some("Bob's \"Fast\" & <Cheap>".into()),
                shipping_method: Some("Ground".into()),
                shipper_tracking_number: Some("1Z999".into()),
                items: vec![FulfillmentItem {
                    amazon_order_item_code: Some("12345678901234".into()),
                    quantity: Some(2),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn feed_round_trips_with_escaping() {
        let f = feed();
        let bytes = write_fulfillment_feed(&f);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("&amp; &lt;Cheap&gt;"), "{text}");
        let back = parse_fulfillment_feed(&bytes[..]).unwrap();
        assert_eq!(back.merchant_identifier, f.merchant_identifier);
        assert_eq!(back.message_type, "OrderFulfillment");
        assert_eq!(back.messages, vec![Ok(f.messages[0].clone())]);
    }

    #[test]
    fn out_of_order_message_is_rejected_alone() {
        let xml = br#"<AmazonEnvelope><Header><MerchantIdentifier>M</MerchantIdentifier></Header>
<MessageType>OrderFulfillment</MessageType>
<Message><MessageID>1</MessageID><OrderFulfillment><FulfillmentDate>2026-01-01T00:00:00Z</FulfillmentDate><AmazonOrderID>1</AmazonOrderID></OrderFulfillment></Message>
<Message><MessageID>2</MessageID><OrderFulfillment><AmazonOrderID>1</AmazonOrderID><FulfillmentDate>2026-01-01T00:00:00Z</FulfillmentDate></OrderFulfillment></Message>
</AmazonEnvelope>"#;
        let f = parse_fulfillment_feed(&xml[..]).unwrap();
        assert!(
            f.messages[0]
                .as_ref()
                .unwrap_err()
                .reason
                .contains("out of schema order")
        );
        assert!(f.messages[1].is_ok());
    }

    #[test]
    fn entities_and_char_refs_resolve() {
        let xml = "<ListOrdersResponse xmlns=\"x\"><ListOrdersResult><Orders><Order><AmazonOrderId>111-0000000-0000001</AmazonOrderId>\
<ShippingAddress><Name>A &amp; B &#233;&#x4E2D;</Name></ShippingAddress></Order></Orders></ListOrdersResult></ListOrdersResponse>";
        let (orders, res) = parse_orders_vec(xml.as_bytes()).unwrap();
        assert_eq!(res.order_count, 1);
        assert_eq!(
            orders[0].pii.recipient_name.as_ref().unwrap().expose_pii(),
            "A & B é中"
        );
    }

    #[test]
    fn truncated_and_broken_bodies_are_errors_not_panics() {
        let xml = b"<ListOrdersResponse><ListOrdersResult><Orders><Order><AmazonOrderId>111-0000000-0000001</AmazonOrderId></Order>";
        for cut in 0..xml.len() {
            assert!(parse_orders_vec(&xml[..cut]).is_err());
        }
        assert!(
            parse_orders_vec(&b"<ListOrdersResponse><a></b></ListOrdersResponse>"[..]).is_err()
        );
    }

    fn nested(root: &str, inner: &str, depth: usize) -> Vec<u8> {
        let mut x = format!("<{root}>{inner}");
        x.push_str(&"<a>".repeat(depth));
        x.push_str(&"</a>".repeat(depth));
        x.push_str(&format!("</{root}>"));
        x.into_bytes()
    }

    /// Each parser meets 20,000 nested elements on its own thread with a small stack: a
    /// recursive descent would overflow it; the depth cap answers "malformed" first.
    #[test]
    fn deep_nesting_is_malformed_in_every_parser() {
        let run = || {
            let orders = nested(
                "ListOrdersResponse",
                "<ListOrdersResult><Orders><Order>",
                20_000,
            );
            let e = parse_orders_vec(&orders[..]).unwrap_err();
            assert!(
                matches!(&e, XmlError::Malformed(m) if m.contains("deeper than 64")),
                "{e}"
            );
            type Parse = fn(&[u8]) -> Result<(), XmlError>;
            let docs: Vec<(&str, Parse)> = vec![
                ("ListOrderItemsResponse", |b| {
                    parse_list_order_items(b).map(drop)
                }),
                ("SubmitFeedResponse", |b| parse_submit_feed(b).map(drop)),
                ("GetFeedSubmissionListResponse", |b| {
                    parse_feed_submission_list(b).map(drop)
                }),
                ("AmazonEnvelope", |b| parse_feed_result(b).map(drop)),
                ("AmazonEnvelope", |b| parse_fulfillment_feed(b).map(drop)),
                ("ErrorResponse", |b| parse_error_response(b).map(drop)),
                ("GetEligibleShippingServicesResponse", |b| {
                    crate::mws::merchant::parse_eligible(b).map(drop)
                }),
                ("CreateShipmentResponse", |b| {
                    crate::mws::merchant::parse_shipment(b).map(drop)
                }),
            ];
            for (root, parse) in docs {
                let e = parse(&nested(root, "", 20_000)).unwrap_err();
                assert!(
                    matches!(&e, XmlError::Malformed(m) if m.contains("deeper than 64")),
                    "{root}: {e}"
                );
                // Positive control: a shallow document gets past the depth check.
                let ok = parse(&nested(root, "", 10));
                assert!(
                    !matches!(&ok, Err(XmlError::Malformed(m)) if m.contains("deeper")),
                    "{root}"
                );
            }
        };
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(run)
            .unwrap()
            .join()
            .unwrap();
    }

    fn order(id: &str) -> String {
        format!(
            "<Order><AmazonOrderId>{id}</AmazonOrderId><OrderStatus>Unshipped</OrderStatus>\
             <ShippingAddress><Name>N</Name></ShippingAddress></Order>"
        )
    }

    fn page(orders: &[String]) -> Vec<u8> {
        format!(
            "<ListOrdersResponse><ListOrdersResult><Orders>{}</Orders>\
             <LastUpdatedBefore>2026-01-01T00:00:00Z</LastUpdatedBefore></ListOrdersResult>\
             <ResponseMetadata><RequestId>88faca76-b600-46d2-b53c-0c8c4533e43a</RequestId>\
             </ResponseMetadata></ListOrdersResponse>",
            orders.concat()
        )
        .into_bytes()
    }

    #[test]
    fn an_order_with_a_bad_id_is_refused_alone() {
        let body = page(&[
            order("111-2393723-1586760"),
            order("../../etc/passwd"),
            order("111-2393723-1586761\u{1b}[2J"),
            order("111-2393723-1586762"),
        ]);
        let (orders, res) = parse_orders_vec(&body[..]).unwrap();
        let ids: Vec<&str> = orders
            .iter()
            .map(|o| o.info.amazon_order_id.as_str())
            .collect();
        assert_eq!(ids, ["111-2393723-1586760", "111-2393723-1586762"]);
        assert_eq!(res.order_count, 2);
        assert_eq!(res.refused.len(), 2);
        assert!(
            res.refused
                .iter()
                .all(|b| !b.to_string().contains('\u{1b}'))
        );
        assert!(res.last_updated_before.is_some() && res.request_id.is_some());
        // A watermark that is not a time is not kept (the last page then carries none).
        let text = String::from_utf8(body)
            .unwrap()
            .replace("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z\u{1b}[2J");
        let (_, res) = parse_orders_vec(text.as_bytes()).unwrap();
        assert_eq!(res.last_updated_before, None);
    }

    #[test]
    fn too_many_orders_or_elements_in_a_page_are_malformed() {
        let full: Vec<String> = (0..100)
            .map(|i| order(&format!("111-0000000-{i:07}")))
            .collect();
        assert_eq!(parse_orders_vec(&page(&full)[..]).unwrap().0.len(), 100);
        let mut over = full.clone();
        over.push(order("111-0000001-0000000"));
        let e = parse_orders_vec(&page(&over)[..]).unwrap_err();
        assert!(matches!(&e, XmlError::Malformed(m) if m.contains("orders in one page")));
        let flat = format!(
            "<ListOrdersResponse>{}</ListOrdersResponse>",
            "<x/>".repeat(MAX_ELEMENTS + 1)
        );
        let e = parse_orders_vec(flat.as_bytes()).unwrap_err();
        assert!(
            matches!(&e, XmlError::Malformed(m) if m.contains("elements")),
            "{e}"
        );
    }

    #[test]
    fn a_bad_item_id_fails_the_item_page() {
        let items = |id: &str| {
            format!(
                "<ListOrderItemsResponse><ListOrderItemsResult><AmazonOrderId>111-2393723-1586760\
                 </AmazonOrderId><OrderItems><OrderItem><OrderItemId>68828574383266</OrderItemId>\
                 <QuantityOrdered>1</QuantityOrdered></OrderItem><OrderItem><OrderItemId>{id}\
                 </OrderItemId><QuantityOrdered>1</QuantityOrdered></OrderItem></OrderItems>\
                 </ListOrderItemsResult></ListOrderItemsResponse>"
            )
        };
        assert_eq!(
            parse_list_order_items(items("12345678901234").as_bytes())
                .unwrap()
                .items
                .len(),
            2
        );
        let e = parse_list_order_items(items("../x").as_bytes()).unwrap_err();
        assert!(
            matches!(&e, XmlError::BadId(b) if b.kind == ids::IdKind::OrderItem),
            "{e}"
        );
    }

    #[test]
    fn absurd_quantities_and_prices_fail_their_item_page_or_their_order_alone() {
        let items = |qty: &str, price: &str| {
            format!(
                "<ListOrderItemsResponse><ListOrderItemsResult><AmazonOrderId>111-2393723-1586760\
                 </AmazonOrderId><OrderItems><OrderItem><OrderItemId>68828574383266</OrderItemId>\
                 <QuantityOrdered>{qty}</QuantityOrdered><ItemPrice><CurrencyCode>USD\
                 </CurrencyCode><Amount>{price}</Amount></ItemPrice></OrderItem></OrderItems>\
                 </ListOrderItemsResult></ListOrderItemsResponse>"
            )
        };
        // Positive control: plausible numbers (and Amazon's masked amounts) pass.
        for (q, p) in [("1", "19.99"), ("10000", "0.00"), ("0", "FILTERED")] {
            let r = parse_list_order_items(items(q, p).as_bytes()).unwrap();
            assert_eq!(r.items[0].info.quantity_ordered, q.parse::<u32>().unwrap());
        }
        for (q, p, why) in [
            (
                "1e20",
                "19.99",
                "QuantityOrdered \"1e20\" is not a plausible quantity",
            ),
            ("4294967295", "19.99", "QuantityOrdered \"4294967295\""),
            ("10001", "19.99", "QuantityOrdered"),
            ("2", "1e20", "ItemPrice \"1e20\" is not a plausible amount"),
            ("2", "-3.00", "ItemPrice"),
        ] {
            let e = parse_list_order_items(items(q, p).as_bytes()).unwrap_err();
            assert!(
                matches!(&e, XmlError::Implausible(m) if m.contains(why)
                    && m.contains("68828574383266")),
                "{q} {p}: {e}"
            );
        }
        // An order whose total or unit count is absurd is refused alone, with the reason.
        let with = |id: &str, extra: &str| {
            format!(
                "<Order><AmazonOrderId>{id}</AmazonOrderId><OrderStatus>Unshipped</OrderStatus>\
                 {extra}</Order>"
            )
        };
        let body = page(&[
            with(
                "111-2393723-1586760",
                "<OrderTotal><CurrencyCode>USD</CurrencyCode><Amount>25.00</Amount></OrderTotal>",
            ),
            with(
                "111-2393723-1586761",
                "<OrderTotal><CurrencyCode>USD</CurrencyCode><Amount>1e20</Amount></OrderTotal>",
            ),
            with(
                "111-2393723-1586762",
                "<NumberOfItemsUnshipped>4294967295</NumberOfItemsUnshipped>",
            ),
        ]);
        let (orders, res) = parse_orders_vec(&body[..]).unwrap();
        assert_eq!(orders.len(), 1);
        assert_eq!(res.refused.len(), 2);
        assert!(
            res.refused[0].starts_with("order 111-2393723-1586761: OrderTotal \"1e20\""),
            "{:?}",
            res.refused
        );
        assert!(
            res.refused[1].contains("NumberOfItemsUnshipped"),
            "{:?}",
            res.refused
        );
    }

    #[test]
    fn remote_text_in_errors_is_sanitised_and_short() {
        let msg = format!("bad\u{1b}[2J\u{202e} {}", "x".repeat(5000));
        let body = format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>Invalid\u{1b}</Code>\
             <Message>{msg}</Message></Error><RequestID>String</RequestID></ErrorResponse>"
        );
        let e = parse_error_response(body.as_bytes()).unwrap();
        assert!(!e.message.chars().any(crate::term::is_unsafe));
        assert!(!e.code.chars().any(crate::term::is_unsafe));
        assert!(e.message.chars().count() <= crate::term::MAX_QUOTE);
        assert_eq!(e.request_id, None);
        let e: crate::Error = parse_orders_vec(&b"<R\x1b></R\x1b>"[..])
            .unwrap_err()
            .into();
        assert!(!e.to_string().contains('\u{1b}'), "{e}");
    }
}
