-- What an order's retention clock (orders.retention_start) counts from (issue 10):
-- 'delivered' (the first DELIVERED package status seen), 'latest_delivery' (the latest delivery
-- date Amazon gave), 'shipment' or 'cancellation'. NULL: not anchored yet (read as shipment).
ALTER TABLE orders ADD COLUMN retention_anchor TEXT
    CHECK (retention_anchor IN ('delivered', 'latest_delivery', 'shipment', 'cancellation'));
