-- Coupons offers issue (issue 16, docs/offers.md): one per `issue_coupon` effect, owned by its
-- customer, presented at a Loymax till as its code, which counts as its series for the
-- offers' `coupon` condition; used once, by the cheque whose confirmation takes it.
CREATE TABLE offer_coupons (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    code TEXT NOT NULL,
    series TEXT NOT NULL,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    -- The effect that issued it (`EffectKey` as JSON): one coupon per effect.
    effect_key TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    used_at INTEGER,
    -- The offers' event (a cheque) that used it.
    used_by TEXT,
    UNIQUE (program_id, code),
    UNIQUE (program_id, effect_key)
);
CREATE INDEX offer_coupons_customer ON offer_coupons (customer_id);

-- Offers' messages go to push devices and Viber too. SQLite changes a CHECK only by rebuilding
-- the table: the attempts, which reference messages, are set aside while it is rebuilt (so
-- dropping the old table orphans none) and put back as they were.
CREATE TEMP TABLE message_attempts_0033 AS SELECT * FROM message_attempts;
DELETE FROM message_attempts;
CREATE TABLE messages_0033 (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('sms', 'email', 'callback', 'push', 'viber')),
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
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until INTEGER,
    last_error TEXT,
    operation_id INTEGER REFERENCES operations(id),
    merchant_id INTEGER REFERENCES merchants(id),
    customer_id INTEGER REFERENCES customers(id),
    created_at INTEGER NOT NULL,
    delivered_at INTEGER,
    sequence TEXT NOT NULL DEFAULT ''
);
INSERT INTO messages_0033 (id, kind, recipient, destination, subject, body, headers, accept, schedule, purpose, state, attempts, next_attempt_at, lease_until, last_error, operation_id, merchant_id, customer_id, created_at, delivered_at, sequence)
    SELECT id, kind, recipient, destination, subject, body, headers, accept, schedule, purpose, state, attempts, next_attempt_at, lease_until, last_error, operation_id, merchant_id, customer_id, created_at, delivered_at, sequence FROM messages;
DROP TABLE messages;
ALTER TABLE messages_0033 RENAME TO messages;
CREATE INDEX messages_due ON messages (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX messages_recipient ON messages (recipient, id);
CREATE INDEX messages_sequence ON messages (sequence, id) WHERE state = 'pending';
CREATE INDEX messages_customer ON messages (customer_id) WHERE customer_id IS NOT NULL;
INSERT INTO message_attempts SELECT * FROM temp.message_attempts_0033;
DROP TABLE temp.message_attempts_0033;

-- The periodic collector (docs/social.md): a program's VK access token (sealed) and API
-- address, and the last membership each collector saw, by program, network and subject
-- (`members:{group}`): the next round's differences are the events.
ALTER TABLE social_settings ADD COLUMN sealed_vk_access_token TEXT;
ALTER TABLE social_settings ADD COLUMN vk_api_url TEXT;
CREATE TABLE social_collector_rounds (
    program_id INTEGER NOT NULL REFERENCES programs(id),
    network TEXT NOT NULL,
    subject TEXT NOT NULL,
    -- The account ids seen, a sorted JSON array.
    members TEXT NOT NULL,
    -- Rounds that found a change: the next round's event ids name it.
    round INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (program_id, network, subject)
);
