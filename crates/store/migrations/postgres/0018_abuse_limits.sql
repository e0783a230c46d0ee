-- Abuse limits (docs/abuse.md).

-- Confirmation codes sent (or asked for) by SMS, counted for the quotas per phone, per client
-- address and per shop or platform (docs/abuse.md); a row counts for an hour.
CREATE TABLE code_sends (
    id BIGSERIAL PRIMARY KEY,
    surface TEXT NOT NULL,
    phone TEXT NOT NULL,
    address TEXT NOT NULL,
    sender TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX code_sends_phone ON code_sends (surface, phone, at);
CREATE INDEX code_sends_address ON code_sends (surface, address, at);
CREATE INDEX code_sends_sender ON code_sends (surface, sender, at);

-- An inCust page opened again for a card finds the shop's code still valid for it.
CREATE INDEX incust_pages_card ON incust_pages (merchant_id, cardphone, expires_at);

-- Wrong passwords of shops and partners (merchant credentials) by login and by client
-- address, for the growing delays of kopilka_domain::throttle; written after the check, so a
-- right password sent many times at once is never counted as a guess.
CREATE TABLE credential_failures (
    id BIGSERIAL PRIMARY KEY,
    protocol TEXT NOT NULL,
    login TEXT NOT NULL,
    address TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX credential_failures_login ON credential_failures (protocol, login, at);
CREATE INDEX credential_failures_address ON credential_failures (address, at);

-- The shop a wrong PIN was typed at, so one PIN sprayed over many cards slows that shop's
-- checks (kopilka_domain::throttle::PER_SHOP).
ALTER TABLE secret_failures ADD COLUMN merchant_id BIGINT REFERENCES merchants(id);
CREATE INDEX secret_failures_shop ON secret_failures (merchant_id, secret, at);
