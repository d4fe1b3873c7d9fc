-- 0013: cancels touch only their own (issue 19). A label file records the Amazon ShipmentId of
-- the bought label it holds, so `buy --cancel` destroys that label's own file and no other; a
-- file that holds other orders too (a wave written with --out, a slip batch) is kept, and the
-- cancelled order is marked in it (cancelled_at), so it is never printed into that batch
-- again. Both NULL for every other row.

ALTER TABLE label_files ADD COLUMN amazon_shipment_id TEXT;
ALTER TABLE label_files ADD COLUMN cancelled_at TEXT;

-- Bought labels tracked before this migration: the file written when the label was bought
-- (the purchase and its file are recorded with the same time). A bought label fetched again
-- later is not matched: it stays tracked, and purge destroys it with the order's PII.
UPDATE label_files SET amazon_shipment_id = (
    SELECT s.amazon_shipment_id FROM shipments s
    WHERE s.amazon_order_id = label_files.amazon_order_id
      AND s.amazon_shipment_id IS NOT NULL AND s.shipped_at = label_files.written_at
    ORDER BY s.package_no DESC LIMIT 1);
