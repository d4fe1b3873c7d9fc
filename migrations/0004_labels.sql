-- 0004: labels. Label files the tool wrote (COMPLIANCE R20) are tracked per order so that
-- `purge` destroys them with the order's PII, wherever the operator asked for them; a label
-- bought from Amazon (Merchant Fulfillment) keeps its ShipmentId.

ALTER TABLE shipments ADD COLUMN amazon_shipment_id TEXT;

CREATE TABLE label_files (
    path            TEXT NOT NULL,
    amazon_order_id TEXT NOT NULL REFERENCES orders (amazon_order_id),
    written_at      TEXT NOT NULL,
    written_by      TEXT NOT NULL,
    PRIMARY KEY (path, amazon_order_id)
) STRICT;

CREATE INDEX label_files_order ON label_files (amazon_order_id);
