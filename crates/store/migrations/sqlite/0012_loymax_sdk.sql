-- Loymax public API 1.2 (the public SDK): the secrets printed on physical cards, checked when a
-- customer binds or registers one, and the notifications a customer reads in the app.

-- A physical card's CVC and activation password, as argon2 hashes; cards without one bind and
-- register by number alone. Wrong entries are counted: five in a row block the card's secrets
-- for an hour.
CREATE TABLE loymax_card_secrets (
    card_id INTEGER PRIMARY KEY REFERENCES cards(id),
    cvc_hash TEXT,
    activation_hash TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    blocked_until INTEGER
);

CREATE TABLE loymax_notifications (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    summary TEXT,
    created_at INTEGER NOT NULL,
    read_at INTEGER
);
CREATE INDEX loymax_notifications_customer ON loymax_notifications (customer_id, id);
