//! Several marketplaces per region, several regions per home (issue 22), through the binary
//! against the two-region SP-API sandbox: credentials per region (set, add, replace, list,
//! remove, discover, a marketplace of the wrong region), one searchOrders sequence per region
//! carrying all of its marketplaces, confirmations to each order's region, a region that fails
//! alone, a token of one region refused by the other's host.

use crate::support;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{Duration, Utc};
use fulfill::clock::ScaledClock;
use fulfill::sandbox::SandboxConfig;
use fulfill::sandbox::spapi::{SpSandbox, SpSandboxHandle};
use rusqlite::Connection;
use support::{Run, TestDir, run};

const US: &str = "ATVPDKIKX0DER";
const CA: &str = "A2EUQ1WTGCTBG2";
const MX: &str = "A1AM78C64UM0Y8";
const DE: &str = "A1PA6795UKMFR9";
const FR: &str = "A13V1IB3VIYZZH";

struct Regions {
    dir: TestDir,
    na: SpSandboxHandle,
    eu: SpSandboxHandle,
    pass: PathBuf,
    key: PathBuf,
    scale: f64,
    since: String,
}

impl Regions {
    /// A sandbox home, both regions' sandboxes (80 orders each), a `cron` fetcher; no
    /// credentials yet.
    fn new() -> Regions {
        let dir = TestDir::new();
        let scale = 3000.0;
        let clock = Arc::new(ScaledClock::new(Utc::now(), scale));
        let mut cfg = SandboxConfig::new(clock);
        cfg.orders = 80;
        cfg.time_scale = scale;
        let (na, eu) = SpSandbox::start_regions(cfg, "127.0.0.1:0").unwrap();
        let pass = dir.init(true);
        let key = dir.path().join("cron.key");
        let since = fulfill::mws::sign::timestamp(na.now() - Duration::days(29));
        let e = Regions {
            dir,
            na,
            eu,
            pass,
            key,
            scale,
            since,
        };
        e.owner_ok(&[
            "operator",
            "add",
            "cron",
            "--role",
            "fetcher",
            "--key-file",
            e.key.to_str().unwrap(),
        ]);
        e
    }

    fn owner(&self, args: &[&str]) -> Run {
        let mut a = vec![
            "--operator",
            "olga",
            "--passphrase-file",
            self.pass.to_str().unwrap(),
        ];
        a.extend_from_slice(args);
        run(self.dir.fulfill().args(&a))
    }

    fn owner_ok(&self, args: &[&str]) -> Run {
        let r = self.owner(args);
        assert_eq!(r.code, 0, "fulfill {args:?}: {}{}", r.stdout, r.stderr);
        r
    }

    fn cron(&self, args: &[&str]) -> Run {
        let mut a = vec![
            "--operator",
            "cron",
            "--operator-key-file",
            self.key.to_str().unwrap(),
        ];
        a.extend_from_slice(args);
        run(self.dir.fulfill().args(&a))
    }

    fn fetch(&self) -> Run {
        self.cron(&["fetch", "--since", &self.since])
    }

    /// `credentials set --region R` with `sb`'s credentials (its token endpoint unless
    /// `token_from` is given: the host whose token endpoint and refresh token to use instead).
    fn set(
        &self,
        sb: &SpSandboxHandle,
        token_from: Option<&SpSandboxHandle>,
        region: &str,
        extra: &[&str],
    ) -> Run {
        let t = token_from.unwrap_or(sb);
        let c = t.credentials();
        let cs = self
            .dir
            .secret_file(&format!("{region}.secret"), &c.lwa_client_secret);
        let rt = self
            .dir
            .secret_file(&format!("{region}.token"), &c.refresh_token);
        let scale = self.scale.to_string();
        let (base, token) = (sb.base_url(), t.token_url());
        let mut a = vec![
            "credentials",
            "set",
            "--seller-id",
            &c.seller_id,
            "--lwa-client-id",
            &c.lwa_client_id,
            "--lwa-client-secret-file",
            cs.to_str().unwrap(),
            "--refresh-token-file",
            rt.to_str().unwrap(),
            "--region",
            region,
            "--endpoint",
            &base,
            "--token-endpoint",
            &token,
            "--time-scale",
            &scale,
        ];
        a.extend_from_slice(extra);
        self.owner(&a)
    }

