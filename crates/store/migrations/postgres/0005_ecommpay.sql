-- ECommPay projects and CashtoCode cash payments (seed 003).
-- Times are unix milliseconds; amounts are minor units; JSON is stored as text.

CREATE TABLE ecommpay_projects (
    id BIGINT PRIMARY KEY,
    merchant_id BIGINT NOT NULL REFERENCES merchants(id),
    name TEXT NOT NULL,
    sealed_secret TEXT NOT NULL,
    callback_url TEXT,
    methods TEXT NOT NULL DEFAULT '["cashtocode"]',
    return_hosts TEXT NOT NULL DEFAULT '[]',
    voucher_ttl_secs BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE ecommpay_payments (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES ecommpay_projects(id),
    payment_id TEXT NOT NULL,
    interface TEXT NOT NULL CHECK (interface IN ('payment_page', 'gate')),
    method TEXT NOT NULL,
    status TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    customer TEXT NOT NULL,
    callback_url TEXT,
    return_urls TEXT NOT NULL DEFAULT '{}',
    request_id TEXT NOT NULL,
    token TEXT NOT NULL UNIQUE,
    voucher_code TEXT UNIQUE,
    expires_at BIGINT,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    paid_amount BIGINT,
    terminal_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (project_id, payment_id)
);
CREATE INDEX ecommpay_payments_due ON ecommpay_payments (expires_at) WHERE status = 'awaiting redirect result';
CREATE INDEX ecommpay_payments_created ON ecommpay_payments (created_at, id);

-- The sale operation of each payment; its id is the `operation.id` merchants see.
CREATE TABLE ecommpay_operations (
    id BIGSERIAL PRIMARY KEY,
    payment_row BIGINT NOT NULL UNIQUE REFERENCES ecommpay_payments(id),
    type TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Every status a payment went through, in order.
CREATE TABLE ecommpay_payment_history (
    id BIGSERIAL PRIMARY KEY,
    payment_row BIGINT NOT NULL REFERENCES ecommpay_payments(id),
    status TEXT NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX ecommpay_payment_history_payment ON ecommpay_payment_history (payment_row, id);

-- CashtoCode cash terminals; the key is stored as a SHA-256 digest. Failed look-ups are counted
-- per window so a terminal cannot guess codes.
CREATE TABLE cashtocode_terminals (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_digest TEXT NOT NULL,
    failures BIGINT NOT NULL DEFAULT 0,
    failure_window_start BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
