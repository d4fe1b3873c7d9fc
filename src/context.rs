//! The resolved runtime context ("high args"): the home, the clock, and how to get the acting
//! operator's credential. Built from parsed flags; holds no subcommand logic.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::audit::{Event, Outcome};
use crate::cli::Global;
use crate::clock::{Clock, ManualClock, SystemClock, parse_time};
use crate::error::{Error, Result};
use crate::home::Home;
use crate::market::Marketplace;
use crate::mws::client::{Client, RealTime, SandboxTime, Timebase};
use crate::safety::Environment;
use crate::vault::key::{Credential, Passphrase};
use crate::vault::{MarketCredentials, Session, Vault, read_key_file};

/// What every command that works on an existing home needs.
pub struct Context {
    /// The opened vault.
    pub vault: Vault,
    /// The clock (`--now` in a sandbox home, else the system clock).
    pub clock: Arc<dyn Clock>,
    operator: Option<String>,
    passphrase_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    totp_file: Option<PathBuf>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("vault", &self.vault)
            .finish_non_exhaustive()
    }
}

/// The clock for a home: `--now` is honoured only by a sandbox home.
pub fn clock_for(now: Option<&str>, sandbox: bool) -> Result<Arc<dyn Clock>> {
    match now {
        None => Ok(Arc::new(SystemClock)),
        Some(_) if !sandbox => Err(Error::usage(
            "--now is honoured only by a sandbox home (made with `fulfill init --sandbox`)",
        )),
        Some(t) => Ok(Arc::new(ManualClock::new(
            parse_time(t).map_err(Error::Usage)?,
        ))),
    }
}

