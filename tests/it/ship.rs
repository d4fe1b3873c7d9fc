//! `fulfill ship` and `fulfill confirm` through the binary against an in-process sandbox:
//! shipments are recorded, batched into one fulfillment feed, judged per message, and an
//! interrupted upload is never sent twice.

use crate::fetch_support;
use crate::support;

use fetch_support::CliEnv;
use fulfill::sandbox::FaultSpec;
use support::Run;

/// Unshipped MFN orders the vault holds with their items, by order id.
fn unshipped(e: &CliEnv, n: usize) -> Vec<String> {
    e.order_ids(
        "lifecycle = 'unshipped' AND items_fetched = 1 AND fulfillment_channel = 'MFN' AND pii_state = 'sealed'",
        n,
    )
}

/// An unshipped order of which Amazon has shipped nothing (so the buyer can cancel it), not
/// one of `except`.
fn cancellable(e: &CliEnv, except: &[String]) -> String {
    let db = e.db();
    let mut st = db
        .prepare(
            "SELECT amazon_order_id FROM orders WHERE lifecycle = 'unshipped' AND status = 'Unshipped'
             AND items_fetched = 1 AND pii_state = 'sealed' ORDER BY amazon_order_id DESC",
        )
        .unwrap();
    st.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .find(|id| !except.contains(id))
        .expect("an order the buyer can cancel")
}

