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
