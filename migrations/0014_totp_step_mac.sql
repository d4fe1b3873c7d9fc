-- Issue 18 item 8: the TOTP replay counter is authenticated. The MAC of (vault id, operator,
-- totp_last_step) under a key derived from the operator's TOTP secret (src/vault/totp.rs); a
-- counter without a MAC that checks is not trusted, and the audit log's recent records bound it.
ALTER TABLE operators ADD COLUMN totp_step_mac BLOB;
