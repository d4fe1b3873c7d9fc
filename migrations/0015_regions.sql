-- Issue 22: SP-API credentials per region (one sealed record per region, sealed as the
-- `credentials` row is, with the region in the associated data), and where each order came
-- from: the region whose listing returned it, and whether its marketplace was one the home
-- configured (Amazon returned it anyway: kept, flagged in `orders` and `audit`).
CREATE TABLE region_credentials (
    region     TEXT PRIMARY KEY CHECK (region IN ('na', 'eu', 'fe')),
    sealed     BLOB NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
) STRICT;
ALTER TABLE orders ADD COLUMN fetched_region TEXT;
ALTER TABLE orders ADD COLUMN marketplace_unlisted INTEGER NOT NULL DEFAULT 0;
