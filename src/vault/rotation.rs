//! Key rotation: `fulfill rekey`, and how each operator adopts the new keys.
//!
//! The problem: every key-holding operator's keys are wrapped under a KEK only that operator
//! can derive (its passphrase or key file), so the owner cannot re-wrap anyone else's set.
//! The design:
//!
//! - Every operator has a **delivery key** (X25519): the private half in its key set, the
//!   public half in its `operators` row. For operators who hold vault keys (PII or secrets)
//!   the owner **endorses** the public half when adding them: HMAC-SHA256 under the owner's
//!   authority key over the vault id, name, role and key. A delivery key swapped in with
//!   sqlite3 carries no valid endorsement and receives nothing.
//! - The owner holds an **authority key** (X25519). A `rekey` makes a new PII key pair and a
//!   new secrets key pair, re-seals every live PII blob, gift message and credential to the
//!   new public keys, re-wraps the owner's own set, and leaves each other operator a
//!   **delivery**: the new facts and the keys of its role, sealed in HPKE auth mode from the
//!   authority key to its delivery key, bound to vault, name, role and epoch. All of that is one
//!   transaction with its `vault.rekeyed` record.
//! - At its next unlock an operator opens its deliveries (auth mode: only the owner could
//!   have made them, so a forged delivery with an attacker's key pair is refused), checks the
//!   private keys against the new public keys, re-wraps its set and deletes the deliveries
//!   (`keyset.rotated`). The owner's deliveries stay: its recovery copy (under the recovery key
//!   shown at `init`) is only brought up to date through them.
//! - A disabled operator keeps whatever it copied before, but that opens nothing stored or
//!   fetched after the rotation: `disable` of a key holder rotates in the same transaction.
//!
//! Vaults made before rotation existed: the owner's authority key and every operator's
//! delivery key are made at their next unlock, and the authority public key is learnt from
//! `meta` on first use (recorded as `keyset.upgraded`, version 3). Key holders added before
//! that have no endorsed delivery key; a `rekey` names them and they must be added again.
//! The audit log's first MAC key is not rotated (see docs/security.md).

use super::store::Tx;
use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};

use super::key::{KeySet, SecretKey, VaultFacts};
use super::{CREDENTIALS_INFO, Session, Vault, credentials_aad, orders, seal, store};
use crate::audit::Event;
use crate::error::{Error, Result};
use crate::role::Role;

/// HPKE `info` of a key delivery.
const DELIVERY_INFO: &[u8] = b"fulfill/delivery/v1";

/// The `meta` row holding the current key epoch (a hint only: deliveries are authenticated).
pub(super) const EPOCH_META: &str = "key_epoch";
/// The `meta` row holding the owner's authority public key (learnt once by older key sets).
pub(super) const AUTHORITY_META: &str = "authority_public_key";

fn delivery_aad(vault_id: &str, name: &str, role: Role, epoch: u64) -> Vec<u8> {
    format!(
        "fulfill/delivery/v1\0{vault_id}\0{name}\0{}\0{epoch}",
        role.as_str()
    )
    .into_bytes()
}

/// Whether `role` holds a vault key a rotation replaces (so its delivery key must be endorsed).
pub(super) fn holds_vault_keys(role: Role) -> bool {
    role.holds_pii_key() || role.holds_secrets_key()
}

/// The owner's endorsement of an operator's delivery key.
pub(super) fn endorsement(
    authority: &SecretKey,
    vault_id: &str,
    name: &str,
    role: Role,
    box_public: &[u8],
) -> Vec<u8> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(authority.expose_secret())
        .expect("HMAC takes any key length");
    mac.update(
        format!(
            "fulfill/endorse/v1\0{vault_id}\0{name}\0{}\0",
            role.as_str()
        )
        .as_bytes(),
    );
    mac.update(box_public);
    mac.finalize().into_bytes().to_vec()
}

/// A fresh delivery key pair: (private, public).
pub(super) fn new_box_key() -> (SecretKey, [u8; 32]) {
    let (sk, pk) = seal::generate_keypair();
    (sk, *pk.as_bytes())
}

