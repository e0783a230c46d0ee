-- Offers (issue 16, docs/offers.md): each version of an offer as the engine reads it; the usage
-- buckets its limits count in; customers' counters; every effect given, under the engine's key;
-- every event applied, so a repeat answers what was recorded.
CREATE TABLE offers (
    program_id INTEGER NOT NULL REFERENCES programs(id),
    offer_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    effective_from INTEGER NOT NULL,
    effective_to INTEGER,
    -- The domain's `Offer`, as JSON.
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (program_id, offer_id, version)
);

-- One row per `UsageKey`: `owner` is the domain's `UsageOwner` as JSON, `period` its bucket
-- ("all", "2026", "2026-02", "2026-02-01"). Locked by the event that reads it.
CREATE TABLE offer_usage (
    program_id INTEGER NOT NULL REFERENCES programs(id),
    owner TEXT NOT NULL,
    period TEXT NOT NULL,
    points INTEGER NOT NULL,
    uses INTEGER NOT NULL,
    PRIMARY KEY (program_id, owner, period)
);

CREATE TABLE offer_counters (
    program_id INTEGER NOT NULL REFERENCES programs(id),
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    name TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (program_id, customer_id, name)
);

-- An event applied: `result` (effects, trace, operations posted) is written in the transaction
-- that inserted the row, and answered again to a repeat with the same `fingerprint`.
CREATE TABLE offer_events (
    program_id INTEGER NOT NULL REFERENCES programs(id),
    event_id TEXT NOT NULL,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    fingerprint TEXT NOT NULL,
    result TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (program_id, event_id)
);

-- `effect_key` is the engine's `EffectKey` as JSON: unique, so an effect is written once;
-- `original` (a take-back's) is unique too, so an effect is taken back once.
CREATE TABLE offer_effects (
    program_id INTEGER NOT NULL REFERENCES programs(id),
    effect_key TEXT NOT NULL,
    event_id TEXT NOT NULL,
    offer_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    points INTEGER NOT NULL,
    -- The domain's `Effect`, as JSON.
    effect TEXT NOT NULL,
    operation_id INTEGER REFERENCES operations(id),
    original TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (program_id, effect_key),
    UNIQUE (program_id, original)
);
CREATE INDEX offer_effects_event ON offer_effects (program_id, event_id);
