-- Batch requests are applied in one pass as they are parsed: no staged rows any more.
DROP TABLE loymax_batch_rows;

-- History counts are kept by the code that confirms operations (the ledger and the batch),
-- once per operation or once per customer for a batch, as on SQLite.
DROP TRIGGER operation_counts_insert ON operations;
DROP TRIGGER operation_counts_confirm ON operations;
DROP FUNCTION operation_counts_insert();
DROP FUNCTION operation_counts_confirm();

-- No query reads these two (the operations listing filters while it walks the ids; Loymax
-- history has its own index), and every operation written paid for them.
DROP INDEX operations_customer;
DROP INDEX operations_merchant;