/// What bringing a key set up to date changed, to store with the unlock.
#[derive(Default)]
pub(super) struct KeyChanges {
    /// The set changed in a way that needs wrapping again.
    pub rewrap: bool,
    /// Made or learnt what version 3 adds (authority, delivery key).
    pub upgraded: bool,
    /// A new delivery key's public half and its endorsement, for the `operators` row.
    pub box_key: Option<([u8; 32], Option<Vec<u8>>)>,
    /// The owner's new authority public key, for `meta`.
    pub authority_public: Option<[u8; 32]>,
    /// The epoch the set was at before.
    pub from_epoch: u64,
    /// The epoch the set was rotated to from deliveries.
    pub rotated_to: Option<u64>,
}

impl KeyChanges {
    /// Stores the changes (inside the unlock's transaction); `wrapped` is the re-wrapped set.
    pub fn store(&self, c: &Tx<'_>, name: &str, role: Role, wrapped: Option<&[u8]>) -> Result<()> {
        if let Some(w) = wrapped {
            store::set_wrapped_keys(c, name, w)?;
        }
        if let Some((pk, end)) = &self.box_key {
            store::set_box_key(c, name, pk, end.as_deref())?;
        }
        if let Some(pk) = &self.authority_public {
            store::meta_set(c, AUTHORITY_META, &hex::encode(pk))?;
        }
        if let (Some(e), false) = (self.rotated_to, role == Role::Owner) {
            store::delete_deliveries(c, name, e)?;
        }
        Ok(())
    }

    /// The events to record with the unlock.
    pub fn events(&self, name: &str) -> Vec<Event> {
        let mut ev = Vec::new();
        if self.upgraded {
            ev.push(
                Event::new("keyset.upgraded")
                    .operator(name)
                    .field("version", 3u32),
            );
        }
        if let Some(e) = self.rotated_to {
            ev.push(
                Event::new("keyset.rotated")
                    .operator(name)
                    .field("from_epoch", self.from_epoch)
                    .field("epoch", e),
            );
        }
        ev
    }
}

impl Vault {
    /// Reads the facts in `meta` again (after this process rotated the keys).
    pub(super) fn reread_facts(&self) -> Result<()> {
        *self.meta_facts.borrow_mut() = super::MetaFacts::read(&self.rows())?;
        Ok(())
    }

