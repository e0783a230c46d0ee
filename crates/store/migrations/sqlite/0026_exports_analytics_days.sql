-- A member's accounts by owner: the customer exports' balances (and `accounts_of`) read them
-- without walking the program's accounts. Balance updates do not touch it.
CREATE INDEX accounts_member ON accounts (owner_id) WHERE owner_kind = 'customer';

-- Closed days of a program's ledger, summed once (docs/analytics.md): the day in the program's
-- time zone, its confirmed operations summed by protocol, kind and reversed kind (JSON), and the
-- members active that day (a serialised roaring bitmap of customer ids).
CREATE TABLE analytics_days (
    program_id INTEGER NOT NULL REFERENCES programs(id),
    day_start INTEGER NOT NULL,
    day_end INTEGER NOT NULL,
    sums TEXT NOT NULL,
    active_members BLOB NOT NULL,
    PRIMARY KEY (program_id, day_start)
);
