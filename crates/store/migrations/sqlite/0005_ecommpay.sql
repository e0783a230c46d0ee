-- ECommPay projects and CashtoCode cash payments (seed 003).
-- Times are unix milliseconds; amounts are minor units; JSON is stored as text.

CREATE TABLE ecommpay_projects (
    id INTEGER PRIMARY KEY,
    merchant_id INTEGER NOT NULL REFERENCES merchants(id),
    name TEXT NOT NULL,
    sealed_secret TEXT NOT NULL,
    callback_url TEXT,
    methods TEXT NOT NULL DEFAULT '["cashtocode"]',
    return_hosts TEXT NOT NULL DEFAULT '[]',
    voucher_ttl_secs INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE ecommpay_payments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES ecommpay_projects(id),
    payment_id TEXT NOT NULL,
    interface TEXT NOT NULL CHECK (interface IN ('payment_page', 'gate')),
    method TEXT NOT NULL,
    status TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    customer TEXT NOT NULL,
    callback_url TEXT,
    return_urls TEXT NOT NULL DEFAULT '{}',
    request_id TEXT NOT NULL,
    token TEXT NOT NULL UNIQUE,
    voucher_code TEXT UNIQUE,
    expires_at INTEGER,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    paid_amount INTEGER,
    terminal_id TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (project_id, payment_id)
);
CREATE INDEX ecommpay_payments_due ON ecommpay_payments (expires_at) WHERE status = 'awaiting redirect result';
CREATE INDEX ecommpay_payments_created ON ecommpay_payments (created_at, id);

-- The sale operation of each payment; its id is the `operation.id` merchants see.
CREATE TABLE ecommpay_operations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_row INTEGER NOT NULL UNIQUE REFERENCES ecommpay_payments(id),
    type TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Every status a payment went through, in order.
CREATE TABLE ecommpay_payment_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_row INTEGER NOT NULL REFERENCES ecommpay_payments(id),
    status TEXT NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX ecommpay_payment_history_payment ON ecommpay_payment_history (payment_row, id);

-- CashtoCode cash terminals; the key is stored as a SHA-256 digest. Failed look-ups are counted
-- per window so a terminal cannot guess codes.
CREATE TABLE cashtocode_terminals (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_digest TEXT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    failure_window_start INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
