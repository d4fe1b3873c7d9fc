//! Merchant Fulfillment in the sandbox: quotes, label purchases (auto-confirming the order, as
//! Amazon does), re-fetching and cancelling, with Amazon's checks and error codes.
//!
//! Rates, service ids and tracking numbers are the sandbox's own. Labels are ZPL203 only (the
//! format fulfill prints), gzip'd and base64'd with an MD5 `Checksum`, like Amazon's; they carry
//! the buyer's address, so they are PII like real ones.

use std::collections::HashMap;
use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use md5::{Digest, Md5};
use rand::RngExt;

use super::State;
use super::api::{Fail, Params, fail, invalid, missing};
use super::data::fmt_time;
use super::respond::{self, Io, W, empty, end, start};
use crate::mws::model::Money;
use crate::mws::xml::text_element as el;

/// Writes a response body.
pub(super) type Body = Box<dyn FnOnce(&mut W) -> Io>;

/// (carrier, id, name, base price in cents, cents per ounce, days to deliver). Shared with
/// the SP-API sandbox's Shipping API v2 ([`super::spapi_shipping`]).
pub(super) const SERVICES: &[(&str, &str, &str, u64, u64, i64)] = &[
    ("UPS", "UPS_PTP_GND", "UPS Ground", 899, 35, 4),
    ("USPS", "USPS_PTP_PRI", "USPS Priority Mail®", 795, 40, 2),
    (
        "USPS",
        "USPS_PTP_EXP",
        "USPS Priority Mail Express®",
        2650,
        60,
        1,
    ),
];

/// How long a quote's `ShippingServiceOfferId` stays valid.
const OFFER_TTL: Duration = Duration::hours(1);

/// A bought label.
#[derive(Debug, Clone)]
pub struct SimShipment {
    /// `ShipmentId`.
    pub id: String,
    /// `AmazonOrderId`.
    pub order_id: String,
    /// Index into the service table.
    service: usize,
    /// `TrackingId`.
    pub tracking: String,
    /// `Status`.
    pub status: String,
    created: DateTime<Utc>,
    items: Vec<(String, u32)>,
    weight: (String, String),
    cents: u64,
    /// base64(gzip(ZPL)).
    contents: String,
    checksum: String,
}

/// The sandbox's Merchant Fulfillment state.
#[derive(Debug, Default)]
pub struct Shipping {
    /// Every label bought.
    pub shipments: Vec<SimShipment>,
    /// Quoted offers: id → (order, service index, expiry).
    offers: HashMap<String, (String, usize, DateTime<Utc>)>,
}

struct Details {
    order: usize,
    order_id: String,
    items: Vec<(String, u32)>,
    ounces: f64,
    weight: (String, String),
}