    /// The current key epoch as `meta` states it (0 before any rotation).
    pub(super) fn stated_epoch(&self) -> Result<u64> {
        Ok(store::meta_get(&self.rows(), EPOCH_META)?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0))
    }

    /// Brings an unwrapped (version 2 or later) key set up to date: version 3 keys made or
    /// learnt where `create` allows, then every delivery since its epoch adopted. A delivery
    /// that does not open from the owner's authority key is tampering (exit 5); a rotation
    /// without a delivery for this operator is refused (exit 3).
    pub(super) fn bring_up_to_date(
        &self,
        name: &str,
        role: Role,
        keys: &mut KeySet,
        create: bool,
        now: DateTime<Utc>,
    ) -> Result<KeyChanges> {
        let mut ch = KeyChanges::default();
        let Some(facts) = keys.facts.as_mut() else {
            return Err(Error::Integrity(format!(
                "operator {name:?}'s key set has no vault facts"
            )));
        };
        if create && role == Role::Owner && keys.authority.is_none() {
            let (sk, pk) = new_box_key();
            facts.authority_public = pk;
            keys.authority = Some(sk);
            ch.authority_public = Some(pk);
            ch.upgraded = true;
        } else if facts.authority_public == [0; 32]
            && let Some(pk) = self.meta_facts.borrow().authority_public
        {
            // Trust on first use, like the version 2 upgrade: recorded, and a later change
            // of the row is refused against the copy now inside the set.
            facts.authority_public = pk;
            ch.upgraded = true;
        }
        if create && keys.box_key.is_none() {
            let (sk, pk) = new_box_key();
            let end = keys
                .authority
                .as_ref()
                .map(|a| endorsement(a, &self.id, name, role, &pk));
            keys.box_key = Some(sk);
            ch.box_key = Some((pk, end));
            ch.upgraded = true;
        }
        ch.from_epoch = keys.epoch;
        if let Some(box_key) = keys
            .box_key
            .as_ref()
            .map(|k| SecretKey::from_bytes(*k.expose_secret()))
        {
            for (epoch, sealed) in store::deliveries_after(&self.rows(), name, keys.epoch)? {
                let authority = keys
                    .facts
                    .as_ref()
                    .map(|f| f.authority_public)
                    .unwrap_or([0; 32]);
                let tampered = || {
                    Error::Integrity(format!(
                        "a key delivery for operator {name:?} (epoch {epoch}) was not made by the owner: changed outside fulfill; nothing was done"
                    ))
                };
                let adopted = seal::open_authenticated(
                    &box_key,
                    &authority,
                    DELIVERY_INFO,
                    &delivery_aad(&self.id, name, role, epoch),
                    &sealed,
                )
                .and_then(|plain| KeySet::decode_delivery(&plain))
                .and_then(|d| adopt(keys, d, role, epoch).ok());
                if adopted.is_none() {
                    self.record(
                        &[Event::new("vault.tampered")
                            .operator(name)
                            .outcome(crate::audit::Outcome::Denied)
                            .field("facts", "key_delivery")
                            .field("epoch", epoch)],
                        now,
                    )?;
                    return Err(tampered());
                }
                ch.rotated_to = Some(epoch);
            }
        }
        let stated = self.stated_epoch()?;
        if stated > keys.epoch {
            return Err(Error::Denied(format!(
                "the vault's keys were rotated (epoch {stated}) without a delivery for operator {name:?}: \
                 the owner must disable and add this operator again"
            )));
        }
        ch.rewrap = ch.upgraded || ch.rotated_to.is_some();
        Ok(ch)
    }
}

/// Takes a delivery's facts and keys into `keys`, checking they belong together.
fn adopt(keys: &mut KeySet, d: KeySet, role: Role, epoch: u64) -> std::result::Result<(), ()> {
    let (Some(old), Some(new)) = (keys.facts.as_ref(), d.facts.as_ref()) else {
        return Err(());
    };
    let same_vault = old.vault_id == new.vault_id
        && old.profile == new.profile
        && old.sandbox == new.sandbox
        && old.authority_public == new.authority_public;
    if !same_vault || d.epoch != epoch || epoch <= keys.epoch {
        return Err(());
    }
    let matches = |k: &Option<SecretKey>, public: &[u8; 32], needed: bool| match (needed, k) {
        (false, None) => true,
        (true, Some(k)) => seal::public_of(k).ok().as_ref() == Some(public),
        _ => false,
    };
    if !matches(&d.pii_private, &new.pii_public, role.holds_pii_key())
        || !matches(&d.secrets, &new.secrets_public, role.holds_secrets_key())
    {
        return Err(());
    }
    // Sealing v2 never goes back, and its sealer keys must be the ones the facts name.
    let seals_creds = new.seals_v2() && role.can(crate::role::Capability::ManagePeople);
    if (old.seals_v2() && !new.seals_v2())
        || !matches(&d.cred_sealer, &new.cred_sealer_public, seals_creds)
        || (new.seals_v2()
            && role.holds_secrets_key()
            && d.pii_sealer()
                .and_then(|k| seal::public_of(&k).ok())
                .as_ref()
                != Some(&new.sealer_public))
    {
        return Err(());
    }
    if role.holds_pii_key() {
        keys.pii_private = d.pii_private;
    }
    if role.holds_secrets_key() {
        keys.secrets = d.secrets;
    }
    if seals_creds {
        keys.cred_sealer = d.cred_sealer;
    }
    keys.facts = d.facts;
    keys.epoch = epoch;
    Ok(())
}

