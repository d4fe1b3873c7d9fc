-- 0002: what `fetch` stores. Plain non-PII facts as columns; PII stays in orders.pii (sealed),
-- gift messages in order_items.gift_message (sealed per item).

ALTER TABLE orders ADD COLUMN purchase_date TEXT;
ALTER TABLE orders ADD COLUMN last_update_date TEXT;
ALTER TABLE orders ADD COLUMN fulfillment_channel TEXT;
ALTER TABLE orders ADD COLUMN sales_channel TEXT;
ALTER TABLE orders ADD COLUMN marketplace_id TEXT;
ALTER TABLE orders ADD COLUMN ship_service_level TEXT;
ALTER TABLE orders ADD COLUMN service_level_category TEXT;
ALTER TABLE orders ADD COLUMN order_type TEXT;
ALTER TABLE orders ADD COLUMN ship_country TEXT;
ALTER TABLE orders ADD COLUMN earliest_ship_date TEXT;
ALTER TABLE orders ADD COLUMN latest_ship_date TEXT;
ALTER TABLE orders ADD COLUMN earliest_delivery_date TEXT;
ALTER TABLE orders ADD COLUMN latest_delivery_date TEXT;
ALTER TABLE orders ADD COLUMN is_prime INTEGER;
ALTER TABLE orders ADD COLUMN is_business INTEGER;
ALTER TABLE orders ADD COLUMN order_total TEXT;
ALTER TABLE orders ADD COLUMN order_currency TEXT;
ALTER TABLE orders ADD COLUMN items_shipped INTEGER;
ALTER TABLE orders ADD COLUMN items_unshipped INTEGER;
-- The local lifecycle: pending, unshipped, labelled, shipped, confirmed, confirm_failed, canceled.
ALTER TABLE orders ADD COLUMN lifecycle TEXT NOT NULL DEFAULT 'pending';
-- Amazon sent the order without the PII a label needs (withheld without approval).
ALTER TABLE orders ADD COLUMN pii_missing INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN items_fetched INTEGER NOT NULL DEFAULT 0;
-- When the PII retention clock started (shipment or cancellation); NULL: latest ship date.
ALTER TABLE orders ADD COLUMN retention_start TEXT;
ALTER TABLE orders ADD COLUMN purged_at TEXT;

CREATE INDEX orders_items_pending ON orders (purchase_date, amazon_order_id) WHERE items_fetched = 0;
CREATE INDEX orders_lifecycle ON orders (lifecycle);

CREATE TABLE order_items (
    amazon_order_id  TEXT NOT NULL REFERENCES orders (amazon_order_id) ON DELETE CASCADE,
    order_item_id    TEXT NOT NULL,
    asin             TEXT NOT NULL,
    seller_sku       TEXT,
    title            TEXT,
    quantity_ordered INTEGER NOT NULL,
    quantity_shipped INTEGER,
    is_gift          INTEGER,
    -- HPKE-sealed gift message (PII), bound to order id + item id.
    gift_message     BLOB,
    PRIMARY KEY (amazon_order_id, order_item_id)
) STRICT;

-- MWS credentials, sealed under the secrets key (one row).
CREATE TABLE credentials (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    sealed     BLOB NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
) STRICT;
