-- 0009: partial shipments and several parcels. An order ships in one or more packages; each
-- row of `shipments` is now one package (same name and columns, so every earlier query still
-- reads), numbered 1, 2, ... within its order (`package_no`: the SP-API packageReferenceId),
-- and `shipment_items` says which items and how many it holds. No PII here.
-- Migrations are only ever added; never edit one that has landed.

CREATE TABLE shipments_v9 (
    id                 INTEGER PRIMARY KEY,
    amazon_order_id    TEXT NOT NULL REFERENCES orders (amazon_order_id),
    package_no         INTEGER NOT NULL CHECK (package_no > 0),
    carrier_code       TEXT,
    carrier_name       TEXT,
    tracking           TEXT NOT NULL,
    method             TEXT,
    shipped_at         TEXT NOT NULL,
    shipped_by         TEXT NOT NULL,
    state              TEXT NOT NULL CHECK (state IN ('queued', 'submitted', 'confirmed', 'failed', 'cancelled')),
    batch_id           INTEGER REFERENCES feed_batches (id),
    message_id         INTEGER,
    result_code        TEXT,
    result_message     TEXT,
    updated_at         TEXT NOT NULL,
    amazon_shipment_id TEXT,
    UNIQUE (amazon_order_id, package_no),
    CHECK ((carrier_code IS NULL) <> (carrier_name IS NULL))
) STRICT;

INSERT INTO shipments_v9 (amazon_order_id, package_no, carrier_code, carrier_name, tracking, method,
    shipped_at, shipped_by, state, batch_id, message_id, result_code, result_message, updated_at,
    amazon_shipment_id)
SELECT amazon_order_id, 1, carrier_code, carrier_name, tracking, method, shipped_at, shipped_by, state,
    batch_id, message_id, result_code, result_message, updated_at, amazon_shipment_id
FROM shipments;

DROP TABLE shipments;
ALTER TABLE shipments_v9 RENAME TO shipments;
CREATE INDEX shipments_state ON shipments (state);
CREATE INDEX shipments_batch ON shipments (batch_id);

-- The items of a package. A package with no rows is a whole order whose items were not known
-- when it shipped (it ships everything left, as the feed's message without Item elements does).
CREATE TABLE shipment_items (
    shipment_id   INTEGER NOT NULL REFERENCES shipments (id) ON DELETE CASCADE,
    order_item_id TEXT NOT NULL,
    quantity      INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (shipment_id, order_item_id)
) STRICT;

-- Shipments recorded before this migration were whole orders: each package holds every item,
-- as many as were left when it shipped (ordered less what Amazon had already shipped).
INSERT INTO shipment_items (shipment_id, order_item_id, quantity)
SELECT s.id, i.order_item_id, i.quantity_ordered - COALESCE(i.quantity_shipped, 0)
FROM shipments s JOIN order_items i ON i.amazon_order_id = s.amazon_order_id
WHERE i.quantity_ordered - COALESCE(i.quantity_shipped, 0) > 0;
