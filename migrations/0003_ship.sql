-- 0003: shipments and the confirmation feeds that report them to Amazon. No PII here: order
-- ids, carriers, tracking numbers and feed bodies built from them only.

-- One shipment per order (whole orders; partial shipments are not supported yet).
CREATE TABLE shipments (
    amazon_order_id TEXT PRIMARY KEY REFERENCES orders (amazon_order_id),
    -- Exactly one of carrier_code (amzn-base CarrierCode enum) and carrier_name (free text).
    carrier_code    TEXT,
    carrier_name    TEXT,
    tracking        TEXT NOT NULL,
    method          TEXT,
    shipped_at      TEXT NOT NULL,
    shipped_by      TEXT NOT NULL,
    -- queued: waiting for a feed; submitted: in a feed Amazon accepted; confirmed / failed: the
    -- processing report's verdict for its message; cancelled: a bought label was cancelled
    -- (refund asked), so the order waits for a new shipment.
    state           TEXT NOT NULL CHECK (state IN ('queued', 'submitted', 'confirmed', 'failed', 'cancelled')),
    batch_id        INTEGER REFERENCES feed_batches (id),
    message_id      INTEGER,
    result_code     TEXT,
    result_message  TEXT,
    updated_at      TEXT NOT NULL,
    CHECK ((carrier_code IS NULL) <> (carrier_name IS NULL))
) STRICT;

CREATE INDEX shipments_state ON shipments (state);

-- A confirmation feed, written before it is sent so a crash can never send it twice unnoticed.
CREATE TABLE feed_batches (
    id           INTEGER PRIMARY KEY,
    created_at   TEXT NOT NULL,
    body         BLOB NOT NULL,
    content_md5  TEXT NOT NULL,
    -- prepared: written, not known to have reached Amazon; submitted: Amazon gave it feed_id;
    -- done: its report was applied; cancelled: Amazon cancelled it (shipments re-queued).
    state        TEXT NOT NULL CHECK (state IN ('prepared', 'submitted', 'done', 'cancelled')),
    feed_id      TEXT UNIQUE,
    submitted_at TEXT,
    done_at      TEXT
) STRICT;
