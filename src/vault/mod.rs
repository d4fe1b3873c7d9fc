//! The encrypted vault: operators, their wrapped keys, sealed order PII, and the audit anchor.
//!
//! [`Vault`] is the open database plus its vault-wide facts. [`Vault::unlock`] turns a
//! credential into a [`Session`] holding exactly the keys the operator's role was given; every
//! PII opening and every change of people goes through a session and is recorded in the audit
//! log first (fail closed: no record, no action).

// The backup is an SQLite file whatever the store: it opens one (clippy.toml).
#[allow(clippy::disallowed_types)]
mod backup;
pub mod claims;
pub mod datakeys;
pub mod ingest;
pub mod key;
pub mod keyring;
pub mod labels;
pub mod orders;
pub mod progress;
pub mod retention;
mod rotation;
pub mod seal;
pub mod shipments;
pub mod skus;
pub mod store;
pub mod totp;

pub use backup::{BackupReport, RestoreReport, backup_is_sandbox, restore};
pub use rotation::RekeyReport;

use std::fs;
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::audit::leak::{LeakScanner, ScannerBuilder};
use crate::audit::log::{Anchor, AuditLog, PruneReport};
use crate::audit::verify::Verification;
use crate::audit::{Event, Outcome};
use crate::config::Profile;
use crate::error::{Error, Result};
use crate::home::{Home, create_new_private};
use crate::mws::credentials::MwsCredentials;
use crate::pii::{BuyerPii, Pii};
use crate::role::{Capability, Role};
use crate::spapi::credentials::SpApiCredentials;
use crate::store::{Backend, Transaction, TxMode};
use key::{
    Credential, KdfParams, KeySet, Passphrase, SecretKey, VaultFacts, derive_kek, random_bytes,
};
use seal::PiiPublicKey;
pub use store::Tx;
use store::{MetaAnchor, OperatorRow, SealedPii, StoredCredential};

/// Why PII is being opened (COMPLIANCE R2); recorded with every opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Printing a shipping label.
    Label,
    /// Printing a packing slip (recorded as `slip`; builds before this one wrote
    /// `packing_slip`, which `audit` still accepts).
    PackingSlip,
    /// A Buy Shipping request to Amazon.
    BuyShipping,
    /// The audit's leak scan (values are matched, never shown).
    LeakScan,
}

impl Purpose {
    /// The name in the audit record.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Label => "label",
            Purpose::PackingSlip => "slip",
            Purpose::BuyShipping => "buy_shipping",
            Purpose::LeakScan => "leak_scan",
        }
    }

    /// How records are opened for this purpose: printing and buying refuse an ended epoch.
    fn use_(self) -> datakeys::Use {
        match self {
            Purpose::LeakScan => datakeys::Use::Scan,
            _ => datakeys::Use::Print,
        }
    }

    fn allowed_for(self, role: Role) -> bool {
        match self {
            Purpose::LeakScan => matches!(role, Role::Owner | Role::Auditor),
            _ => matches!(role, Role::Owner | Role::Packer),
        }
    }
}

/// One order's PII opened for a print job ([`Session::open_pii_batch`]).
#[derive(Debug)]
pub struct Opened {
    /// `AmazonOrderId`.
    pub order_id: String,
    /// The buyer's PII.
    pub pii: BuyerPii,
    /// Gift messages by order item id (when asked for).
    pub gift_messages: Vec<(String, Pii)>,
}

/// A new operator's credential.
#[derive(Debug)]
pub enum NewCredential<'a> {
    /// A passphrase (checked against the profile's rules).
    Passphrase(Passphrase),
    /// Write a fresh 32-byte key file at this path (mode 0600, must not exist).
    KeyFile(&'a Path),
}

/// The anchors whose last send failed (see [`Vault::anchor_head`]).
const ANCHOR_UNSENT_META: &str = "anchor_unsent";

/// An open vault.
pub struct Vault {
    store: Box<dyn Backend>,
    home: Home,
    id: String,
    profile: Profile,
    sandbox: bool,
    /// The plain copies of the vault facts in `meta`: compared with each unlocked key set's
    /// authenticated copy, never used to seal.
    /// Read when the vault opens; read again after a `rekey` by this process.
    meta_facts: std::cell::RefCell<MetaFacts>,
    audit: AuditLog,
    /// Where new chain heads are sent (`[anchor]` of `config.toml`, read at open).
    anchors: crate::audit::anchor::Anchors,
    /// Anchors that failed in this process: not tried again by it.
    anchors_given_up: std::cell::RefCell<Vec<&'static str>>,
}

/// The vault facts as the `meta` table states them (unauthenticated).
#[derive(Debug, Clone)]
struct MetaFacts {
    pii_public: [u8; 32],
    /// Absent in a vault made before the secrets key became a key pair.
    secrets_public: Option<[u8; 32]>,
    /// Absent in a vault made before key rotation existed, until its owner's next unlock.
    authority_public: Option<[u8; 32]>,
    /// Absent before sealing v2 (until the owner's unlock migrates the vault).
    sealer_public: Option<[u8; 32]>,
    /// Absent before sealing v2.
    cred_sealer_public: Option<[u8; 32]>,
}

/// The `meta` row stating the PII sealer's public key (compared with the authenticated copy).
pub(crate) const SEALER_META: &str = "sealer_public_key";
/// The `meta` row stating the credentials sealer's public key.
pub(crate) const CRED_SEALER_META: &str = "credentials_sealer_public_key";

impl MetaFacts {
    fn read(conn: &Tx<'_>) -> Result<MetaFacts> {
        Ok(MetaFacts {
            pii_public: hex32(
                &store::meta_required(conn, "pii_public_key")?,
                "PII public key",
            )?,
            secrets_public: store::meta_get(conn, "secrets_public_key")?
                .map(|h| hex32(&h, "secrets public key"))
                .transpose()?,
            authority_public: store::meta_get(conn, rotation::AUTHORITY_META)?
                .map(|h| hex32(&h, "authority public key"))
                .transpose()?,
            sealer_public: store::meta_get(conn, SEALER_META)?
                .map(|h| hex32(&h, "sealer public key"))
                .transpose()?,
            cred_sealer_public: store::meta_get(conn, CRED_SEALER_META)?
                .map(|h| hex32(&h, "credentials sealer public key"))
                .transpose()?,
        })
    }
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("id", &self.id)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

/// Associated data of an operator's wrapped key set (version 2: the vault id is inside, among
/// the authenticated facts, so a changed `meta.vault_id` is told apart from a wrong passphrase).
fn keyset_aad(name: &str, role: Role) -> Vec<u8> {
    format!("fulfill/keyset/v2\0{name}\0{}", role.as_str()).into_bytes()
}

/// Associated data of a version 1 key set, which bound the vault id from `meta`.
fn keyset_aad_v1(vault_id: &str, name: &str, role: Role) -> Vec<u8> {
    format!("fulfill/keyset/v1\0{vault_id}\0{name}\0{}", role.as_str()).into_bytes()
}

fn hex32(s: &str, what: &str) -> Result<[u8; 32]> {
    hex::decode(s)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .ok_or_else(|| Error::Integrity(format!("the vault's {what} is not a valid key")))
}

/// Opens sealed credentials with the secrets key. In a version 2 vault only what the
/// credentials sealer sealed opens; before, what was sealed to the secrets public key, or,
/// earlier still, AES-256-GCM under the same 32 bytes (a version 1 vault's symmetric key).
pub(crate) fn open_credentials(
    key: &SecretKey,
    facts: &VaultFacts,
    sealed: &[u8],
) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    open_credentials_aad(key, facts, &credentials_aad(&facts.vault_id), sealed)
}

/// [`open_credentials`] with the associated data given (a region's record binds its region).
pub(crate) fn open_credentials_aad(
    key: &SecretKey,
    facts: &VaultFacts,
    aad: &[u8],
    sealed: &[u8],
) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    let aad = aad.to_vec();
    if facts.seals_v2() {
        return seal::open_authenticated(
            key,
            &facts.cred_sealer_public,
            CREDENTIALS_INFO,
            &aad,
            sealed,
        );
    }
    seal::open_from(key, CREDENTIALS_INFO, &aad, sealed)
        .or_else(|| key::aead_open(key, &aad, sealed))
}

/// A record sealed again: (order, item for a gift message, sealed bytes, epoch).
type Resealed = (String, Option<String>, Vec<u8>, Option<u32>);

/// Opens each record and seals it again with `sealer` for an order due at `deadline`; a record
/// that does not open is left as it is (it opens nowhere already; `audit` names it).
fn reseal(
    opener: &datakeys::Opener,
    sealer: &mut datakeys::Sealer,
    records: Vec<retention::EpochRecord>,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<Resealed>> {
    let mut out = Vec::new();
    for r in records {
        let rid = r
            .item
            .as_ref()
            .map_or_else(|| r.order.clone(), |i| orders::item_seal_id(&r.order, i));
        let Ok(p) = opener.open(&rid, &rid, r.version, &r.blob, datakeys::Use::Scan, now) else {
            continue;
        };
        let s = sealer.seal(&rid, r.version, deadline, &p)?;
        out.push((r.order, r.item, s.blob, s.epoch));
    }
    Ok(out)
}

/// Writes records sealed again (the caller's transaction).
fn store_resealed(c: &Tx<'_>, updates: &[Resealed]) -> Result<()> {
    for (o, item, blob, e) in updates {
        match item {
            None => store::replace_sealed_pii(c, o, blob, *e)?,
            Some(i) => store::replace_sealed_gift(c, o, i, blob, *e)?,
        }
    }
    Ok(())
}

/// Operator names: 1 to 64 of `A-Z a-z 0-9 . _ -`, not starting with `-`.
pub fn check_operator_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "invalid operator name {name:?}: use 1-64 letters, digits, '.', '_' or '-'"
        )))
    }
}

/// Reads a key file: exactly 32 bytes, private to this user.
pub fn read_key_file(path: &Path) -> Result<SecretKey> {
    crate::safety::check_private(path)?;
    let bytes = zeroize::Zeroizing::new(
        fs::read(path)
            .map_err(|e| Error::usage(format!("cannot read key file {}: {e}", path.display())))?,
    );
    let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        Error::usage(format!(
            "key file {} must hold exactly 32 bytes",
            path.display()
        ))
    })?;
    Ok(SecretKey::from_bytes(arr))
}

impl Vault {
    /// Creates the vault in a new home, with its owner. The home must be empty of a vault.
    pub fn create(
        home: &Home,
        owner: &str,
        pass: Passphrase,
        profile: Profile,
        sandbox: bool,
        now: DateTime<Utc>,
    ) -> Result<Vault> {
        Self::create_with_recovery(home, owner, pass, profile, sandbox, now).map(|(v, _)| v)
    }

