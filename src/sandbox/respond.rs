//! The sandbox's XML replies, written with quick-xml's writer (all text escaped).

use std::io::Write;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, Event};

use crate::mws::model::{FeedSubmissionInfo, Money, OrderItem, ProcessingReport};
use crate::mws::xml::text_element as el;
use crate::sandbox::data::SimOrder;

pub(super) type W = Writer<Vec<u8>>;
pub(super) type Io = std::io::Result<()>;

pub(super) fn start(w: &mut W, name: &str) -> Io {
    w.write_event(Event::Start(BytesStart::new(name)))
}

pub(super) fn end(w: &mut W, name: &str) -> Io {
    w.write_event(Event::End(BytesEnd::new(name)))
}

/// An empty element, `<name/>`.
pub(super) fn empty(w: &mut W, name: &str) -> Io {
    w.write_event(Event::Empty(BytesStart::new(name)))
}

fn opt(w: &mut W, name: &str, v: Option<&str>) -> Io {
    match v {
        Some(v) => el(w, name, v),
        None => Ok(()),
    }
}

fn boolean(w: &mut W, name: &str, v: Option<bool>) -> Io {
    opt(w, name, v.map(|b| if b { "true" } else { "false" }))
}

pub(super) fn money(w: &mut W, name: &str, m: Option<&Money>) -> Io {
    if let Some(m) = m {
        start(w, name)?;
        el(w, "CurrencyCode", &m.currency_code)?;
        el(w, "Amount", &m.amount)?;
        end(w, name)?;
    }
    Ok(())
}

/// Writes `<Action>Response xmlns=ns><Action>Result>…</…Result><ResponseMetadata>…`.
pub fn envelope(
    action: &str,
    ns: &str,
    request_id: &str,
    body: impl FnOnce(&mut W) -> Io,
) -> Vec<u8> {
    let mut w = Writer::new(Vec::new());
    let r: Io = (|| {
        w.write_event(Event::Decl(BytesDecl::new("1.0", None, None)))?;
        let root = format!("{action}Response");
        let mut s = BytesStart::new(root.as_str());
        s.push_attribute(("xmlns", ns));
        w.write_event(Event::Start(s))?;
        let result = format!("{action}Result");
        start(&mut w, &result)?;
        body(&mut w)?;
        end(&mut w, &result)?;
        start(&mut w, "ResponseMetadata")?;
        el(&mut w, "RequestId", request_id)?;
        end(&mut w, "ResponseMetadata")?;
        end(&mut w, &root)
    })();
    r.expect("writing to memory cannot fail");
    let mut out = w.into_inner();
    out.write_all(b"\n").expect("memory");
    out
}

/// An `ErrorResponse` (with `RequestID`, as real bodies spell it).
pub fn error(ns: &str, kind: &str, code: &str, message: &str, request_id: &str) -> Vec<u8> {
    let mut w = Writer::new(Vec::new());
    let r: Io = (|| {
        w.write_event(Event::Decl(BytesDecl::new("1.0", None, None)))?;
        let mut s = BytesStart::new("ErrorResponse");
        s.push_attribute(("xmlns", ns));
        w.write_event(Event::Start(s))?;
        start(&mut w, "Error")?;
        el(&mut w, "Type", kind)?;
        el(&mut w, "Code", code)?;
        el(&mut w, "Message", message)?;
        end(&mut w, "Error")?;
        el(&mut w, "RequestID", request_id)?;
        end(&mut w, "ErrorResponse")
    })();
    r.expect("writing to memory cannot fail");
    w.into_inner()
}