/// What a `rekey` did, for the command to print.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RekeyReport {
    /// The new key epoch.
    pub epoch: u64,
    /// Orders whose PII was re-sealed.
    pub orders: usize,
    /// Gift messages re-sealed.
    pub gift_messages: usize,
    /// Credential sets re-sealed.
    pub credentials: usize,
    /// Operators who receive the new keys at their next unlock.
    pub delivered: Vec<String>,
    /// Key holders left out: added before rotation existed (no endorsed delivery key). They
    /// are refused at their next unlock and must be added again.
    pub not_delivered: Vec<String>,
}

/// A rotation computed in memory, to apply inside one transaction.
pub(super) struct RekeyPlan {
    epoch: u64,
    facts: VaultFacts,
    /// The epoch data keys the re-sealing made: every other key dies once this commits.
    keys_made: Vec<super::seal::KeyName>,
    /// The owner's new key set.
    mine: KeySet,
    owner_wrapped: Vec<u8>,
    pii: Vec<(String, Vec<u8>, Option<u32>)>,
    gifts: Vec<(String, String, Vec<u8>, Option<u32>)>,
    credentials: Vec<(i64, Vec<u8>)>,
    /// Each SP-API region's credentials sealed again: (region, blob).
    region_credentials: Vec<(String, Vec<u8>)>,
    deliveries: Vec<(String, Vec<u8>)>,
    leaving: Option<String>,
    pub report: RekeyReport,
}

impl RekeyPlan {
    /// The `vault.rekeyed` record.
    pub fn event(&self, by: &str, reason: &str) -> Event {
        let r = &self.report;
        Event::new("vault.rekeyed")
            .operator(by)
            .field("epoch", r.epoch)
            .field("reason", reason)
            .field("orders", r.orders)
            .field("gift_messages", r.gift_messages)
            .field("credentials", r.credentials)
            .field("delivered", r.delivered.len())
            .field("not_delivered", r.not_delivered.join(","))
    }

    /// Writes the rotation (the caller's transaction).
    pub fn apply(&self, c: &Tx<'_>, owner: &str, now: DateTime<Utc>) -> Result<()> {
        for (o, blob, e) in &self.pii {
            store::replace_sealed_pii(c, o, blob, *e)?;
        }
        for (o, i, blob, e) in &self.gifts {
            store::replace_sealed_gift(c, o, i, blob, *e)?;
        }
        for (id, blob) in &self.credentials {
            store::replace_sealed_credentials(c, *id, blob)?;
        }
        for (region, blob) in &self.region_credentials {
            store::replace_sealed_region_credentials(c, region, blob)?;
        }
        if let Some(name) = &self.leaving {
            store::delete_deliveries(c, name, u64::MAX >> 1)?;
        }
        for (name, sealed) in &self.deliveries {
            store::put_delivery(c, name, self.epoch, sealed, now)?;
        }
        store::set_wrapped_keys(c, owner, &self.owner_wrapped)?;
        store::meta_set(c, "pii_public_key", &hex::encode(self.facts.pii_public))?;
        store::meta_set(
            c,
            "secrets_public_key",
            &hex::encode(self.facts.secrets_public),
        )?;
        store::meta_set(c, AUTHORITY_META, &hex::encode(self.facts.authority_public))?;
        store::meta_set(
            c,
            super::SEALER_META,
            &hex::encode(self.facts.sealer_public),
        )?;
        store::meta_set(
            c,
            super::CRED_SEALER_META,
            &hex::encode(self.facts.cred_sealer_public),
        )?;
        store::meta_set(c, EPOCH_META, &self.epoch.to_string())
    }

    /// After the rotation committed: destroys every data key the re-sealing did not make
    /// (records sealed under them now hold keys that no longer exist), and hands the owner's
    /// session its new keys.
    pub fn finish(self, session: &mut Session<'_>) -> Result<RekeyReport> {
        let keep = self.keys_made;
        session.vault.keyring().destroy(|n| !keep.contains(&n))?;
        session.vault.reread_facts()?;
        session.adopt_keys(self.mine);
        Ok(self.report)
    }
}

