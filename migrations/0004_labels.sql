-- 0004: label files the tool wrote (COMPLIANCE R20): every copy is tracked per order so that
-- `purge` destroys it with the order's PII, wherever the operator asked for it.

CREATE TABLE label_files (
    path            TEXT NOT NULL,
    amazon_order_id TEXT NOT NULL REFERENCES orders (amazon_order_id),
    written_at      TEXT NOT NULL,
    written_by      TEXT NOT NULL,
    PRIMARY KEY (path, amazon_order_id)
) STRICT;

CREATE INDEX label_files_order ON label_files (amazon_order_id);
