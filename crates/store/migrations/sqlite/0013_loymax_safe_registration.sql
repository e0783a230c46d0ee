-- Registration a stranger cannot take over, and wrong secrets that slow an attacker down
-- without locking the owner out (docs/loymax.md, "Registration and sign-in safety").

-- 1 for a registration token issued before its holder confirmed the phone: it may only
-- confirm it (and accept the offer); the token the confirmation hands out is 0.
ALTER TABLE loymax_tokens ADD COLUMN phone_unconfirmed INTEGER NOT NULL DEFAULT 0;

-- Wrong passwords and PINs by account and by client address; an attempt is written before
-- its check and removed when the secret was right, so concurrent guesses count exactly.
CREATE TABLE secret_failures (
    id INTEGER PRIMARY KEY,
    secret TEXT NOT NULL CHECK (secret IN ('password', 'pin')),
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    address TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX secret_failures_account ON secret_failures (customer_id, secret, at);
CREATE INDEX secret_failures_address ON secret_failures (address, secret, at);

-- Replaced by secret_failures.
DROP TABLE loymax_login_failures;
DROP TABLE loymax_pin_failures;
