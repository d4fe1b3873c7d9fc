//! Fetch benchmarks: pacing against Amazon's real quotas (wall time over the minimum the
//! quotas allow) on MWS and on SP-API (one region, and two regions at once over five
//! marketplaces), the same 1,000 orders on both side by side, and local ingest (parse + seal + store) next to a plain rusqlite insert.
//! Peak memory of a `fulfill fetch` process is `benches/fetch_memory.rs`. Set
//! `FULFILL_BENCH_DEBUG=1` to print the sandbox's log around any throttled or failed call.

// A plain rusqlite baseline, or setup as an operator with sqlite3 would do it: a connection
// of the bench's own (clippy.toml keeps connections out of the crate outside `vault`).
#![allow(clippy::disallowed_types)]

#[path = "common.rs"]
mod common;

use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, Utc};
use fulfill::clock::{Clock, ManualClock, ScaledClock};
use fulfill::config::Profile;
use fulfill::flow::fetch::{FetchOptions, Quiet, fetch};
use fulfill::home::Home;
use fulfill::market::mws::Mws;
use fulfill::market::spapi::SpApi;
use fulfill::mws::client::{Client, SandboxTime};
use fulfill::mws::model::Order;
use fulfill::mws::{ORDERS_PATH, sign};
use fulfill::safety::Environment;
use fulfill::sandbox::api::signed_request;
use fulfill::sandbox::spapi::SpSandbox;
use fulfill::sandbox::{Sandbox, SandboxConfig};
use fulfill::vault::Vault;
use fulfill::vault::key::Passphrase;

fn vault(dir: &std::path::Path) -> Vault {
    let home = Home::create(&dir.join("home"), &Environment::system()).unwrap();
    Vault::create(
        &home,
        "olga",
        Passphrase::new("benchmark passphrase, long".into()),
        Profile::Mws2020,
        true,
        Utc::now(),
    )
    .unwrap()
}

fn owner(v: &Vault) -> fulfill::vault::Session<'_> {
    v.unlock(
        "olga",
        &fulfill::vault::key::Credential::Passphrase(Passphrase::new(
            "benchmark passphrase, long".into(),
        )),
        Utc::now(),
    )
    .unwrap()
}

fn pacing(orders: usize, scale: f64) -> (u64, f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(Utc::now(), scale));
    let mut cfg = SandboxConfig::new(clock.clone());
    cfg.orders = orders;
    cfg.seed = 5;
    cfg.time_scale = scale;
    let sb = Sandbox::start(cfg).unwrap();
    let mut client = Client::new(
        sb.mws_credentials(scale).unwrap(),
        Arc::new(SandboxTime::new(sb.now(), scale)),
    )
    .unwrap();
    let owner = owner(&v);
    let t = Instant::now();
    let r = fetch(
        &owner,
        &mut Mws::new(&mut client),
        &FetchOptions::default(),
        clock.as_ref(),
        &mut Quiet,
    )
    .unwrap();
    let real = t.elapsed().as_secs_f64();
    let wall = real * scale;
    let log = sb.requests();
    if std::env::var_os("FULFILL_BENCH_DEBUG").is_some() {
        for (i, r) in log.iter().enumerate() {
            if r.error_code.is_some() {
                for q in &log[i.saturating_sub(40)..(i + 2).min(log.len())] {
                    eprintln!(
                        "{} {:?} {:?} {}",
                        q.at.format("%H:%M:%S%.3f"),
                        q.action,
                        q.error_code,
                        q.status
                    );
                }
                eprintln!("--");
            }
        }
    }
    // Calls Amazon answered: a throttled request (503) takes no token, so it is not counted.
    let lists = log
        .iter()
        .filter(|r| r.status == 200)
        .filter(|r| {
            r.action
                .as_deref()
                .is_some_and(|a| a.starts_with("ListOrders"))
        })
        .count() as f64;
    let items = log
        .iter()
        .filter(|r| r.status == 200)
        .filter(|r| {
            r.action
                .as_deref()
                .is_some_and(|a| a.starts_with("ListOrderItems"))
        })
        .count() as f64;
    // ListOrders: 6 at once, then 1 a minute. ListOrderItems: 30 at once, then 1 per 2 s; the
    // listing overlaps the items, so the slower bucket sets the minimum.
    let min = ((lists - 6.0).max(0.0) * 60.0).max((items - 30.0).max(0.0) * 2.0);
    println!(
        "pacing: {} orders ({} MFN stored), {lists} listing + {items} item calls answered, {} throttled; \
         wall {:.0} s (Amazon time, scale {scale}) vs minimum {:.0} s: ratio {:.3}",
        orders,
        r.new_orders,
        r.throttled,
        wall,
        min,
        wall / min
    );
    (r.calls, wall, real)
}

