-- 0008: key rotation (`fulfill rekey`). Migrations are only ever added.

-- Each operator's delivery key (X25519 public half; the private half is in its key set), and,
-- for operators who hold vault keys, the owner's endorsement of it: HMAC-SHA256 under the
-- owner's authority key over the vault id, name, role and public key. A `rekey` seals new keys
-- only to endorsed delivery keys, so a key swapped in with sqlite3 receives nothing.
ALTER TABLE operators ADD COLUMN box_public BLOB;
ALTER TABLE operators ADD COLUMN box_endorsement BLOB;

-- New keys for an operator after a `rekey`: HPKE auth mode from the owner's authority key to
-- the operator's delivery key (AAD = vault id, name, role, epoch). Adopted, re-wrapped and
-- deleted at the operator's next unlock; the owner's stay (its recovery copy may need them).
CREATE TABLE key_deliveries (
    name       TEXT NOT NULL REFERENCES operators (name),
    epoch      INTEGER NOT NULL,
    sealed     BLOB NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (name, epoch)
) STRICT;