fn details(st: &State, p: &Params) -> Result<Details, Fail> {
    let d = "ShipmentRequestDetails";
    let order_id = p.req(&format!("{d}.AmazonOrderId"))?.to_string();
    let order = *st.index.get(&order_id).ok_or_else(|| {
        fail(
            404,
            "ResourceNotFound",
            format!("Order {order_id} was not found."),
        )
    })?;
    let o = &st.orders[order];
    if o.order.info.fulfillment_channel.as_deref() != Some("MFN") {
        return Err(fail(
            400,
            "InvalidRequest",
            format!("Order {order_id} is fulfilled by Amazon."),
        ));
    }
    let status = o.order.info.order_status.as_str();
    // After CancelShipment the order still shows Shipped, and a new label may be bought.
    let relabel = status == "Shipped"
        && st
            .shipping
            .shipments
            .iter()
            .any(|s| s.order_id == order_id && s.status == "RefundPending");
    if !matches!(status, "Unshipped" | "PartiallyShipped") && !relabel {
        return Err(fail(
            404,
            "InvalidState",
            format!("Order {order_id} is {status}."),
        ));
    }
    let mut items = Vec::new();
    for i in 1.. {
        let Some(id) = p.get(&format!("{d}.ItemList.Item.{i}.OrderItemId")) else {
            break;
        };
        let q: u32 = p
            .req(&format!("{d}.ItemList.Item.{i}.Quantity"))?
            .parse()
            .ok()
            .filter(|q| *q > 0)
            .ok_or_else(|| invalid("Quantity must be a positive integer."))?;
        let it = o
            .items
            .iter()
            .find(|it| it.info.order_item_id == id)
            .ok_or_else(|| {
                fail(
                    404,
                    "ItemsNotInOrder",
                    format!("Item {id} is not in order {order_id}."),
                )
            })?;
        let left = it.info.quantity_ordered - it.info.quantity_shipped.unwrap_or(0);
        if q > left {
            return Err(fail(
                404,
                "ItemsNotInOrder",
                format!("Only {left} of item {id} are left to ship."),
            ));
        }
        items.push((id.to_string(), q));
    }
    if items.is_empty() {
        return Err(missing(&format!("{d}.ItemList.Item.1.OrderItemId")));
    }
    let from = format!("{d}.ShipFromAddress");
    for f in [
        "Name",
        "AddressLine1",
        "City",
        "PostalCode",
        "CountryCode",
        "Email",
        "Phone",
    ] {
        if p.get(&format!("{from}.{f}"))
            .is_none_or(|v| v.trim().is_empty())
        {
            return Err(fail(
                400,
                "InvalidShipFromAddress",
                format!("ShipFromAddress.{f} is required."),
            ));
        }
    }
    if p.get(&format!("{from}.Name"))
        .is_some_and(|n| n.chars().count() > 30)
    {
        return Err(fail(
            400,
            "InvalidShipFromAddress",
            "ShipFromAddress.Name is longer than 30 characters.",
        ));
    }
    let pd = format!("{d}.PackageDimensions");
    let positive = |k: &str| {
        p.get(&format!("{pd}.{k}"))
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(|v| v > 0.0)
    };
    let boxed = ["Length", "Width", "Height"].iter().all(|k| positive(k))
        && matches!(p.get(&format!("{pd}.Unit")), Some("inches" | "centimeters"));
    if !boxed
        && p.get(&format!("{pd}.PredefinedPackageDimensions"))
            .is_none()
    {
        return Err(fail(
            400,
            "InvalidRequest",
            "PackageDimensions needs Length, Width, Height and Unit, or PredefinedPackageDimensions.",
        ));
    }
    let value: f64 = p
        .req(&format!("{d}.Weight.Value"))?
        .parse()
        .ok()
        .filter(|v| *v > 0.0)
        .ok_or_else(|| invalid("Weight.Value must be a positive decimal."))?;
    let unit = p.req(&format!("{d}.Weight.Unit"))?;
    let ounces = match unit {
        "ounces" => value,
        "grams" => value / 28.349_523,
        _ => return Err(invalid("Weight.Unit must be ounces or grams.")),
    };
    let opts = format!("{d}.ShippingServiceOptions");
    let experience = p.req(&format!("{opts}.DeliveryExperience"))?;
    if !crate::mws::merchant::DELIVERY_EXPERIENCES.contains(&experience) {
        return Err(invalid(format!(
            "DeliveryExperience {experience:?} is not valid."
        )));
    }
    if !matches!(
        p.req(&format!("{opts}.CarrierWillPickUp"))?,
        "true" | "false"
    ) {
        return Err(invalid("CarrierWillPickUp must be true or false."));
    }
    if let Some(f) = p.get(&format!("{opts}.LabelFormat"))
        && !matches!(f, "ZPL203" | "ShippingServiceDefault")
    {
        return Err(fail(
            400,
            "LabelFormatNotSupported",
            format!("The sandbox prints ZPL203 labels only, not {f}."),
        ));
    }
    Ok(Details {
        order,
        order_id,
        items,
        ounces,
        // Amazon answers with the unit abbreviated.
        weight: (
            p.req(&format!("{d}.Weight.Value"))?.to_string(),
            if unit == "grams" { "g" } else { "oz" }.to_string(),
        ),
    })
}

