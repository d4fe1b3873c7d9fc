-- The service a label bought from Amazon was bought with (issue 10): Shipping API v2 does not
-- send it back with a reprint (getShipmentDocuments), so it is recorded with the purchase.
ALTER TABLE shipments ADD COLUMN service_id TEXT;
