-- Confirmed operations per customer, by kind and, for reversals, the kind reversed: Loymax
-- history's allCount without counting the customer's rows. Kept by triggers, so every path
-- that writes operations (ledger, batch, any protocol) keeps it in the same transaction.
-- Every writer holds the customer's account lock when it writes their operations, so the
-- counter rows add no waits of their own.

CREATE TABLE operation_counts (
    customer_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    -- The original's kind for a reversal, '' otherwise.
    reversed_kind TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (customer_id, kind, reversed_kind)
);

INSERT INTO operation_counts (customer_id, kind, reversed_kind, n)
SELECT op.customer_id, op.kind, COALESCE(orig.kind, ''), COUNT(*)
FROM operations op LEFT JOIN operations orig ON orig.id = op.reverses
WHERE op.customer_id IS NOT NULL AND op.status = 'confirmed'
GROUP BY op.customer_id, op.kind, COALESCE(orig.kind, '');

-- Once per statement: a batch of a million rows is one grouped upsert.
CREATE FUNCTION operation_counts_insert() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO operation_counts AS c (customer_id, kind, reversed_kind, n)
    SELECT op.customer_id, op.kind, COALESCE(orig.kind, ''), COUNT(*)
    FROM inserted op LEFT JOIN operations orig ON orig.id = op.reverses
    WHERE op.customer_id IS NOT NULL AND op.status = 'confirmed'
    GROUP BY op.customer_id, op.kind, COALESCE(orig.kind, '')
    ORDER BY 1, 2, 3
    ON CONFLICT (customer_id, kind, reversed_kind) DO UPDATE SET n = c.n + excluded.n;
    RETURN NULL;
END
$$;
CREATE TRIGGER operation_counts_insert AFTER INSERT ON operations
REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT EXECUTE FUNCTION operation_counts_insert();

-- A hold confirmed. Operations are never deleted, and only a hold's status changes after its
-- insert.
CREATE FUNCTION operation_counts_confirm() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO operation_counts AS c (customer_id, kind, reversed_kind, n)
    VALUES (NEW.customer_id, NEW.kind, COALESCE((SELECT o.kind FROM operations o WHERE o.id = NEW.reverses), ''), 1)
    ON CONFLICT (customer_id, kind, reversed_kind) DO UPDATE SET n = c.n + 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER operation_counts_confirm AFTER UPDATE OF status ON operations
FOR EACH ROW
WHEN (NEW.status = 'confirmed' AND OLD.status IS DISTINCT FROM 'confirmed' AND NEW.customer_id IS NOT NULL)
EXECUTE FUNCTION operation_counts_confirm();
