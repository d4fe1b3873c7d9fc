-- 0005: bin locations for the pick list. Plain seller data (no PII), one bin per seller SKU,
-- set with `fulfill sku set-location` (audited as `sku.location_changed`).

CREATE TABLE sku_locations (
    sku        TEXT PRIMARY KEY,
    bin        TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
) STRICT;