impl Context {
    /// Opens the home (safety checks first) and its vault. An unsafe environment is recorded
    /// as `environment.refused` when the vault can still be reached, then refused.
    pub fn open(g: &Global) -> Result<Context> {
        let root = Home::locate(g.home.clone())?;
        let env = Environment::system();
        let home = match Home::open(&root, &env) {
            Ok(h) => h,
            Err(e @ Error::Unsafe(_)) => {
                record_refusal(&root, g.operator.as_deref(), &e);
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let vault = Vault::open(&home)?;
        tracing::debug!(home = %root.display(), vault = vault.id(), profile = %vault.profile(), sandbox = vault.is_sandbox(), "vault opened");
        let clock = clock_for(g.now.as_deref(), vault.is_sandbox())?;
        Ok(Context {
            vault,
            clock,
            operator: g.operator.clone(),
            passphrase_file: g.passphrase_file.clone(),
            key_file: g.operator_key_file.clone(),
            totp_file: g.totp_file.clone(),
        })
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The acting operator's name: `--operator`, `FULFILL_OPERATOR`, else the OS user.
    pub fn operator_name(&self) -> Result<String> {
        operator_name(self.operator.as_deref())
    }

    /// An MWS client for session `s` (which must hold the secrets key): real time in a real
    /// home; the sandbox's scaled time in a sandbox home. `action` names the use in a refusal.
    pub fn mws_client(&self, s: &Session<'_>, action: &'static str) -> Result<Client> {
        let now = self.now();
        let creds = s.load_credentials(action, now)?.credentials;
        // Re-check against this home: a real home never talks plain HTTP or runs scaled time.
        creds.validate(self.vault.is_sandbox())?;
        let time: Arc<dyn Timebase> = if self.vault.is_sandbox() {
            Arc::new(SandboxTime::new(now, creds.time_scale))
        } else {
            Arc::new(RealTime)
        };
        let mut client = Client::new(creds, time)?;
        if let Some(limit) = run_limit(action) {
            client.limit_run(action, limit);
        }
        Ok(client)
    }

    /// A client for the API the home's credentials are for (session `s` must hold the secrets
    /// key), timed like [`Context::mws_client`].
    pub fn market_client(&self, s: &Session<'_>, action: &'static str) -> Result<MarketClient> {
        let now = self.now();
        let sandbox = self.vault.is_sandbox();
        let time = |scale: f64| -> Arc<dyn Timebase> {
            if sandbox {
                Arc::new(SandboxTime::new(now, scale))
            } else {
                Arc::new(RealTime)
            }
        };
        let limit = run_limit(action);
        match s.load_market_credentials(action, now)?.credentials {
            MarketCredentials::Mws(creds) => {
                creds.validate(sandbox)?;
                let t = time(creds.time_scale);
                let mut c = Client::new(creds, t)?;
                if let Some(l) = limit {
                    c.limit_run(action, l);
                }
                Ok(MarketClient::Mws(c))
            }
            MarketCredentials::SpApi(regions) => {
                let mut clients = Vec::new();
                for r in regions {
                    // Re-check against this home: a real home never talks plain HTTP.
                    r.credentials.validate(sandbox)?;
                    let legacy = r.legacy;
                    let t = time(r.credentials.time_scale);
                    let mut c = crate::spapi::client::Client::new(r.credentials, t)?;
                    if let Some(l) = limit {
                        c.limit_run(action, l);
                    }
                    clients.push(RegionClient { client: c, legacy });
                }
                Ok(MarketClient::SpApi(clients))
            }
        }
    }

    /// Unlocks the acting operator with its credential (and its one-time code, when it has a
    /// second factor). A person the profile requires a second factor of, who has none, is
    /// refused: only `operator totp-enroll` works then ([`Context::unlock_to_enrol`]).
    pub fn unlock(&self) -> Result<Session<'_>> {
        let s = self.unlock_to_enrol()?;
        if s.needs_second_factor() {
            return Err(Error::Denied(format!(
                "under the {} profile every person needs a second factor: run `fulfill operator totp-enroll` first",
                self.vault.profile()
            )));
        }
        Ok(s)
    }

    /// [`Context::unlock`] without the second-factor requirement: for enrolling one.
    pub fn unlock_to_enrol(&self) -> Result<Session<'_>> {
        let name = self.operator_name()?;
        let cred = credential(
            self.key_file.as_deref(),
            self.passphrase_file.as_deref(),
            &name,
        )?;
        let code = || one_time_code(self.totp_file.as_deref(), &name);
        self.vault.unlock_with(&name, &cred, &code, self.now())
    }
}

/// The time limit of a command that calls Amazon (`docs/sp-api.md`, "Every wait ends").
fn run_limit(action: &str) -> Option<chrono::Duration> {
    use crate::mws::client::run_limits;
    match action {
        "fetch" => Some(run_limits::FETCH),
        "confirm" => Some(run_limits::CONFIRM),
        "buy" => Some(run_limits::BUY),
        _ => None,
    }
}

/// A client for the home's marketplace API.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per command, never moved around in bulk
pub enum MarketClient {
    /// Amazon MWS.
    Mws(Client),
    /// The Selling Partner API: one client per region set, in region order.
    SpApi(Vec<RegionClient>),
}

/// One SP-API region's client.
#[derive(Debug)]
pub struct RegionClient {
    /// The client (its credentials say which region).
    pub client: crate::spapi::client::Client,
    /// Its credentials were stored before regions (the home's one watermark and quota model).
    pub legacy: bool,
}

impl RegionClient {
    /// The region.
    pub fn region(&self) -> crate::model::marketplace::Region {
        self.client.credentials().region
    }

    /// The meta key of its fetch watermark.
    pub fn watermark_key(&self) -> String {
        crate::vault::orders::region_watermark_key(self.region().as_str(), self.legacy)
    }

    /// Its client behind the [`Marketplace`] seam.
    pub fn market(&mut self) -> crate::market::spapi::SpApi<'_> {
        crate::market::spapi::SpApi::new(&mut self.client, self.legacy)
    }
}

impl MarketClient {
    /// The client behind the [`Marketplace`] seam (SP-API: every region, each confirmation
    /// to its order's region).
    pub fn market(&mut self) -> Box<dyn Marketplace + '_> {
        match self {
            MarketClient::Mws(c) => Box::new(crate::market::mws::Mws::new(c)),
            MarketClient::SpApi(rs) => Box::new(crate::market::spapi::Regions::new(
                rs.iter_mut().map(RegionClient::market).collect(),
            )),
        }
    }

    /// The client for one order (SP-API: its region's, with Shipping API v2 calls for its
    /// marketplace), for Buy Shipping.
    pub fn market_for_order(
        &mut self,
        vault: &crate::vault::Vault,
        order_id: &str,
    ) -> Result<Box<dyn Marketplace + '_>> {
        let rs = match self {
            MarketClient::Mws(c) => return Ok(Box::new(crate::market::mws::Mws::new(c))),
            MarketClient::SpApi(rs) => rs,
        };
        let (marketplace, fetched) =
            vault.read(|tx| crate::vault::orders::order_origin(tx, order_id))?;
        let by_list = marketplace
            .as_deref()
            .and_then(|m| rs.iter().position(|r| r.client.credentials().lists(m)));
        let by_table = marketplace
            .as_deref()
            .and_then(crate::model::marketplace::Marketplace::by_id)
            .and_then(|m| rs.iter().position(|r| r.region() == m.region));
        let by_fetch = fetched
            .as_deref()
            .and_then(|f| rs.iter().position(|r| r.region().as_str() == f));
        let only = (rs.len() == 1).then_some(0);
        let Some(i) = by_list.or(by_table).or(by_fetch).or(only) else {
            return Err(Error::usage(format!(
                "order {order_id} is of marketplace {}, which no region set serves: add its \
                 region with `fulfill credentials set --region R`",
                marketplace.as_deref().unwrap_or("(unknown)")
            )));
        };
        let r = &mut rs[i];
        if let Some(m) = &marketplace {
            r.client.use_marketplace(m);
        }
        Ok(Box::new(r.market()))
    }
}

