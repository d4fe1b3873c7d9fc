//! The SP-API test home shared by the SP-API modules (`spapi_cli`, `spapi_buy`).

use crate::support;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use fulfill::clock::ScaledClock;
use fulfill::mws::model::parse_mws_time;
use fulfill::sandbox::spapi::{SpSandbox, SpSandboxHandle};
use fulfill::sandbox::{FaultSpec, SandboxConfig};
use rusqlite::Connection;
use support::{Run, TestDir, count, run, scan_dir};

/// A sandbox home on SP-API: an in-process SP-API sandbox on a scaled clock, an owner
/// (`olga`), the sandbox's credentials stored, and a `cron` fetcher with a key file.
pub(crate) struct SpEnv {
    pub(crate) dir: TestDir,
    pub(crate) sb: SpSandboxHandle,
    pub(crate) pass: PathBuf,
    pub(crate) key: PathBuf,
    pub(crate) since: DateTime<Utc>,
    pub(crate) output: RefCell<Vec<u8>>,
    /// The sandbox's clock (jump it with [`ScaledClock::advance`]).
    pub(crate) clock: Arc<ScaledClock>,
    /// Its speed, which the home's credentials carry.
    pub(crate) scale: f64,
}

impl SpEnv {
    pub(crate) fn new(orders: usize, seed: u64, faults: &str) -> SpEnv {
        SpEnv::at_scale(orders, seed, faults, 3000.0)
    }