/// SP-API pacing: fetch `orders` from the SP-API sandbox through the same flow as `fulfill
/// fetch`. `searchOrders` allows `burst` pages at once, then `rate` a second; the minimum is
/// the wait for the pages Amazon answered beyond the burst (0 when they all fit in it; a 429
/// takes no token, so it is not a page). Returns (calls, wall in Amazon time, real wall
/// seconds).
fn pacing_sp(orders: usize, scale: f64) -> (u64, f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(Utc::now(), scale));
    let mut cfg = SandboxConfig::new(clock.clone());
    cfg.orders = orders;
    cfg.seed = 5;
    cfg.time_scale = scale;
    let sb = SpSandbox::start(cfg).unwrap();
    let mut client = fulfill::spapi::client::Client::new(
        sb.spapi_credentials(scale).unwrap(),
        Arc::new(SandboxTime::new(sb.now(), scale)),
    )
    .unwrap();
    let owner = owner(&v);
    let t = Instant::now();
    let r = fulfill::flow::fetch::fetch(
        &owner,
        &mut SpApi::new(&mut client, true),
        &FetchOptions {
            since: Some(sb.now() - Duration::days(29)),
            ..FetchOptions::default()
        },
        clock.as_ref(),
        &mut Quiet,
    )
    .unwrap();
    let real = t.elapsed().as_secs_f64();
    let wall = real * scale;
    let plan = fulfill::spapi::throttle::plan(fulfill::spapi::op::SEARCH_ORDERS).unwrap();
    let log = sb.requests();
    let searches = log
        .iter()
        .filter(|q| q.action.as_deref() == Some(fulfill::spapi::op::SEARCH_ORDERS));
    let sent = searches.clone().count() as f64;
    // Pages Amazon answered (a throttled request takes no token from the plan).
    let pages = searches.filter(|q| q.status == 200).count() as f64;
    let min = (pages - f64::from(plan.burst)).max(0.0) / plan.rate;
    let ratio = if min > 0.0 {
        format!("ratio {:.3}", wall / min)
    } else {
        "all pages inside the burst".to_string()
    };
    println!(
        "sp-api pacing: {orders} orders ({} MFN stored), {pages} searchOrders pages answered \
         ({sent} sent) + {} other call(s), {} throttled; wall {wall:.0} s (Amazon time, scale \
         {scale}; {real:.2} s real) vs minimum {min:.0} s: {ratio}",
        r.new_orders,
        r.calls as f64 - sent,
        r.throttled,
    );
    (r.calls, wall, real)
}