    /// North America with US and CA, Europe with DE and FR: four marketplaces.
    fn set_both(&self) {
        let r = self.set(
            &self.na,
            None,
            "na",
            &["--marketplace", US, "--marketplace", CA],
        );
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        let r = self.set(
            &self.eu,
            None,
            "eu",
            &["--marketplace", DE, "--marketplace", "FR"],
        );
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    }

    fn db(&self) -> Connection {
        Connection::open(self.dir.home().join("vault.db")).unwrap()
    }

    fn meta(&self, key: &str) -> Option<String> {
        crate::fetch_support::meta(&self.db(), key)
    }

    /// An unshipped order of marketplace `m` with its address (`orders --json`).
    fn unshipped_of(&self, m: &str) -> String {
        let orders = json(&self.owner_ok(&["orders", "--json", "--status", "unshipped"]));
        orders
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["marketplace_id"] == m && !o["pii_missing"].as_bool().unwrap())
            .map(|o| o["order_id"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("an unshipped order of {m}"))
    }

    /// Stored orders per marketplace.
    fn stored(&self) -> Vec<(String, u64)> {
        let db = self.db();
        let mut st = db
            .prepare(
                "SELECT coalesce(marketplace_id, '-'), count(*) FROM orders GROUP BY 1 ORDER BY 1",
            )
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }
}

/// The `marketplaceIds` of every searchOrders request a sandbox received.
fn search_markets(sb: &SpSandboxHandle) -> Vec<String> {
    sb.requests()
        .iter()
        .filter(|r| r.action.as_deref() == Some("searchOrders"))
        .map(|r| {
            r.params
                .iter()
                .find(|(k, _)| k == "marketplaceIds")
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        })
        .collect()
}

/// Listings started (a searchOrders without a paginationToken).
fn sequences(sb: &SpSandboxHandle) -> usize {
    sb.requests()
        .iter()
        .filter(|r| r.action.as_deref() == Some("searchOrders"))
        .filter(|r| !r.params.iter().any(|(k, _)| k == "paginationToken"))
        .count()
}

fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", r.stdout, r.stderr))
}