impl Session<'_> {
    /// Rotates the vault's keys (owner only): see the module documentation. `reason` goes
    /// into the `vault.rekeyed` record.
    pub fn rekey(&mut self, reason: &str, now: DateTime<Utc>) -> Result<RekeyReport> {
        let plan = self.plan_rekey(None, now)?;
        let ev = plan.event(&self.name, reason);
        self.vault
            .record_with(&[ev], now, |c| plan.apply(c, &self.name, now))?;
        plan.finish(self)
    }

    /// Opens a record for re-sealing (owner): what does not open stops the rotation.
    fn open_for_rekey(
        &self,
        order: &str,
        record_id: &str,
        version: u64,
        blob: &[u8],
        now: DateTime<Utc>,
    ) -> Result<crate::pii::BuyerPii> {
        self.open_record(
            order,
            record_id,
            version,
            blob,
            super::datakeys::Use::Scan,
            now,
        )
        .map_err(|e| Error::Integrity(format!("{e}; nothing was rotated")))
    }

    /// Computes a rotation; `leaving` is an operator being disabled with it (no delivery).
    pub(super) fn plan_rekey(
        &self,
        leaving: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<RekeyPlan> {
        if self.role != Role::Owner {
            return Err(self.deny(
                "rekey",
                format!(
                    "only the owner rotates the vault's keys (role {} holds no authority key)",
                    self.role
                ),
                now,
            ));
        }
        // The PII key too: every record is opened to be sealed again.
        let (Some(authority), Some(_), Some(old_secrets)) = (
            self.keys.authority.as_ref(),
            self.keys.pii_private.as_ref(),
            self.keys.secrets.as_ref(),
        ) else {
            return Err(Error::Integrity(
                "the owner's key set lacks a key a rotation needs".into(),
            ));
        };
        let v = self.vault;
        let conn = &v.rows();
        let epoch = self.keys.epoch.max(v.stated_epoch()?) + 1;
        let (pii_sk, pii_pk) = seal::generate_keypair();
        let (sec_sk, sec_pk) = seal::generate_keypair();
        let (cs_sk, cs_pk) = new_box_key();
        let facts = VaultFacts {
            pii_public: *pii_pk.as_bytes(),
            secrets_public: *sec_pk.as_bytes(),
            sealer_public: seal::public_of(&super::key::sealer_of(&sec_sk))?,
            cred_sealer_public: cs_pk,
            ..self.facts.clone()
        };
        // Every record is opened with the current keys and sealed again under fresh epoch
        // keys of the new sealer (written to the keyring now; the old keys are destroyed once
        // the rotation commits).
        let (config, _) = crate::config::Config::load_or_profile(&v.home.config_path(), v.profile);
        let mut sealer = super::datakeys::Sealer::v2(
            &v.id,
            super::key::sealer_of(&sec_sk),
            facts.pii_public,
            v.keyring(),
            config.retention.pii_days,
        );
        let deadlines: std::collections::HashMap<String, DateTime<Utc>> =
            super::retention::unpurged(conn)?
                .into_iter()
                .filter_map(|f| {
                    let d = crate::model::retention::deadline(
                        f.retention_start.as_deref(),
                        f.latest_ship_date.as_deref(),
                        f.purchase_date.as_deref(),
                        &f.created_at,
                        sealer.pii_days(),
                    )?;
                    Some((f.order_id, d))
                })
                .collect();
        let deadline_of = |o: &str| deadlines.get(o).copied().unwrap_or(now);
        let mut pii = Vec::new();
        for (o, version, blob) in store::sealed_pii_all(conn)? {
            let p = self.open_for_rekey(&o, &o, version, &blob, now)?;
            let s = sealer.seal(&o, version, deadline_of(&o), &p)?;
            pii.push((o.clone(), s.blob, s.epoch));
        }
        let mut gifts = Vec::new();
        for (o, i, blob) in store::sealed_gifts_all(conn)? {
            let id = orders::item_seal_id(&o, &i);
            let p = self.open_for_rekey(&o, &id, 1, &blob, now)?;
            let s = sealer.seal(&id, 1, deadline_of(&o), &p)?;
            gifts.push((o, i, s.blob, s.epoch));
        }
        // Credentials, the home's row and each region's, sealed again from the new sealer.
        let reseal = |aad: &[u8], plain: &[u8]| {
            seal::seal_authenticated(&cs_sk, &facts.secrets_public, CREDENTIALS_INFO, aad, plain)
        };
        let aad = credentials_aad(&v.id);
        let mut credentials = Vec::new();
        for (id, blob) in store::sealed_credentials_all(conn)? {
            let plain = super::open_credentials(old_secrets, &self.facts, &blob)
                .ok_or_else(|| {
                    Error::Integrity(
                        "the stored credentials do not open: altered, from another vault or not set by an owner or admin; nothing was rotated".into(),
                    )
                })?;
            credentials.push((id, reseal(&aad, &plain)?));
        }
        let mut region_credentials = Vec::new();
        for (region, blob, ..) in orders::region_credentials(conn)? {
            let aad = super::region_credentials_aad(&v.id, &region);
            let plain = super::open_credentials_aad(old_secrets, &self.facts, &aad, &blob)
                .ok_or_else(|| {
                    Error::Integrity(format!(
                        "the stored credentials of region {region} do not open: altered, from another vault or not set by an owner or admin; nothing was rotated"
                    ))
                })?;
            region_credentials.push((region, reseal(&aad, &plain)?));
        }
        let mut mine = self.keys.duplicate();
        mine.pii_private = Some(SecretKey::from_bytes(*pii_sk.expose_secret()));
        mine.secrets = Some(SecretKey::from_bytes(*sec_sk.expose_secret()));
        mine.cred_sealer = Some(SecretKey::from_bytes(*cs_sk.expose_secret()));
        mine.facts = Some(facts.clone());
        mine.epoch = epoch;
        let owner_wrapped = mine.wrap(&self.kek, &super::keyset_aad(&self.name, self.role));
        let mut deliveries = Vec::new();
        let (mut delivered, mut not_delivered) = (Vec::new(), Vec::new());
        for op in store::operators(conn)? {
            if op.disabled_at.is_some() || Some(op.name.as_str()) == leaving {
                continue;
            }
            let endorsed = store::box_key(conn, &op.name)?.and_then(|(pk, end)| {
                let pk: [u8; 32] = pk.as_slice().try_into().ok()?;
                let ok = !holds_vault_keys(op.role)
                    || end.as_deref()
                        == Some(endorsement(authority, &v.id, &op.name, op.role, &pk).as_slice());
                ok.then_some(pk)
            });
            let Some(pk) = endorsed else {
                not_delivered.push(op.name.clone());
                continue;
            };
            let keys = KeySet {
                pii_private: op
                    .role
                    .holds_pii_key()
                    .then(|| SecretKey::from_bytes(*pii_sk.expose_secret())),
                secrets: op
                    .role
                    .holds_secrets_key()
                    .then(|| SecretKey::from_bytes(*sec_sk.expose_secret())),
                cred_sealer: op
                    .role
                    .can(crate::role::Capability::ManagePeople)
                    .then(|| SecretKey::from_bytes(*cs_sk.expose_secret())),
                facts: Some(facts.clone()),
                epoch,
                ..KeySet::default()
            };
            let sealed = seal::seal_authenticated(
                authority,
                &pk,
                DELIVERY_INFO,
                &delivery_aad(&v.id, &op.name, op.role, epoch),
                &keys.encode_delivery(),
            )?;
            if op.name != self.name {
                delivered.push(op.name.clone());
            }
            deliveries.push((op.name, sealed));
        }
        let report = RekeyReport {
            epoch,
            orders: pii.len(),
            gift_messages: gifts.len(),
            credentials: credentials.len() + region_credentials.len(),
            delivered,
            not_delivered,
        };
        Ok(RekeyPlan {
            epoch,
            facts,
            keys_made: sealer.keys_made(),
            mine,
            owner_wrapped,
            pii,
            gifts,
            credentials,
            region_credentials,
            deliveries,
            leaving: leaving.map(str::to_string),
            report,
        })
    }
}
