-- 0001: the vault. Migrations are only ever added; never edit one that has landed.

-- Vault-wide facts: id, profile, sandbox flag, PII public key, audit chain head/checkpoint.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE operators (
    name              TEXT PRIMARY KEY,
    role              TEXT NOT NULL,
    credential        TEXT NOT NULL CHECK (credential IN ('passphrase', 'keyfile')),
    kdf_salt          BLOB,
    kdf_m_kib         INTEGER,
    kdf_t             INTEGER,
    kdf_p             INTEGER,
    -- AES-256-GCM(KEK, key set), AAD = vault id, name, role. NULL once disabled.
    wrapped_keys      BLOB,
    created_at        TEXT NOT NULL,
    created_by        TEXT,
    last_used_at      TEXT,
    failed_unlocks    INTEGER NOT NULL DEFAULT 0,
    locked_at         TEXT,
    disabled_at       TEXT,
    passphrase_set_at TEXT,
    -- dpp-2025 history: Argon2id digests of earlier passphrases under history_salt.
    history_salt      BLOB,
    history           BLOB
) STRICT;

-- Orders: plain non-PII columns; PII only as one HPKE-sealed blob per order.
CREATE TABLE orders (
    amazon_order_id TEXT PRIMARY KEY,
    status          TEXT NOT NULL,
    pii             BLOB,
    pii_version     INTEGER NOT NULL DEFAULT 0,
    pii_state       TEXT NOT NULL DEFAULT 'none'
                    CHECK (pii_state IN ('none', 'sealed', 'empty', 'purged')),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;
