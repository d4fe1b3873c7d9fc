//! Crash safety through the real binary: `fulfill fetch` is killed with SIGKILL at random
//! points (chosen by the sandbox's request count, not by time), then run again. After every
//! kill the vault passes `PRAGMA integrity_check` and holds no duplicate; a final complete run
//! loses nothing and duplicates nothing against the sandbox's ground truth.

// Tests look at the vault's file as an operator with sqlite3 would: with a connection of
// their own (clippy.toml keeps connections out of the crate outside `vault`).
#![allow(clippy::disallowed_types)]

#[path = "fetch_support/mod.rs"]
mod fetch_support;
mod support;

use std::time::Duration;

use fetch_support::{CliEnv, check_against_truth, integrity_ok, no_duplicates};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

fn crash_loop(orders: usize, kills: usize, seed: u64) {
    let e = CliEnv::new(orders, seed, 4000.0, "");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut killed = 0;
    let mut finished = 0;
    let mut round = 0;
    // Kill points range over a whole run: once the backlog is fetched, runs get short, so the
    // range follows the length of the last run that finished.
    let mut run_len = 12usize;
    while killed < kills {
        round += 1;
        assert!(
            round <= kills * 3,
            "{killed} kills, {finished} runs finished"
        );
        let base = e.sb.request_count();
        let k = rng.random_range(1..=run_len.max(1));
        let mut child = e
            .fetch_cmd(false)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait for the k-th request of this run (or for the run to end on its own).
        let exited = loop {
            if e.sb.wait_for_requests(base + k, Duration::from_millis(50)) {
                break false;
            }
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "round {round}: fetch failed: {status}");
                break true;
            }
        };
        if exited {
            finished += 1;
            run_len = e.sb.request_count() - base;
        } else {
            child.kill().unwrap();
            killed += 1;
        }
        child.wait().unwrap();
        let db = e.db();
        integrity_ok(&db);
        no_duplicates(&db);
    }
    // The complete run: nothing lost, nothing duplicated, items exact.
    let r = e.fetch();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let db = e.db();
    let c = check_against_truth(&e.vault(), &e.sb, None, e.sb.now());
    assert!(c.expected > 300, "{c:?}");
    assert_eq!(c.exact, c.expected, "{c:?}");
    let n: i64 = db
        .query_row("SELECT count(*) FROM orders", [], |r| r.get(0))
        .unwrap();
    let fetched: i64 = db
        .query_row(
            "SELECT count(*) FROM orders WHERE items_fetched = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(fetched, n, "every order has its items after a complete run");
    assert_eq!(c.with_items as i64, n);
    // The audit log survived the kills too.
    let home = fulfill::home::Home::unchecked(&e.dir.home());
    let v = fulfill::vault::Vault::open(&home)
        .unwrap()
        .verify_log()
        .unwrap();
    assert!(v.findings.is_empty(), "{:?}", v.findings);
    assert!(v.records > 100);
}

#[test]
fn fetch_killed_50_times_at_random_points_loses_and_duplicates_nothing() {
    crash_loop(400, 50, 17);
}

#[test]
#[ignore = "opt-in long run: FULFILL_LONG=1 cargo test --test fetch_crash -- --ignored"]
fn fetch_killed_1000_times_loses_and_duplicates_nothing() {
    crash_loop(2000, 1000, 99);
}
