-- The seal key's check value (an HMAC of a fixed label under the key, never the key itself):
-- a server started with another key refuses to start instead of failing on every sealed secret.
CREATE TABLE seal_key_check (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    check_value TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
