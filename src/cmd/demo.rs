//! `fulfill demo`: the whole flow in a temporary sandbox home, against the built-in sandbox:
//! the SP-API one by default, the MWS one with `--api mws`.
//!
//! Everything runs through the same library calls the commands use; nothing is faked but the
//! marketplace. The home is deleted at the end unless `--keep` is given.

use std::sync::Arc;

use chrono::{Duration, Utc};

use crate::audit::Event;
use crate::audit::report::checks::{AuditOptions, audit, record_run};
use crate::cli::{DemoArgs, SandboxApi};
use crate::clock::{Clock, ManualClock, ScaledClock, SystemClock};
use crate::config::{Config, Profile};
use crate::context::MarketClient;
use crate::error::{Error, Exit, Result};
use crate::flow::buy::BuyRequest;
use crate::flow::fetch::{FetchOptions, Quiet};
use crate::flow::retention::{PurgeOptions, purge};
use crate::flow::ship::Declared;
use crate::home::Home;
use crate::label::{Destination, Dpi, Format, LabelRequest};
use crate::model::tracking::Carrier;
use crate::mws::client::{Client, SandboxTime};
use crate::mws::merchant::{Package, ShipFrom, Weight};
use crate::role::Role;
use crate::safety::Environment;
use crate::sandbox::spapi::{SpSandbox, SpSandboxHandle};
use crate::sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use crate::vault::key::{Credential, Passphrase, random_bytes};
use crate::vault::orders::list_orders;
use crate::vault::{MarketCredentials, NewCredential, Purpose, Vault};

/// The sandbox the demo runs against.
enum Sb {
    Mws(SandboxHandle),
    /// North America and Europe, each on its own listener.
    Sp(SpSandboxHandle, SpSandboxHandle),
}

impl Sb {
    /// The buyer cancels an order (in whichever region sold it).
    fn cancel_order(&self, id: &str) -> bool {
        match self {
            Sb::Mws(h) => h.cancel_order(id),
            Sb::Sp(na, eu) => na.cancel_order(id) || eu.cancel_order(id),
        }
    }
}

/// `US (amazon.com, USD)` for an order's marketplace.
fn market_name(m: Option<&str>) -> String {
    m.map_or("-".into(), crate::model::marketplace::describe)
}

fn step(n: u32, text: &str) {
    crate::outln!("\n[{n}] {text}");
}