    /// [`Vault::create`], returning the owner's recovery key too: shown once (`init` prints it),
    /// it sets a new passphrase and clears a lockout ([`Vault::recover_owner`]), so nobody can
    /// lock the owner out for good by typing wrong passphrases.
    pub fn create_with_recovery(
        home: &Home,
        owner: &str,
        pass: Passphrase,
        profile: Profile,
        sandbox: bool,
        now: DateTime<Utc>,
    ) -> Result<(Vault, SecretKey)> {
        check_operator_name(owner)?;
        pass.check_policy(&profile.passphrase_policy(), owner)?;
        let store = crate::store::create(home)?;
        if let Some(id) = store::meta_get(&Tx::over(store.sql()), "vault_id")? {
            return Err(Error::usage(format!(
                "the store already holds vault {id}: give an empty database, or join that vault's stations"
            )));
        }
        let id = hex::encode(random_bytes::<16>());
        let (pii_private, pii_public) = seal::generate_keypair();
        let (secrets_private, secrets_public) = seal::generate_keypair();
        let (authority, authority_public) = rotation::new_box_key();
        let (box_key, box_public) = rotation::new_box_key();
        let box_endorsement =
            rotation::endorsement(&authority, &id, owner, Role::Owner, &box_public);
        let (cred_sealer, cred_sealer_public) = rotation::new_box_key();
        let facts = VaultFacts {
            vault_id: id.clone(),
            profile: profile.as_str().to_string(),
            sandbox,
            pii_public: *pii_public.as_bytes(),
            secrets_public: *secrets_public.as_bytes(),
            authority_public,
            sealer_public: seal::public_of(&key::sealer_of(&secrets_private))?,
            cred_sealer_public,
        };
        let keys = KeySet {
            pii_private: Some(pii_private),
            secrets: Some(secrets_private),
            log_key: Some(SecretKey::generate()),
            totp: None,
            facts: Some(facts.clone()),
            epoch: 0,
            authority: Some(authority),
            box_key: Some(box_key),
            cred_sealer: Some(cred_sealer),
        };
        // One unit of work: a shared store never holds half a vault.
        let tx = Transaction::begin(&*store, TxMode::Write)?;
        for (k, v) in [
            ("vault_id", id.as_str()),
            ("profile", profile.as_str()),
            ("sandbox", if sandbox { "true" } else { "false" }),
            ("pii_public_key", &hex::encode(pii_public.as_bytes())),
            (
                "secrets_public_key",
                &hex::encode(secrets_public.as_bytes()),
            ),
            (rotation::AUTHORITY_META, &hex::encode(authority_public)),
            (SEALER_META, &hex::encode(facts.sealer_public)),
            (CRED_SEALER_META, &hex::encode(facts.cred_sealer_public)),
            (rotation::EPOCH_META, "0"),
            ("created_at", &now.to_rfc3339()),
        ] {
            store::meta_set(&Tx::over(tx.sql()), k, v)?;
        }
        tx.commit()?;
        drop(store);
        // The audit log's first key, before the first record: every record is sealed.
        crate::audit::fss::KeyState::create(
            &home.logs_dir(),
            keys.log_key.as_ref().expect("made above"),
        )?;
        // From here the new vault is read back like any other.
        let vault = Vault::open(home)?;
        let row = vault.new_operator_row(
            owner,
            Role::Owner,
            &keys,
            NewCredentialResolved::Passphrase(&pass),
            None,
            now,
        )?;
        let recovery = SecretKey::generate();
        let recovery_wrapped = keys.wrap(&recovery, &recovery_aad(owner));
        vault.record_with(
            &[
                Event::new("vault.created")
                    .operator(owner)
                    .field("vault_id", vault.id.as_str())
                    .field("profile", profile.as_str())
                    .field("sandbox", sandbox),
                Event::new("operator.added")
                    .operator(owner)
                    .field("name", owner)
                    .field("role", "owner")
                    .field("recovery_key", true),
            ],
            now,
            |c| {
                store::insert_operator(c, &row)?;
                store::set_box_key(c, owner, &box_public, Some(&box_endorsement))?;
                store::put_recovery(c, owner, &recovery_wrapped, now)
            },
        )?;
        Ok((vault, recovery))
    }

    /// Opens the vault of a home that passed its safety checks.
    pub fn open(home: &Home) -> Result<Vault> {
        // No integrity scan here (it would read the whole file on every cron run); SQLite
        // reports damage as it meets it (mapped to exit 5), and `audit` runs the full check.
        let store = crate::store::open(home)?;
        let rows = Tx::over(store.sql());
        let id = store::meta_required(&rows, "vault_id")?;
        let profile: Profile = store::meta_required(&rows, "profile")?.parse()?;
        let sandbox = store::meta_required(&rows, "sandbox")? == "true";
        let meta_facts = MetaFacts::read(&rows)?;
        // A missing or broken config.toml still anchors to the system log (its default).
        let (config, _) = crate::config::Config::load_or_profile(&home.config_path(), profile);
        let anchors = config.anchor.anchors().unwrap_or_else(|_| {
            crate::config::AnchorConfig::default()
                .anchors()
                .unwrap_or_default()
        });
        Ok(Vault {
            store,
            home: home.clone(),
            id,
            profile,
            sandbox,
            meta_facts: std::cell::RefCell::new(meta_facts),
            audit: AuditLog::new(home.logs_dir()),
            anchors,
            anchors_given_up: Default::default(),
        })
    }

    /// A second handle on this vault, for a thread of its own (a `Vault` is not `Sync`): its
    /// own SQLite connection (WAL: its reads do not block the others; its writes wait their
    /// turn, up to the busy timeout) and its own handle on the same audit log, whose appends
    /// take the log's file lock (`flock`, per open file, so it excludes threads as it excludes
    /// processes) and read the chain head inside their write transaction: records from both
    /// handles form one chain. `fetch` runs each SP-API region on a handle of its own.
    pub fn another(&self) -> Result<Vault> {
        Vault::open(&self.home)
    }

    /// The vault id (bound into every sealed record).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The policy profile.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Whether this is a sandbox home.
    pub fn is_sandbox(&self) -> bool {
        self.sandbox
    }

    /// The home folder.
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// The home's keyring of epoch data keys.
    pub fn keyring(&self) -> keyring::Keyring {
        keyring::Keyring::of_home(self.home.root())
    }

    /// The audit log.
    pub fn audit_log(&self) -> &AuditLog {
        &self.audit
    }

