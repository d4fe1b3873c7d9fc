-- 0007: owner recovery, key-file unlock throttling, TOTP replay protection. Migrations are only ever added.

-- The owner's key set wrapped a second time, under a recovery key shown once at `init`
-- (AES-256-GCM, AAD = "fulfill/recovery/v1", name). Whoever holds the recovery key can set a
-- new passphrase and clear a lockout; nobody typing wrong passphrases can lock it out for good.
CREATE TABLE owner_recovery (
    name       TEXT PRIMARY KEY REFERENCES operators (name),
    wrapped    BLOB NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

-- When an operator last failed to unlock: key-file operators are never locked (a 32-byte key
-- cannot be guessed), but failed attempts past the limit are slowed and logged.
ALTER TABLE operators ADD COLUMN last_failed_at TEXT;

-- The last TOTP time step an operator used: a one-time code is accepted once (RFC 6238 §5.2).
ALTER TABLE operators ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;
