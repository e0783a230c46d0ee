-- inCust e-shop protocol: what each transaction reported, hosted page sessions, wrong attempts.

-- The answer of every inCust transaction as first given: repeats of an earn return it as is,
-- and a cancellation reports the original's amounts negated.
CREATE TABLE incust_transactions (
    operation_id INTEGER PRIMARY KEY REFERENCES operations(id),
    merchant_id INTEGER NOT NULL REFERENCES merchants(id),
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    kind TEXT NOT NULL CHECK (kind IN ('earn', 'redeem', 'cancel')),
    cancels INTEGER REFERENCES operations(id),
    cardphone TEXT NOT NULL,
    comment TEXT NOT NULL,
    amount INTEGER NOT NULL,
    bonuses_redeemed INTEGER NOT NULL,
    amount_to_pay INTEGER NOT NULL,
    bonuses_earned INTEGER NOT NULL,
    card_bonuses INTEGER NOT NULL,
    message TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX incust_transactions_merchant ON incust_transactions (merchant_id, operation_id);

-- A hosted redeem or earn page the shop opened. `form_token` is the SHA-256 of the one-time
-- token the page's form carries; every submission replaces it, so a form replays at most once.
CREATE TABLE incust_pages (
    id INTEGER PRIMARY KEY,
    form_token TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('earn', 'redeem')),
    merchant_id INTEGER NOT NULL REFERENCES merchants(id),
    program_id INTEGER NOT NULL REFERENCES programs(id),
    customer_id INTEGER REFERENCES customers(id),
    cardphone TEXT NOT NULL,
    amount INTEGER NOT NULL,
    comment TEXT NOT NULL,
    return_url TEXT NOT NULL,
    code_digest TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    finished_at INTEGER,
    status TEXT,
    operation_id INTEGER REFERENCES operations(id)
);
CREATE INDEX incust_pages_expiry ON incust_pages (expires_at);

-- Wrong spend passwords and codes, per card (the phone), counted over a sliding window.
CREATE TABLE incust_attempts (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    cardphone TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX incust_attempts_card ON incust_attempts (program_id, cardphone, at);