/// The price of `SERVICES[service]` for a package of `ounces`, in cents.
pub(super) fn cents(service: usize, ounces: f64) -> u64 {
    let (_, _, _, base, per, _) = SERVICES[service];
    base + (per as f64 * ounces.ceil()) as u64
}

fn amount(c: u64) -> String {
    format!("{}.{:02}", c / 100, c % 100)
}

fn token(st: &mut State, n: usize) -> String {
    let b: Vec<u8> = (0..n).map(|_| st.rng.random()).collect();
    STANDARD.encode(b)
}

/// Handles one Merchant Fulfillment action; returns the `...Result` body writer.
pub(super) fn handle(
    action: &str,
    st: &mut State,
    p: &Params,
    now: DateTime<Utc>,
    _seller: &str,
) -> Result<Body, Fail> {
    match action {
        "GetEligibleShippingServices" => {
            let d = details(st, p)?;
            let mut offers = Vec::new();
            for (i, s) in SERVICES.iter().enumerate() {
                let id = token(st, 96);
                st.shipping
                    .offers
                    .insert(id.clone(), (d.order_id.clone(), i, now + OFFER_TTL));
                offers.push((i, *s, id, cents(i, d.ounces)));
            }
            Ok(Box::new(move |w: &mut W| {
                start(w, "ShippingServiceList")?;
                for (_, (carrier, id, name, _, _, days), offer, c) in &offers {
                    start(w, "ShippingService")?;
                    el(w, "CarrierName", carrier)?;
                    el(w, "ShippingServiceId", id)?;
                    el(w, "ShippingServiceName", name)?;
                    el(w, "ShippingServiceOfferId", offer)?;
                    money(w, "Rate", *c)?;
                    el(w, "ShipDate", &fmt_time(now))?;
                    el(
                        w,
                        "EarliestEstimatedDeliveryDate",
                        &fmt_time(now + Duration::days(*days)),
                    )?;
                    el(
                        w,
                        "LatestEstimatedDeliveryDate",
                        &fmt_time(now + Duration::days(days + 2)),
                    )?;
                    start(w, "AvailableLabelFormats")?;
                    el(w, "LabelFormat", "ZPL203")?;
                    el(w, "LabelFormat", "ShippingServiceDefault")?;
                    end(w, "AvailableLabelFormats")?;
                    end(w, "ShippingService")?;
                }
                end(w, "ShippingServiceList")?;
                start(w, "RejectedShippingServiceList")?;
                start(w, "RejectedShippingService")?;
                el(w, "CarrierName", "FEDEX")?;
                el(w, "ShippingServiceId", "FEDEX_PTP_HOME_DELIVERY")?;
                el(w, "RejectionReasonCode", "INELIGIBLE")?;
                el(w, "RejectionReasonMessage", "Not available in the sandbox.")?;
                el(w, "ShippingServiceName", "FedEx Home Delivery®")?;
                end(w, "RejectedShippingService")?;
                end(w, "RejectedShippingServiceList")?;
                empty(w, "TemporarilyUnavailableCarrierList")?;
                empty(w, "TermsAndConditionsNotAcceptedCarrierList")
            }))
        }
        "CreateShipment" => {
            // Checked first: after a purchase the order is Shipped, and a client that lost
            // the reply learns the ShipmentId only from this error.
            let order_id = p.req("ShipmentRequestDetails.AmazonOrderId")?;
            if let Some(s) = st
                .shipping
                .shipments
                .iter()
                .find(|s| s.order_id == order_id && s.status == "Purchased")
            {
                return Err(fail(
                    400,
                    "ShipmentAlreadyExists",
                    format!("A shipment already exists for this order: {}", s.id),
                ));
            }
            let d = details(st, p)?;
            let service_id = p.req("ShippingServiceId")?;
            let service = SERVICES
                .iter()
                .position(|s| s.1 == service_id)
                .ok_or_else(|| {
                    fail(
                        404,
                        "ShippingServiceNotAvailable",
                        format!("{service_id} is not available for this order."),
                    )
                })?;
            if let Some(offer) = p.get("ShippingServiceOfferId") {
                match st.shipping.offers.get(offer) {
                    Some((o, s, until)) if *o == d.order_id && *s == service && *until > now => {}
                    _ => {
                        return Err(fail(
                            400,
                            "InvalidShippingServiceOfferId",
                            "The ShippingServiceOfferId is not valid for this request.",
                        ));
                    }
                }
            }
            let id = super::api::uuid(st);
            let tracking = tracking_number(st, SERVICES[service].0);
            let o = &mut st.orders[d.order];
            let zpl = label_zpl(o, &tracking, SERVICES[service].2, 203);
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(&zpl).expect("memory");
            let gz = gz.finish().expect("memory");
            // Buying the label confirms the shipment (MERCHANT-FULFILLMENT.md §7).
            for (item, q) in &d.items {
                if let Some(it) = o.items.iter_mut().find(|it| &it.info.order_item_id == item) {
                    *it.info.quantity_shipped.get_or_insert(0) += q;
                }
            }
            let all = o
                .items
                .iter()
                .all(|it| it.info.quantity_shipped.unwrap_or(0) >= it.info.quantity_ordered);
            o.cancel_at = None;
            o.set_status(if all { "Shipped" } else { "PartiallyShipped" }, now);
            let s = SimShipment {
                id,
                order_id: d.order_id,
                service,
                tracking,
                status: "Purchased".into(),
                created: now,
                items: d.items,
                weight: d.weight,
                cents: cents(service, d.ounces),
                contents: STANDARD.encode(&gz),
                checksum: STANDARD.encode(Md5::digest(&zpl)),
            };
            st.shipping.shipments.push(s.clone());
            Ok(shipment_body(s, true))
        }
        _ => {
            let id = p.req("ShipmentId")?;
            let s = st
                .shipping
                .shipments
                .iter_mut()
                .find(|s| s.id == id)
                .ok_or_else(|| {
                    fail(
                        404,
                        "ResourceNotFound",
                        format!("Shipment {id} was not found."),
                    )
                })?;
            if action == "CancelShipment" {
                if s.status != "Purchased" {
                    return Err(fail(
                        404,
                        "InvalidState",
                        format!("Shipment {id} is {}.", s.status),
                    ));
                }
                s.status = "RefundPending".into();
                // Its items may go on a new label (the order keeps showing Shipped).
                let (order, items) = (s.order_id.clone(), s.items.clone());
                if let Some(&i) = st.index.get(&order) {
                    for (item, q) in items {
                        if let Some(it) = st.orders[i]
                            .items
                            .iter_mut()
                            .find(|it| it.info.order_item_id == item)
                        {
                            let shipped = it.info.quantity_shipped.get_or_insert(0);
                            *shipped = shipped.saturating_sub(q);
                        }
                    }
                }
            }
            let s = st
                .shipping
                .shipments
                .iter()
                .find(|s| s.id == id)
                .expect("found above")
                .clone();
            let with_label = s.status == "Purchased";
            Ok(shipment_body(s, with_label))
        }
    }
}