    /// Runs `f` over one read transaction (one snapshot of the rows), or inside the
    /// transaction this vault is already in.
    pub fn read<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        self.within(TxMode::Read, f)
    }

    /// Runs `f`'s changes in one write transaction that commits when `f` returns `Ok` and
    /// rolls back otherwise (or inside the transaction this vault is already in, which
    /// commits them). Changes a record must accompany go through [`Vault::record_with`].
    pub fn write<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        self.within(TxMode::Write, f)
    }

    /// The rows, in the transaction this vault is in or, outside one, a statement at a time:
    /// the vault's own reads while it opens and unlocks.
    fn rows(&self) -> Tx<'_> {
        Tx::over(self.store.sql())
    }

    /// Makes what a purge deleted unreachable in the store's own files (SQLite: empties the
    /// WAL into `vault.db`, outside any transaction): false when another connection held it,
    /// so pages a purge overwrote may still hold their old contents.
    pub fn checkpoint_wal(&self) -> Result<bool> {
        self.store.settle_deletions()
    }

    /// Whether the rows are on a store stations share (a server), not in `vault.db`.
    pub fn store_is_shared(&self) -> bool {
        self.store.shared()
    }

    /// Where the rows are, for a person: `vault.db`, or a shared store's URL.
    pub fn store_name(&self) -> String {
        self.store.name()
    }

    /// The store's own check of its files: complaints (tables and pages, never values),
    /// none when sound.
    pub fn integrity_check(&self) -> Result<Vec<String>> {
        self.store.integrity_check()
    }

    fn within<T>(&self, mode: TxMode, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        if self.store.in_transaction() {
            return f(&self.rows());
        }
        let tx = Transaction::begin(&*self.store, mode)?;
        let out = f(&Tx::over(tx.sql()))?;
        tx.commit()?;
        Ok(out)
    }

    /// Records events with no other change. Fails closed: an error means nothing was recorded.
    pub fn record(&self, events: &[Event], now: DateTime<Utc>) -> Result<()> {
        self.record_with(events, now, |_| Ok(()))
    }

    /// Runs `action`'s database changes and records `events` in one step: the audit lock is
    /// taken, then a write transaction; the action runs; the records are written and fsynced;
    /// the head advances; the transaction commits. If the records cannot be written, the
    /// action's changes roll back.
    pub fn record_with<T>(
        &self,
        events: &[Event],
        now: DateTime<Utc>,
        action: impl FnOnce(&Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        self.record_after(now, |tx| Ok((action(tx)?, events.to_vec())))
    }

    /// [`Vault::record_with`] for records that say what the action did (a number it
    /// allocated): the action returns them with its result, in the same step.
    pub fn record_after<T>(
        &self,
        now: DateTime<Utc>,
        action: impl FnOnce(&Tx<'_>) -> Result<(T, Vec<Event>)>,
    ) -> Result<T> {
        // Ctrl-C waits for the record and its transaction (`crate::interrupt`).
        let _gate = crate::interrupt::hold();
        let lock = self.audit.lock()?;
        let tx = Transaction::begin(&*self.store, TxMode::Write)?;
        let t = Tx::over(tx.sql());
        let anchor = MetaAnchor(&t);
        let stored = anchor.head()?;
        let head = self.audit.recover(&lock, stored.clone(), now)?;
        let (out, events) = action(&t)?;
        let head = self.audit.append_all(&lock, &head, &events, now)?;
        anchor.set_head(&head)?;
        tx.commit()?;
        // The head also goes where no operator can rewrite it; the action has committed, so
        // what goes wrong here is recorded and warned about, never returned.
        if head.seq > stored.seq {
            self.anchor_head(&lock, stored.seq + 1, &head, now);
        }
        Ok(out)
    }

    /// The anchors configured for this vault.
    pub fn anchors(&self) -> &crate::audit::anchor::Anchors {
        &self.anchors
    }

    /// Sends `head` (covering records `from..=head.seq`) to every anchor and records each
    /// anchor that started failing (`anchor.unsent`, with the reason, and a warning on
    /// stderr) or works again (`anchor.resumed`), in one more append whose head is sent too.
    /// Which anchors were failing is kept in `meta` only to record changes once: `audit`
    /// decides from the records and its own sends, never from that row.
    fn anchor_head(
        &self,
        lock: &crate::audit::log::AppendLock,
        from: u64,
        head: &crate::audit::Head,
        now: DateTime<Utc>,
    ) {
        // An anchor that failed once in this process is not tried again by it: a collector
        // that is down costs each command one timeout, not one per commit.
        let given_up = self.anchors_given_up.borrow().clone();
        let mut sent = self
            .anchors
            .without(&given_up)
            .send(&self.id, head, from, now);
        for (anchor, to) in self.anchors.destinations() {
            if given_up.contains(&anchor) {
                sent.push(crate::audit::anchor::Sent {
                    anchor,
                    to,
                    error: Some("not retried by this command after its first failure".into()),
                });
            }
        }
        for s in sent.iter().filter(|s| s.error.is_some()) {
            if !given_up.contains(&s.anchor) {
                self.anchors_given_up.borrow_mut().push(s.anchor);
            }
        }
        let failing_before: Vec<String> = store::meta_get(&self.rows(), ANCHOR_UNSENT_META)
            .ok()
            .flatten()
            .map(|v| {
                v.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let mut events = Vec::new();
        for s in &sent {
            let was = failing_before.iter().any(|f| f == s.anchor);
            match (&s.error, was) {
                (Some(reason), false) => {
                    eprintln!(
                        "warning: the audit chain's head did not reach the {} anchor ({reason}); recorded as anchor.unsent, and `fulfill audit` fails until it does (docs/security.md, \"Anchors\")",
                        s.anchor
                    );
                    events.push(
                        Event::new("anchor.unsent")
                            .outcome(crate::audit::Outcome::Failed)
                            .field("anchor", s.anchor)
                            .field("to", s.to.as_str())
                            .field("reason", reason.as_str())
                            .field("head_seq", head.seq),
                    );
                }
                (None, true) => events.push(
                    Event::new("anchor.resumed")
                        .field("anchor", s.anchor)
                        .field("to", s.to.as_str())
                        .field("head_seq", head.seq),
                ),
                _ => {}
            }
        }
        let failing_now: Vec<&str> = sent
            .iter()
            .filter(|s| s.error.is_some())
            .map(|s| s.anchor)
            .collect();
        if events.is_empty() && failing_now.len() == failing_before.len() {
            return;
        }
        let appended = self.write(|tx| {
            let anchor = MetaAnchor(tx);
            let next = self.audit.recover(lock, anchor.head()?, now)?;
            let next = self.audit.append_all(lock, &next, &events, now)?;
            anchor.set_head(&next)?;
            store::meta_set(tx, ANCHOR_UNSENT_META, &failing_now.join(","))?;
            Ok(next)
        });
        match appended {
            Ok(next) if next.seq > head.seq => {
                let given_up = self.anchors_given_up.borrow().clone();
                self.anchors
                    .without(&given_up)
                    .send(&self.id, &next, head.seq + 1, now);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "anchor state not recorded"),
        }
    }

    /// Verifies the audit log's hash chain against the head and checkpoint this vault keeps
    /// (no key: the forward-secure MACs are checked by [`Session::verify_log`]).
    pub fn verify_log(&self) -> Result<Verification> {
        let anchor = MetaAnchor(&self.rows());
        crate::audit::verify::verify(&self.audit, &anchor.head()?, anchor.checkpoint()?.as_ref())
    }

    /// The audit chain's head as this vault keeps it.
    pub fn chain_head(&self) -> Result<crate::audit::Head> {
        self.read(|tx| MetaAnchor(tx).head())
    }

    /// The audit chain's checkpoint (the last record pruning removed) as this vault keeps it.
    pub fn chain_checkpoint(&self) -> Result<Option<crate::audit::Checkpoint>> {
        self.read(|tx| MetaAnchor(tx).checkpoint())
    }

    /// Appends to a log that fails the writers' check instead of refusing: for `audit`, which
    /// reports the break, and `purge`, whose deletions must not wait for it.
    pub fn tolerate_log_breaks(&self) {
        self.audit.tolerate_breaks();
    }

    /// Prunes audit day files older than `keep_days` (never fewer than the profile's window).
    pub fn prune_log(&self, now: DateTime<Utc>, keep_days: u32) -> Result<PruneReport> {
        let lock = self.audit.lock()?;
        self.write(|tx| {
            self.audit.prune(
                &lock,
                &MetaAnchor(tx),
                now,
                keep_days,
                self.profile.min_log_days(),
            )
        })
    }

    /// The vault facts as `meta` states them: what an unlocked key set is compared with.
    /// `None` for a field `meta` does not have.
    fn stated_facts(&self) -> VaultFacts {
        VaultFacts {
            vault_id: self.id.clone(),
            profile: self.profile.as_str().to_string(),
            sandbox: self.sandbox,
            pii_public: self.meta_facts.borrow().pii_public,
            secrets_public: self.meta_facts.borrow().secrets_public.unwrap_or([0; 32]),
            authority_public: self.meta_facts.borrow().authority_public.unwrap_or([0; 32]),
            sealer_public: self.meta_facts.borrow().sealer_public.unwrap_or([0; 32]),
            cred_sealer_public: self
                .meta_facts
                .borrow()
                .cred_sealer_public
                .unwrap_or([0; 32]),
        }
    }

    /// Every operator.
    pub fn operators(&self) -> Result<Vec<OperatorRow>> {
        store::operators(&self.rows())
    }

    /// Unlocks an operator that has no second factor (an enrolled one is refused: use
    /// [`Vault::unlock_with`]).
    pub fn unlock(&self, name: &str, cred: &Credential, now: DateTime<Utc>) -> Result<Session<'_>> {
        self.unlock_with(name, cred, &|| Err(no_code(name)), now)
    }

    /// Unlocks an operator. A wrong credential counts a failure (and locks the operator at the
    /// profile's limit); every attempt is recorded. An operator with a second factor is then
    /// asked for a one-time code through `code` (called only then); a wrong or reused code
    /// counts as a failure too.
    pub fn unlock_with(
        &self,
        name: &str,
        cred: &Credential,
        code: &dyn Fn() -> Result<zeroize::Zeroizing<String>>,
        now: DateTime<Utc>,
    ) -> Result<Session<'_>> {
        let failed = |reason: &'static str| {
            Event::new("unlock.failed")
                .operator(name)
                .outcome(Outcome::Failed)
                .field("reason", reason)
        };
        let Some(op) = store::operator(&self.rows(), name)? else {
            // Recorded and named by a short stand-in, never whole (a 70 KB name, a passphrase
            // typed into the name field).
            let who = crate::audit::unknown_operator(name);
            self.record(
                &[Event::new("unlock.failed")
                    .operator(&who)
                    .outcome(Outcome::Failed)
                    .field("reason", "unknown_operator")],
                now,
            )?;
            let shown = if crate::audit::is_plain_name(name) {
                format!("{name:?}")
            } else {
                who
            };
            return Err(Error::Denied(format!(
                "no operator named {shown} in this vault (pass --operator NAME or set FULFILL_OPERATOR)"
            )));
        };
        if op.disabled_at.is_some() {
            self.record(&[failed("disabled")], now)?;
            return Err(Error::Denied(format!("operator {name:?} is disabled")));
        }
        let key_file = matches!(op.credential, StoredCredential::KeyFile);
        // A key file is 32 random bytes: guessing cannot succeed, so a key-file operator is
        // never locked (random key files must not stop cron); its failures are logged.
        if op.locked_at.is_some() && !key_file {
            self.record(&[failed("locked")], now)?;
            return Err(Error::Locked(name.to_string()));
        }
        let kek = match (&op.credential, cred) {
            (StoredCredential::Passphrase { salt, params }, Credential::Passphrase(p)) => {
                Some(derive_kek(p, salt, *params)?)
            }
            (StoredCredential::KeyFile, Credential::KeyFile(k)) => {
                Some(SecretKey::from_bytes(*k.expose_secret()))
            }
            _ => None,
        };
        let keys = match (&kek, &op.wrapped_keys) {
            (Some(kek), Some(w)) => KeySet::unwrap(kek, &keyset_aad(name, op.role), w)
                .or_else(|| KeySet::unwrap(kek, &keyset_aad_v1(&self.id, name, op.role), w)),
            _ => None,
        };
        let Some(keys) = keys else {
            return Err(self.count_failure(&op, "wrong_credential", now)?);
        };
        let (mut keys, upgraded) = match keys.facts {
            Some(_) => (keys, false),
            None => (self.upgrade_keyset(op.role, keys)?, true),
        };
        let changes = self.bring_up_to_date(name, op.role, &mut keys, true, now)?;
        let kek = kek.expect("a key set was unwrapped, so there is a KEK");
        let rewrapped =
            (upgraded || changes.rewrap).then(|| keys.wrap(&kek, &keyset_aad(name, op.role)));
        let facts = keys
            .facts
            .clone()
            .expect("a key set has facts after the upgrade");
        let differ = facts.differences(&self.stated_facts());
        if !differ.is_empty() {
            let ev = Event::new("vault.tampered")
                .operator(name)
                .outcome(Outcome::Denied)
                .field("facts", differ.join(","));
            self.record(&[ev], now)?;
            return Err(Error::Integrity(format!(
                "the vault's {} differ from what operator {name:?}'s key set authenticates: \
                 changed outside fulfill; nothing was done (an owner or auditor should run `fulfill audit`)",
                differ.join(", ")
            )));
        }
        if keys.pii_private.is_some() != op.role.holds_pii_key()
            || keys.secrets.is_some() != op.role.holds_secrets_key()
            || (!upgraded && keys.log_key.is_some() != op.role.holds_log_key())
        {
            return Err(Error::Integrity(format!(
                "operator {name:?}'s key set does not match its role"
            )));
        }
        let mut totp_step = None;
        let mut counter = None;
        if let Some(secret) = &keys.totp {
            let c = code()?;
            let stored = store::totp_counter(&self.rows(), name)?;
            let last = totp::last_step(secret, &self.id, name, stored, self.audit.dir(), now);
            counter = last.unverified;
            match totp::check(secret, name, &c, now) {
                Some(step) if step > last.step => {
                    totp_step = Some((step, totp::counter_mac(secret, &self.id, name, step)))
                }
                Some(_) => return Err(self.count_failure(&op, "totp_reused", now)?),
                None => return Err(self.count_failure(&op, "wrong_totp", now)?),
            }
        }
        let needs_second_factor = self.profile.requires_totp() && !key_file && keys.totp.is_none();
        tracing::info!(operator = name, role = op.role.as_str(), "unlocked");
        let mut ok = Event::new("unlock.ok")
            .operator(name)
            .field("role", op.role.as_str());
        if let Some((step, _)) = &totp_step {
            // What bounds the replay counter if `operators` is edited (`totp::last_step`).
            ok = ok.field("totp_step", *step);
        }
        let mut events = vec![ok];
        if let Some((why, stored)) = counter {
            // Moved or cleared outside fulfill (or from before the MAC): not trusted.
            events.push(
                Event::new("totp.counter_unverified")
                    .operator(name)
                    .outcome(Outcome::Denied)
                    .field("counter_mac", why)
                    .field("stored_step", stored),
            );
        }
        if upgraded {
            events.push(
                Event::new("keyset.upgraded")
                    .operator(name)
                    .field("version", 2u32),
            );
        }
        events.extend(changes.events(name));
        self.record_with(&events, now, |c| {
            changes.store(c, name, op.role, rewrapped.as_deref())?;
            if upgraded
                && self.meta_facts.borrow().secrets_public.is_none()
                && facts.secrets_public != [0; 32]
            {
                store::meta_set(c, "secrets_public_key", &hex::encode(facts.secrets_public))?;
            }
            if let Some((step, mac)) = &totp_step {
                store::set_totp_last_step(c, name, *step, mac)?;
            }
            store::record_success(c, name, now)
        })?;
        let mut session = Session {
            vault: self,
            name: name.to_string(),
            role: op.role,
            opener: keys
                .pii_private
                .as_ref()
                .map(|sk| datakeys::Opener::new(&self.id, sk, facts.sealer_public, self.keyring())),
            facts,
            keys,
            kek,
            needs_second_factor,
            sealer: std::cell::RefCell::new(None),
        };
        // A vault made by an earlier build moves to sealing v2 at its owner's first unlock:
        // only the owner can hand every operator the new facts and keys.
        if session.role == Role::Owner && !session.facts.seals_v2() {
            session.migrate_v2(now)?;
        }
        session.rekey_pending_epochs(now)?;
        session.move_records_to_their_epochs(now)?;
        Ok(session)
    }

    /// Counts and records a failed unlock (`reason`), locking a passphrase operator at the
    /// profile's limit; returns the error to end the attempt with.
    fn count_failure(
        &self,
        op: &OperatorRow,
        reason: &'static str,
        now: DateTime<Utc>,
    ) -> Result<Error> {
        let name = op.name.as_str();
        let key_file = matches!(op.credential, StoredCredential::KeyFile);
        let failed = |reason: &'static str| {
            Event::new("unlock.failed")
                .operator(name)
                .outcome(Outcome::Failed)
                .field("reason", reason)
        };
        let limit = self.profile.lockout_limit();
        let failures = op.failed_unlocks + 1;
        let lock = failures >= limit && !key_file;
        if key_file && failures > limit {
            // Past the limit each wrong key file costs a second: a flood of attempts
            // cannot fill the log faster than that, and the right key still works.
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
        tracing::info!(operator = name, failures, locked = lock, "unlock failed");
        let mut events = vec![failed(reason).field("failures", failures)];
        if lock {
            events.push(
                Event::new("operator.locked")
                    .operator(name)
                    .outcome(Outcome::Denied)
                    .field("failures", failures),
            );
        }
        self.record_with(&events, now, |c| store::record_failure(c, name, lock, now))?;
        Ok(if lock {
            Error::Locked(name.to_string())
        } else if reason != "wrong_credential" {
            Error::Denied(format!(
                "wrong or already used one-time code for operator {name:?} ({failures} failed attempt(s); locked at {limit})"
            ))
        } else if key_file {
            Error::Denied(format!(
                "wrong key file for operator {name:?} ({failures} failed attempt(s), each logged; key-file operators are never locked)"
            ))
        } else {
            Error::WrongPassphrase {
                operator: name.to_string(),
                failures,
                limit,
            }
        })
    }

    /// Turns a version 1 key set (no facts inside) into a version 2 one: the facts are taken
    /// from `meta` as they are now (trust on first use, recorded as `keyset.upgraded`), the
    /// secrets public key is derived from the private half where the operator holds it, and an
    /// admin's copy of the secrets key is dropped (admins set credentials, never read them).
    /// The caller wraps and stores the set with the unlock.
    fn upgrade_keyset(&self, role: Role, mut keys: KeySet) -> Result<KeySet> {
        let mut facts = self.stated_facts();
        if let (None, Some(sk)) = (self.meta_facts.borrow().secrets_public, &keys.secrets) {
            facts.secrets_public = seal::public_of(sk)?;
        }
        if !role.holds_secrets_key() {
            keys.secrets = None;
        }
        keys.facts = Some(facts);
        Ok(keys)
    }

    fn new_operator_row(
        &self,
        name: &str,
        role: Role,
        keys: &KeySet,
        cred: NewCredentialResolved<'_>,
        by: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<OperatorRow> {
        let aad = keyset_aad(name, role);
        let (credential, kek, history_salt, history) = match cred {
            NewCredentialResolved::Passphrase(p) => {
                let salt = random_bytes::<16>().to_vec();
                let kek = derive_kek(p, &salt, KdfParams::MIN)?;
                let (hs, h) = if self.profile.passphrase_policy().history > 0 {
                    let hs = random_bytes::<16>().to_vec();
                    let d = history_digest(p, &hs)?;
                    (Some(hs), vec![d])
                } else {
                    (None, Vec::new())
                };
                (
                    StoredCredential::Passphrase {
                        salt,
                        params: KdfParams::MIN,
                    },
                    kek,
                    hs,
                    h,
                )
            }
            NewCredentialResolved::KeyFile(k) => (
                StoredCredential::KeyFile,
                SecretKey::from_bytes(*k.expose_secret()),
                None,
                Vec::new(),
            ),
        };
        Ok(OperatorRow {
            name: name.to_string(),
            role,
            credential,
            wrapped_keys: Some(keys.wrap(&kek, &aad)),
            created_at: now,
            created_by: by.map(str::to_string),
            last_used_at: None,
            failed_unlocks: 0,
            locked_at: None,
            disabled_at: None,
            history_salt,
            history,
        })
    }
}

enum NewCredentialResolved<'a> {
    Passphrase(&'a Passphrase),
    KeyFile(&'a SecretKey),
}

fn no_code(name: &str) -> Error {
    Error::Denied(format!(
        "operator {name:?} has a second factor: give the one-time code on the terminal or with --totp-file FILE"
    ))
}

/// Associated data of the owner's key set wrapped under the recovery key.
fn recovery_aad(name: &str) -> Vec<u8> {
    format!("fulfill/recovery/v1\0{name}").into_bytes()
}

impl Vault {
    /// Sets a new passphrase for owner `name` with the recovery key shown at `init`, and
    /// clears its lockout and failure count (`operator.recovered`). A wrong recovery key is
    /// recorded like a wrong passphrase, but never locks anyone.
    pub fn recover_owner(
        &self,
        name: &str,
        recovery: &SecretKey,
        new: Passphrase,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let op = store::operator(&self.rows(), name)?
            .filter(|o| o.role == Role::Owner && o.disabled_at.is_none())
            .ok_or_else(|| {
                Error::usage(format!("{name:?} is not an active owner of this vault"))
            })?;
        let keys = store::recovery(&self.rows(), name)?
            .and_then(|w| KeySet::unwrap(recovery, &recovery_aad(name), &w));
        let Some(mut keys) = keys else {
            self.record(
                &[Event::new("unlock.failed")
                    .operator(name)
                    .outcome(Outcome::Failed)
                    .field("reason", "wrong_recovery_key")],
                now,
            )?;
            return Err(Error::Denied(format!(
                "that recovery key does not open owner {name:?}'s keys"
            )));
        };
        // Rotations since `init` reach the recovery copy through the owner's deliveries.
        let changes = match keys.facts {
            Some(_) => self.bring_up_to_date(name, Role::Owner, &mut keys, false, now)?,
            None => rotation::KeyChanges::default(),
        };
        let facts = keys.facts.clone().unwrap_or_else(|| self.stated_facts());
        let differ = facts.differences(&self.stated_facts());
        if !differ.is_empty() {
            self.record(
                &[Event::new("vault.tampered")
                    .operator(name)
                    .outcome(Outcome::Denied)
                    .field("facts", differ.join(","))],
                now,
            )?;
            return Err(Error::Integrity(format!(
                "the vault's {} differ from what the recovery key authenticates: changed outside fulfill",
                differ.join(", ")
            )));
        }
        new.check_policy(&self.profile.passphrase_policy(), name)?;
        let salt = random_bytes::<16>().to_vec();
        let kek = derive_kek(&new, &salt, KdfParams::MIN)?;
        let wrapped = keys.wrap(&kek, &keyset_aad(name, Role::Owner));
        let ev = Event::new("operator.recovered")
            .operator(name)
            .field("name", name)
            .field("was_locked", op.locked_at.is_some());
        let mut events = vec![ev];
        events.extend(changes.events(name));
        self.record_with(&events, now, |c| {
            store::update_credential(c, name, &salt, KdfParams::MIN, &wrapped, &op.history, now)?;
            store::unlock_operator(c, name)
        })
    }
}

/// The passphrase-history digest: Argon2id under the operator's history salt.
fn history_digest(p: &Passphrase, salt: &[u8]) -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    key::argon2id(
        p.expose_secret().as_bytes(),
        salt,
        &[],
        b"fulfill/history",
        KdfParams::MIN,
        &mut out,
    )?;
    Ok(out)
}

/// HPKE `info` of sealed credentials.
const CREDENTIALS_INFO: &[u8] = b"fulfill/credentials/v2";

/// Associated data of the sealed MWS credentials.
fn credentials_aad(vault_id: &str) -> Vec<u8> {
    format!("fulfill/credentials/v1\0{vault_id}").into_bytes()
}

/// Associated data of one region's sealed SP-API credentials: the region is bound, so a
/// record moved to another region's row does not open.
pub(crate) fn region_credentials_aad(vault_id: &str, region: &str) -> Vec<u8> {
    format!("fulfill/credentials/v1\0{vault_id}\0region={region}").into_bytes()
}

/// MWS credentials as stored, with when and by whom.
#[derive(Debug)]
pub struct StoredCredentials {
    /// The credentials.
    pub credentials: MwsCredentials,
    /// When they were set.
    pub updated_at: String,
    /// Who set them.
    pub updated_by: String,
}

/// The credentials a home holds: for MWS or for SP-API.
#[derive(Debug)]
pub enum MarketCredentials {
    /// Amazon MWS.
    Mws(MwsCredentials),
    /// The Selling Partner API: one authorisation per region, in region order.
    SpApi(Vec<RegionCredentials>),
}

/// One region's SP-API credentials as stored.
#[derive(Debug)]
pub struct RegionCredentials {
    /// The credentials (their `region` says which).
    pub credentials: SpApiCredentials,
    /// Stored before regions (the home's one credentials row): the region keeps the home's
    /// one watermark and quota model.
    pub legacy: bool,
    /// When they were set.
    pub updated_at: String,
    /// Who set them.
    pub updated_by: String,
}

impl RegionCredentials {
    /// The meta key of this region's fetch watermark.
    pub fn watermark_key(&self) -> String {
        orders::region_watermark_key(self.credentials.region.as_str(), self.legacy)
    }
}

/// What `credentials set --api sp-api` replaced or carried over.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RegionChange {
    /// The region was set before (its credentials were replaced).
    pub replaced: bool,
    /// MWS credentials were replaced (the home talks SP-API now).
    pub mws_replaced: bool,
    /// SP-API credentials stored before regions were carried over to their region's record.
    pub carried_over: Option<crate::model::marketplace::Region>,
}

