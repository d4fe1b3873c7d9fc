//! Generated orders, deterministic from the seed.
//!
//! Orders come in every state a fetcher meets: MFN and AFN, `Pending` (no PII yet),
//! `Unshipped`, `PartiallyShipped`, canceled after first being listed, multi-item orders whose
//! items page, names and addresses in several scripts, text needing XML escaping and characters
//! that break ZPL, absent optional fields, Prime and business orders, and (for some seeds' orders)
//! PII withheld as Amazon sends it without approval. Every PII value contains the marker.

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::mws::model::{Money, Order, OrderInfo, OrderItem, OrderItemInfo};
use crate::pii::{BuyerPii, Pii};

/// The US marketplace: the sandbox's only marketplace.
pub const MARKETPLACE_ID: &str = "ATVPDKIKX0DER";

/// An order with its items and the times its status changes.
#[derive(Debug)]
pub struct SimOrder {
    /// The order as Amazon would describe it (PII always complete here; replies drop it when
    /// Amazon would).
    pub order: Order,
    /// Its items.
    pub items: Vec<OrderItem>,
    /// `PurchaseDate`.
    pub purchase: DateTime<Utc>,
    /// `LastUpdateDate`.
    pub last_update: DateTime<Utc>,
    /// Leaves `Pending` at this time.
    pub pending_until: Option<DateTime<Utc>>,
    /// Gets canceled at this time (if still unshipped).
    pub cancel_at: Option<DateTime<Utc>>,
    /// AFN orders: Amazon ships them at this time.
    pub afn_ship_at: Option<DateTime<Utc>>,
}

impl SimOrder {
    /// Sets the status and `LastUpdateDate`.
    pub fn set_status(&mut self, status: &str, at: DateTime<Utc>) {
        self.order.info.order_status = status.to_owned();
        self.last_update = self.last_update.max(at);
        self.order.info.last_update_date = fmt_time(self.last_update);
        let shipped: u32 = self
            .items
            .iter()
            .map(|i| i.info.quantity_shipped.unwrap_or(0))
            .sum();
        let ordered: u32 = self.items.iter().map(|i| i.info.quantity_ordered).sum();
        self.order.info.number_of_items_shipped = Some(shipped);
        self.order.info.number_of_items_unshipped = Some(if status == "Canceled" {
            0
        } else {
            ordered - shipped.min(ordered)
        });
    }

    /// The next scheduled status change, if any.
    pub fn next_event(&self) -> Option<DateTime<Utc>> {
        [self.pending_until, self.cancel_at, self.afn_ship_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Applies the scheduled status changes due by `now`.
    pub fn advance(&mut self, now: DateTime<Utc>) {
        if let Some(t) = self.pending_until.filter(|t| *t <= now) {
            self.pending_until = None;
            if self.order.info.order_status == "Pending" {
                self.set_status("Unshipped", t);
            }
        }
        if let Some(t) = self.cancel_at.filter(|t| *t <= now) {
            self.cancel_at = None;
            if matches!(
                self.order.info.order_status.as_str(),
                "Pending" | "Unshipped"
            ) {
                self.set_status("Canceled", t);
            }
        }
        if let Some(t) = self.afn_ship_at.filter(|t| *t <= now) {
            self.afn_ship_at = None;
            if self.order.info.order_status == "Unshipped" {
                for it in &mut self.items {
                    it.info.quantity_shipped = Some(it.info.quantity_ordered);
                }
                self.set_status("Shipped", t);
            }
        }
    }
}

/// MWS time format with milliseconds.
pub fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A deterministic order source: the initial orders, then arrivals as sandbox time passes.
#[derive(Debug)]
pub struct Generator {
    rng: StdRng,
    marker: String,
    next_arrival: DateTime<Utc>,
    serial: u64,
}

/// (recipient names, country, city, state, postal, street lines, phone prefix)
struct Place {
    names: &'static [&'static str],
    country: &'static str,
    city: &'static str,
    state: Option<&'static str>,
    postal: &'static str,
    streets: &'static [&'static str],
    phone: &'static str,
}