fn record_refusal(root: &Path, operator: Option<&str>, e: &Error) {
    // Best effort: the refusal stands whether or not it can be recorded.
    let home = Home::unchecked(root);
    if let Ok(v) = Vault::open(&home) {
        let reason = match e {
            Error::Unsafe(m) => m.clone(),
            other => other.to_string(),
        };
        let mut ev = Event::new("environment.refused")
            .outcome(Outcome::Denied)
            .field("reason", reason);
        if let Some(op) = operator {
            ev = ev.operator(op);
        }
        let _ = v.record(&[ev], Utc::now());
    }
}

/// The acting operator's name.
pub fn operator_name(flag: Option<&str>) -> Result<String> {
    if let Some(n) = flag {
        return Ok(n.to_string());
    }
    for var in ["USER", "LOGNAME"] {
        if let Ok(u) = std::env::var(var)
            && !u.is_empty()
        {
            return Ok(u);
        }
    }
    Err(Error::usage(
        "cannot tell who you are: pass --operator NAME or set FULFILL_OPERATOR",
    ))
}

/// Reads a passphrase file (which must be private to this user).
pub fn read_passphrase_file(path: &Path) -> Result<Passphrase> {
    let s = crate::safety::read_private_file(path, "passphrase")?;
    Ok(Passphrase::new(s.to_string()))
}

/// The acting operator's credential: a key file, a passphrase file, or a prompt on a TTY.
pub fn credential(
    key_file: Option<&Path>,
    passphrase_file: Option<&Path>,
    name: &str,
) -> Result<Credential> {
    if let Some(k) = key_file {
        return Ok(Credential::KeyFile(read_key_file(k)?));
    }
    if let Some(p) = passphrase_file {
        return Ok(Credential::Passphrase(read_passphrase_file(p)?));
    }
    if std::io::stdin().is_terminal() {
        let p = rpassword::prompt_password(format!("Passphrase for {name}: "))?;
        return Ok(Credential::Passphrase(Passphrase::new(p)));
    }
    Err(Error::Denied(
        "no passphrase: pass --passphrase-file FILE (or set FULFILL_PASSPHRASE_FILE), or run on a terminal".into(),
    ))
}

/// A one-time code: from a private file, or asked on a TTY.
pub fn one_time_code(file: Option<&Path>, name: &str) -> Result<zeroize::Zeroizing<String>> {
    if let Some(p) = file {
        return crate::safety::read_private_file(p, "one-time code");
    }
    if std::io::stdin().is_terminal() {
        let c = rpassword::prompt_password(format!("One-time code for {name}: "))?;
        return Ok(zeroize::Zeroizing::new(c));
    }
    Err(Error::Denied(format!(
        "operator {name:?} has a second factor: pass --totp-file FILE (or set FULFILL_TOTP_FILE), or run on a terminal"
    )))
}

/// A new passphrase: from a file, or asked twice on a TTY.
pub fn new_passphrase(file: Option<&Path>, whose: &str) -> Result<Passphrase> {
    if let Some(p) = file {
        return read_passphrase_file(p);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::usage(format!(
            "no passphrase for {whose}: pass a passphrase file, or run on a terminal to be asked"
        )));
    }
    let a = Passphrase::new(rpassword::prompt_password(format!(
        "New passphrase for {whose}: "
    ))?);
    let b = Passphrase::new(rpassword::prompt_password("Repeat it: ")?);
    if a.expose_secret() != b.expose_secret() {
        return Err(Error::usage("the two passphrases differ"));
    }
    Ok(a)
}