#[test]
fn two_regions_four_marketplaces_fetch_ship_and_confirm_each_in_its_region() {
    let e = Regions::new();
    e.set_both();
    // `credentials list`: each region with its marketplaces, no secret.
    let r = e.owner_ok(&["credentials", "list"]);
    for want in ["region         na", "region         eu", US, CA, DE, FR] {
        assert!(r.stdout.contains(want), "{want}: {}", r.stdout);
    }
    for c in [e.na.credentials(), e.eu.credentials()] {
        assert!(!r.stdout.contains(&c.refresh_token) && !r.stdout.contains(&c.lwa_client_secret));
    }

    let r = e.fetch();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("na ") && r.stdout.contains("eu "),
        "{}",
        r.stdout
    );
    // Calls counted per region: one searchOrders sequence each, every page carrying all of
    // that region's marketplaces (and never another region's).
    assert_eq!(sequences(&e.na), 1);
    assert_eq!(sequences(&e.eu), 1);
    let na = search_markets(&e.na);
    let eu = search_markets(&e.eu);
    assert!(!na.is_empty() && !eu.is_empty());
    assert!(na.iter().all(|m| m == &format!("{US},{CA}")), "{na:?}");
    assert!(eu.iter().all(|m| m == &format!("{DE},{FR}")), "{eu:?}");
    // Orders of the four marketplaces, none of those not set (MX, GB, IT).
    let stored = e.stored();
    let markets: Vec<&str> = stored.iter().map(|(m, _)| m.as_str()).collect();
    let mut want = vec![US, CA, DE, FR];
    want.sort();
    assert_eq!(markets, want, "{stored:?}");
    // A watermark per region, and a usage-plan model per region.
    for r in ["na", "eu"] {
        assert!(e.meta(&format!("fetch_watermark:{r}")).is_some(), "{r}");
        assert!(e.meta(&format!("spapi_throttle:{r}")).is_some(), "{r}");
    }
    assert_eq!(e.meta("fetch_watermark"), None);
    // A second run: again one sequence per region, from each region's watermark.
    let r = e.fetch();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!((sequences(&e.na), sequences(&e.eu)), (2, 2));

    // Ship one order of the US and one of Germany; confirm sends each to its region.
    let (us, de) = (e.unshipped_of(US), e.unshipped_of(DE));
    e.owner_ok(&[
        "ship",
        &us,
        "--carrier",
        "UPS",
        "--tracking",
        &support::ups(1),
    ]);
    e.owner_ok(&[
        "ship",
        &de,
        "--carrier",
        "UPS",
        "--tracking",
        &support::ups(2),
    ]);
    let r = e.cron(&["confirm", "--json"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(json(&r)["confirmed"], 2, "{}", r.stdout);
    let na: Vec<String> =
        e.na.confirmations()
            .into_iter()
            .map(|p| p.order_id)
            .collect();
    let eu: Vec<String> =
        e.eu.confirmations()
            .into_iter()
            .map(|p| p.order_id)
            .collect();
    assert_eq!((na, eu), (vec![us.clone()], vec![de.clone()]));
    // Each with its order's marketplace id (the sandbox refuses any other).
    let confirm_requests = |sb: &SpSandboxHandle| {
        sb.requests()
            .iter()
            .filter(|r| r.action.as_deref() == Some("confirmShipment"))
            .map(|r| r.status)
            .collect::<Vec<_>>()
    };
    assert_eq!(confirm_requests(&e.na), vec![204]);
    assert_eq!(confirm_requests(&e.eu), vec![204]);
    // `orders ORDER` names the marketplace.
    let r = e.owner_ok(&["orders", &de]);
    assert!(r.stdout.contains("DE (amazon.de, EUR)"), "{}", r.stdout);
}

/// The regions are fetched at once, each on its own usage plan, not one after the other: the
/// sandbox holds each region's first searchOrders until the other region's has arrived, which
/// a fetch that finishes North America before it starts Europe never does (North America's
/// would wait out the patience, be answered anyway, and the rendezvous is not met). The
/// records both regions' threads wrote form one chain the owner verifies.
#[test]
fn the_regions_are_fetched_at_once_and_their_records_form_one_chain() {
    let e = Regions::new();
    e.set_both();
    let meeting = SpSandbox::rendezvous(&[&e.na, &e.eu], std::time::Duration::from_secs(30));
    assert!(!meeting.met(), "nothing arrived yet");
    let r = e.fetch();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        meeting.met(),
        "one region's first searchOrders was answered before the other region's arrived: \
         the regions were fetched one after the other"
    );
    // Everything of both regions was stored, each with its own watermark.
    let stored = e.stored();
    for m in [US, CA, DE, FR] {
        assert!(
            stored.iter().any(|(s, n)| s == m && *n > 0),
            "{m}: {stored:?}"
        );
    }
    for r in ["na", "eu"] {
        assert!(e.meta(&format!("fetch_watermark:{r}")).is_some(), "{r}");
    }
    // One chain, sealed record after record, whichever thread wrote them; one `fetch.run`
    // per region.
    let home =
        fulfill::home::Home::open(&e.dir.home(), &fulfill::safety::Environment::system()).unwrap();
    let vault = fulfill::vault::Vault::open(&home).unwrap();
    let now = Utc::now();
    let pass = std::fs::read_to_string(&e.pass).unwrap();
    let s = vault
        .unlock("olga", &support::pass(pass.trim_end()), now)
        .unwrap();
    let check = s.verify_log(now).unwrap();
    assert!(check.findings.is_empty(), "{:?}", check.findings);
    let mut log = Vec::new();
    for f in std::fs::read_dir(e.dir.home().join("logs")).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|x| x == "jsonl") {
            log.extend(support::records(&p));
        }
    }
    let mut runs: Vec<String> = log
        .iter()
        .filter(|r| r.event == "fetch.run")
        .map(|r| r.fields["region"].as_str().unwrap().to_string())
        .collect();
    runs.sort();
    assert_eq!(runs, ["eu", "na"]);
    assert!(
        log.iter().filter(|r| r.event == "mws.call").count() >= 4,
        "every call of both regions recorded"
    );
}

