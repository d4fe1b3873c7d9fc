//! Drives the fulfill library against the built-in sandbox: start the fake MWS in-process,
//! make a temporary sandbox home with an owner and a key-file fetcher, fetch, list the orders.
//!
//! ```sh
//! cargo run --example sandbox_fetch            # 40 orders
//! cargo run --example sandbox_fetch -- 200     # or as many as you like
//! ```
//!
//! It prints order ids, states and items only: the PII the sandbox makes up is sealed in the
//! vault as it arrives, and the fetcher holds no key to open it. The home is deleted at the end.

use std::sync::Arc;

use fulfill::clock::{Clock, ScaledClock, SystemClock};
use fulfill::config::Profile;
use fulfill::flow::fetch::{FetchOptions, Quiet, fetch};
use fulfill::home::Home;
use fulfill::market::mws::Mws;
use fulfill::mws::client::{Client, SandboxTime};
use fulfill::role::Role;
use fulfill::safety::Environment;
use fulfill::sandbox::{Sandbox, SandboxConfig};
use fulfill::vault::key::{Credential, Passphrase, random_bytes};
use fulfill::vault::orders::list_orders;
use fulfill::vault::{NewCredential, Vault, read_key_file};

/// Sandbox time runs this much faster than real time (Amazon's quota ratios are kept).
const TIME_SCALE: f64 = 600.0;

fn main() -> fulfill::Result<()> {
    let orders: usize = match std::env::args().nth(1) {
        Some(n) => n
            .parse()
            .map_err(|_| fulfill::Error::usage("usage: sandbox_fetch [ORDERS]"))?,
        None => 40,
    };
    fulfill::safety::harden_process();
    let clock = SystemClock;

    // The fake MWS on 127.0.0.1, with its own (scaled) clock.
    let sandbox = Sandbox::start(SandboxConfig {
        orders,
        seed: 7,
        time_scale: TIME_SCALE,
        ..SandboxConfig::new(Arc::new(ScaledClock::new(clock.now(), TIME_SCALE)))
    })?;
    println!("sandbox at {} with {orders} orders", sandbox.base_url());

    // A sandbox home in a temporary folder: vault, owner, and a fetcher with a key file.
    let dir = tempfile::Builder::new()
        .prefix("fulfill-example-")
        .tempdir()?;
    let home = Home::create(&dir.path().join("home"), &Environment::system())?;
    let secret = format!("example owner {}", hex::encode(random_bytes::<12>()));
    let vault = Vault::create(
        &home,
        "olga",
        Passphrase::new(secret.clone()),
        Profile::Mws2020,
        true,
        clock.now(),
    )?;
    let owner = vault.unlock(
        "olga",
        &Credential::Passphrase(Passphrase::new(secret)),
        clock.now(),
    )?;
    let key_file = dir.path().join("cron.key");
    owner.add_operator(
        "cron",
        Role::Fetcher,
        NewCredential::KeyFile(&key_file),
        clock.now(),
    )?;
    owner.store_credentials(&sandbox.mws_credentials(TIME_SCALE)?, clock.now())?;

    // Fetch as the fetcher, as cron would: every page and item list, paced by the quotas.
    let cron = vault.unlock(
        "cron",
        &Credential::KeyFile(read_key_file(&key_file)?),
        clock.now(),
    )?;
    let creds = cron.load_credentials("fetch", clock.now())?.credentials;
    let mut client = Client::new(creds, Arc::new(SandboxTime::new(clock.now(), TIME_SCALE)))?;
    let report = fetch(
        &cron,
        &mut Mws::new(&mut client),
        &FetchOptions::default(),
        &clock,
        &mut Quiet,
    )
    .map_err(|f| f.error)?;
    println!(
        "fetched {} new orders in {} page(s), {} calls ({} throttled)",
        report.new_orders, report.pages, report.calls, report.throttled
    );

    // The orders as stored: ids, states and items; never PII.
    let mut listing = String::new();
    for o in vault.read(|tx| list_orders(tx, None))? {
        let items: Vec<String> = o
            .items
            .iter()
            .map(|i| format!("{} x{}", i.sku.as_deref().unwrap_or(&i.asin), i.quantity))
            .collect();
        listing.push_str(&format!(
            "{}  {:<10}  {}\n",
            o.order_id,
            o.status,
            items.join(", ")
        ));
    }
    // Every value the sandbox makes up as PII carries a marker: it must not be in the listing.
    if listing.contains(&sandbox.pii_marker()) {
        return Err(fulfill::Error::Integrity("PII in the order listing".into()));
    }
    print!("{listing}");
    Ok(())
}