fn lifecycle(e: &CliEnv, id: &str) -> String {
    e.db()
        .query_row(
            "SELECT lifecycle FROM orders WHERE amazon_order_id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap()
}

/// `confirm --json` as the key-file cron operator.
fn confirm(e: &CliEnv) -> (Run, serde_json::Value) {
    confirm_with(e, &[])
}

/// `confirm --json` with extra global flags.
fn confirm_with(e: &CliEnv, global: &[&str]) -> (Run, serde_json::Value) {
    let mut a = global.to_vec();
    a.extend_from_slice(&[
        "--operator",
        "cron",
        "--operator-key-file",
        e.key.to_str().unwrap(),
        "confirm",
        "--json",
    ]);
    let r = e.run(&a);
    let v = serde_json::from_str(&r.stdout).unwrap_or(serde_json::Value::Null);
    (r, v)
}

/// Runs `confirm` as cron would until no feed is in flight (each run waits for its quota in
/// sandbox time, which runs thousands of times faster; nothing sleeps). Returns the last run.
fn confirm_until_done(e: &CliEnv) -> Vec<(Run, serde_json::Value)> {
    let mut runs = Vec::new();
    for _ in 0..60 {
        let (r, v) = confirm(e);
        let done = v["feeds_in_flight"] == 0;
        runs.push((r, v));
        if done {
            return runs;
        }
    }
    panic!("feeds still in flight after 60 runs: {:?}", runs.last());
}

fn packer(e: &CliEnv) -> std::path::PathBuf {
    let (r, p) = e.dir.add_operator("olga", &e.pass, "pat", "packer");
    assert_eq!(r.code, 0, "{}", r.stderr);
    p
}

fn ship(e: &CliEnv, pass: &std::path::Path, args: &[&str]) -> Run {
    let mut a = vec!["ship"];
    a.extend_from_slice(args);
    e.run_as("pat", pass, &a)
}

#[test]
fn shipments_are_batched_into_one_feed_and_judged_per_order() {
    let e = CliEnv::new(60, 11, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    let mut ids = unshipped(&e, 2);
    // The third is one the buyer can still cancel (nothing of it shipped yet).
    ids.push(cancellable(&e, &ids));
    let pat = packer(&e);

    let r = ship(
        &e,
        &pat,
        &[
            &ids[0],
            "--carrier",
            "ups",
            "--tracking",
            "1Z999AA10123456784",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("queued"), "{}", r.stdout);
    let r = ship(
        &e,
        &pat,
        &[
            &ids[1],
            "--carrier",
            "Other",
            "--carrier-name",
            "Bob's Vans & Co",
            "--tracking",
            "BV-000042",
            "--method",
            "Next day",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = ship(
        &e,
        &pat,
        &[
            &ids[2],
            "--carrier",
            "USPS",
            "--tracking",
            &support::usps(1),
            "--json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["state"], "queued");
    assert_eq!(v["carrier"], "USPS");
    for id in &ids {
        assert_eq!(lifecycle(&e, id), "shipped");
    }
    // The buyer cancels the third before Amazon processes the feed.
    assert!(e.sb.cancel_order(&ids[2]));

    let runs = confirm_until_done(&e);
    let total = |k: &str| {
        runs.iter()
            .map(|(_, v)| v[k].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    assert_eq!(total("feeds_submitted"), 1, "one feed for all three");
    assert_eq!(total("shipments_submitted"), 3);
    assert_eq!(total("confirmed"), 2);
    assert_eq!(total("failed"), 1);
    let (last, v) = runs.last().unwrap();
    assert_eq!(
        last.code, 1,
        "a refused confirmation exits 1: {}",
        last.stderr
    );
    assert!(last.stderr.contains(&ids[2]), "{}", last.stderr);
    assert_eq!(v["failures"][0]["order_id"], ids[2].as_str());
    assert!(
        v["failures"][0]["message"]
            .as_str()
            .unwrap()
            .contains("canceled")
    );

    // Ground truth: exactly one feed; Amazon now has the first two shipped with our tracking.
    let feeds = e.sb.feeds();
    assert_eq!(feeds.len(), 1);
    let body = String::from_utf8(feeds[0].body.clone()).unwrap();
    assert!(body.contains("<CarrierCode>UPS</CarrierCode>"), "{body}");
    assert!(
        body.contains("<CarrierName>Bob&apos;s Vans &amp; Co</CarrierName>")
            || body.contains("<CarrierName>Bob's Vans &amp; Co</CarrierName>"),
        "{body}"
    );
    let truth = e.sb.orders();
    for id in &ids[..2] {
        let o = truth
            .iter()
            .find(|o| &o.order.info.amazon_order_id == id)
            .unwrap();
        assert_eq!(o.order.info.order_status, "Shipped", "{id}");
        assert_eq!(lifecycle(&e, id), "confirmed");
    }
    assert_eq!(lifecycle(&e, &ids[2]), "confirm_failed");

    // `orders` shows each shipment and Amazon's reason for a refusal.
    let r = e.owner(&["orders", "--json"]);
    let orders: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let find = |id: &str| {
        orders
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["order_id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(find(&ids[0])["shipment"]["state"], "confirmed");
    assert_eq!(find(&ids[0])["shipment"]["tracking"], "1Z999AA10123456784");
    let refused = find(&ids[2]);
    assert_eq!(refused["status"], "confirm_failed");
    assert!(
        refused["shipment"]["error"]
            .as_str()
            .unwrap()
            .contains("canceled")
    );
    let r = e.owner(&["orders"]);
    assert!(r.stdout.contains("SHIPMENTS"), "{}", r.stdout);

    // A confirmed order cannot be shipped again; a refused one can be corrected.
    let r = ship(
        &e,
        &pat,
        &[&ids[0], "--carrier", "UPS", "--tracking", &support::ups(1)],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("already shipped"), "{}", r.stderr);
    let r = ship(
        &e,
        &pat,
        &[&ids[2], "--carrier", "UPS", "--tracking", &support::ups(2)],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Corrected"), "{}", r.stdout);

    // The audit log has every step, one intact chain.
    let log = e.dir.audit_text();
    for ev in [
        "ship.recorded",
        "feed.submitted",
        "feed.result",
        "ship.confirmed",
        "ship.confirm_failed",
    ] {
        assert!(log.contains(&format!("\"event\":\"{ev}\"")), "{ev} missing");
    }
    assert!(log.contains("\"action\":\"SubmitFeed\""));
    assert!(log.contains("\"action\":\"GetFeedSubmissionResult\""));
}

/// A packer's ordinary mistakes cost nothing: a misspelt carrier is named with the code it
/// probably meant, a tracking number with a wrong check digit, one shaped like an order id, a
/// carrier Amazon does not know and `--no-verify` for a carrier with a rule are each refused
/// with one line and exit 2, and nothing is recorded or queued.
#[test]
fn a_misspelt_carrier_or_a_bad_tracking_number_is_refused_and_nothing_queued() {
    let e = CliEnv::new(30, 16, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    let id = unshipped(&e, 1).remove(0);
    let pat = packer(&e);
    let good = support::ups(16);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--carrier", "Fedx", "--tracking", "986578788855"],
            "did you mean FedEx?",
        ),
        (
            vec!["--carrier", "UPS", "--tracking", "1Z999AA10123456785"],
            "check digit does not match",
        ),
        (
            vec!["--carrier", "FedEx", "--tracking", "986578788856"],
            "check digit does not match",
        ),
        (
            vec!["--carrier", "UPS", "--tracking", "112-9672024-964525"],
            "looks like an Amazon order id",
        ),
        (
            vec!["--carrier", "USPS", "--tracking", &good],
            "not in any USPS tracking number format",
        ),
        (
            vec!["--carrier", "Other", "--tracking", "SC-123456"],
            "--carrier-name",
        ),
        (
            vec!["--carrier", "Speedy Couriers", "--tracking", "SC-123456"],
            "--carrier Other --carrier-name NAME",
        ),
        (
            vec!["--carrier", "UPS", "--tracking", "1Z9", "--no-verify"],
            "--no-verify is for carriers",
        ),
    ];
    for (args, why) in &cases {
        let mut a = vec![id.as_str()];
        a.extend_from_slice(args);
        let r = ship(&e, &pat, &a);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(why), "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
        assert!(r.stdout.is_empty(), "{}", r.stdout);
    }
    assert_eq!(lifecycle(&e, &id), "unshipped", "the order still waits");
    let packages: i64 = e
        .db()
        .query_row("SELECT count(*) FROM shipments", [], |r| r.get(0))
        .unwrap();
    assert_eq!(packages, 0, "nothing recorded");
    assert!(!e.dir.audit_text().contains("\"event\":\"ship.recorded\""));
    let before = e.sb.request_count();
    let (r, v) = confirm(&e);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(v["calls"], 0, "nothing queued");
    assert_eq!(e.sb.request_count(), before);

    // Positive control: a carrier the tool has no rule for, named, its number taken as given
    // with --no-verify; the record says it was not verified.
    let r = ship(
        &e,
        &pat,
        &[
            &id,
            "--carrier",
            "Other",
            "--carrier-name",
            "Speedy Couriers",
            "--tracking",
            "SC 1234/56",
            "--no-verify",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(lifecycle(&e, &id), "shipped");
    let log = e.dir.audit_text();
    let rec = log
        .lines()
        .find(|l| l.contains("\"event\":\"ship.recorded\""))
        .expect("recorded");
    assert!(rec.contains("\"tracking_check\":\"unverified\""), "{rec}");
    assert!(
        rec.contains("\"carrier_name\":\"Speedy Couriers\""),
        "{rec}"
    );
    assert!(rec.contains("\"tracking\":\"SC 1234/56\""), "{rec}");
}

#[test]
fn roles_and_order_states_that_cannot_ship_are_refused() {
    let e = CliEnv::new(30, 12, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    let id = unshipped(&e, 1).remove(0);
    let (r, pick) = e.dir.add_operator("olga", &e.pass, "pia", "picker");
    assert_eq!(r.code, 0);
    let r = e.run(&[
        "--operator",
        "pia",
        "--passphrase-file",
        pick.to_str().unwrap(),
        "ship",
        &id,
        "--carrier",
        "UPS",
        "--tracking",
        &support::ups(1),
    ]);
    assert_eq!(r.code, 3, "a picker cannot ship: {}", r.stderr);
    assert_eq!(lifecycle(&e, &id), "unshipped");
    assert!(e.dir.audit_text().contains("\"event\":\"access.denied\""));

    let pat = packer(&e);
    let r = ship(
        &e,
        &pat,
        &[
            "111-0000000-0000000",
            "--carrier",
            "UPS",
            "--tracking",
            &support::ups(1),
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = ship(&e, &pat, &[&id, "--carrier", "UPS", "--tracking", " "]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        lifecycle(&e, &id),
        "unshipped",
        "a refused ship changes nothing"
    );

    // Nothing queued: confirm makes no call at all.
    let before = e.sb.request_count();
    let (r, v) = confirm(&e);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(v["calls"], 0);
    assert_eq!(e.sb.request_count(), before);
}

/// Makes the sandbox's next request fail with `kind`, and returns the `--now` that starts the
/// command's clock at the sandbox's time, so its first request is the upload itself (not a
/// clock resync).
fn fault_next(e: &CliEnv, kind: &str) -> [String; 2] {
    let next = e.sb.request_count() + 1;
    e.sb.set_faults(FaultSpec::parse(&format!("{kind}@{next}")).unwrap(), 1);
    let now =
        e.sb.now()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    ["--now".into(), now]
}

/// The upload reaches Amazon but the reply is lost (`reset`: the sandbox carries the action
/// out, then closes the connection). The next run finds the feed at Amazon and adopts it.
#[test]
fn an_upload_whose_reply_was_lost_is_adopted_not_sent_twice() {
    let e = CliEnv::new(40, 13, 300.0, "");
    assert_eq!(e.fetch().code, 0);
    let ids = unshipped(&e, 2);
    let pat = packer(&e);
    for id in &ids {
        assert_eq!(
            ship(
                &e,
                &pat,
                &[id, "--carrier", "DHL", "--tracking", "3318810025"]
            )
            .code,
            0
        );
    }
    let (r, _) = confirm_with(&e, &fault_next(&e, "reset").each_ref().map(String::as_str));
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("next run checks"), "{}", r.stderr);
    assert_eq!(e.sb.feeds().len(), 1, "the sandbox did receive it");

    let runs = confirm_until_done(&e);
    assert_eq!(runs[0].1["feeds_adopted"], 1, "{:?}", runs[0]);
    let sent: u64 = runs
        .iter()
        .map(|(_, v)| v["feeds_submitted"].as_u64().unwrap())
        .sum();
    assert_eq!(sent, 0, "not sent again");
    assert_eq!(e.sb.feeds().len(), 1);
    for id in &ids {
        assert_eq!(lifecycle(&e, id), "confirmed");
    }
}

/// The upload fails before Amazon acts on it (`internal`): the next run finds nothing at
/// Amazon and sends the same feed.
#[test]
fn an_upload_amazon_never_took_is_sent_again() {
    let e = CliEnv::new(40, 14, 300.0, "");
    assert_eq!(e.fetch().code, 0);
    let id = unshipped(&e, 1).remove(0);
    let pat = packer(&e);
    assert_eq!(
        ship(
            &e,
            &pat,
            &[&id, "--carrier", "FedEx", "--tracking", "986578788855"]
        )
        .code,
        0
    );
    let (r, _) = confirm_with(
        &e,
        &fault_next(&e, "internal").each_ref().map(String::as_str),
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(e.sb.feeds().len(), 0);
    let runs = confirm_until_done(&e);
    assert_eq!(runs[0].1["feeds_submitted"], 1, "{:?}", runs[0]);
    assert_eq!(runs[0].1["feeds_adopted"], 0);
    assert_eq!(e.sb.feeds().len(), 1);
    assert_eq!(lifecycle(&e, &id), "confirmed");
}

/// Two overlapping runs (a slow one and cron's next) must not put the same shipments in two
/// feeds: the second finds the first's lock and does nothing.
#[test]
fn an_overlapping_confirm_run_does_nothing() {
    let e = CliEnv::new(30, 15, 3000.0, "");
    assert_eq!(e.fetch().code, 0);
    let id = unshipped(&e, 1).remove(0);
    let pat = packer(&e);
    assert_eq!(
        ship(
            &e,
            &pat,
            &[&id, "--carrier", "UPS", "--tracking", &support::ups(5)]
        )
        .code,
        0
    );
    let home =
        fulfill::home::Home::open(&e.dir.home(), &fulfill::safety::Environment::system()).unwrap();
    let held = home.try_run_lock("confirm").unwrap().expect("free");
    let before = e.sb.request_count();
    let (r, v) = confirm(&e);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(v["already_running"], true);
    assert_eq!(e.sb.request_count(), before, "no call made");
    drop(held);
    let runs = confirm_until_done(&e);
    assert_eq!(runs[0].1["feeds_submitted"], 1);
    assert_eq!(e.sb.feeds().len(), 1);
}