/// [`MarketCredentials`] as stored, with when and by whom.
#[derive(Debug)]
pub struct StoredMarketCredentials {
    /// The credentials.
    pub credentials: MarketCredentials,
    /// When they were set.
    pub updated_at: String,
    /// Who set them.
    pub updated_by: String,
}

/// An unlocked operator: its name, role and the keys its role was given.
pub struct Session<'v> {
    vault: &'v Vault,
    name: String,
    role: Role,
    /// The vault facts this operator's key set authenticates (never read from `meta`).
    facts: VaultFacts,
    keys: KeySet,
    /// The key that wraps `keys` (kept to re-wrap them when a second factor is enrolled).
    kek: SecretKey,
    /// A person without a second factor under a profile that requires one: only enrolment
    /// may follow ([`Session::needs_second_factor`]).
    needs_second_factor: bool,
    /// Opens sealed records (roles holding the PII private key).
    opener: Option<datakeys::Opener>,
    /// The sealer [`Session::store_order_pii`] uses, made on first use: one data key per
    /// epoch for the session, not one per record.
    sealer: std::cell::RefCell<Option<datakeys::Sealer>>,
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("operator", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl<'v> Session<'v> {
    /// The operator's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operator's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The keys this operator holds.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// Verifies the audit log: the hash chain and, when this operator holds the log key
    /// (owner, auditor), every record's forward-secure MAC, the writer's key file, and the
    /// checkpoint against the profile's window.
    pub fn verify_log(&self, now: DateTime<Utc>) -> Result<Verification> {
        let v = self.vault;
        let anchor = MetaAnchor(&v.rows());
        let sealing = self
            .keys
            .log_key
            .as_ref()
            .map(|k| crate::audit::verify::Sealing {
                first_key: k,
                now,
                window_days: v.profile.min_log_days(),
            });
        crate::audit::verify::verify_sealed(
            &v.audit,
            &anchor.head()?,
            anchor.checkpoint()?.as_ref(),
            sealing,
        )
    }

    /// Whether this person must enrol a second factor before doing anything else (the
    /// profile requires one and it has none). The caller refuses every other action.
    pub fn needs_second_factor(&self) -> bool {
        self.needs_second_factor
    }

    /// A fresh TOTP secret and the `otpauth://` URL to show (nothing is stored yet).
    pub fn begin_totp(&self) -> Result<(SecretKey, zeroize::Zeroizing<String>)> {
        if matches!(self.role, Role::Fetcher) {
            return Err(Error::usage(
                "a key-file service operator has no second factor: its key file is the secret",
            ));
        }
        let secret = SecretKey::generate();
        let url = totp::otpauth_url(&secret, &self.name)?;
        Ok((secret, url))
    }

    /// Enrols `secret` as this operator's second factor once `code` proves the authenticator
    /// has it: the key set is wrapped again with the secret inside (`operator.totp_enrolled`).
    pub fn confirm_totp(&self, secret: SecretKey, code: &str, now: DateTime<Utc>) -> Result<()> {
        let Some(step) = totp::check(&secret, &self.name, code, now) else {
            return Err(Error::usage(
                "that code does not match: check the authenticator's clock and enrol again",
            ));
        };
        let keys = KeySet {
            totp: Some(secret),
            ..self.keys.duplicate()
        };
        let wrapped = keys.wrap(&self.kek, &keyset_aad(&self.name, self.role));
        let ev = Event::new("operator.totp_enrolled")
            .operator(&self.name)
            .field("name", self.name.as_str())
            .field("totp_step", step);
        let mac = totp::counter_mac(
            keys.totp.as_ref().expect("set above"),
            &self.vault.id,
            &self.name,
            step,
        );
        self.vault.record_with(&[ev], now, |c| {
            store::set_wrapped_keys(c, &self.name, &wrapped)?;
            store::set_totp_last_step(c, &self.name, step, &mac)
        })
    }

    /// Takes over a key set made for this operator (a rotation it ran).
    fn adopt_keys(&mut self, keys: KeySet) {
        if let Some(f) = &keys.facts {
            self.facts = f.clone();
        }
        self.opener = keys.pii_private.as_ref().map(|sk| {
            datakeys::Opener::new(
                &self.vault.id,
                sk,
                self.facts.sealer_public,
                self.vault.keyring(),
            )
        });
        self.keys = keys;
        self.sealer = std::cell::RefCell::new(None);
    }

    /// Moves a vault sealed in version 1 to sealing v2 (owner): a rotation that makes the
    /// sealer keys and re-seals every record under epoch data keys, in one transaction with
    /// its `vault.rekeyed` and `vault.migrated` records.
    fn migrate_v2(&mut self, now: DateTime<Utc>) -> Result<()> {
        let plan = self.plan_rekey(None, now)?;
        let events = [
            plan.event(&self.name, "migration_to_sealing_v2"),
            Event::new("vault.migrated")
                .operator(&self.name)
                .field("sealing", 2u32)
                .field("orders", plan.report.orders)
                .field("gift_messages", plan.report.gift_messages)
                .field("credentials", plan.report.credentials),
        ];
        self.vault
            .record_with(&events, now, |c| plan.apply(c, &self.name, now))?;
        plan.finish(self).map(drop)
    }

    /// Re-keys the epochs `purge --order` left (an order purged before its epoch ended shares
    /// the epoch's key): every other record of the epoch is sealed again under a fresh key, in
    /// one transaction with its `epoch.rekeyed` record, and then the epoch's earlier keys are
    /// destroyed, so the purged order's record opens nowhere, even from a copy of the rows.
    /// Runs at the unlock of a role that can open and seal (owner, packer); a record that does
    /// not open is left as it is (it opens nowhere already; `audit` names it).
    fn rekey_pending_epochs(&mut self, now: DateTime<Utc>) -> Result<()> {
        let conn = &self.vault.rows();
        let pending = retention::epochs_to_rekey(conn)?;
        let (Some(opener), Some(sealer_key), true) = (
            self.opener.as_ref(),
            self.keys.pii_sealer(),
            self.facts.seals_v2() && !pending.is_empty(),
        ) else {
            return Ok(());
        };
        let ring = self.vault.keyring();
        let before: Vec<seal::KeyName> = ring
            .entries()?
            .into_iter()
            .map(|e| e.name)
            .filter(|n| pending.contains(&n.epoch.0))
            .collect();
        let mut sealer = datakeys::Sealer::v2(
            &self.vault.id,
            sealer_key,
            self.facts.pii_public,
            ring.clone(),
            1,
        );
        let mut updates = Vec::new();
        for &e in &pending {
            let in_epoch = seal::Epoch(e).end() - chrono::Duration::seconds(1);
            let records = retention::records_of_epoch(conn, e)?;
            updates.extend(reseal(opener, &mut sealer, records, in_epoch, now)?);
        }
        let days: Vec<String> = pending.iter().map(|e| seal::Epoch(*e).day()).collect();
        let ev = Event::new("epoch.rekeyed")
            .operator(&self.name)
            .field("epochs", days)
            .field("records", updates.len() as u64);
        self.vault.record_with(&[ev], now, |c| {
            store_resealed(c, &updates)?;
            retention::clear_epochs_to_rekey(c, &pending)
        })?;
        // The earlier keys die, except one a record still names (a fetch that sealed with it
        // while this ran).
        let mut still_used = std::collections::HashSet::new();
        for &e in &pending {
            for r in retention::records_of_epoch(conn, e)? {
                still_used.extend(seal::record_key_name(&r.blob));
            }
        }
        ring.destroy(|n| before.contains(&n) && !still_used.contains(&n))?;
        Ok(())
    }

    /// Moves records whose order's retention anchor moved after they were sealed (shipped
    /// late, delivered, canceled) into the epoch of the order's deadline now, so their key
    /// dies with their retention: each is opened and sealed again under this session's key
    /// for that epoch, in one transaction with a `pii.moved_epoch` record. Runs at the unlock
    /// of a role that can open and seal (owner, packer); the fetcher, which moves anchors too,
    /// cannot, so its moves wait for that unlock. A record that does not open is left.
    fn move_records_to_their_epochs(&mut self, now: DateTime<Utc>) -> Result<()> {
        let (Some(opener), Some(sealer_key), true) = (
            self.opener.as_ref(),
            self.keys.pii_sealer(),
            self.facts.seals_v2(),
        ) else {
            return Ok(());
        };
        let conn = &self.vault.rows();
        let (config, _) = crate::config::Config::load_or_profile(
            &self.vault.home.config_path(),
            self.vault.profile,
        );
        let days = config.retention.pii_days;
        let mut moved = Vec::new();
        for (f, stated) in retention::epoch_moved_candidates(conn, days)? {
            let Some(deadline) = crate::model::retention::deadline(
                f.retention_start.as_deref(),
                f.latest_ship_date.as_deref(),
                f.purchase_date.as_deref(),
                &f.created_at,
                days,
            ) else {
                continue;
            };
            if seal::Epoch::of(deadline).0 != stated {
                moved.push((f.order_id, deadline));
            }
        }
        if moved.is_empty() {
            return Ok(());
        }
        let mut sealer = datakeys::Sealer::v2(
            &self.vault.id,
            sealer_key,
            self.facts.pii_public,
            self.vault.keyring(),
            days,
        );
        let mut updates = Vec::new();
        for (order, deadline) in &moved {
            let records = retention::records_of_order(conn, order)?;
            updates.extend(reseal(opener, &mut sealer, records, *deadline, now)?);
        }
        let ev = Event::new("pii.moved_epoch")
            .operator(&self.name)
            .field("orders", moved.len() as u64)
            .field("records", updates.len() as u64);
        self.vault
            .record_with(&[ev], now, |c| store_resealed(c, &updates))
    }

    /// The vault facts this operator's key set authenticates.
    pub fn facts(&self) -> &VaultFacts {
        &self.facts
    }

    /// The PII public key to seal to: the authenticated copy, never the `meta` row.
    pub fn pii_public_key(&self) -> PiiPublicKey {
        PiiPublicKey::from_bytes(&self.facts.pii_public).expect("32 bytes")
    }

    /// A sealer for this run (roles that fetch): version 2 with this operator's sealer key
    /// and the authenticated PII public key, or version 1 in a vault its owner has not
    /// migrated yet. Epochs use `retention.pii_days` from `config.toml` (the profile's when it
    /// is missing or broken).
    pub fn sealer(&self, now: DateTime<Utc>) -> Result<datakeys::Sealer> {
        let conn = &self.vault.rows();
        // A `rekey` committed since this session unlocked: sealing to the old key would store
        // PII that a disabled operator could open and current holders could not.
        if store::meta_get(conn, "pii_public_key")?.as_deref()
            != Some(hex::encode(self.facts.pii_public).as_str())
        {
            return Err(Error::Denied(
                "the vault's keys were rotated while this command ran; run it again".into(),
            ));
        }
        let (config, _) = crate::config::Config::load_or_profile(
            &self.vault.home.config_path(),
            self.vault.profile,
        );
        let days = config.retention.pii_days;
        if !self.facts.seals_v2() {
            return Ok(datakeys::Sealer::v1(
                &self.vault.id,
                self.pii_public_key(),
                days,
            ));
        }
        match self.keys.pii_sealer() {
            Some(sk) => Ok(datakeys::Sealer::v2(
                &self.vault.id,
                sk,
                self.facts.pii_public,
                self.vault.keyring(),
                days,
            )),
            None => Err(self.deny(
                "seal_pii",
                format!("role {} holds no sealer key", self.role),
                now,
            )),
        }
    }

    /// Seals an order's PII and stores it (roles that seal: see [`Session::sealer`]). `None`
    /// or an all-empty `pii` stores the order as `empty`.
    pub fn store_order_pii(
        &self,
        order_id: &str,
        status: &str,
        pii: Option<&BuyerPii>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut cached = self.sealer.borrow_mut();
        if cached.is_none() {
            *cached = Some(self.sealer(now)?);
        }
        let sealer = cached.as_mut().expect("made above");
        let conn = &self.vault.rows();
        let version = store::next_pii_version(conn, order_id)?;
        let deadline = now + chrono::Duration::days(i64::from(sealer.pii_days()));
        let sealed = match pii.filter(|p| !p.is_empty()) {
            Some(p) => {
                let s = sealer.seal(order_id, version, deadline, p)?;
                Some(SealedPii {
                    blob: s.blob,
                    version,
                    epoch: s.epoch,
                })
            }
            None => None,
        };
        store::put_order_pii(conn, order_id, status, sealed.as_ref(), now)
    }

    /// Opens an order's sealed PII (the caller checked the purpose and records the opening).
    fn open_order(&self, order_id: &str, purpose: Purpose, now: DateTime<Utc>) -> Result<BuyerPii> {
        let (sealed, state) = store::order_pii(&self.vault.rows(), order_id)?
            .ok_or_else(|| Error::usage(format!("no order {order_id} in the vault")))?;
        let Some(sealed) = sealed else {
            return Err(Error::usage(format!(
                "order {order_id} has no PII to open (state: {state})"
            )));
        };
        self.open_record(
            order_id,
            order_id,
            sealed.version,
            &sealed.blob,
            purpose.use_(),
            now,
        )
    }

    /// Opens an order's gift messages, by order item id (the caller records the opening).
    fn open_gifts(
        &self,
        order_id: &str,
        purpose: Purpose,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, Pii)>> {
        let mut out = Vec::new();
        for (item_id, blob) in orders::sealed_gift_messages(&self.vault.rows(), order_id)? {
            let id = orders::item_seal_id(order_id, &item_id);
            let mut opened = self.open_record(order_id, &id, 1, &blob, purpose.use_(), now)?;
            if let Some(m) = opened.gift_message.take() {
                out.push((item_id, m));
            }
        }
        Ok(out)
    }

    /// Opens one sealed record with this session's opener; a record that does not open is
    /// recorded as `vault.tampered` (naming the order) before the error returns (exit 5).
    fn open_record(
        &self,
        order_id: &str,
        record_id: &str,
        version: u64,
        blob: &[u8],
        use_: datakeys::Use,
        now: DateTime<Utc>,
    ) -> Result<BuyerPii> {
        let opener = self
            .opener
            .as_ref()
            .ok_or_else(|| Error::Denied(format!("role {} holds no PII key", self.role)))?;
        let what = if record_id == order_id {
            format!("order {order_id}")
        } else {
            format!("a gift message of order {order_id}")
        };
        match opener.open(&what, record_id, version, blob, use_, now) {
            Err(Error::Integrity(why)) => {
                let ev = Event::new("vault.tampered")
                    .operator(&self.name)
                    .outcome(Outcome::Denied)
                    .field("order_id", order_id)
                    .field(
                        "record",
                        if record_id == order_id {
                            "pii"
                        } else {
                            "gift_message"
                        },
                    );
                self.vault.record(&[ev], now)?;
                Err(Error::Integrity(why))
            }
            other => other,
        }
    }

    /// The vault.
    pub fn vault(&self) -> &'v Vault {
        self.vault
    }

    fn deny(&self, action: &'static str, reason: String, now: DateTime<Utc>) -> Error {
        let ev = Event::new("access.denied")
            .operator(&self.name)
            .outcome(Outcome::Denied)
            .field("action", action)
            .field("role", self.role.as_str());
        match self.vault.record(&[ev], now) {
            Ok(()) => Error::Denied(reason),
            Err(e) => e,
        }
    }

    /// Refuses (and records `access.denied`) unless the role may do `cap`.
    pub fn require(&self, cap: Capability, action: &'static str, now: DateTime<Utc>) -> Result<()> {
        if self.role.can(cap) {
            Ok(())
        } else {
            Err(self.deny(
                action,
                format!(
                    "operator {:?} (role {}) may not {}",
                    self.name,
                    self.role,
                    cap.describe()
                ),
                now,
            ))
        }
    }

    /// The secrets key (MWS credentials), if this role holds it.
    pub fn secrets_key(&self, action: &'static str, now: DateTime<Utc>) -> Result<&SecretKey> {
        match &self.keys.secrets {
            Some(k) => Ok(k),
            None => Err(self.deny(
                action,
                format!("role {} holds no secrets key", self.role),
                now,
            )),
        }
    }

    /// Seals and stores MWS credentials to the secrets public key (owner or admin: sealing
    /// needs no private key, so an admin sets credentials it can never read back), recording
    /// `credentials.changed` (without the secret).
    pub fn store_credentials(&self, creds: &MwsCredentials, now: DateTime<Utc>) -> Result<()> {
        self.require(Capability::ManagePeople, "credentials.set", now)?;
        let sealed = self.seal_credentials(&creds.to_plaintext(), now)?;
        let ev = Event::new("credentials.changed")
            .operator(&self.name)
            .field("seller_id", creds.seller_id.as_str())
            .field("access_key_id", creds.access_key_id.as_str())
            .field("endpoint", creds.endpoint.as_str())
            .field("marketplaces", creds.marketplaces.join(","))
            .field("auth_token", creds.has_auth_token());
        self.vault.record_with(&[ev], now, |c| {
            // A home talks to one API: SP-API regions give way.
            orders::delete_all_region_credentials(c)?;
            orders::put_credentials(c, &sealed, &self.name, now)
        })
    }

    /// Seals and stores one region's SP-API credentials like the MWS ones, one record per
    /// region (the region in the associated data): other regions stay as they are, the same
    /// region is replaced. Recorded as `credentials.changed` without the client secret or the
    /// refresh token. MWS credentials are replaced (a home talks to one API); SP-API
    /// credentials stored before regions are carried over to their region's record (with the
    /// home's watermark) when this role can open them; when it cannot (an admin), they stay and
    /// are read as their region's until that region is set.
    pub fn store_spapi_region(
        &self,
        creds: &SpApiCredentials,
        now: DateTime<Utc>,
    ) -> Result<RegionChange> {
        self.require(Capability::ManagePeople, "credentials.set", now)?;
        let region = creds.region.as_str();
        let sealed = self.seal_credentials_aad(
            &creds.to_plaintext(),
            &region_credentials_aad(&self.vault.id, region),
            now,
        )?;
        let mut change = RegionChange {
            replaced: orders::region_credentials(&self.vault.rows())?
                .iter()
                .any(|(r, ..)| r == region),
            ..RegionChange::default()
        };
        // The pre-region row, when this role can read it.
        let mut carry: Option<(SpApiCredentials, Vec<u8>)> = None;
        let mut drop_row = false;
        if let Some((old, ..)) = orders::credentials(&self.vault.rows())?
            && let Some(key) = self.keys.secrets.as_ref()
            && let Some(plain) = open_credentials(key, &self.facts, &old)
        {
            drop_row = true;
            match SpApiCredentials::from_plaintext(&plain) {
                Ok(legacy) if legacy.region != creds.region => {
                    let aad = region_credentials_aad(&self.vault.id, legacy.region.as_str());
                    let resealed = self.seal_credentials_aad(&plain, &aad, now)?;
                    change.carried_over = Some(legacy.region);
                    carry = Some((legacy, resealed));
                }
                Ok(_) => change.replaced = true,
                Err(_) => change.mws_replaced = true,
            }
        }
        let mut evs = vec![
            Event::new("credentials.changed")
                .operator(&self.name)
                .field("api", "sp-api")
                .field("region", region)
                .field("seller_id", creds.seller_id.as_str())
                .field("lwa_client_id", creds.lwa_client_id.as_str())
                .field("endpoint", creds.endpoint.as_str())
                .field("token_endpoint", creds.token_endpoint.as_str())
                .field("marketplaces", creds.marketplaces.join(",")),
        ];
        if let Some((legacy, _)) = &carry {
            evs.push(
                Event::new("credentials.changed")
                    .operator(&self.name)
                    .field("api", "sp-api")
                    .field("region", legacy.region.as_str())
                    .field("carried_over", true)
                    .field("seller_id", legacy.seller_id.as_str())
                    .field("marketplaces", legacy.marketplaces.join(",")),
            );
        }
        let legacy_key = orders::WATERMARK_KEY;
        self.vault.record_with(&evs, now, |c| {
            orders::put_region_credentials(c, region, &sealed, &self.name, now)?;
            if drop_row {
                // The home's one watermark goes with the region it was the watermark of.
                let to = match &carry {
                    Some((legacy, _)) => Some(legacy.region),
                    None if !change.mws_replaced => Some(creds.region),
                    None => None,
                };
                if let (Some(to), Some(w)) = (to, store::meta_get(c, legacy_key)?) {
                    orders::set_watermark_at(
                        c,
                        &orders::region_watermark_key(to.as_str(), false),
                        &w,
                    )?;
                    store::meta_delete(c, legacy_key)?;
                }
                if let Some((legacy, resealed)) = &carry {
                    orders::put_region_credentials(
                        c,
                        legacy.region.as_str(),
                        resealed,
                        &self.name,
                        now,
                    )?;
                }
                orders::delete_credentials(c)?;
            }
            Ok(())
        })?;
        Ok(change)
    }

    /// Removes one region's SP-API credentials (`credentials remove --region R`), recorded as
    /// `credentials.changed` with `removed`. Credentials stored before regions are removed
    /// when they are that region's (which takes a role that can open them).
    pub fn remove_spapi_region(
        &self,
        region: crate::model::marketplace::Region,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.require(Capability::ManagePeople, "credentials.remove", now)?;
        let r = region.as_str();
        let has_row = orders::region_credentials(&self.vault.rows())?
            .iter()
            .any(|(x, ..)| x == r);
        let legacy_is_it = if has_row {
            false
        } else {
            match orders::credentials(&self.vault.rows())? {
                None => false,
                Some((old, ..)) => {
                    let key = self.keys.secrets.as_ref().ok_or_else(|| {
                        Error::usage(format!(
                            "region {r} is not set as a region; this home's credentials were                              set before regions and only a role that can read them (the                              owner) can remove them"
                        ))
                    })?;
                    let plain = open_credentials(key, &self.facts, &old).ok_or_else(|| {
                        Error::Integrity(
                            "the stored Amazon credentials do not open: altered, from another                              vault, or not set by an owner or admin"
                                .into(),
                        )
                    })?;
                    SpApiCredentials::from_plaintext(&plain).is_ok_and(|c| c.region == region)
                }
            }
        };
        if !has_row && !legacy_is_it {
            return Err(Error::usage(format!(
                "no SP-API credentials for region {r}: `fulfill credentials list` shows the                  regions set"
            )));
        }
        let ev = Event::new("credentials.changed")
            .operator(&self.name)
            .field("api", "sp-api")
            .field("region", r)
            .field("removed", true);
        self.vault.record_with(&[ev], now, |c| {
            if legacy_is_it {
                orders::delete_credentials(c)
            } else {
                orders::delete_region_credentials(c, r).map(|_| ())
            }
        })
    }

    /// Seals credentials to the secrets public key: in a version 2 vault in HPKE auth mode from
    /// the credentials sealer (owner and admin), so credentials written with the public key
    /// alone do not open.
    fn seal_credentials(&self, plain: &[u8], now: DateTime<Utc>) -> Result<Vec<u8>> {
        self.seal_credentials_aad(plain, &credentials_aad(&self.vault.id), now)
    }

    /// [`Session::seal_credentials`] with the associated data given.
    fn seal_credentials_aad(
        &self,
        plain: &[u8],
        aad: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>> {
        let aad = aad.to_vec();
        if !self.facts.seals_v2() {
            return seal::seal_to(&self.facts.secrets_public, CREDENTIALS_INFO, &aad, plain);
        }
        let Some(sk) = self.keys.cred_sealer.as_ref() else {
            return Err(self.deny(
                "credentials.set",
                format!("role {} holds no credentials sealer key", self.role),
                now,
            ));
        };
        seal::seal_authenticated(
            sk,
            &self.facts.secrets_public,
            CREDENTIALS_INFO,
            &aad,
            plain,
        )
    }

    /// Opens the stored MWS credentials (roles that call Amazon hold the secrets key).
    pub fn load_credentials(
        &self,
        action: &'static str,
        now: DateTime<Utc>,
    ) -> Result<StoredCredentials> {
        let st = self.load_market_credentials(action, now)?;
        match st.credentials {
            MarketCredentials::Mws(credentials) => Ok(StoredCredentials {
                credentials,
                updated_at: st.updated_at,
                updated_by: st.updated_by,
            }),
            MarketCredentials::SpApi(_) => Err(Error::usage(
                "this home holds SP-API credentials and this needs MWS ones: an owner or admin \
                 must run `fulfill credentials set --api mws`",
            )),
        }
    }

    /// Opens the stored credentials, MWS or SP-API.
    pub fn load_market_credentials(
        &self,
        action: &'static str,
        now: DateTime<Utc>,
    ) -> Result<StoredMarketCredentials> {
        let key = self.secrets_key(action, now)?;
        let unreadable = || {
            Error::Integrity(
                "the stored Amazon credentials do not open: altered, from another vault, or not set by an owner or admin"
                    .into(),
            )
        };
        let mut regions = Vec::new();
        for (region, sealed, updated_at, updated_by) in
            orders::region_credentials(&self.vault.rows())?
        {
            let aad = region_credentials_aad(&self.vault.id, &region);
            let plain =
                open_credentials_aad(key, &self.facts, &aad, &sealed).ok_or_else(unreadable)?;
            let credentials = SpApiCredentials::from_plaintext(&plain)?;
            if credentials.region.as_str() != region {
                return Err(unreadable());
            }
            regions.push(RegionCredentials {
                credentials,
                legacy: false,
                updated_at,
                updated_by,
            });
        }
        let row = orders::credentials(&self.vault.rows())?;
        if row.is_none() && regions.is_empty() {
            return Err(Error::usage(
                "no Amazon credentials yet: an owner or admin must run `fulfill credentials set`",
            ));
        }
        let mut mws = None;
        if let Some((sealed, updated_at, updated_by)) = row {
            let plain = open_credentials(key, &self.facts, &sealed).ok_or_else(unreadable)?;
            // The two shapes have distinct required fields, so at most one of them reads.
            match MwsCredentials::from_plaintext(&plain) {
                // A home with SP-API regions set talks SP-API (an admin who set them could
                // not remove what it cannot read).
                Ok(c) if regions.is_empty() => mws = Some((c, updated_at, updated_by)),
                Ok(_) => {}
                Err(e) => {
                    let credentials = SpApiCredentials::from_plaintext(&plain).map_err(|_| e)?;
                    // Stored before regions: its region's, unless that region was set since.
                    if !regions
                        .iter()
                        .any(|r| r.credentials.region == credentials.region)
                    {
                        regions.push(RegionCredentials {
                            credentials,
                            legacy: true,
                            updated_at,
                            updated_by,
                        });
                        regions.sort_by_key(|r| r.credentials.region);
                    }
                }
            }
        }
        regions.sort_by_key(|r| r.credentials.region);
        if let Some((c, updated_at, updated_by)) = mws {
            return Ok(StoredMarketCredentials {
                credentials: MarketCredentials::Mws(c),
                updated_at,
                updated_by,
            });
        }
        let (updated_at, updated_by) = regions
            .iter()
            .max_by(|a, b| a.updated_at.cmp(&b.updated_at))
            .map(|r| (r.updated_at.clone(), r.updated_by.clone()))
            .unwrap_or_default();
        Ok(StoredMarketCredentials {
            credentials: MarketCredentials::SpApi(regions),
            updated_at,
            updated_by,
        })
    }

    /// The PII private key for `purpose`, or a recorded refusal. The key is checked first: a
    /// role without it has nothing to decrypt with, whatever the purpose.
    fn pii_key(&self, purpose: Purpose, now: DateTime<Utc>) -> Result<&SecretKey> {
        let Some(sk) = self.keys.pii_private.as_ref() else {
            return Err(self.deny(
                "open_pii",
                format!("role {} holds no PII key", self.role),
                now,
            ));
        };
        if !purpose.allowed_for(self.role) {
            let why = format!(
                "role {} may not open PII for {}",
                self.role,
                purpose.as_str()
            );
            return Err(self.deny("open_pii", why, now));
        }
        Ok(sk)
    }

    /// Opens an order's PII for `purpose`. The opening is recorded (`pii.opened`, with the order
    /// and purpose) before the plaintext is returned; a role without the PII private key has
    /// nothing to open it with.
    pub fn open_pii(
        &self,
        order_id: &str,
        purpose: Purpose,
        now: DateTime<Utc>,
    ) -> Result<BuyerPii> {
        self.pii_key(purpose, now)?;
        let pii = self.open_order(order_id, purpose, now)?;
        self.vault.record(
            &[Event::new("pii.opened")
                .operator(&self.name)
                .field("order_id", order_id)
                .field("purpose", purpose.as_str())],
            now,
        )?;
        Ok(pii)
    }

    /// Opens every sealed PII record (orders and gift messages) into a [`LeakScanner`] for
    /// `fulfill audit` (owner or auditor; values are matched, never shown). Recorded as one
    /// `pii.scanned` (records opened, values matched) before the scanner is returned.
    ///
    /// What does not open is not scanned but comes back as findings, one line each, naming the
    /// order: a record forged or moved, a record whose key is gone or was not made by a sealer,
    /// a version 1 record in a migrated vault; and what should be gone: a record of an epoch
    /// that ended, a key of an ended epoch still in the keyring, a key that does not
    /// authenticate.
    pub fn leak_scanner(&self, now: DateTime<Utc>) -> Result<(LeakScanner, Vec<String>)> {
        self.pii_key(Purpose::LeakScan, now)?;
        let opener = self
            .opener
            .as_ref()
            .ok_or_else(|| Error::Denied(format!("role {} holds no PII key", self.role)))?;
        let mut b = ScannerBuilder::default();
        let mut records = 0u64;
        let mut findings = Vec::new();
        let conn = &self.vault.rows();
        let mut all: Vec<(String, String, u64, Vec<u8>)> = store::sealed_pii_all(conn)?
            .into_iter()
            .map(|(o, v, blob)| (o.clone(), o, v, blob))
            .collect();
        all.extend(
            store::sealed_gifts_all(conn)?
                .into_iter()
                .map(|(o, i, blob)| (o.clone(), orders::item_seal_id(&o, &i), 1, blob)),
        );
        for (order, id, version, blob) in &all {
            let what = if id == order {
                format!("order {order}")
            } else {
                format!("a gift message of order {order}")
            };
            match opener.open(&what, id, *version, blob, datakeys::Use::Scan, now) {
                Ok(p) => {
                    if let Some(name) = seal::record_key_name(blob)
                        && name.epoch.ended_by(now)
                    {
                        findings.push(format!(
                            "{what}: sealed PII of retention epoch {} is still stored after the epoch ended (run `fulfill purge`; if purge ran, it was put back)",
                            name.epoch.day()
                        ));
                    }
                    b.add(order, &p);
                    records += 1;
                }
                Err(e) => findings.push(e.to_string()),
            }
        }
        if self.facts.seals_v2() {
            for e in self.vault.keyring().entries()? {
                if e.name.epoch.ended_by(now) {
                    findings.push(format!(
                        "keyring: the data key {} outlives its retention epoch (run `fulfill purge`; if purge ran, it was put back)",
                        e.name.label()
                    ));
                }
                if seal::unwrap_data_key(
                    self.keys.pii_private.as_ref().expect("checked by pii_key"),
                    &self.facts.sealer_public,
                    &self.vault.id,
                    e.name,
                    &e.wrapped,
                )
                .is_none()
                {
                    findings.push(format!(
                        "keyring: the data key {} was not made by a role allowed to seal PII                          (forged or moved from another epoch)",
                        e.name.label()
                    ));
                }
            }
        }
        let values = b.len();
        self.vault.record(
            &[Event::new("pii.scanned")
                .operator(&self.name)
                .field("purpose", Purpose::LeakScan.as_str())
                .field("records", records)
                .field("values", values)
                .field("refused", findings.len() as u64)],
            now,
        )?;
        Ok((b.build()?, findings))
    }

    /// Checks that this operator may add an operator of `role`, before anyone is asked for a
    /// passphrase: it must manage people and hold every key the role needs.
    pub fn check_can_add(&self, role: Role, now: DateTime<Utc>) -> Result<()> {
        self.require(Capability::ManagePeople, "operator.add", now)?;
        self.keys_to_hand_on(role, now).map(drop)
    }

    /// Copies of the keys a new operator of `role` receives; refused (and recorded) when this
    /// operator does not hold one of them.
    fn keys_to_hand_on(&self, role: Role, now: DateTime<Utc>) -> Result<KeySet> {
        let copy = |k: &Option<SecretKey>, needed: bool, what: &str| -> Result<Option<SecretKey>> {
            match (needed, k) {
                (false, _) => Ok(None),
                (true, Some(k)) => Ok(Some(SecretKey::from_bytes(*k.expose_secret()))),
                (true, None) => Err(self.deny(
                    "operator.add",
                    format!("a {role} needs the {what} key, which your role ({}) does not hold; ask the owner", self.role),
                    now,
                )),
            }
        };
        Ok(KeySet {
            pii_private: copy(&self.keys.pii_private, role.holds_pii_key(), "PII")?,
            secrets: copy(&self.keys.secrets, role.holds_secrets_key(), "secrets")?,
            log_key: copy(&self.keys.log_key, role.holds_log_key(), "audit log")?,
            cred_sealer: copy(
                &self.keys.cred_sealer,
                self.facts.seals_v2() && role.can(Capability::ManagePeople),
                "credentials sealer",
            )?,
            facts: Some(self.facts.clone()),
            epoch: self.keys.epoch,
            ..KeySet::default()
        })
    }

    /// Opens an order's gift messages (for the packing slip), one per gifted item, recorded
    /// as one `pii.opened` with the purpose. Like [`Session::open_pii`], a role without the
    /// PII key has nothing to open them with.
    pub fn open_gift_messages(
        &self,
        order_id: &str,
        purpose: Purpose,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, Pii)>> {
        self.pii_key(purpose, now)?;
        let out = self.open_gifts(order_id, purpose, now)?;
        self.vault.record(
            &[Event::new("pii.opened")
                .operator(&self.name)
                .field("order_id", order_id)
                .field("fields", "gift_message")
                .field("purpose", purpose.as_str())],
            now,
        )?;
        Ok(out)
    }

    /// Opens the PII of a batch of orders (and, with `gift_messages`, their sealed gift
    /// messages) for one print job, recorded as ONE `pii.opened` before any plaintext is
    /// returned: `purpose`, `count` and `orders` (the ids, in order), plus `order_id` when the
    /// batch is one order, so a single opening reads as [`Session::open_pii`]'s does. Every
    /// record is decrypted before the record is written; one that cannot be opened fails the
    /// batch, and then nothing is recorded or returned.
    pub fn open_pii_batch(
        &self,
        orders: &[String],
        purpose: Purpose,
        gift_messages: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<Opened>> {
        let (out, ev) = self.open_pii_deferred(orders, purpose, gift_messages, now)?;
        self.vault.record(&[ev], now)?;
        Ok(out)
    }

    /// [`Session::open_pii_batch`] without its record: the `pii.opened` event comes back for
    /// the caller to append in the same record as what it does with the PII, BEFORE any of it
    /// leaves this process (a print job sent to a printer: one append for both). Whoever
    /// calls this must append the event or drop the PII unused.
    pub(crate) fn open_pii_deferred(
        &self,
        orders: &[String],
        purpose: Purpose,
        gift_messages: bool,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Opened>, Event)> {
        self.pii_key(purpose, now)?;
        let mut out = Vec::with_capacity(orders.len());
        for order_id in orders {
            let pii = self.open_order(order_id, purpose, now)?;
            let gifts = if gift_messages {
                self.open_gifts(order_id, purpose, now)?
            } else {
                Vec::new()
            };
            out.push(Opened {
                order_id: order_id.clone(),
                pii,
                gift_messages: gifts,
            });
        }
        let mut ev = Event::new("pii.opened")
            .operator(&self.name)
            .field("purpose", purpose.as_str())
            .field("count", orders.len() as u64)
            .field("orders", orders.to_vec());
        if let [one] = orders {
            ev = ev.field("order_id", one.as_str());
        }
        if gift_messages {
            ev = ev.field("fields", "address,gift_message");
        }
        Ok((out, ev))
    }

    /// Adds an operator. The acting operator must manage people and hold every key the new
    /// role needs: a key is handed on only by someone who holds it.
    pub fn add_operator(
        &self,
        name: &str,
        role: Role,
        cred: NewCredential<'_>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.require(Capability::ManagePeople, "operator.add", now)?;
        check_operator_name(name)?;
        if role == Role::Owner {
            return Err(Error::usage("there is one owner, made by `fulfill init`"));
        }
        if matches!(cred, NewCredential::KeyFile(_)) && role != Role::Fetcher {
            return Err(Error::usage(
                "key files are for the fetcher service; people unlock with a passphrase",
            ));
        }
        if store::operator(&self.vault.rows(), name)?.is_some() {
            return Err(Error::usage(format!("operator {name:?} already exists")));
        }
        let mut keys = self.keys_to_hand_on(role, now)?;
        // Its delivery key, endorsed by the owner when the role holds vault keys (only the
        // owner holds those to hand on), so a later `rekey` can reach it and nothing else.
        let (box_key, box_public) = rotation::new_box_key();
        let box_endorsement = match (&self.keys.authority, rotation::holds_vault_keys(role)) {
            (Some(a), true) => Some(rotation::endorsement(
                a,
                &self.vault.id,
                name,
                role,
                &box_public,
            )),
            (None, true) => {
                return Err(self.deny(
                    "operator.add",
                    format!("only the owner adds a {role}"),
                    now,
                ));
            }
            (_, false) => None,
        };
        keys.box_key = Some(box_key);
        let event = Event::new("operator.added")
            .operator(&self.name)
            .field("name", name)
            .field("role", role.as_str());
        let generated = matches!(cred, NewCredential::KeyFile(_)).then(SecretKey::generate);
        let (resolved, kind) = match (&cred, &generated) {
            (NewCredential::Passphrase(p), _) => {
                p.check_policy(&self.vault.profile.passphrase_policy(), name)?;
                (NewCredentialResolved::Passphrase(p), "passphrase")
            }
            (NewCredential::KeyFile(_), Some(k)) => (NewCredentialResolved::KeyFile(k), "keyfile"),
            (NewCredential::KeyFile(_), None) => unreachable!("a key was generated above"),
        };
        let row =
            self.vault
                .new_operator_row(name, role, &keys, resolved, Some(&self.name), now)?;
        let key_file = match (&cred, &generated) {
            (NewCredential::KeyFile(path), Some(k)) => {
                create_new_private(path, k.expose_secret())?;
                Some(*path)
            }
            _ => None,
        };
        let r = self
            .vault
            .record_with(&[event.field("credential", kind)], now, |c| {
                store::insert_operator(c, &row)?;
                store::set_box_key(c, name, &box_public, box_endorsement.as_deref())
            });
        if let (Err(_), Some(path)) = (&r, key_file) {
            // The operator was not added: its key file must not outlive the attempt.
            let _ = fs::remove_file(path);
        }
        r
    }

    fn target(&self, name: &str) -> Result<OperatorRow> {
        store::operator(&self.vault.rows(), name)?
            .ok_or_else(|| Error::usage(format!("no operator named {name:?}")))
    }

    /// The operator `name`, after checking that this operator may manage it: people managers
    /// only, and an owner only by an owner.
    fn managed(&self, name: &str, action: &'static str, now: DateTime<Utc>) -> Result<OperatorRow> {
        self.require(Capability::ManagePeople, action, now)?;
        let t = self.target(name)?;
        if t.role == Role::Owner && self.role != Role::Owner {
            return Err(self.deny(action, "only an owner may do that to an owner".into(), now));
        }
        Ok(t)
    }

    /// Disables an operator and destroys its wrapped keys (owner or admin; an owner only by
    /// an owner, and never yourself or the last owner). An operator who held vault keys (PII
    /// or secrets) may have copied them: disabling it rotates the keys in the same
    /// transaction (owner only), so nothing stored or fetched afterwards opens with them.
    /// Returns the rotation, if one ran.
    pub fn disable_operator(
        &mut self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<RekeyReport>> {
        let t = self.managed(name, "operator.disable", now)?;
        if name == self.name {
            return Err(Error::usage("you cannot disable yourself"));
        }
        if t.role == Role::Owner {
            let owners = store::operators(&self.vault.rows())?
                .iter()
                .filter(|o| o.role == Role::Owner && o.disabled_at.is_none())
                .count();
            if owners <= 1 {
                return Err(Error::usage("the last owner cannot be disabled"));
            }
        }
        let plan = if rotation::holds_vault_keys(t.role) {
            if self.role != Role::Owner {
                return Err(self.deny(
                    "operator.disable",
                    format!(
                        "a {} holds vault keys: disabling one rotates them, which only the owner can do",
                        t.role
                    ),
                    now,
                ));
            }
            Some(self.plan_rekey(Some(name), now)?)
        } else {
            None
        };
        let mut events = vec![
            Event::new("operator.disabled")
                .operator(&self.name)
                .field("name", name)
                .field("role", t.role.as_str()),
        ];
        if let Some(p) = &plan {
            events.push(p.event(&self.name, "operator_disabled"));
        }
        self.vault.record_with(&events, now, |c| {
            store::disable_operator(c, name, now)?;
            match &plan {
                Some(p) => p.apply(c, &self.name, now),
                None => Ok(()),
            }
        })?;
        plan.map(|p| p.finish(self)).transpose()
    }

    /// Clears a lockout (owner or admin).
    pub fn unlock_operator(&self, name: &str, now: DateTime<Utc>) -> Result<()> {
        self.managed(name, "operator.unlock", now)?;
        let ev = Event::new("operator.unlocked")
            .operator(&self.name)
            .field("name", name);
        self.vault
            .record_with(&[ev], now, |c| store::unlock_operator(c, name))
    }

    /// Changes this operator's passphrase (rules and, under dpp-2025, history apply).
    pub fn change_passphrase(&self, new: Passphrase, now: DateTime<Utc>) -> Result<()> {
        let me = self.target(&self.name)?;
        let StoredCredential::Passphrase { .. } = me.credential else {
            return Err(Error::usage(
                "this operator uses a key file; add a new operator to rotate it",
            ));
        };
        let policy = self.vault.profile.passphrase_policy();
        new.check_policy(&policy, &self.name)?;
        let mut history = me.history.clone();
        let mut history_salt = me.history_salt.clone();
        if policy.history > 0 {
            let hs = history_salt
                .get_or_insert_with(|| random_bytes::<16>().to_vec())
                .clone();
            let d = history_digest(&new, &hs)?;
            if history.iter().take(policy.history).any(|h| *h == d) {
                return Err(Error::usage(format!(
                    "passphrase was used recently; choose one not among your last {}",
                    policy.history
                )));
            }
            history.insert(0, d);
            history.truncate(policy.history);
        }
        let salt = random_bytes::<16>().to_vec();
        let kek = derive_kek(&new, &salt, KdfParams::MIN)?;
        let wrapped = self.keys.wrap(&kek, &keyset_aad(&self.name, self.role));
        self.vault.record_with(
            &[Event::new("operator.passwd")
                .operator(&self.name)
                .field("name", self.name.as_str())],
            now,
            |c| {
                if history_salt != me.history_salt {
                    c.execute(
                        "UPDATE operators SET history_salt = ?2 WHERE name = ?1",
                        crate::store::sql::params![self.name, history_salt],
                    )?;
                }
                store::update_credential(
                    c,
                    &self.name,
                    &salt,
                    KdfParams::MIN,
                    &wrapped,
                    &history,
                    now,
                )
            },
        )
    }
}