/// A tracking number in `carrier`'s format, with its check digit (UPS `1Z` + shipper 6,
/// service 2, package 7, check; USPS IMpb `9400` + 17 digits, check), so it passes the checks
/// [`crate::model::tracking`] makes of a packer's numbers.
pub(super) fn tracking_number(st: &mut State, carrier: &str) -> String {
    use crate::model::tracking::{mod10_31, ups_check_digit};
    let mut digits = |n: usize| -> String {
        (0..n)
            .map(|_| char::from(b'0' + st.rng.random_range(0..10u8)))
            .collect()
    };
    match carrier {
        "UPS" => {
            // Shipper: 6 digits here (UPS's may hold letters), service 03 (Ground).
            let body = format!("{}03{}", digits(6), digits(7));
            let check = ups_check_digit(&body).expect("15 digits");
            format!("1Z{body}{check}")
        }
        _ => {
            let body = format!("9400{}", digits(17));
            let check = mod10_31(&body).expect("digits");
            format!("{body}{check}")
        }
    }
}

/// A 4x6 ZPL label for `o` at `dpi` (coordinates are laid out for 203 dpi and scaled): the
/// buyer's name and address, the service and the tracking number as a barcode.
pub(super) fn label_zpl(
    o: &super::data::SimOrder,
    tracking: &str,
    service: &str,
    dpi: u32,
) -> Vec<u8> {
    let clean = |s: &str| s.replace(['^', '~'], " ");
    let k = |n: usize| n * dpi as usize / 203;
    let pii = &o.order.pii;
    let mut z = String::from("^XA^CI28\n");
    let lines = [
        pii.recipient_name.as_ref(),
        pii.address_line1.as_ref(),
        pii.address_line2.as_ref(),
        pii.city.as_ref(),
        pii.postal_code.as_ref(),
    ];
    for (i, l) in lines.into_iter().flatten().enumerate() {
        z.push_str(&format!(
            "^FO{},{}^A0N,{},{}^FD{}^FS\n",
            k(50),
            k(60 + 50 * i),
            k(40),
            k(40),
            clean(l.expose_pii())
        ));
    }
    z.push_str(&format!(
        "^FO{},{}^A0N,{},{}^FD{}^FS\n^FO{},{}^BCN,{},Y,N,N^FD{tracking}^FS\n^XZ\n",
        k(50),
        k(500),
        k(30),
        k(30),
        clean(service),
        k(50),
        k(560),
        k(160),
    ));
    z.into_bytes()
}

