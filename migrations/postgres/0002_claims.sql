-- SQLite's 0016_claims.sql: which station is handling an order, until its lease ends.
CREATE TABLE claims (
    amazon_order_id TEXT COLLATE "C" PRIMARY KEY REFERENCES orders (amazon_order_id),
    station         TEXT COLLATE "C" NOT NULL,
    work            TEXT COLLATE "C" NOT NULL,
    claimed_at      TEXT COLLATE "C" NOT NULL,
    lease_until     TEXT COLLATE "C" NOT NULL
);
