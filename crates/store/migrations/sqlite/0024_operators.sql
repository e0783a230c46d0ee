-- Operators of the admin API (issue 19, docs/operators.md): accounts with a role, an argon2id
-- password hash and an optional TOTP secret (sealed with the server's key; a new one waits in
-- `totp_pending` until a code confirms it); `totp_last_step` is the last time step a code was
-- taken for, so no code is taken twice.
CREATE TABLE operators (
    id INTEGER PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    sealed_totp TEXT,
    sealed_totp_pending TEXT,
    totp_last_step BIGINT NOT NULL DEFAULT 0,
    disabled BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- API tokens an operator signed in for: only the SHA-256 of the token is kept. Looked up on
-- every request, so a revocation holds at once on every node.
CREATE TABLE operator_tokens (
    id INTEGER PRIMARY KEY,
    operator_id BIGINT NOT NULL REFERENCES operators(id),
    name TEXT NOT NULL,
    token_digest TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    expires_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX operator_tokens_operator ON operator_tokens (operator_id, id);

-- Every admin action: who (an operator, or `bootstrap` for the token of `serve`), the route,
-- the entity and the outcome; before and after as the API shows the entity, or the request,
-- with every secret field redacted.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    operator_id BIGINT,
    token_id BIGINT,
    method TEXT NOT NULL,
    route TEXT NOT NULL,
    entity_kind TEXT,
    entity_id TEXT,
    status BIGINT NOT NULL,
    before_json TEXT,
    after_json TEXT,
    request_json TEXT
);
CREATE INDEX audit_log_at ON audit_log (at, id);
CREATE INDEX audit_log_operator ON audit_log (operator_id, id);
CREATE INDEX audit_log_entity ON audit_log (entity_kind, entity_id, id);

-- Manual adjustments above their program's `adjustment_approval_above`: no effect until another
-- operator approves (the operation is made then, in the transaction that marks it approved).
-- `requested_by` and `decided_by` are `bootstrap` or `operator:ID`.
CREATE TABLE adjustments (
    id INTEGER PRIMARY KEY,
    program_id BIGINT NOT NULL REFERENCES programs(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    kind TEXT NOT NULL,
    amount BIGINT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    decided_by TEXT,
    operation_id BIGINT REFERENCES operations(id),
    -- The request's idempotency key (scope `admin`), unique: a repeat finds its adjustment.
    idem_key TEXT UNIQUE,
    fingerprint TEXT,
    created_at BIGINT NOT NULL,
    decided_at BIGINT
);
CREATE INDEX adjustments_status ON adjustments (status, id);
