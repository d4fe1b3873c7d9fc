-- Issue 20: exactly-once work across packing stations. A claim says "order X is being handled
-- at station S" (labelling, buying, shipping or confirming) until its lease ends; a station
-- takes it with one conditional upsert (free, its own, or lapsed), so two stations never both
-- hold it, and a station that dies mid-work holds nothing once the lease has passed.
CREATE TABLE claims (
    amazon_order_id TEXT PRIMARY KEY REFERENCES orders (amazon_order_id),
    station         TEXT NOT NULL,
    work            TEXT NOT NULL,
    claimed_at      TEXT NOT NULL,
    lease_until     TEXT NOT NULL
) STRICT;
