-- Loymax public API 1.2 (the public SDK): the secrets printed on physical cards, checked when a
-- customer binds or registers one, and the notifications a customer reads in the app.

-- A physical card's CVC and activation password, as argon2 hashes; cards without one bind and
-- register by number alone. Wrong entries are counted: five in a row block the card's secrets
-- for an hour.
CREATE TABLE loymax_card_secrets (
    card_id BIGINT PRIMARY KEY REFERENCES cards(id),
    cvc_hash TEXT,
    activation_hash TEXT,
    failures BIGINT NOT NULL DEFAULT 0,
    blocked_until BIGINT
);

CREATE TABLE loymax_notifications (
    id BIGSERIAL PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    summary TEXT,
    created_at BIGINT NOT NULL,
    read_at BIGINT
);
CREATE INDEX loymax_notifications_customer ON loymax_notifications (customer_id, id);