/// Ctrl-C while Europe's first searchOrders is held (a rendezvous with a region nobody
/// fetches) and North America has been stored: exit 130, one line that sums what every region
/// saved, which is exactly what the vault holds.
#[test]
fn ctrl_c_while_one_region_waits_says_what_the_other_saved_and_exits_130() {
    let e = Regions::new();
    e.set_both();
    let nobody = SpSandbox::start(SandboxConfig::new(Arc::new(ScaledClock::new(
        Utc::now(),
        e.scale,
    ))))
    .unwrap();
    let held = SpSandbox::rendezvous(&[&e.eu, &nobody], std::time::Duration::from_secs(120));
    let mut child = e
        .dir
        .fulfill()
        .args(["--operator", "cron", "--operator-key-file"])
        .arg(&e.key)
        .args(["fetch", "--since", &e.since])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Europe's listing is held; North America's is stored (its watermark moved with it).
    assert!(held.wait_arrived(1, std::time::Duration::from_secs(60)));
    while e.meta("fetch_watermark:na").is_none() {
        assert!(child.try_wait().unwrap().is_none(), "fetch ended early");
        e.na.wait_for_requests(usize::MAX, std::time::Duration::from_millis(50));
    }
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let saved = stderr
        .strip_prefix("fulfill: interrupted. Saved before stopping: ")
        .unwrap_or_else(|| panic!("{stderr}"));
    let new: u64 = saved
        .split(" new,")
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{stderr}"));
    let stored = e.stored();
    assert!(new > 0, "{stderr}");
    assert_eq!(
        stored.iter().map(|(_, n)| n).sum::<u64>(),
        new,
        "{stored:?}"
    );
    assert!(
        stored.iter().all(|(m, _)| m == US || m == CA),
        "nothing of Europe: {stored:?}"
    );
    assert_eq!(e.meta("fetch_watermark:eu"), None);
    assert!(!held.met());
}

#[test]
fn a_revoked_region_fails_alone_and_its_orders_wait_for_the_next_run() {
    let e = Regions::new();
    e.set_both();
    e.eu.revoke_refresh_token();
    let r = e.fetch();
    assert_eq!(
        r.code, 1,
        "one region failed: exit 1: {}{}",
        r.stdout, r.stderr
    );
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("region eu"), "{}", r.stderr);
    assert!(
        r.stderr.to_lowercase().contains("authori"),
        "the reason: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains("(na)"),
        "the others went on: {}",
        r.stderr
    );
    // North America's orders are stored and its watermark moved; Europe's did not.
    assert!(e.stored().iter().any(|(m, _)| m == US));
    assert!(!e.stored().iter().any(|(m, _)| m == DE || m == FR));
    assert!(e.meta("fetch_watermark:na").is_some());
    assert_eq!(e.meta("fetch_watermark:eu"), None);
    assert_eq!(sequences(&e.eu), 0, "no searchOrders without a token");

    // North America revoked too: every region failed, exit 4, and no watermark moved.
    let na_before = e.meta("fetch_watermark:na");
    e.na.revoke_refresh_token();
    let r = e.fetch();
    assert_eq!(
        r.code, 4,
        "every region failed: exit 4: {}{}",
        r.stdout, r.stderr
    );
    assert!(r.stderr.contains("every region failed"), "{}", r.stderr);
    assert_eq!(e.meta("fetch_watermark:na"), na_before);
}

#[test]
fn a_token_of_one_region_is_refused_by_the_other_regions_host() {
    let e = Regions::new();
    // North America's host, but Europe's authorisation: the access token is Europe's.
    let r = e.set(&e.na, Some(&e.eu), "na", &["--marketplace", US]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = e.fetch();
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    let refused: Vec<_> =
        e.na.requests()
            .into_iter()
            .filter(|r| r.action.as_deref() == Some("searchOrders"))
            .map(|r| (r.status, r.error_code))
            .collect();
    assert!(!refused.is_empty());
    assert!(
        refused
            .iter()
            .all(|(s, c)| *s == 403 && c.as_deref() == Some("Unauthorized")),
        "{refused:?}"
    );
    // Positive control: Europe's host took the token request.
    assert!(e.eu.access_tokens_issued() >= 1);
    assert_eq!(e.stored(), vec![]);

    // A marketplace of another region is refused by a host as Amazon refuses it.
    let e = Regions::new();
    e.set_both();
    e.owner_ok(&["credentials", "remove", "--region", "eu"]);
    e.na.list_every_marketplace();
    let r = e.fetch();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // Amazon returned Mexico's orders though only the US and Canada were asked for: kept,
    // flagged in `orders` and in the audit.
    assert!(r.stdout.contains("not configured"), "{}", r.stdout);
    let orders = json(&e.owner_ok(&["orders", "--json"]));
    let mx: Vec<_> = orders
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["marketplace_id"] == MX)
        .collect();
    assert!(!mx.is_empty(), "positive control: Mexico's orders came");
    assert!(mx.iter().all(|o| o["marketplace_unlisted"] == true));
    assert!(
        orders
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["marketplace_id"] == US)
            .all(|o| o["marketplace_unlisted"] == false)
    );
    let mx_id = mx[0]["order_id"].as_str().unwrap();
    let r = e.owner_ok(&["orders"]);
    let line = r.stdout.lines().find(|l| l.contains(mx_id)).unwrap();
    assert!(line.contains(" MX ") && line.contains('M'), "{line}");
    let a = json(&e.owner(&["audit", "--json"]));
    let unlisted = a["orders_unlisted_marketplace"].as_array().unwrap();
    assert_eq!(unlisted.len(), mx.len(), "{unlisted:?}");
}