/// Runs the demo.
pub fn run(args: &DemoArgs) -> Result<Exit> {
    let dir = tempfile::Builder::new().prefix("fulfill-demo-").tempdir()?;
    let root = dir.path().join("home");
    let clock = SystemClock;
    let pass =
        |who: &str| Passphrase::new(format!("demo {who} {}", hex::encode(random_bytes::<8>())));

    let sp = args.api == SandboxApi::SpApi;
    step(
        1,
        if sp {
            "Start the built-in sandbox (a local fake SP-API with Amazon's usage plans, time-scaled): North America (US, CA, MX) and Europe (UK, DE, FR, IT), each region on its own host"
        } else {
            "Start the built-in sandbox (a local fake MWS with Amazon's quotas, time-scaled)"
        },
    );
    let cfg = SandboxConfig {
        orders: args.orders,
        seed: args.seed,
        time_scale: args.time_scale,
        ..SandboxConfig::new(Arc::new(ScaledClock::new(Utc::now(), args.time_scale)))
    };
    let started_sb = if sp {
        let (na, eu) = SpSandbox::start_regions(cfg, "127.0.0.1:0")?;
        Sb::Sp(na, eu)
    } else {
        Sb::Mws(Sandbox::start(cfg)?)
    };
    match &started_sb {
        Sb::Sp(na, eu) => {
            for h in [na, eu] {
                crate::outln!(
                    "    region {}: {} with {} orders, time x{}",
                    h.credentials().region,
                    h.base_url(),
                    args.orders,
                    args.time_scale
                );
            }
        }
        Sb::Mws(h) => crate::outln!(
            "    {} with {} orders, time x{}",
            h.base_url(),
            args.orders,
            args.time_scale
        ),
    }

    step(
        2,
        "Create a sandbox home: encrypted vault, owner, audit log",
    );
    let home = Home::create(&root, &Environment::system())?;
    // The audit chain's heads go to a collector standing in for one on another host (the
    // system log of this machine is left alone): the audit checks them at the end.
    let collector = crate::sandbox::collector::Collector::start()?;
    let mut demo_config = crate::config::Config::for_profile(Profile::Mws2020);
    demo_config.set("anchor.syslog", "off", Profile::Mws2020)?;
    demo_config.set("anchor.remote", &collector.url(), Profile::Mws2020)?;
    crate::home::write_private(&home.config_path(), demo_config.to_toml().as_bytes())?;
    if let Some(url) = &args.store {
        crate::store::location::Location::Postgres {
            uri: crate::store::uri::StoreUri::parse(url, &crate::store::location::default_user())?,
            password_file: None,
        }
        .write_to(&home)?;
        crate::outln!(
            "    its rows in the PostgreSQL store {}",
            crate::store::location::Location::of_home(&home)?.describe()
        );
    }
    let owner_pass = pass("owner");
    let owner_secret = owner_pass.expose_secret().to_string();
    let owner_again = owner_secret.clone();
    let vault = Vault::create(
        &home,
        "olga",
        owner_pass,
        Profile::Mws2020,
        true,
        clock.now(),
    )?;
    crate::outln!(
        "    {} (vault {}); chain heads go to the collector {}",
        root.display(),
        vault.id(),
        collector.url()
    );
    let owner = vault.unlock(
        "olga",
        &Credential::Passphrase(Passphrase::new(owner_secret)),
        clock.now(),
    )?;

    step(
        3,
        "Add people: a packer, a picker and a cron fetcher (key file)",
    );
    let packer_pass = pass("packer");
    let packer_secret = packer_pass.expose_secret().to_string();
    owner.add_operator(
        "pat",
        Role::Packer,
        NewCredential::Passphrase(packer_pass),
        clock.now(),
    )?;
    let picker_pass = pass("picker");
    let picker_secret = picker_pass.expose_secret().to_string();
    owner.add_operator(
        "pia",
        Role::Picker,
        NewCredential::Passphrase(picker_pass),
        clock.now(),
    )?;
    let key_file = dir.path().join("cron.key");
    owner.add_operator(
        "cron",
        Role::Fetcher,
        NewCredential::KeyFile(&key_file),
        clock.now(),
    )?;
    for o in vault.operators()? {
        crate::outln!("    {:<6} {}", o.name, o.role);
    }

    let time = || Arc::new(SandboxTime::new(clock.now(), args.time_scale));
    match &started_sb {
        Sb::Sp(na, eu) => {
            step(
                4,
                "Store the SP-API credentials per region (LWA client secret, refresh token, the region's marketplaces), each sealed under the secrets key",
            );
            for h in [na, eu] {
                let c = h.spapi_credentials(args.time_scale)?;
                owner.store_spapi_region(&c, clock.now())?;
                crate::outln!(
                    "    region {}: {}",
                    c.region,
                    c.marketplaces
                        .iter()
                        .map(|m| crate::model::marketplace::short(m))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        Sb::Mws(h) => {
            step(4, "Store the MWS credentials, sealed under the secrets key");
            owner.store_credentials(&h.mws_credentials(args.time_scale)?, clock.now())?;
        }
    }

    step(
        5,
        if sp {
            "Fetch as cron: searchOrders pages with items and addresses, paced by the usage plans"
        } else {
            "Fetch as cron: every page, every item list, paced by Amazon's quotas"
        },
    );
    let cron = vault.unlock(
        "cron",
        &Credential::KeyFile(crate::vault::read_key_file(&key_file)?),
        clock.now(),
    )?;
    let mut market = match cron
        .load_market_credentials("fetch", clock.now())?
        .credentials
    {
        MarketCredentials::Mws(c) => MarketClient::Mws(Client::new(c, time())?),
        MarketCredentials::SpApi(regions) => {
            let mut clients = Vec::new();
            for r in regions {
                clients.push(crate::context::RegionClient {
                    client: crate::spapi::client::Client::new(r.credentials, time())?,
                    legacy: r.legacy,
                });
            }
            MarketClient::SpApi(clients)
        }
    };
    let started = std::time::Instant::now();
    let show = |what: &str, report: &crate::flow::fetch::FetchReport| {
        crate::outln!(
            "    {what}{} new orders in {} page(s), items for {} orders, {} calls, {} throttled, in {:.1}s",
            report.new_orders,
            report.pages,
            report.orders_with_items,
            report.calls,
            report.throttled,
            started.elapsed().as_secs_f64()
        );
    };
    match &mut market {
        MarketClient::Mws(_) => {
            let report = crate::flow::fetch::fetch(
                &cron,
                &mut *market.market(),
                &FetchOptions::default(),
                &clock,
                &mut Quiet,
            )
            .map_err(|f| f.error)?;
            show("", &report);
        }
        MarketClient::SpApi(regions) => {
            // One searchOrders sequence per region, carrying all of its marketplaces.
            for r in regions.iter_mut() {
                let opts = FetchOptions {
                    region: Some(r.region().to_string()),
                    watermark_key: Some(r.watermark_key()),
                    ..FetchOptions::default()
                };
                let report =
                    crate::flow::fetch::fetch(&cron, &mut r.market(), &opts, &clock, &mut Quiet)
                        .map_err(|f| f.error)?;
                show(&format!("region {}: ", r.region()), &report);
            }
            for m in vault.read(crate::vault::orders::marketplace_rows)? {
                crate::outln!(
                    "    {:>4} order(s) sold in {}",
                    m.orders,
                    market_name(Some(&m.marketplace_id))
                );
            }
        }
    }
    crate::outln!(
        "    cron can seal PII but holds no key to open it: PII key present = {}",
        cron.keys().pii_private.is_some()
    );

    step(6, "What a picker sees: orders and items, never PII");
    let orders = vault.read(|tx| list_orders(tx, Some("unshipped")))?;
    for o in orders.iter().take(5) {
        let items: Vec<String> = o
            .items
            .iter()
            .take(3)
            .map(|i| format!("{} x{}", i.sku.as_deref().unwrap_or(&i.asin), i.quantity))
            .collect();
        let more = if o.items.len() > 3 {
            format!(" (+{} more)", o.items.len() - 3)
        } else {
            String::new()
        };
        let ship_by = o
            .ship_by
            .as_deref()
            .map_or("-", |d| d.get(..10).unwrap_or(d));
        crate::outln!(
            "    {}  ship by {ship_by}  {}{more}",
            o.order_id,
            items.join(", ")
        );
    }
    let Some(target) = orders.iter().find(|o| !o.pii_missing) else {
        return Err(Error::Failed(
            "the sandbox produced no unshipped order with an address".into(),
        ));
    };
    let region_of = |o: &crate::vault::orders::OrderView| {
        o.marketplace_id
            .as_deref()
            .and_then(crate::model::marketplace::Marketplace::by_id)
            .map(|m| m.region)
    };
    // Labels for orders of two marketplaces in two regions (SP-API).
    let mut label_orders = vec![target.order_id.clone()];
    if sp
        && let Some(other) = orders
            .iter()
            .find(|o| !o.pii_missing && region_of(o) != region_of(target))
    {
        label_orders.push(other.order_id.clone());
    }
    let picker = vault.unlock(
        "pia",
        &Credential::Passphrase(Passphrase::new(picker_secret)),
        clock.now(),
    )?;
    match picker.open_pii(&target.order_id, Purpose::Label, clock.now()) {
        Err(e) => crate::outln!("    picker opening PII of {}: {e}", target.order_id),
        Ok(_) => return Err(Error::Integrity("a picker opened PII".into())),
    }

    step(
        7,
        "A packer prints a label: the address is opened (recorded with its purpose) into ZPL",
    );
    let packer = vault.unlock(
        "pat",
        &Credential::Passphrase(Passphrase::new(packer_secret)),
        clock.now(),
    )?;
    let printed = crate::label::print(
        &packer,
        &Environment::system(),
        &LabelRequest {
            orders: label_orders.clone(),
            format: Format::Zpl,
            dpi: Dpi::D203,
            destination: Destination::Spool,
            return_address: None,
        },
        clock.now(),
    )?;
    for p in &printed.printed {
        let size = std::fs::metadata(&p.target).map(|m| m.len()).unwrap_or(0);
        let m = orders
            .iter()
            .find(|o| o.order_id == p.order_id)
            .and_then(|o| o.marketplace_id.as_deref());
        crate::outln!(
            "    label for {} (sold in {}) in spool/ ({size} bytes of ZPL, mode 0600, tracked for purge)",
            p.order_id,
            market_name(m)
        );
    }
    crate::outln!("    (the address is in the label only: never in this output or any log)");

    step(
        8,
        if sp {
            "The packer ships three orders; the buyer of one cancels before cron confirms it"
        } else {
            "The packer ships three orders; the buyer of one cancels before Amazon reads the feed"
        },
    );
    // The buyer can cancel only an order nothing of which has shipped: ship such a one last.
    let addressable: Vec<_> = orders.iter().filter(|o| !o.pii_missing).collect();
    let cancel = addressable
        .iter()
        .rev()
        .find(|o| o.amazon_status == "Unshipped")
        .map(|o| o.order_id.clone());
    // Orders of both regions among those shipped (SP-API): the labelled ones first.
    let mut ids: Vec<String> = label_orders.clone();
    ids.extend(addressable.iter().map(|o| o.order_id.clone()));
    ids.dedup();
    let mut to_ship: Vec<String> = Vec::new();
    for id in ids {
        if Some(&id) != cancel.as_ref() && !to_ship.contains(&id) {
            to_ship.push(id);
        }
    }
    to_ship.truncate(if cancel.is_some() { 2 } else { 3 });
    to_ship.extend(cancel.clone());
    for (id, (carrier, tracking)) in to_ship.iter().zip([
        (Carrier::Code("UPS"), "1Z999AA10123456784"),
        (Carrier::Code("USPS"), "9400111899223197428497"),
        (Carrier::Other("Bob's Vans".into()), "BV-000042"),
    ]) {
        let d = Declared {
            order_id: id.clone(),
            carrier: carrier.clone(),
            tracking: tracking.into(),
            method: None,
            no_verify: false,
        };
        crate::flow::ship::ship(&packer, &d, clock.now())?;
        crate::outln!("    shipped {id} via {carrier}, tracking {tracking}");
    }
    if let Some(id) = &cancel
        && started_sb.cancel_order(id)
    {
        crate::outln!("    the buyer of {id} cancels it");
    }

    step(
        9,
        "The packer buys a label from Amazon for another order: Amazon confirms that one itself",
    );
    if let Some(o) = orders.iter().find(|o| {
        o.amazon_status == "Unshipped"
            && !to_ship.contains(&o.order_id)
            && !o.items.is_empty()
            && o.marketplace_id.as_deref().is_none_or(|m| {
                crate::model::marketplace::Marketplace::by_id(m)
                    .is_some_and(|m| m.shipping_business == Some("AmazonShipping_US"))
            })
    }) {
        let from = ShipFrom {
            name: "Demo Warehouse".into(),
            address_line1: "10 Jay St".into(),
            city: "Brooklyn".into(),
            state: Some("NY".into()),
            postal_code: "11201".into(),
            country: "US".into(),
            email: "ship@demo.example".into(),
            phone: "7181231234".into(),
            ..Default::default()
        };
        let req = BuyRequest {
            order_id: o.order_id.clone(),
            package: Package::parse("10x8x4in").map_err(Error::Usage)?,
            weight: Weight::parse("12oz").map_err(Error::Usage)?,
            experience: "DeliveryConfirmationWithoutSignature",
        };
        let quote = crate::flow::buy::quote(
            &packer,
            &mut *market.market_for_order(&vault, &req.order_id)?,
            &clock,
            &req,
            &from,
        )?;
        for q in &quote.offers {
            let rate = q
                .rate
                .as_ref()
                .map_or(String::new(), |(c, a)| format!("{a} {c}"));
            crate::outln!(
                "    offer {:<14} {:>10}  {}",
                q.service_id,
                rate,
                q.service_name
            );
        }
        let b = crate::flow::buy::buy(
            &packer,
            &Environment::system(),
            &mut *market.market_for_order(&vault, &req.order_id)?,
            &clock,
            &req,
            &from,
            "UPS_PTP_GND",
            &Destination::Spool,
        )?;
        crate::outln!(
            "    bought {} for {}: tracking {}, label ({}) in spool/; confirmed by Amazon",
            b.service_id,
            b.order_id,
            b.tracking,
            if sp {
                "its format checked"
            } else {
                "checksum verified"
            }
        );
    }

    if let MarketClient::SpApi(_) = &market {
        step(
            10,
            "Cron confirms: one confirmShipment per package, each to its order's region with its marketplace, Amazon's verdict at once",
        );
        let r = crate::flow::confirm::confirm(&vault, "cron", &mut *market.market(), &clock)
            .map_err(|f| f.error)?;
        crate::outln!("    sent {} confirmation(s)", r.shipments_submitted);
        if let Sb::Sp(na, eu) = &started_sb {
            for h in [na, eu] {
                for p in h.confirmations() {
                    let m = orders
                        .iter()
                        .find(|o| o.order_id == p.order_id)
                        .and_then(|o| o.marketplace_id.as_deref());
                    crate::outln!(
                        "    region {} confirmed {} (sold in {})",
                        h.credentials().region,
                        p.order_id,
                        market_name(m)
                    );
                }
            }
        }
        for f in &r.failures {
            crate::outln!(
                "    {} refused by Amazon: {}",
                f.order_id,
                f.message.as_deref().unwrap_or("no reason")
            );
        }
        crate::outln!("    {} confirmed, {} refused", r.confirmed, r.failed);
    } else {
        step(
            10,
            "Cron confirms: one fulfillment feed, then Amazon's verdict per order",
        );
        let mut client = Client::new(
            cron.load_credentials("confirm", clock.now())?.credentials,
            Arc::new(SandboxTime::new(clock.now(), args.time_scale)),
        )?;
        let mut runs = 0;
        loop {
            runs += 1;
            let r = crate::flow::ship::confirm(&vault, "cron", &mut client, &clock)
                .map_err(|f| f.error)?;
            if r.feeds_submitted > 0 {
                crate::outln!("    sent 1 feed with {} shipment(s)", r.shipments_submitted);
            }
            for f in &r.failures {
                crate::outln!(
                    "    {} refused by Amazon: {}",
                    f.order_id,
                    f.message.as_deref().unwrap_or("no reason")
                );
            }
            if r.feeds_done > 0 {
                crate::outln!(
                    "    {} confirmed, {} refused (after {runs} cron run(s) while Amazon processed it)",
                    r.confirmed,
                    r.failed
                );
                break;
            }
            if runs > 100 {
                return Err(Error::Remote("the sandbox never processed the feed".into()));
            }
        }
    }

    step(
        11,
        "31 days later: cron purges PII past retention, keeping the facts",
    );
    let later = ManualClock::new(clock.now() + Duration::days(31));
    let cfg = Config::for_profile(vault.profile());
    let purged = purge(
        &vault,
        "cron",
        &PurgeOptions {
            dry_run: false,
            order: None,
            pii_days: cfg.retention.pii_days,
            log_days: cfg.log.max_days,
        },
        later.now(),
    )?;
    let settled = if vault.store_is_shared() {
        "the server keeps only ciphertext whose epoch key is destroyed".to_string()
    } else {
        format!("WAL truncated: {}", purged.wal_truncated)
    };
    crate::outln!(
        "    PII of {} order(s) destroyed, {} label file(s) shredded; {settled}; orders and shipments kept",
        purged.orders_purged,
        purged.label_files_removed,
    );

    step(
        12,
        "The owner audits: chain, retention, permissions, and a scan of every log for every PII value",
    );
    let owner = vault.unlock(
        "olga",
        &Credential::Passphrase(Passphrase::new(owner_again)),
        later.now(),
    )?;
    let export = dir.path().join("collector.log");
    collector.export(&export)?;
    let report = audit(
        &vault,
        &owner,
        &Environment::system(),
        &AuditOptions {
            window_days: vault.profile().min_log_days(),
            pii_days: cfg.retention.pii_days,
            scan: Vec::new(),
            anchors: Some(export),
        },
        later.now(),
    )?;
    record_run(&vault, &owner, &report, later.now())?;
    for c in &report.checks {
        crate::outln!(
            "    {:<4} [{}] {}",
            format!("{:?}", c.status).to_uppercase(),
            c.id,
            c.title
        );
        if c.status == crate::audit::report::checks::Status::Fail {
            for d in &c.details {
                crate::outln!("           {d}");
            }
        }
    }
    crate::outln!(
        "    {} record(s) verified, {} PII value(s) looked for in {} file(s); findings: {}",
        report.records_verified,
        report.pii_values_scanned,
        report.files_scanned,
        report.findings
    );
    vault.record(&[Event::new("demo.finished").operator("olga")], later.now())?;
    if report.findings > 0 || !report.chain_intact {
        return Err(Error::Integrity("the demo's own audit has findings".into()));
    }
    if args.keep {
        let kept = dir.keep();
        crate::outln!(
            "\nKept the demo home in {} (FULFILL_HOME={}/home).",
            kept.display(),
            kept.display()
        );
    } else {
        crate::outln!("\nDone; the demo home is deleted. Run with --keep to look around.");
    }
    Ok(Exit::Ok)
}
