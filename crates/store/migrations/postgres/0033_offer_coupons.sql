-- Coupons offers issue (issue 16, docs/offers.md): one per `issue_coupon` effect, owned by its
-- customer, presented at a Loymax till as its code, which counts as its series for the
-- offers' `coupon` condition; used once, by the cheque whose confirmation takes it.
CREATE TABLE offer_coupons (
    id BIGSERIAL PRIMARY KEY,
    program_id BIGINT NOT NULL REFERENCES programs(id),
    code TEXT NOT NULL,
    series TEXT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    -- The effect that issued it (`EffectKey` as JSON): one coupon per effect.
    effect_key TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    used_at BIGINT,
    -- The offers' event (a cheque) that used it.
    used_by TEXT,
    UNIQUE (program_id, code),
    UNIQUE (program_id, effect_key)
);
CREATE INDEX offer_coupons_customer ON offer_coupons (customer_id);

-- Offers' messages go to push devices and Viber too.
ALTER TABLE messages DROP CONSTRAINT messages_kind_check;
ALTER TABLE messages ADD CONSTRAINT messages_kind_check CHECK (kind IN ('sms', 'email', 'callback', 'push', 'viber'));

-- The periodic collector (docs/social.md): a program's VK access token (sealed) and API
-- address, and the last membership each collector saw, by program, network and subject
-- (`members:{group}`): the next round's differences are the events.
ALTER TABLE social_settings ADD COLUMN sealed_vk_access_token TEXT;
ALTER TABLE social_settings ADD COLUMN vk_api_url TEXT;
CREATE TABLE social_collector_rounds (
    program_id BIGINT NOT NULL REFERENCES programs(id),
    network TEXT NOT NULL,
    subject TEXT NOT NULL,
    -- The account ids seen, a sorted JSON array.
    members TEXT NOT NULL,
    -- Rounds that found a change: the next round's event ids name it.
    round BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (program_id, network, subject)
);
