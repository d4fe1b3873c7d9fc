//! Audit log benchmarks: appends per second with the cross-process lock, one fdatasync per
//! record and the forward-secure key moved on (the policy in `audit::log`), and verification
//! speed in records per second, with and without the MACs.

#[path = "common.rs"]
mod common;

use chrono::{Duration, Utc};
use common::{median, report};
use fulfill::audit::Event;
use fulfill::config::Profile;
use fulfill::home::Home;
use fulfill::safety::Environment;
use fulfill::vault::Vault;
use fulfill::vault::key::Passphrase;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::create(&dir.path().join("home"), &Environment::system()).unwrap();
    let t0 = Utc::now();
    let v = Vault::create(
        &home,
        "olga",
        Passphrase::new("benchmark passphrase, long".into()),
        Profile::Mws2020,
        true,
        t0,
    )
    .unwrap();
    println!("fulfill audit log benchmarks (release build, medians)");
    let n = 2_000;
    let mut k = 0i64;
    let d = median(3, || {
        for i in 0..n {
            k += 1;
            let ev = Event::new("mws.call")
                .operator("cron")
                .field("action", "ListOrders")
                .field("status", 200u32)
                .field("i", i);
            v.record(&[ev], t0 + Duration::seconds(k * 40)).unwrap();
        }
    });
    report(
        "append (flock + write + fdatasync + MAC + key file + head commit)",
        d,
        Some((n as f64, "records")),
    );
    let records = v.verify_log().unwrap().records;
    let d = median(5, || {
        let r = v.verify_log().unwrap();
        assert!(r.findings.is_empty());
    });
    report(
        &format!("verify chain ({records} records)"),
        d,
        Some((records as f64, "records")),
    );
    // As the owner or auditor verifies: every record's forward-secure MAC too.
    let owner = v
        .unlock(
            "olga",
            &fulfill::vault::key::Credential::Passphrase(Passphrase::new(
                "benchmark passphrase, long".into(),
            )),
            t0 + Duration::seconds(k * 40),
        )
        .unwrap();
    let d = median(5, || {
        let r = owner.verify_log(t0 + Duration::seconds(k * 40)).unwrap();
        assert!(r.findings.is_empty(), "{:?}", r.findings);
    });
    report(
        &format!("verify chain and MACs ({records} records)"),
        d,
        Some((records as f64, "records")),
    );
}