const PLACES: &[Place] = &[
    Place {
        names: &[
            "Zoë Ñúñez",
            "O'Brien & <Sons> \"Ltd\"",
            "Caret^Tilde~ Smith",
            "José Álvarez-Peña",
        ],
        country: "US",
        city: "Springfield",
        state: Some("IL"),
        postal: "62701",
        streets: &[
            "123 Main St & <Annex>",
            "4 O'Hare Way ^FO~",
            "77 Elm \"Back\" Rd",
        ],
        phone: "+1 217 555 01",
    },
    Place {
        names: &["François Lefèvre", "Åsa Sjöström", "Chloé D'Aubigné"],
        country: "FR",
        city: "Paris",
        state: None,
        postal: "75001",
        streets: &["12 Rue de l'Église", "3 Bd Saint-Michel & Cie"],
        phone: "+33 1 55 55 01",
    },
    Place {
        names: &["Jürgen Groß", "Ömer Çelik"],
        country: "DE",
        city: "München",
        state: Some("Bayern"),
        postal: "80331",
        streets: &["Königstraße 5", "Maximilianstraße 1^a"],
        phone: "+49 89 5555 01",
    },
    Place {
        names: &["Анна Иванова", "Дмитрий Смирнов"],
        country: "RU",
        city: "Москва",
        state: Some("Москва"),
        postal: "125009",
        streets: &["ул. Тверская, д. 7", "пр. Мира <корп. 2>"],
        phone: "+7 495 555 01",
    },
    Place {
        names: &["Ζωή Παπαδοπούλου", "Νίκος Γεωργίου"],
        country: "GR",
        city: "Αθήνα",
        state: Some("Αττική"),
        postal: "10563",
        streets: &["Οδός Ερμού 15", "Λεωφόρος Συγγρού 3"],
        phone: "+30 21 0555 01",
    },
    Place {
        names: &["山田 太郎", "王小明", "김민준"],
        country: "JP",
        city: "千代田区",
        state: Some("東京都"),
        postal: "100-0001",
        streets: &["千代田1-1", "丸の内2丁目7-2 & ビル"],
        phone: "+81 3 5555 01",
    },
    Place {
        names: &["فاطمة الزهراء", "محمد علي"],
        country: "AE",
        city: "دبي",
        state: Some("دبي"),
        postal: "00000",
        streets: &["شارع الشيخ زايد 12", "برج خليفة ^ ~"],
        phone: "+971 4 555 01",
    },
];

/// More places, in more scripts, that no generated order goes to (so every seed's orders stay
/// as they were); [`SimOrder::move_to`] sends an order to one of them for tests and training.
const MORE_PLACES: &[Place] = &[
    Place {
        names: &["عبد الله الفيصل"],
        country: "SA",
        city: "الرياض",
        state: None,
        postal: "12345",
        streets: &["طريق الملك فهد 4321"],
        phone: "+966 11 555 01",
    },
    Place {
        names: &["דוד כהן"],
        country: "IL",
        city: "תל אביב-יפו",
        state: None,
        postal: "6423902",
        streets: &["רחוב הרצל 12"],
        phone: "+972 3 555 01",
    },
    Place {
        names: &["Łukasz Żółkiewski"],
        country: "PL",
        city: "Łódź",
        state: None,
        postal: "90-001",
        streets: &["ul. Piotrkowska 104/5"],
        phone: "+48 42 555 01",
    },
    Place {
        names: &["Şükrü Ağaoğlu"],
        country: "TR",
        city: "İstanbul",
        state: Some("Kadıköy"),
        postal: "34710",
        streets: &["Bağdat Caddesi No: 12"],
        phone: "+90 216 555 01",
    },
    Place {
        names: &["สมชาย ใจดี"],
        country: "TH",
        city: "กรุงเทพมหานคร",
        state: None,
        postal: "10110",
        streets: &["ถนนสุขุมวิท 21"],
        phone: "+66 2 555 01",
    },
    Place {
        names: &["राहुल शर्मा"],
        country: "IN",
        city: "नई दिल्ली",
        state: None,
        postal: "110001",
        streets: &["कनॉट प्लेस 12"],
        phone: "+91 11 555 01",
    },
];

impl SimOrder {
    /// Sends this order to the sandbox's place in `country` (any of the generated ones, or SA,
    /// IL, PL, TR, TH, IN): the first name and street there, the marker kept in every value,
    /// and the marketplace of that country where Amazon has one. False for a country the
    /// sandbox has no place in, or an order without an address.
    pub fn move_to(&mut self, country: &str, marker: &str) -> bool {
        let Some(place) = PLACES
            .iter()
            .chain(MORE_PLACES)
            .find(|p| p.country.eq_ignore_ascii_case(country))
        else {
            return false;
        };
        let pii = &mut self.order.pii;
        if pii.address_line1.is_none() {
            return false;
        }
        let text = |s: &str| Some(Pii::new(format!("{s} {marker}")));
        pii.buyer_name = text(place.names[0]);
        pii.recipient_name = text(place.names[0]);
        pii.address_line1 = text(place.streets[0]);
        pii.address_line2 = None;
        pii.address_line3 = None;
        pii.county = None;
        pii.city = text(place.city);
        pii.state_or_region = place.state.and_then(text);
        pii.postal_code = Some(Pii::new(format!("{} {marker}", place.postal)));
        pii.phone = Some(Pii::new(format!("{}01 {marker}", place.phone)));
        let info = &mut self.order.info;
        info.ship_country_code = Some(place.country.into());
        if let Some(m) = crate::model::marketplace::MARKETPLACES
            .iter()
            .find(|m| m.country == place.country)
        {
            info.marketplace_id = Some(m.id.into());
        }
        true
    }
}

