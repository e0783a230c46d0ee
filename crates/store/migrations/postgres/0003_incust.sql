-- inCust e-shop protocol: what each transaction reported, hosted page sessions, wrong attempts.

-- The answer of every inCust transaction as first given: repeats of an earn return it as is,
-- and a cancellation reports the original's amounts negated.
CREATE TABLE incust_transactions (
    operation_id BIGINT PRIMARY KEY REFERENCES operations(id),
    merchant_id BIGINT NOT NULL REFERENCES merchants(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    kind TEXT NOT NULL CHECK (kind IN ('earn', 'redeem', 'cancel')),
    cancels BIGINT REFERENCES operations(id),
    cardphone TEXT NOT NULL,
    comment TEXT NOT NULL,
    amount BIGINT NOT NULL,
    bonuses_redeemed BIGINT NOT NULL,
    amount_to_pay BIGINT NOT NULL,
    bonuses_earned BIGINT NOT NULL,
    card_bonuses BIGINT NOT NULL,
    message TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX incust_transactions_merchant ON incust_transactions (merchant_id, operation_id);

-- A hosted redeem or earn page the shop opened. `form_token` is the SHA-256 of the one-time
-- token the page's form carries; every submission replaces it, so a form replays at most once.
CREATE TABLE incust_pages (
    id BIGSERIAL PRIMARY KEY,
    form_token TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('earn', 'redeem')),
    merchant_id BIGINT NOT NULL REFERENCES merchants(id),
    program_id BIGINT NOT NULL REFERENCES programs(id),
    customer_id BIGINT REFERENCES customers(id),
    cardphone TEXT NOT NULL,
    amount BIGINT NOT NULL,
    comment TEXT NOT NULL,
    return_url TEXT NOT NULL,
    code_digest TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    finished_at BIGINT,
    status TEXT,
    operation_id BIGINT REFERENCES operations(id)
);
CREATE INDEX incust_pages_expiry ON incust_pages (expires_at);

-- Wrong spend passwords and codes, per card (the phone), counted over a sliding window.
CREATE TABLE incust_attempts (
    id BIGSERIAL PRIMARY KEY,
    program_id BIGINT NOT NULL REFERENCES programs(id),
    cardphone TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX incust_attempts_card ON incust_attempts (program_id, cardphone, at);
