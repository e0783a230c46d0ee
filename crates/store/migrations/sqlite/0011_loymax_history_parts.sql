-- Operations shown inside another's Loymax history row: a purchase's payment beside its bonus,
-- a refund's points given back beside those taken back. History lists the row's operation
-- alone, with its part's points beside its own; `operation_counts` counts the row once.
CREATE TABLE loymax_history_parts (
    part INTEGER PRIMARY KEY REFERENCES operations(id),
    row_operation INTEGER NOT NULL UNIQUE REFERENCES operations(id)
);