const TITLES: &[&str] = &[
    "Ceramic Mug & <Saucer> \"Deluxe\"",
    "Label^Printer~Test Roll",
    "Kaffeetasse – groß",
    "Чашка для чая",
    "Notebook A5, dotted",
    "日本茶 湯呑み",
    "USB-C cable 2 m",
];

impl Generator {
    /// A generator for `seed`; arrivals start after `now`.
    pub fn new(seed: u64, now: DateTime<Utc>) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let token: u32 = rng.random_range(0..0x10000);
        let mut g = Generator {
            rng,
            marker: format!("ZQX{token:04X}"),
            next_arrival: now,
            serial: 0,
        };
        g.next_arrival = now + g.gap();
        g
    }

    /// The substring every generated PII value contains.
    pub fn marker(&self) -> &str {
        &self.marker
    }

    fn gap(&mut self) -> Duration {
        Duration::seconds(self.rng.random_range(120..1200))
    }

    /// `n` orders placed over the three days before `now`, oldest first.
    pub fn initial(&mut self, n: usize, now: DateTime<Utc>) -> Vec<SimOrder> {
        let mut times: Vec<i64> = (0..n)
            .map(|_| self.rng.random_range(60..3 * 86_400))
            .collect();
        times.sort_unstable_by(|a, b| b.cmp(a));
        let mut out: Vec<SimOrder> = times
            .into_iter()
            .map(|s| self.order(now - Duration::seconds(s)))
            .collect();
        for o in &mut out {
            o.advance(now);
        }
        out
    }

    /// Orders that arrived after the last call, up to `now`.
    pub fn arrivals(&mut self, now: DateTime<Utc>) -> Vec<SimOrder> {
        let mut out = Vec::new();
        while self.next_arrival <= now {
            let at = self.next_arrival;
            out.push(self.order(at));
            self.next_arrival = at + self.gap();
        }
        out
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.rng.random_range(0..xs.len())]
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.rng.random_range(0..10u8)))
            .collect()
    }

    fn order(&mut self, purchase: DateTime<Utc>) -> SimOrder {
        self.serial += 1;
        let m = self.marker.clone();
        let afn = self.chance(0.2);
        let id = format!(
            "{}-{}-{}",
            111 + self.rng.random_range(0..3u32),
            self.digits(7),
            self.digits(7)
        );
        let place_idx = self.rng.random_range(0..PLACES.len());
        let place = &PLACES[place_idx];
        let name = self.pick(place.names);
        let withheld = self.chance(0.05);
        let business = self.chance(0.1);
        let prime = self.chance(0.3);
        let pii_text = |s: &str| Some(Pii::new(format!("{s} {m}")));
        let mut pii = BuyerPii {
            buyer_name: pii_text(name),
            buyer_email: Some(Pii::new(format!(
                "{m}{}@marketplace.amazon.com",
                self.digits(8)
            ))),
            recipient_name: pii_text(name),
            address_line1: pii_text(self.pick(place.streets)),
            city: pii_text(place.city),
            state_or_region: place.state.and_then(pii_text),
            postal_code: Some(Pii::new(format!("{} {m}", place.postal))),
            ..BuyerPii::default()
        };
        if self.chance(0.4) {
            pii.address_line2 = Some(Pii::new(format!("Apt {} & <Unit> {m}", self.digits(2))));
        }
        if self.chance(0.1) {
            pii.address_line3 = Some(Pii::new(format!("c/o \"Reception\" ^~ {m}")));
        }
        if self.chance(0.15) {
            pii.county = pii_text("County Żółć");
        }
        if !afn && self.chance(0.6) {
            pii.phone = Some(Pii::new(format!("{}{} {m}", place.phone, self.digits(2))));
        }
        if withheld {
            // As MWS sent it to developers without PII approval (MWS.md §6.4).
            pii.buyer_name = None;
            pii.recipient_name = Some(Pii::new(""));
            pii.address_line1 = None;
            pii.address_line2 = None;
            pii.address_line3 = None;
            pii.phone = None;
        }
        let n_items = match self.rng.random_range(0..100) {
            0..60 => 1,
            60..90 => self.rng.random_range(2..4),
            _ => self.rng.random_range(12..26),
        };
        let mut total_cents = 0u64;
        let mut items = Vec::with_capacity(n_items);
        for i in 0..n_items {
            let qty = self.rng.random_range(1..4u32);
            let unit = self.rng.random_range(199..9999u64);
            total_cents += unit * qty as u64;
            let gift = self.chance(0.1);
            items.push(OrderItem {
                info: OrderItemInfo {
                    asin: format!("B0{}", self.digits(8)),
                    seller_sku: Some(format!("SKU-{}-{i}", self.serial)),
                    order_item_id: self.digits(14),
                    title: Some(self.pick(TITLES).to_owned()),
                    quantity_ordered: qty,
                    quantity_shipped: Some(0),
                    item_price: Some(usd(unit * qty as u64)),
                    shipping_price: Some(usd(if prime { 0 } else { 499 })),
                    is_gift: Some(gift),
                    gift_wrap_level: None,
                    condition_id: Some("New".into()),
                },
                gift_message_text: gift.then(|| Pii::new(format!("Happy birthday & <3 ^~ {m}"))),
            });
        }
        let info = OrderInfo {
            amazon_order_id: id,
            purchase_date: fmt_time(purchase),
            last_update_date: fmt_time(purchase),
            order_status: "Pending".into(),
            fulfillment_channel: Some(if afn { "AFN" } else { "MFN" }.into()),
            sales_channel: Some("Amazon.com".into()),
            ship_service_level: Some(
                if prime {
                    "Exp US D2D Dom"
                } else {
                    "Std US D2D Dom"
                }
                .into(),
            ),
            ship_country_code: Some(place.country.into()),
            address_type: (place.country == "US").then(|| {
                if business {
                    "Commercial"
                } else {
                    "Residential"
                }
                .into()
            }),
            order_total: Some(usd(total_cents)),
            number_of_items_shipped: Some(0),
            number_of_items_unshipped: Some(items.iter().map(|i| i.info.quantity_ordered).sum()),
            payment_method: Some("Other".into()),
            marketplace_id: Some(MARKETPLACE_ID.into()),
            shipment_service_level_category: Some(
                if prime { "Expedited" } else { "Standard" }.into(),
            ),
            order_type: Some("StandardOrder".into()),
            earliest_ship_date: Some(fmt_time(purchase)),
            latest_ship_date: (!afn).then(|| fmt_time(purchase + Duration::days(2))),
            is_business_order: Some(business),
            purchase_order_number: business.then(|| format!("PO-{}", self.digits(6))),
            is_prime: Some(prime),
            is_premium_order: Some(false),
            is_replacement_order: Some(false),
            ..OrderInfo::default()
        };
        let pending_until = purchase + Duration::seconds(self.rng.random_range(300..3600));
        let cancel_at = self
            .chance(0.06)
            .then(|| pending_until + Duration::seconds(self.rng.random_range(600..6 * 3600)));
        let afn_ship_at = afn.then(|| pending_until + Duration::hours(12));
        let mut o = SimOrder {
            order: Order { info, pii },
            items,
            purchase,
            last_update: purchase,
            pending_until: Some(pending_until),
            cancel_at,
            afn_ship_at,
        };
        // Some multi-item MFN orders were already partly shipped by the seller.
        if !afn && o.items.len() > 1 && self.chance(0.3) {
            o.items[0].info.quantity_shipped = Some(o.items[0].info.quantity_ordered);
            o.pending_until = None;
            o.cancel_at = None;
            o.set_status("PartiallyShipped", pending_until);
        }
        o
    }
}

fn usd(cents: u64) -> Money {
    Money {
        currency_code: "USD".into(),
        amount: format!("{}.{:02}", cents / 100, cents % 100),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_orders_and_every_pii_value_is_marked() {
        let now = crate::clock::parse_time("2026-03-01T12:00:00Z").unwrap();
        let a = Generator::new(42, now).initial(200, now);
        let b = Generator::new(42, now).initial(200, now);
        let ids = |v: &[SimOrder]| {
            v.iter()
                .map(|o| o.order.info.amazon_order_id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&a), ids(&b));
        let g = Generator::new(42, now);
        for o in &a {
            for (_, v) in o.order.pii.fields() {
                assert!(v.is_empty() || v.expose_pii().contains(g.marker()));
            }
        }
        let statuses: std::collections::HashSet<&str> = a
            .iter()
            .map(|o| o.order.info.order_status.as_str())
            .collect();
        for s in ["Unshipped", "PartiallyShipped", "Shipped", "Pending"] {
            assert!(statuses.contains(s), "{s} missing from {statuses:?}");
        }
        assert!(a.iter().any(|o| o.items.len() > 10));
        assert!(a.iter().any(|o| o.order.pii.is_unaddressable()));
    }
}