/// One `<Order>`, leaving out what Amazon leaves out for Pending and Canceled orders.
pub fn order(w: &mut W, o: &SimOrder) -> Io {
    let i = &o.order.info;
    let p = &o.order.pii;
    let status = i.order_status.as_str();
    let show_pii = !matches!(status, "Pending" | "Canceled");
    let x = |f: &Option<crate::pii::Pii>| f.as_ref().map(|v| v.expose_pii().to_owned());
    start(w, "Order")?;
    el(w, "AmazonOrderId", &i.amazon_order_id)?;
    opt(w, "SellerOrderId", i.seller_order_id.as_deref())?;
    el(w, "PurchaseDate", &i.purchase_date)?;
    el(w, "LastUpdateDate", &i.last_update_date)?;
    el(w, "OrderStatus", status)?;
    opt(w, "FulfillmentChannel", i.fulfillment_channel.as_deref())?;
    opt(w, "SalesChannel", i.sales_channel.as_deref())?;
    opt(w, "ShipServiceLevel", i.ship_service_level.as_deref())?;
    if show_pii {
        start(w, "ShippingAddress")?;
        el(w, "Name", x(&p.recipient_name).as_deref().unwrap_or(""))?;
        opt(w, "AddressLine1", x(&p.address_line1).as_deref())?;
        opt(w, "AddressLine2", x(&p.address_line2).as_deref())?;
        opt(w, "AddressLine3", x(&p.address_line3).as_deref())?;
        opt(w, "City", x(&p.city).as_deref())?;
        opt(w, "County", x(&p.county).as_deref())?;
        opt(w, "District", x(&p.district).as_deref())?;
        opt(w, "StateOrRegion", x(&p.state_or_region).as_deref())?;
        opt(w, "Municipality", x(&p.municipality).as_deref())?;
        opt(w, "PostalCode", x(&p.postal_code).as_deref())?;
        opt(w, "CountryCode", i.ship_country_code.as_deref())?;
        opt(w, "Phone", x(&p.phone).as_deref())?;
        opt(w, "AddressType", i.address_type.as_deref())?;
        end(w, "ShippingAddress")?;
        money(w, "OrderTotal", i.order_total.as_ref())?;
    }
    opt(
        w,
        "NumberOfItemsShipped",
        i.number_of_items_shipped.map(|n| n.to_string()).as_deref(),
    )?;
    opt(
        w,
        "NumberOfItemsUnshipped",
        i.number_of_items_unshipped
            .map(|n| n.to_string())
            .as_deref(),
    )?;
    opt(w, "PaymentMethod", i.payment_method.as_deref())?;
    opt(w, "MarketplaceId", i.marketplace_id.as_deref())?;
    if show_pii {
        opt(w, "BuyerEmail", x(&p.buyer_email).as_deref())?;
        opt(w, "BuyerName", x(&p.buyer_name).as_deref())?;
    }
    opt(
        w,
        "ShipmentServiceLevelCategory",
        i.shipment_service_level_category.as_deref(),
    )?;
    opt(w, "OrderType", i.order_type.as_deref())?;
    opt(w, "EarliestShipDate", i.earliest_ship_date.as_deref())?;
    opt(w, "LatestShipDate", i.latest_ship_date.as_deref())?;
    boolean(w, "IsBusinessOrder", i.is_business_order)?;
    opt(w, "PurchaseOrderNumber", i.purchase_order_number.as_deref())?;
    boolean(w, "IsPrime", i.is_prime)?;
    boolean(w, "IsPremiumOrder", i.is_premium_order)?;
    boolean(w, "IsReplacementOrder", i.is_replacement_order)?;
    end(w, "Order")
}

/// One `<OrderItem>`; Pending orders' items carry no prices.
pub fn item(w: &mut W, it: &OrderItem, pending: bool) -> Io {
    let i = &it.info;
    start(w, "OrderItem")?;
    el(w, "ASIN", &i.asin)?;
    opt(w, "SellerSKU", i.seller_sku.as_deref())?;
    el(w, "OrderItemId", &i.order_item_id)?;
    opt(w, "Title", i.title.as_deref())?;
    el(w, "QuantityOrdered", &i.quantity_ordered.to_string())?;
    opt(
        w,
        "QuantityShipped",
        i.quantity_shipped.map(|n| n.to_string()).as_deref(),
    )?;
    if !pending {
        money(w, "ItemPrice", i.item_price.as_ref())?;
        money(w, "ShippingPrice", i.shipping_price.as_ref())?;
    }
    boolean(w, "IsGift", i.is_gift)?;
    opt(
        w,
        "GiftMessageText",
        it.gift_message_text.as_ref().map(|g| g.expose_pii()),
    )?;
    opt(w, "GiftWrapLevel", i.gift_wrap_level.as_deref())?;
    opt(w, "ConditionId", i.condition_id.as_deref())?;
    end(w, "OrderItem")
}