/// Two regions at once: North America (US, CA, MX) and Europe (DE, FR), each its own
/// sandbox host with `per_region` generated orders (about 79% of them merchant-fulfilled, the
/// ones a fetch lists), fetched through `flow::fetch::fetch_regions`, which is what `fulfill
/// fetch` runs on an SP-API home with two regions. Each region's usage plan is its own, so the
/// minimum is the slower region's: its pages beyond `searchOrders`' burst at its rate. With
/// `sequential`, the regions are fetched one after the other instead (what `fetch` did before),
/// for comparison, against the sum of the regions' minimums. Returns (orders stored, wall in
/// Amazon time, minimum).
fn pacing_regions(per_region: usize, scale: f64, sequential: bool) -> (u64, f64, f64) {
    use fulfill::flow::fetch::{RegionRun, fetch_regions};
    use fulfill::model::marketplace::Region;
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(Utc::now(), scale));
    let host = |region: Region, seed: u64, markets: &[&str]| {
        let mut cfg = SandboxConfig::new(clock.clone());
        cfg.orders = per_region;
        cfg.seed = seed;
        cfg.time_scale = scale;
        SpSandbox::start_region(cfg, region, markets.iter().map(|m| m.to_string()).collect())
            .unwrap()
    };
    let hosts = [
        (
            Region::Na,
            host(
                Region::Na,
                5,
                &["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8"],
            ),
        ),
        (
            Region::Eu,
            host(Region::Eu, 6, &["A1PA6795UKMFR9", "A13V1IB3VIYZZH"]),
        ),
    ];
    let mut clients: Vec<fulfill::spapi::client::Client> = hosts
        .iter()
        .map(|(_, sb)| {
            fulfill::spapi::client::Client::new(
                sb.spapi_credentials(scale).unwrap(),
                Arc::new(SandboxTime::new(sb.now(), scale)),
            )
            .unwrap()
        })
        .collect();
    let since = hosts[0].1.now() - Duration::days(29);
    let opts = |r: Region| FetchOptions {
        since: Some(since),
        region: Some(r.to_string()),
        watermark_key: Some(fulfill::vault::orders::region_watermark_key(
            r.as_str(),
            false,
        )),
    };
    let owner = owner(&v);
    let mut markets: Vec<SpApi<'_>> = clients.iter_mut().map(|c| SpApi::new(c, false)).collect();
    let mut quiet = [Quiet, Quiet];
    let t = Instant::now();
    let results = if sequential {
        markets
            .iter_mut()
            .zip(&hosts)
            .map(|(m, (r, _))| fetch(&owner, m, &opts(*r), clock.as_ref(), &mut Quiet))
            .collect::<Vec<_>>()
    } else {
        let runs = markets
            .iter_mut()
            .zip(quiet.iter_mut())
            .zip(&hosts)
            .map(|((market, progress), (r, _))| RegionRun {
                market,
                opts: opts(*r),
                progress,
            })
            .collect();
        fetch_regions(&owner, runs, clock.as_ref())
    };
    let real = t.elapsed().as_secs_f64();
    let wall = real * scale;
    let plan = fulfill::spapi::throttle::plan(fulfill::spapi::op::SEARCH_ORDERS).unwrap();
    let mut stored = 0;
    let mut throttled = 0;
    let mut min: f64 = 0.0;
    let mut sum = 0.0;
    let mut each = Vec::new();
    for ((r, sb), res) in hosts.iter().zip(results) {
        let rep = res.unwrap_or_else(|f| panic!("region {r}: {}", f.error));
        let log = sb.requests();
        if std::env::var_os("FULFILL_BENCH_DEBUG").is_some() {
            for q in &log {
                eprintln!(
                    "{r} {} {:?} {} {:?}",
                    q.at.format("%H:%M:%S%.3f"),
                    q.action,
                    q.status,
                    q.error_code
                );
            }
        }
        // Pages Amazon answered (a throttled request takes no token from the plan).
        let pages = log
            .iter()
            .filter(|q| q.action.as_deref() == Some(fulfill::spapi::op::SEARCH_ORDERS))
            .filter(|q| q.status == 200)
            .count() as f64;
        let m = (pages - f64::from(plan.burst)).max(0.0) / plan.rate;
        min = min.max(m);
        sum += m;
        stored += rep.new_orders;
        throttled += rep.throttled;
        each.push(format!(
            "{r}: {} markets, {} stored, {pages} searchOrders answered, {} throttled, minimum {m:.0} s",
            sb.credentials().marketplaces.len(),
            rep.new_orders,
            rep.throttled
        ));
    }
    // One after the other, the minimum is the sum of the regions' minimums.
    let (how, min) = if sequential {
        ("one region after the other", sum)
    } else {
        ("regions at once", min)
    };
    println!(
        "sp-api two regions, {how}: {} orders generated, {stored} MFN stored over 5 marketplaces \
         ({}), {throttled} throttled; wall {wall:.0} s (Amazon time, scale {scale}; {real:.2} s \
         real) vs usage-plan minimum {min:.0} s ({sum:.0} s one after the other, the slower \
         region's at once): ratio {:.3}",
        2 * per_region,
        each.join("; "),
        wall / min
    );
    (stored, wall, min)
}

