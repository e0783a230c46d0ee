-- Loymax part 2: purchases (the processing state machine), their operations keyed by the
-- shop's operationId, and batch balance requests with their staged rows.

CREATE TABLE loymax_purchases (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    merchant_id INTEGER NOT NULL REFERENCES merchants(id),
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    purchase_id TEXT NOT NULL,
    -- The domain's PurchaseState, with the cheque, payment and earn as JSON.
    state TEXT NOT NULL,
    data TEXT NOT NULL,
    hold_operation INTEGER REFERENCES operations(id),
    earn_operation INTEGER REFERENCES operations(id),
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (merchant_id, purchase_id)
);
CREATE INDEX loymax_purchases_open ON loymax_purchases (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE loymax_purchase_operations (
    id INTEGER PRIMARY KEY,
    purchase INTEGER NOT NULL REFERENCES loymax_purchases(id),
    merchant_id INTEGER NOT NULL REFERENCES merchants(id),
    operation_id TEXT NOT NULL,
    method TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    answer TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (merchant_id, operation_id)
);

CREATE TABLE loymax_batch_requests (
    id INTEGER PRIMARY KEY,
    merchant_id INTEGER NOT NULL REFERENCES merchants(id),
    request_id TEXT NOT NULL,
    type INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    row_count INTEGER NOT NULL,
    answer TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (merchant_id, request_id)
);

-- Rows of a request being received, staged in chunks before one apply; deleted afterwards.
CREATE TABLE loymax_batch_rows (
    batch TEXT NOT NULL,
    seq INTEGER NOT NULL,
    member_no TEXT NOT NULL,
    points INTEGER NOT NULL,
    description TEXT,
    details TEXT NOT NULL,
    uuid TEXT NOT NULL,
    customer_id INTEGER,
    account_id INTEGER,
    operation_id INTEGER,
    PRIMARY KEY (batch, seq)
);

-- Wrong spend PINs sent with Payment, for the attempt limit.
CREATE TABLE loymax_pin_failures (
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    at INTEGER NOT NULL
);
CREATE INDEX loymax_pin_failures_customer ON loymax_pin_failures (customer_id, at);