/// One `<FeedSubmissionInfo>`.
pub fn feed_info(w: &mut W, f: &FeedSubmissionInfo) -> Io {
    start(w, "FeedSubmissionInfo")?;
    el(w, "FeedSubmissionId", &f.feed_submission_id)?;
    el(w, "FeedType", &f.feed_type)?;
    el(w, "SubmittedDate", &f.submitted_date)?;
    el(w, "FeedProcessingStatus", &f.feed_processing_status)?;
    opt(
        w,
        "StartedProcessingDate",
        f.started_processing_date.as_deref(),
    )?;
    opt(
        w,
        "CompletedProcessingDate",
        f.completed_processing_date.as_deref(),
    )?;
    end(w, "FeedSubmissionInfo")
}

/// The processing report body of `GetFeedSubmissionResult`.
pub fn processing_report(merchant: &str, r: &ProcessingReport) -> Vec<u8> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    let res: Io = (|| {
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        let mut env = BytesStart::new("AmazonEnvelope");
        env.push_attribute(("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"));
        env.push_attribute(("xsi:noNamespaceSchemaLocation", "amzn-envelope.xsd"));
        w.write_event(Event::Start(env))?;
        start(&mut w, "Header")?;
        el(&mut w, "DocumentVersion", "1.02")?;
        el(&mut w, "MerchantIdentifier", merchant)?;
        end(&mut w, "Header")?;
        el(&mut w, "MessageType", "ProcessingReport")?;
        start(&mut w, "Message")?;
        el(&mut w, "MessageID", "1")?;
        start(&mut w, "ProcessingReport")?;
        el(
            &mut w,
            "DocumentTransactionID",
            r.document_transaction_id.as_deref().unwrap_or("0"),
        )?;
        el(
            &mut w,
            "StatusCode",
            r.status_code.as_deref().unwrap_or("Complete"),
        )?;
        start(&mut w, "ProcessingSummary")?;
        el(
            &mut w,
            "MessagesProcessed",
            &r.messages_processed.to_string(),
        )?;
        el(
            &mut w,
            "MessagesSuccessful",
            &r.messages_successful.to_string(),
        )?;
        el(
            &mut w,
            "MessagesWithError",
            &r.messages_with_error.to_string(),
        )?;
        el(
            &mut w,
            "MessagesWithWarning",
            &r.messages_with_warning.to_string(),
        )?;
        end(&mut w, "ProcessingSummary")?;
        for x in &r.results {
            start(&mut w, "Result")?;
            el(&mut w, "MessageID", &x.message_id.unwrap_or(0).to_string())?;
            el(&mut w, "ResultCode", &x.result_code)?;
            opt(
                &mut w,
                "ResultMessageCode",
                x.result_message_code.as_deref(),
            )?;
            el(&mut w, "ResultDescription", &x.result_description)?;
            if let Some(id) = &x.amazon_order_id {
                start(&mut w, "AdditionalInfo")?;
                el(&mut w, "AmazonOrderID", id)?;
                end(&mut w, "AdditionalInfo")?;
            }
            end(&mut w, "Result")?;
        }
        end(&mut w, "ProcessingReport")?;
        end(&mut w, "Message")?;
        end(&mut w, "AmazonEnvelope")
    })();
    res.expect("writing to memory cannot fail");
    w.into_inner()
}
