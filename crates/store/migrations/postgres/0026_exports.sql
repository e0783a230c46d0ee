-- A member's accounts by owner: the customer exports' balances (and `accounts_of`) read them
-- without walking the program's accounts. Balance updates do not touch it.
CREATE INDEX accounts_member ON accounts (owner_id) WHERE owner_kind = 'customer';
