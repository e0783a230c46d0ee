-- Kupi-Kupi platforms and transfers; the customer cabinet's sign-in codes and sessions.

CREATE TABLE kupikupi_platforms (
    id BIGSERIAL PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    merchant_id BIGINT NOT NULL REFERENCES merchants(id),
    site TEXT NOT NULL,
    success_url TEXT NOT NULL,
    fail_url TEXT NOT NULL,
    notification_url TEXT NOT NULL,
    -- Sealed with the server's key: kopilka recomputes tokens with them.
    sealed_secret TEXT NOT NULL,
    sealed_dev_secret TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A transfer's id is the paymentId shops see.
CREATE TABLE kupikupi_transfers (
    id BIGSERIAL PRIMARY KEY,
    platform_id BIGINT NOT NULL REFERENCES kupikupi_platforms(id),
    sandbox BIGINT NOT NULL CHECK (sandbox IN (0, 1)),
    order_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    customer_id BIGINT REFERENCES customers(id),
    amount BIGINT NOT NULL CHECK (amount > 0),
    points BIGINT NOT NULL CHECK (points > 0),
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    sealed_code TEXT NOT NULL,
    form_key TEXT NOT NULL UNIQUE,
    operation_id BIGINT REFERENCES operations(id),
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- One live or paid transfer per order; a rejected or canceled one frees the order id.
CREATE UNIQUE INDEX kupikupi_transfers_order ON kupikupi_transfers (platform_id, sandbox, order_id)
    WHERE status NOT IN ('REJECTED', 'CANCELED');
CREATE INDEX kupikupi_transfers_open ON kupikupi_transfers (expires_at) WHERE status IN ('NEW', 'FORM_SHOWED');
CREATE INDEX kupikupi_transfers_customer ON kupikupi_transfers (customer_id, id DESC);
CREATE INDEX kupikupi_transfers_operation ON kupikupi_transfers (operation_id) WHERE operation_id IS NOT NULL;

CREATE TABLE cabinet_codes (
    id BIGSERIAL PRIMARY KEY,
    program_id BIGINT NOT NULL REFERENCES programs(id),
    phone TEXT NOT NULL,
    code_digest TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    used BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX cabinet_codes_phone ON cabinet_codes (program_id, phone, created_at);

CREATE TABLE cabinet_sessions (
    id BIGSERIAL PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    token_digest TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