/// Sandbox-generated ListOrders pages holding `n` orders (AFN included), as raw XML.
fn pages(n: usize) -> Vec<Vec<u8>> {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let mut cfg = SandboxConfig::new(clock.clone());
    cfg.orders = n;
    cfg.seed = 9;
    let sb = Sandbox::start(cfg).unwrap();
    let c = sb.credentials();
    let host = sb.addr().to_string();
    let after = sign::timestamp(clock.now() - Duration::days(10));
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        clock.advance(Duration::seconds(61));
        let mut p: Vec<(&str, &str)> = vec![("SellerId", &c.seller_id), ("Version", "2013-09-01")];
        match &token {
            None => {
                p.push(("Action", "ListOrders"));
                p.push(("LastUpdatedAfter", &after));
                p.push(("MarketplaceId.Id.1", &c.marketplace_id));
            }
            Some(t) => {
                p.push(("Action", "ListOrdersByNextToken"));
                p.push(("NextToken", t));
            }
        }
        let req = signed_request(&c, "POST", &host, ORDERS_PATH, &p, clock.now(), true, None);
        let r = sb.call(&req);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let (_, res) = fulfill::mws::xml::parse_orders_vec(&r.body[..]).unwrap();
        out.push(r.body);
        match res.next_token {
            Some(t) => token = Some(t),
            None => return out,
        }
    }
}

/// One `ListOrders` page, parsed as the fetch engine streams it.
fn parse_page(body: &[u8]) -> Vec<Order> {
    let mut page: Vec<Order> = Vec::with_capacity(100);
    fulfill::mws::xml::parse_list_orders(body, |o| {
        page.push(o);
        Ok(())
    })
    .unwrap();
    page
}

