//! Shared by the fetch tests: a vault wired to an in-process sandbox, and the checks that
//! compare what the vault holds with the sandbox's ground truth.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use fulfill::clock::Clock;
use fulfill::mws::credentials::MwsCredentials;
use fulfill::mws::model::parse_mws_time;
use fulfill::pii::BuyerPii;
use fulfill::sandbox::{SandboxHandle, SandboxOrder};
use fulfill::vault::orders::{ItemView, list_orders, watermark};
use fulfill::vault::{Purpose, Session, Vault};
use rusqlite::Connection;

/// The vault's file as an operator with a shell and sqlite3 sees it: a connection of the
/// test's own (the library hands out transactions only, never its connection).
pub trait Sqlite {
    fn sqlite(&self) -> Connection;
}

impl Sqlite for Vault {
    fn sqlite(&self) -> Connection {
        crate::support::rows_of(self.home().root())
    }
}

/// The sandbox's credentials as `credentials set` would store them.
pub fn creds_for(sb: &SandboxHandle, time_scale: f64) -> MwsCredentials {
    sb.mws_credentials(time_scale).unwrap()
}

pub fn t(s: &str) -> DateTime<Utc> {
    parse_mws_time(s).unwrap_or_else(|| panic!("bad MWS time {s:?}"))
}

/// A `meta` value of the vault, read as sqlite3 would.
pub fn meta(conn: &Connection, key: &str) -> Option<String> {
    use rusqlite::OptionalExtension;
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
        .unwrap()
}

/// The fetch watermark the vault states (a home without regions), read as sqlite3 would.
pub fn stored_watermark(conn: &Connection) -> Option<String> {
    meta(conn, "fetch_watermark")
}

pub fn integrity_ok(conn: &Connection) {
    let r: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(r, "ok", "PRAGMA integrity_check");
}

pub fn no_duplicates(conn: &Connection) {
    let (n, d): (i64, i64) = conn
        .query_row(
            "SELECT count(*), count(DISTINCT amazon_order_id) FROM orders",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(n, d, "duplicate orders");
    let (n, d): (i64, i64) = conn
        .query_row(
            "SELECT count(*), count(DISTINCT amazon_order_id || '#' || order_item_id) FROM order_items",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(n, d, "duplicate items");
}

fn shows_pii(status: &str) -> bool {
    !matches!(status, "Pending" | "Canceled")
}

fn expected_lifecycle(status: &str) -> &'static str {
    match status {
        "Pending" => "pending",
        "Unshipped" | "PartiallyShipped" => "unshipped",
        "Canceled" => "canceled",
        "Shipped" => "shipped",
        s => panic!("unexpected status {s}"),
    }
}

/// Empty and absent PII values are the same thing to a label.
fn pii_map(p: &BuyerPii) -> Vec<(&'static str, String)> {
    p.fields()
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k, v.expose_pii().to_owned()))
        .collect()
}

/// Items of each order in the vault (from the public listing).
pub fn vault_items(vault: &Vault) -> HashMap<String, Vec<ItemView>> {
    vault
        .read(|tx| list_orders(tx, None))
        .unwrap()
        .into_iter()
        .map(|o| (o.order_id, o.items))
        .collect()
}

fn truth_items(o: &SandboxOrder) -> Vec<ItemView> {
    let mut v: Vec<ItemView> = o
        .items
        .iter()
        .map(|i| ItemView {
            order_item_id: i.info.order_item_id.clone(),
            asin: i.info.asin.clone(),
            sku: i.info.seller_sku.clone(),
            title: i.info.title.clone(),
            quantity: i.info.quantity_ordered,
            quantity_shipped: i.info.quantity_shipped,
            // Before any package of ours: what Amazon has not shipped.
            quantity_left: i
                .info
                .quantity_ordered
                .saturating_sub(i.info.quantity_shipped.unwrap_or(0)),
            is_gift: i.info.is_gift.unwrap_or(false),
        })
        .collect();
    v.sort_by(|a, b| a.order_item_id.cmp(&b.order_item_id));
    v
}

/// What a comparison covered.
#[derive(Debug, Default)]
pub struct Checked {
    /// Orders compared field by field (last updated before the watermark).
    pub exact: usize,
    /// Orders whose PII was opened and compared.
    pub pii_opened: usize,
    /// Orders whose items were compared.
    pub with_items: usize,
    /// MFN orders in the sandbox that the vault should hold.
    pub expected: usize,
}