#[test]
fn credentials_per_region_add_replace_remove_and_refuse_the_wrong_region() {
    let e = Regions::new();
    // A marketplace of another region: refused at `credentials set`, naming its region.
    let r = e.set(
        &e.na,
        None,
        "na",
        &["--marketplace", US, "--marketplace", "DE"],
    );
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(DE) && r.stderr.contains("--region eu"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.trim().lines().count(), 1);
    let r = e.owner(&["credentials", "list"]);
    assert_ne!(r.code, 0, "nothing was stored: {}", r.stdout);

    e.set_both();
    let list = |e: &Regions| {
        let v = json(&e.owner_ok(&["credentials", "list", "--json"]));
        v["regions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["region"].as_str().unwrap().to_string(),
                    r["marketplaces"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|m| m.as_str().unwrap().to_string())
                        .collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        list(&e),
        vec![
            ("na".to_string(), vec![US.to_string(), CA.to_string()]),
            ("eu".to_string(), vec![DE.to_string(), FR.to_string()]),
        ]
    );
    // Setting a region again replaces only that region.
    let r = e.set(&e.na, None, "na", &["--marketplace", "MX"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("replaces"), "{}", r.stdout);
    assert_eq!(
        list(&e),
        vec![
            ("na".to_string(), vec![MX.to_string()]),
            ("eu".to_string(), vec![DE.to_string(), FR.to_string()]),
        ]
    );
    // Removing one leaves the other; removing it again is a usage error.
    e.owner_ok(&["credentials", "remove", "--region", "na"]);
    assert_eq!(
        list(&e),
        vec![("eu".to_string(), vec![DE.to_string(), FR.to_string()])]
    );
    let r = e.owner(&["credentials", "remove", "--region", "na"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    // Every change is a log record.
    let mut log = Vec::new();
    for f in std::fs::read_dir(e.dir.home().join("logs")).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|x| x == "jsonl") {
            log.extend(support::records(&p));
        }
    }
    log.sort_by_key(|r| r.seq);
    let changes: Vec<_> = log
        .iter()
        .filter(|r| r.event == "credentials.changed")
        .map(|r| {
            (
                r.fields
                    .get("region")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string(),
                r.fields
                    .get("removed")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            ("na".into(), false),
            ("eu".into(), false),
            ("na".into(), false),
            ("na".into(), true),
        ]
    );

    // `--discover`: Amazon lists every region's marketplaces; the region's are stored.
    let r = e.set(&e.na, None, "na", &["--discover"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        list(&e)[0],
        (
            "na".to_string(),
            vec![US.to_string(), CA.to_string(), MX.to_string()]
        )
    );
    assert!(
        e.na.requests()
            .iter()
            .any(|r| r.action.as_deref() == Some("getMarketplaceParticipations"))
    );
}

/// Buy Shipping goes to the order's region with its marketplace's Shipping v2 business; Amazon
/// has none for amazon.de, so `buy` says so in one line, asks Amazon nothing and buys nothing.
#[test]
fn buy_quotes_in_the_orders_region_and_an_amazon_de_order_is_refused_in_one_line() {
    let e = Regions::new();
    e.set_both();
    for (k, v) in support::SHIP_FROM {
        e.owner_ok(&["config", "set", &format!("ship_from.{k}"), v]);
    }
    let r = e.fetch();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let (us, de) = (e.unshipped_of(US), e.unshipped_of(DE));
    let parcel = ["--package", "10x8x4in", "--weight", "12oz"];

    let r = e.owner(&[&["buy", de.as_str()][..], &parcel].concat());
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("DE (amazon.de, EUR)") && r.stderr.contains("fulfill ship"),
        "{}",
        r.stderr
    );
    assert_eq!((e.na.rate_requests(), e.eu.rate_requests()), (0, 0));

    // A US order is quoted by North America's host.
    let r = e.owner(&[&["buy", us.as_str()][..], &parcel].concat());
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!((e.na.rate_requests(), e.eu.rate_requests()), (1, 0));
    assert!(
        e.na.labels().is_empty() && e.eu.labels().is_empty(),
        "a quote buys nothing"
    );
}
