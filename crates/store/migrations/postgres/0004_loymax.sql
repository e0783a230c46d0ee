-- Loymax public API: bearer tokens, registrations in progress, confirmation codes, and the index
-- the customer history pages on.

CREATE TABLE loymax_tokens (
    id BIGSERIAL PRIMARY KEY,
    -- SHA-256 of the token; the token itself is never stored.
    digest TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    -- The OAuth application (a `loymax` credential) the token was issued to; NULL for tokens of
    -- the public registration flow.
    credential_id BIGINT REFERENCES credentials(id),
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX loymax_tokens_customer ON loymax_tokens (customer_id, kind);

CREATE TABLE loymax_registrations (
    customer_id BIGINT PRIMARY KEY REFERENCES customers(id),
    -- JSON array of the steps done (`AcceptTenderOffer`, `ChangePhone`, …).
    done TEXT NOT NULL DEFAULT '[]',
    -- How it began: `phone` (a phone number) or `card` (a free physical card's number).
    flow TEXT NOT NULL CHECK (flow IN ('phone', 'card')),
    -- A phone or e-mail waiting for its code.
    new_phone TEXT,
    new_email TEXT,
    completed_at BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE loymax_codes (
    id BIGSERIAL PRIMARY KEY,
    customer_id BIGINT REFERENCES customers(id),
    purpose TEXT NOT NULL CHECK (purpose IN ('phone', 'email', 'reset')),
    -- The phone (E.164 digits) or e-mail the code went to: quotas count per target.
    target TEXT NOT NULL,
    ip TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX loymax_codes_target ON loymax_codes (target, created_at);
CREATE INDEX loymax_codes_ip ON loymax_codes (ip, created_at);
CREATE INDEX loymax_codes_customer ON loymax_codes (customer_id, purpose, id);

-- Wrong passwords, counted to stop guessing (sign-in, continued registration, change).
CREATE TABLE loymax_login_failures (
    id BIGSERIAL PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    at BIGINT NOT NULL
);
CREATE INDEX loymax_login_failures_customer ON loymax_login_failures (customer_id, at);

-- History: a customer's resolved operations newest first, keyset on (created_at, id).
CREATE INDEX loymax_history ON operations (customer_id, status, created_at, id);
