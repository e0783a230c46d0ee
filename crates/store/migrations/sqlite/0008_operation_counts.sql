-- Confirmed operations per customer, by kind and, for reversals, the kind reversed: Loymax
-- history's allCount without counting the customer's rows. Kept by triggers, so every path
-- that writes operations (ledger, batch, any protocol) keeps it in the same transaction.

CREATE TABLE operation_counts (
    customer_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    -- The original's kind for a reversal, '' otherwise.
    reversed_kind TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (customer_id, kind, reversed_kind)
) WITHOUT ROWID;

INSERT INTO operation_counts (customer_id, kind, reversed_kind, n)
SELECT op.customer_id, op.kind, COALESCE(orig.kind, ''), COUNT(*)
FROM operations op LEFT JOIN operations orig ON orig.id = op.reverses
WHERE op.customer_id IS NOT NULL AND op.status = 'confirmed'
GROUP BY op.customer_id, op.kind, COALESCE(orig.kind, '');

CREATE TRIGGER operation_counts_insert AFTER INSERT ON operations
WHEN NEW.status = 'confirmed' AND NEW.customer_id IS NOT NULL
BEGIN
    INSERT INTO operation_counts (customer_id, kind, reversed_kind, n)
    VALUES (NEW.customer_id, NEW.kind, COALESCE((SELECT kind FROM operations WHERE id = NEW.reverses), ''), 1)
    ON CONFLICT (customer_id, kind, reversed_kind) DO UPDATE SET n = n + 1;
END;

-- A hold confirmed. Operations are never deleted, and only a hold's status changes after its
-- insert.
CREATE TRIGGER operation_counts_update AFTER UPDATE OF status ON operations
WHEN NEW.status = 'confirmed' AND OLD.status IS NOT 'confirmed' AND NEW.customer_id IS NOT NULL
BEGIN
    INSERT INTO operation_counts (customer_id, kind, reversed_kind, n)
    VALUES (NEW.customer_id, NEW.kind, COALESCE((SELECT kind FROM operations WHERE id = NEW.reverses), ''), 1)
    ON CONFLICT (customer_id, kind, reversed_kind) DO UPDATE SET n = n + 1;
END;