fn shipment_body(s: SimShipment, with_label: bool) -> Body {
    Box::new(move |w: &mut W| {
        let (carrier, id, name, _, _, days) = SERVICES[s.service];
        start(w, "Shipment")?;
        el(w, "ShipmentId", &s.id)?;
        el(w, "AmazonOrderId", &s.order_id)?;
        start(w, "ItemList")?;
        for (item, q) in &s.items {
            start(w, "Item")?;
            el(w, "OrderItemId", item)?;
            el(w, "Quantity", &q.to_string())?;
            end(w, "Item")?;
        }
        end(w, "ItemList")?;
        start(w, "Weight")?;
        el(w, "Value", &s.weight.0)?;
        el(w, "Unit", &s.weight.1)?;
        end(w, "Weight")?;
        money(w, "Insurance", 0)?;
        start(w, "ShippingService")?;
        el(w, "CarrierName", carrier)?;
        el(w, "ShippingServiceId", id)?;
        el(w, "ShippingServiceName", name)?;
        money(w, "Rate", s.cents)?;
        el(
            w,
            "EarliestEstimatedDeliveryDate",
            &fmt_time(s.created + Duration::days(days)),
        )?;
        end(w, "ShippingService")?;
        if with_label {
            start(w, "Label")?;
            start(w, "Dimensions")?;
            el(w, "Length", "6.0")?;
            el(w, "Width", "4.0")?;
            el(w, "Unit", "inches")?;
            end(w, "Dimensions")?;
            start(w, "FileContents")?;
            el(w, "Contents", &s.contents)?;
            el(w, "FileType", "application/zpl")?;
            el(w, "Checksum", &s.checksum)?;
            end(w, "FileContents")?;
            el(w, "LabelFormat", "ZPL203")?;
            end(w, "Label")?;
        }
        el(w, "Status", &s.status)?;
        el(w, "TrackingId", &s.tracking)?;
        el(w, "CreatedDate", &fmt_time(s.created))?;
        end(w, "Shipment")
    })
}

/// A USD amount from cents.
fn money(w: &mut W, name: &str, c: u64) -> Io {
    respond::money(
        w,
        name,
        Some(&Money {
            currency_code: "USD".into(),
            amount: amount(c),
        }),
    )
}
