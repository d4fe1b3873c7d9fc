-- Sealing v2 (issue 17): each sealed record's retention epoch (the UTC day number its order's
-- deadline falls in), a plain copy of what the record's header states. `purge` reads it to
-- know which epoch keys still have records; opening trusts only the authenticated header.
ALTER TABLE orders ADD COLUMN pii_epoch INTEGER;
ALTER TABLE order_items ADD COLUMN gift_epoch INTEGER;