fn ingest(n: usize) {
    let pages = pages(n);
    let dir = tempfile::tempdir().unwrap();
    let v = vault(dir.path());
    let now = Utc::now();
    let session = owner(&v);
    let t = Instant::now();
    // A fetch run's sealer: one epoch data key per epoch it meets, AES-256-GCM per record.
    let mut sealer = session.sealer(now).unwrap();
    let mut stored = 0usize;
    for body in &pages {
        let page = parse_page(body);
        v.write(|tx| {
            for o in &page {
                fulfill::vault::ingest::upsert_order(tx, &mut sealer, o, now)?;
                stored += 1;
            }
            Ok(())
        })
        .unwrap();
    }
    let vault_time = t.elapsed();
    // The same rows, plain: parse, then insert the same columns into a table of the vault's
    // own `orders` schema (its DDL and indexes, read from the vault), with the PII as plaintext
    // bytes where the vault stores a sealed record. What is left between the two is sealing
    // and the vault's per-order logic (the lookup that keeps local progress, the epoch).
    let plain = rusqlite::Connection::open(dir.path().join("plain.db")).unwrap();
    plain
        .execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
        .unwrap();
    let ddl: Vec<String> = rusqlite::Connection::open(v.home().vault_path())
        .unwrap()
        .prepare("SELECT sql FROM sqlite_master WHERE tbl_name = 'orders' AND sql IS NOT NULL")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for d in &ddl {
        plain.execute_batch(d).unwrap();
    }
    let t = Instant::now();
    for body in &pages {
        let page = parse_page(body);
        let tx = plain.unchecked_transaction().unwrap();
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO orders (amazon_order_id, status, pii, pii_version, pii_state,
                        created_at, updated_at, purchase_date, last_update_date, fulfillment_channel,
                        sales_channel, marketplace_id, ship_service_level, service_level_category,
                        order_type, ship_country, earliest_ship_date, latest_ship_date,
                        earliest_delivery_date, latest_delivery_date, is_prime, is_business,
                        order_total, order_currency, items_shipped, items_unshipped, lifecycle,
                        pii_missing, retention_start, pii_epoch)
                     VALUES (?1, ?2, ?3, 1, 'sealed', ?4, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,
                        ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, 'unshipped', 0, NULL, NULL)",
                )
                .unwrap();
            let ts = now.to_rfc3339();
            for o in &page {
                let i = &o.info;
                let total = i.order_total.as_ref();
                st.execute(rusqlite::params![
                    i.amazon_order_id,
                    i.order_status,
                    o.pii.encode().as_slice(),
                    ts,
                    i.purchase_date,
                    i.last_update_date,
                    i.fulfillment_channel,
                    i.sales_channel,
                    i.marketplace_id,
                    i.ship_service_level,
                    i.shipment_service_level_category,
                    i.order_type,
                    i.ship_country_code,
                    i.earliest_ship_date,
                    i.latest_ship_date,
                    i.earliest_delivery_date,
                    i.latest_delivery_date,
                    i.is_prime,
                    i.is_business_order,
                    total.map(|m| m.amount.as_str()),
                    total.map(|m| m.currency_code.as_str()),
                    i.number_of_items_shipped,
                    i.number_of_items_unshipped,
                ])
                .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    let plain_time = t.elapsed();
    common::report(
        &format!("ingest {stored} orders: parse + seal + store"),
        vault_time,
        Some((stored as f64, "orders")),
    );
    common::report(
        &format!("ingest {stored} orders: parse + plain rusqlite"),
        plain_time,
        Some((stored as f64, "orders")),
    );
}

fn main() {
    // `FULFILL_BENCH_INGEST_ONLY=1 cargo bench --bench fetch`: the ingest rows only.
    if std::env::var_os("FULFILL_BENCH_INGEST_ONLY").is_some() {
        ingest(25_000);
        return;
    }
    let scale: f64 = std::env::var("FULFILL_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200.0);
    // Two regions, five marketplaces, about 5,000 orders listed: each region's pages go
    // beyond searchOrders' burst, so both usage plans set a pace, and they run side by side.
    // `FULFILL_BENCH_REGIONS_ONLY=1 cargo bench --bench fetch`: this row (and the same run
    // one region after the other, for comparison) only.
    let regions = || pacing_regions(3_170, scale, false);
    if std::env::var_os("FULFILL_BENCH_REGIONS_ONLY").is_some() {
        regions();
        pacing_regions(3_170, scale, true);
        return;
    }
    let mws = pacing(1000, scale);
    let sp = pacing_sp(1000, scale);
    // Pages beyond searchOrders' burst of 20: the usage plan sets the pace.
    pacing_sp(5000, scale);
    regions();
    println!(
        "side by side, 1,000 orders: MWS {} calls, {:.0} s Amazon time ({:.2} s real at x{scale}); \
         SP-API {} calls, {:.0} s Amazon time ({:.2} s real)",
        mws.0, mws.1, mws.2, sp.0, sp.1, sp.2
    );
    // `FULFILL_BENCH_PACING_ONLY=1 cargo bench --bench fetch` (or `cargo test --bench fetch`,
    // unoptimised): the pacing rows only.
    if std::env::var_os("FULFILL_BENCH_PACING_ONLY").is_none() {
        ingest(25_000);
    }
}