    /// [`SpEnv::new`] with sandbox time `scale` times real time.
    pub(crate) fn at_scale(orders: usize, seed: u64, faults: &str, scale: f64) -> SpEnv {
        let dir = TestDir::new();
        let clock = Arc::new(ScaledClock::new(Utc::now(), scale));
        let mut cfg = SandboxConfig::new(clock.clone());
        cfg.orders = orders;
        cfg.seed = seed;
        cfg.time_scale = scale;
        cfg.faults = FaultSpec::parse(faults).unwrap();
        let sb = SpSandbox::start(cfg).unwrap();
        let pass = dir.init(true);
        let key = dir.path().join("cron.key");
        let since = sb.now() - Duration::days(29);
        let e = SpEnv {
            dir,
            sb,
            pass,
            key,
            since,
            output: RefCell::default(),
            clock,
            scale,
        };
        let r = e.set_credentials(&[]);
        assert_eq!(r.code, 0, "credentials set: {}{}", r.stdout, r.stderr);
        e.owner(&[
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

    pub(crate) fn run(&self, args: &[&str]) -> Run {
        let r = run(self.dir.fulfill().args(args));
        let mut out = self.output.borrow_mut();
        out.extend_from_slice(r.stdout.as_bytes());
        out.extend_from_slice(r.stderr.as_bytes());
        r
    }

    pub(crate) fn owner(&self, args: &[&str]) -> Run {
        let mut a = vec![
            "--operator",
            "olga",
            "--passphrase-file",
            self.pass.to_str().unwrap(),
        ];
        a.extend_from_slice(args);
        let r = self.run(&a);
        assert_eq!(r.code, 0, "fulfill {args:?}: {}{}", r.stdout, r.stderr);
        r
    }

    /// `credentials set --api sp-api` with the sandbox's credentials, plus `extra`.
    pub(crate) fn set_credentials(&self, extra: &[&str]) -> Run {
        let c = self.sb.credentials();
        let cs = self.dir.secret_file("lwa.secret", &c.lwa_client_secret);
        let rt = self.dir.secret_file("refresh.token", &c.refresh_token);
        let (base, token) = (self.sb.base_url(), self.sb.token_url());
        let scale = self.scale.to_string();
        let mut a = vec![
            "--operator",
            "olga",
            "--passphrase-file",
            self.pass.to_str().unwrap(),
            "credentials",
            "set",
            "--api",
            "sp-api",
            "--seller-id",
            &c.seller_id,
            "--marketplace",
            &c.marketplace_id,
            "--lwa-client-id",
            &c.lwa_client_id,
            "--lwa-client-secret-file",
            cs.to_str().unwrap(),
            "--refresh-token-file",
            rt.to_str().unwrap(),
            "--region",
            "na",
            "--endpoint",
            &base,
            "--token-endpoint",
            &token,
            "--time-scale",
            &scale,
        ];
        a.extend_from_slice(extra);
        self.run(&a)
    }

    pub(crate) fn fetch(&self) -> Run {
        let since = fulfill::mws::sign::timestamp(self.since);
        self.run(&[
            "--operator",
            "cron",
            "--operator-key-file",
            self.key.to_str().unwrap(),
            "fetch",
            "--json",
            "--since",
            &since,
        ])
    }

    pub(crate) fn db(&self) -> Connection {
        crate::support::rows_of(&self.dir.home())
    }

    /// Every secret the home must never show: the client secret, the refresh token, and the
    /// `Atza|` prefix of every access token.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let c = self.sb.credentials();
        vec![c.lwa_client_secret, c.refresh_token, "Atza|".into()]
    }

    /// The merchant-fulfilled orders Amazon's listing had to hold: last updated in
    /// [since, the stored watermark).
    pub(crate) fn listed_ids(&self) -> BTreeSet<String> {
        let w = watermark(&self.db()).expect("a watermark");
        let w = parse_mws_time(&w).unwrap();
        self.sb
            .orders()
            .iter()
            .filter(|o| o.order.info.fulfillment_channel.as_deref() == Some("MFN"))
            .filter(|o| {
                let t = self.sb.last_updated(&o.order.info.amazon_order_id).unwrap();
                t >= self.since && t < w
            })
            .map(|o| o.order.info.amazon_order_id.clone())
            .collect()
    }

    /// Checks the vault against the sandbox's ground truth: every merchant-fulfilled order last
    /// updated in [since, watermark) is stored once, nothing but Amazon's MFN orders is, each
    /// stored order has exactly its items, and Amazon's status when not updated since.
    /// Returns (orders the listing had to hold, orders stored).
    pub(crate) fn check_exact(&self) -> (usize, usize) {
        let db = self.db();
        let w = watermark(&db).expect("a watermark");
        let w = parse_mws_time(&w).unwrap();
        let truth = self.sb.orders();
        let want: BTreeSet<String> = truth
            .iter()
            .filter(|o| o.order.info.fulfillment_channel.as_deref() == Some("MFN"))
            .filter(|o| {
                let t = self.sb.last_updated(&o.order.info.amazon_order_id).unwrap();
                t >= self.since && t < w
            })
            .map(|o| o.order.info.amazon_order_id.clone())
            .collect();
        let rows: Vec<(String, String)> = db
            .prepare("SELECT amazon_order_id, status FROM orders")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let got: BTreeSet<String> = rows.iter().map(|r| r.0.clone()).collect();
        assert_eq!(got.len(), rows.len(), "no order twice");
        // Lost: updated before the watermark (so inside the listing) but not stored. Sandbox
        // time keeps running, so an order stored and updated since is no longer "before".
        let lost: Vec<&String> = want.difference(&got).collect();
        assert!(lost.is_empty(), "{} order(s) lost: {lost:?}", lost.len());
        let mfn: BTreeSet<String> = truth
            .iter()
            .filter(|o| o.order.info.fulfillment_channel.as_deref() == Some("MFN"))
            .map(|o| o.order.info.amazon_order_id.clone())
            .collect();
        let alien: Vec<&String> = got.difference(&mfn).collect();
        assert!(alien.is_empty(), "not Amazon's MFN orders: {alien:?}");
        for (id, status) in &rows {
            let t = truth
                .iter()
                .find(|o| &o.order.info.amazon_order_id == id)
                .unwrap();
            if self.sb.last_updated(id).unwrap() < w {
                assert_eq!(status, &t.order.info.order_status, "status of {id}");
            }
            let items: Vec<(String, u32)> = db
                .prepare(
                    "SELECT order_item_id, quantity_ordered FROM order_items
                     WHERE amazon_order_id = ?1 ORDER BY order_item_id",
                )
                .unwrap()
                .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let mut want: Vec<(String, u32)> = t
                .items
                .iter()
                .map(|i| (i.info.order_item_id.clone(), i.info.quantity_ordered))
                .collect();
            want.sort();
            assert_eq!(items, want, "items of {id}");
        }
        (want.len(), got.len())
    }

    /// Nothing secret or personal in the home or in anything printed.
    pub(crate) fn nothing_leaked(&self) {
        let home = self.dir.home();
        assert!(home.join("vault.db").exists() && home.join("logs").is_dir());
        let marker = self.sb.pii_marker();
        let out = self.output.borrow().clone();
        assert!(out.len() > 100, "positive control: output was captured");
        for s in self.secrets().iter().chain([&marker]) {
            assert_eq!(scan_dir(&home, s.as_bytes()), vec![], "{s:?} in the home");
            assert_eq!(count(&out, s.as_bytes()), 0, "{s:?} in the output");
        }
        // Positive control: the marker is in what the sandbox serves, the secrets in their
        // files beside the home.
        assert!(
            self.sb.orders().iter().any(|o| o
                .order
                .pii
                .fields()
                .iter()
                .any(|(_, p)| p.expose_pii().contains(&marker))),
            "positive control: the sandbox serves the marker"
        );
        let rt = std::fs::read(self.dir.path().join("refresh.token")).unwrap();
        assert_eq!(
            count(&rt, self.sb.credentials().refresh_token.as_bytes()),
            1
        );
    }
}

/// The watermark of North America, the region the sandbox serves (credentials set per region
/// keep one watermark per region).
pub(crate) fn watermark(db: &Connection) -> Option<String> {
    crate::fetch_support::meta(db, "fetch_watermark:na")
}
