-- Core: programs, merchants, customers, cards, the ledger and the outbox.
-- Times are unix milliseconds; amounts are i64 minor units; JSON is stored as text.

CREATE TABLE programs (
    id BIGSERIAL PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    rules TEXT NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);

CREATE TABLE merchants (
    id BIGSERIAL PRIMARY KEY,
    program_id BIGINT NOT NULL REFERENCES programs(id),
    name TEXT NOT NULL,
    sms_name TEXT NOT NULL,
    return_hosts TEXT NOT NULL DEFAULT '[]',
    webhook_url TEXT,
    webhook_secret TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE credentials (
    id BIGSERIAL PRIMARY KEY,
    merchant_id BIGINT NOT NULL REFERENCES merchants(id),
    protocol TEXT NOT NULL,
    login TEXT NOT NULL,
    secret_hash TEXT,
    sealed_secret TEXT,
    meta TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    UNIQUE (protocol, login)
);

CREATE TABLE customers (
    id BIGSERIAL PRIMARY KEY,
    program_id BIGINT NOT NULL REFERENCES programs(id),
    phone TEXT,
    email TEXT,
    password_hash TEXT,
    pin_hash TEXT,
    member_no TEXT NOT NULL,
    state TEXT NOT NULL,
    profile TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    UNIQUE (program_id, phone),
    UNIQUE (program_id, member_no)
);

CREATE TABLE cards (
    id BIGSERIAL PRIMARY KEY,
    program_id BIGINT NOT NULL REFERENCES programs(id),
    number TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('physical', 'virtual')),
    state TEXT NOT NULL CHECK (state IN ('free', 'active', 'blocked')),
    customer_id BIGINT REFERENCES customers(id),
    created_at BIGINT NOT NULL,
    UNIQUE (program_id, number)
);
CREATE INDEX cards_customer ON cards (customer_id);

-- Member accounts (customer, merchant) keep their balance here and never go negative;
-- the balances of system accounts (issuance, burn) are the sums of their postings.
CREATE TABLE accounts (
    id BIGSERIAL PRIMARY KEY,
    program_id BIGINT NOT NULL REFERENCES programs(id),
    currency TEXT NOT NULL,
    owner_kind TEXT NOT NULL CHECK (owner_kind IN ('issuance', 'burn', 'customer', 'merchant')),
    owner_id BIGINT NOT NULL,
    balance BIGINT NOT NULL DEFAULT 0,
    held BIGINT NOT NULL DEFAULT 0,
    UNIQUE (program_id, currency, owner_kind, owner_id),
    CHECK (owner_kind IN ('issuance', 'burn') OR (balance >= 0 AND held >= 0 AND held <= balance))
);

CREATE TABLE operations (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    program_id BIGINT NOT NULL REFERENCES programs(id),
    currency TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    reversed BIGINT NOT NULL DEFAULT 0,
    customer_id BIGINT REFERENCES customers(id),
    merchant_id BIGINT REFERENCES merchants(id),
    reverses BIGINT REFERENCES operations(id),
    consumed_expiry BIGINT,
    protocol TEXT NOT NULL,
    idem_scope TEXT,
    idem_key TEXT,
    fingerprint TEXT,
    description TEXT,
    details TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    resolved_at BIGINT,
    -- The idempotency key of the request that confirmed or voided this hold.
    resolve_scope TEXT,
    resolve_key TEXT,
    resolve_fingerprint TEXT,
    CHECK (reversed >= 0 AND reversed <= amount),
    UNIQUE (idem_scope, idem_key)
);
CREATE UNIQUE INDEX operations_resolve_key ON operations (resolve_scope, resolve_key) WHERE resolve_key IS NOT NULL;
CREATE INDEX operations_customer ON operations (customer_id, created_at DESC, id DESC);
CREATE INDEX operations_merchant ON operations (merchant_id, id DESC);
CREATE INDEX operations_pending ON operations (status, created_at) WHERE status = 'pending';
CREATE INDEX operations_reverses ON operations (reverses) WHERE reverses IS NOT NULL;

CREATE TABLE postings (
    id BIGSERIAL PRIMARY KEY,
    operation_id BIGINT NOT NULL REFERENCES operations(id),
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    amount BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX postings_account ON postings (account_id, id);
CREATE INDEX postings_operation ON postings (operation_id);

CREATE TABLE lots (
    id BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    amount BIGINT NOT NULL,
    remaining BIGINT NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    expires_at BIGINT,
    origin BIGINT NOT NULL REFERENCES operations(id),
    created_at BIGINT NOT NULL
);
CREATE INDEX lots_open ON lots (account_id, expires_at) WHERE remaining > 0;
CREATE INDEX lots_due ON lots (expires_at) WHERE remaining > 0 AND expires_at IS NOT NULL;

CREATE TABLE messages (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('sms', 'email', 'callback')),
    recipient TEXT NOT NULL,
    destination TEXT NOT NULL,
    subject TEXT,
    body TEXT NOT NULL,
    headers TEXT NOT NULL DEFAULT '{}',
    accept TEXT NOT NULL DEFAULT '2xx',
    schedule TEXT NOT NULL DEFAULT 'default',
    -- What a protocol does once the message is delivered or dead (see the outbox worker's hooks).
    purpose TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT,
    last_error TEXT,
    operation_id BIGINT REFERENCES operations(id),
    merchant_id BIGINT REFERENCES merchants(id),
    customer_id BIGINT REFERENCES customers(id),
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX messages_due ON messages (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX messages_destination ON messages (destination, id) WHERE state = 'pending';
CREATE INDEX messages_recipient ON messages (recipient, id);

CREATE TABLE message_attempts (
    id BIGSERIAL PRIMARY KEY,
    message_id BIGINT NOT NULL REFERENCES messages(id),
    at BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    status_code BIGINT,
    error TEXT,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX message_attempts_message ON message_attempts (message_id, id);