/// Compares the vault with the sandbox's ground truth:
/// - no duplicates, no AFN order, no order the sandbox does not know;
/// - every MFN order last updated before the watermark is present (0 lost) and exact, field by
///   field (and its PII, opened with `session`, when given);
/// - every order whose items are stored has exactly its ground-truth items.
pub fn check_against_truth(
    vault: &Vault,
    sb: &SandboxHandle,
    session: Option<&Session<'_>>,
    now: DateTime<Utc>,
) -> Checked {
    let conn = &vault.sqlite();
    integrity_ok(conn);
    no_duplicates(conn);
    let truth = sb.orders();
    let by_id: HashMap<&str, &SandboxOrder> = truth
        .iter()
        .map(|o| (o.order.info.amazon_order_id.as_str(), o))
        .collect();
    let mut checked = Checked::default();
    let w = vault.read(watermark).unwrap().map(|w| t(&w));
    let mut st = conn
        .prepare(
            "SELECT amazon_order_id, status, purchase_date, last_update_date, fulfillment_channel,
                sales_channel, marketplace_id, ship_service_level, service_level_category, order_type,
                ship_country, earliest_ship_date, latest_ship_date, is_prime, is_business, order_total,
                order_currency, items_shipped, items_unshipped, lifecycle, pii_state, pii_missing,
                retention_start, items_fetched
             FROM orders",
        )
        .unwrap();
    type Row = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    type Row2 = (
        Option<bool>,
        Option<bool>,
        Option<String>,
        Option<String>,
        Option<u32>,
        Option<u32>,
        String,
        String,
        bool,
        Option<String>,
        bool,
    );
    let rows: Vec<(Row, Row2)> = st
        .query_map([], |r| {
            Ok((
                (
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                    r.get(11)?,
                ),
                (
                    r.get(13)?,
                    r.get(14)?,
                    r.get(15)?,
                    r.get(16)?,
                    r.get(17)?,
                    r.get(18)?,
                    r.get(19)?,
                    r.get(20)?,
                    r.get(21)?,
                    r.get(22)?,
                    r.get(23)?,
                ),
            ))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let latest_ship: HashMap<String, Option<String>> = conn
        .prepare("SELECT amazon_order_id, latest_ship_date FROM orders")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let items = vault_items(vault);
    let mut in_vault = HashSet::new();
    for (a, b) in &rows {
        let id = a.0.as_str();
        in_vault.insert(id.to_owned());
        let o = by_id
            .get(id)
            .unwrap_or_else(|| panic!("order {id} is in the vault but not in the sandbox"));
        let i = &o.order.info;
        assert_eq!(
            i.fulfillment_channel.as_deref(),
            Some("MFN"),
            "AFN order {id} stored"
        );
        if b.10 {
            checked.with_items += 1;
            let mut want = truth_items(o);
            if i.order_status == "Shipped" {
                // Items are fetched once (issue 5); `QuantityShipped` moving when an order
                // ships later is not refetched, so it is not compared for shipped orders.
                for (w, g) in want.iter_mut().zip(&items[id]) {
                    w.quantity_shipped = g.quantity_shipped;
                    w.quantity_left = g.quantity_left;
                }
            }
            assert_eq!(items[id], want, "items of {id}");
        }
        let exact = w.is_some_and(|w| t(&i.last_update_date) < w);
        if !exact {
            continue;
        }
        checked.exact += 1;
        let show = shows_pii(&i.order_status);
        let want_a = (
            i.amazon_order_id.clone(),
            i.order_status.clone(),
            Some(i.purchase_date.clone()),
            Some(i.last_update_date.clone()),
            i.fulfillment_channel.clone(),
            i.sales_channel.clone(),
            i.marketplace_id.clone(),
            i.ship_service_level.clone(),
            i.shipment_service_level_category.clone(),
            i.order_type.clone(),
            i.ship_country_code.clone().filter(|_| show),
            i.earliest_ship_date.clone(),
        );
        assert_eq!(a, &want_a, "plain fields of {id}");
        assert_eq!(
            latest_ship[id], i.latest_ship_date,
            "latest ship date of {id}"
        );
        let lifecycle = expected_lifecycle(&i.order_status);
        let unaddressable = o.order.pii.is_unaddressable();
        let want_b = (
            i.is_prime,
            i.is_business_order,
            i.order_total
                .as_ref()
                .filter(|_| show)
                .map(|m| m.amount.clone()),
            i.order_total
                .as_ref()
                .filter(|_| show)
                .map(|m| m.currency_code.clone()),
            i.number_of_items_shipped,
            i.number_of_items_unshipped,
            lifecycle.to_owned(),
        );
        let got_b = (b.0, b.1, b.2.clone(), b.3.clone(), b.4, b.5, b.6.clone());
        assert_eq!(got_b, want_b, "plain fields of {id}");
        assert_eq!(
            b.9.is_some(),
            matches!(lifecycle, "canceled" | "shipped"),
            "retention_start of {id} ({lifecycle})"
        );
        assert_eq!(
            b.8,
            lifecycle == "unshipped" && unaddressable,
            "pii_missing of {id}"
        );
        if show {
            assert_eq!(b.7, "sealed", "pii_state of {id}");
            if let Some(s) = session {
                let pii = s.open_pii(id, Purpose::Label, now).unwrap();
                assert_eq!(pii_map(&pii), pii_map(&o.order.pii), "PII of {id}");
                checked.pii_opened += 1;
            }
        } else if i.order_status == "Pending" {
            assert_eq!(b.7, "none", "pii_state of pending {id}");
        }
    }
    if let Some(w) = w {
        for o in &truth {
            let i = &o.order.info;
            if i.fulfillment_channel.as_deref() == Some("MFN") && t(&i.last_update_date) < w {
                checked.expected += 1;
                assert!(
                    in_vault.contains(&i.amazon_order_id),
                    "order {} (updated {}) lost: watermark {w}",
                    i.amazon_order_id,
                    i.last_update_date
                );
            }
        }
    }
    checked
}

/// The sandbox's clock, as a `Clock` the tests can hand to both sides.
pub fn clock_now(c: &Arc<dyn Clock>) -> DateTime<Utc> {
    c.now()
}

/// A sandbox home driven through the binary: an in-process sandbox on a `ScaledClock`, the
/// owner `olga` (passphrase file) and a fetcher `cron` with a key file (no Argon2 per run).
pub struct CliEnv {
    pub dir: crate::support::TestDir,
    pub sb: SandboxHandle,
    pub pass: std::path::PathBuf,
    pub key: std::path::PathBuf,
    /// stdout and stderr of every command run so far (for leak scans).
    pub output: std::cell::RefCell<Vec<u8>>,
}

impl CliEnv {
    pub fn new(orders: usize, seed: u64, scale: f64, faults: &str) -> CliEnv {
        CliEnv::in_dir(crate::support::TestDir::new(), orders, seed, scale, faults)
    }

    /// [`CliEnv::new`] in `dir` (whose homes may keep their rows on PostgreSQL).
    pub fn in_dir(
        dir: crate::support::TestDir,
        orders: usize,
        seed: u64,
        scale: f64,
        faults: &str,
    ) -> CliEnv {
        let clock = Arc::new(fulfill::clock::ScaledClock::new(Utc::now(), scale));
        let mut cfg = fulfill::sandbox::SandboxConfig::new(clock);
        cfg.orders = orders;
        cfg.seed = seed;
        cfg.time_scale = scale;
        cfg.faults = fulfill::sandbox::FaultSpec::parse(faults).unwrap();
        let sb = fulfill::sandbox::Sandbox::start(cfg).unwrap();
        let pass = dir.secret_file("owner.pass", crate::support::OWNER_PASS);
        let key = dir.path().join("cron.key");
        let env = CliEnv {
            dir,
            sb,
            pass,
            key,
            output: Default::default(),
        };
        let p = env.pass.to_str().unwrap().to_owned();
        let syslog = env.dir.syslog().path().to_str().unwrap().to_owned();
        let store = env.dir.store_url();
        let mut init = vec![
            "init",
            "--anchor-syslog",
            &syslog,
            "--profile",
            "mws-2020",
            "--sandbox",
            "--owner",
            "olga",
            "--passphrase-file",
            &p,
        ];
        if let Some(url) = &store {
            init.extend(["--store", url.as_str()]);
        }
        env.ok(&init);
        let r = env.set_credentials("olga", &env.pass, scale);
        assert_eq!(r.code, 0, "credentials set: {}", r.stderr);
        env.owner(&[
            "operator",
            "add",
            "cron",
            "--role",
            "fetcher",
            "--key-file",
            env.key.to_str().unwrap(),
        ]);
        env
    }

    /// `credentials set` with the sandbox's credentials, as operator `name`.
    pub fn set_credentials(
        &self,
        name: &str,
        pass: &std::path::Path,
        scale: f64,
    ) -> crate::support::Run {
        let c = self.sb.credentials();
        let sk = self.dir.secret_file("mws.secret", &c.secret_key);
        self.run_as(
            name,
            pass,
            &[
                "credentials",
                "set",
                "--api",
                "mws",
                "--seller-id",
                &c.seller_id,
                "--access-key-id",
                &c.access_key_id,
                "--secret-key-file",
                sk.to_str().unwrap(),
                "--marketplace",
                &c.marketplace_id,
                "--endpoint",
                &self.sb.base_url(),
                "--time-scale",
                &scale.to_string(),
            ],
        )
    }

    pub fn run(&self, args: &[&str]) -> crate::support::Run {
        let r = crate::support::run(self.dir.fulfill().args(args));
        let mut out = self.output.borrow_mut();
        out.extend_from_slice(r.stdout.as_bytes());
        out.extend_from_slice(r.stderr.as_bytes());
        r
    }

    pub fn ok(&self, args: &[&str]) -> crate::support::Run {
        let r = self.run(args);
        assert_eq!(r.code, 0, "fulfill {args:?}: {}{}", r.stdout, r.stderr);
        r
    }

    /// `audit --json --scan DIR` as the owner, whatever it exits with (1 on a leak): the
    /// report.
    pub fn scan(&self, dir: &std::path::Path) -> serde_json::Value {
        let r = self.run(&[
            "--operator",
            "olga",
            "--passphrase-file",
            self.pass.to_str().unwrap(),
            "audit",
            "--json",
            "--scan",
            dir.to_str().unwrap(),
        ]);
        serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("audit --json: {e}: {}{}", r.stdout, r.stderr))
    }

    pub fn owner(&self, args: &[&str]) -> crate::support::Run {
        let mut a = vec![
            "--operator",
            "olga",
            "--passphrase-file",
            self.pass.to_str().unwrap(),
        ];
        a.extend_from_slice(args);
        self.ok(&a)
    }

    /// `fulfill fetch` as the key-file fetcher, not yet run.
    pub fn fetch_cmd(&self, json: bool) -> std::process::Command {
        let mut c = self.dir.fulfill();
        c.args([
            "--operator",
            "cron",
            "--operator-key-file",
            self.key.to_str().unwrap(),
            "fetch",
        ]);
        if json {
            c.arg("--json");
        }
        c
    }

    pub fn fetch(&self) -> crate::support::Run {
        let r = crate::support::run(&mut self.fetch_cmd(true));
        let mut out = self.output.borrow_mut();
        out.extend_from_slice(r.stdout.as_bytes());
        out.extend_from_slice(r.stderr.as_bytes());
        r
    }

    /// The binary as operator `name` unlocking with passphrase file `pass`, with `args`.
    pub fn run_as(&self, name: &str, pass: &std::path::Path, args: &[&str]) -> crate::support::Run {
        let mut a = vec![
            "--operator",
            name,
            "--passphrase-file",
            pass.to_str().unwrap(),
        ];
        a.extend_from_slice(args);
        self.run(&a)
    }

    /// Up to `n` order ids matching the SQL condition `filter`, by id; asserts there are `n`.
    pub fn order_ids(&self, filter: &str, n: usize) -> Vec<String> {
        let db = self.db();
        let mut st = db
            .prepare(&format!(
                "SELECT amazon_order_id FROM orders WHERE {filter} ORDER BY amazon_order_id LIMIT ?1"
            ))
            .unwrap();
        let ids: Vec<String> = st
            .query_map([n as i64], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(ids.len(), n, "orders where {filter}");
        ids
    }

    /// Fetches until order `id` has `lifecycle` in the vault (at most 10 fetches) and returns
    /// the lifecycle it has then. A fetch sees changes only up to a little before its own time
    /// (Amazon's window), so a change the sandbox just made may need the next fetch.
    pub fn fetch_until(&self, id: &str, lifecycle: &str) -> String {
        let now = || -> String {
            self.db()
                .query_row(
                    "SELECT lifecycle FROM orders WHERE amazon_order_id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .unwrap()
        };
        for _ in 0..10 {
            let r = self.fetch();
            assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
            if now() == lifecycle {
                break;
            }
        }
        now()
    }

    /// The vault, opened (not unlocked) as the library opens it.
    pub fn vault(&self) -> Vault {
        Vault::open(&fulfill::home::Home::unchecked(&self.dir.home())).unwrap()
    }

    /// The vault database, opened directly (after the binary has exited).
    pub fn db(&self) -> Connection {
        crate::support::rows_of(&self.dir.home())
    }
}
