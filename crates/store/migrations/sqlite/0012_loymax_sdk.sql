-- Loymax public API 1.2 (the public SDK): card CVCs checked when a customer binds a card, and
-- the notifications a customer reads in the app.

-- A physical card's CVC, as a SHA-256 digest bound to the card; cards without one bind by
-- number alone.
CREATE TABLE loymax_card_cvcs (
    card_id INTEGER PRIMARY KEY REFERENCES cards(id),
    cvc_hash TEXT NOT NULL
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
