-- Batch requests are applied in one pass as they are parsed: no staged rows any more.
DROP TABLE loymax_batch_rows;

-- History counts are kept by the code that confirms operations (the ledger and the batch),
-- once per operation or once per customer for a batch. A row trigger made every insert into
-- operations a multi-write statement, which SQLite journals page by page.
DROP TRIGGER operation_counts_insert;
DROP TRIGGER operation_counts_update;

-- No query reads these two (the operations listing filters while it walks the ids; Loymax
-- history has its own index), and every operation written paid for them.
DROP INDEX operations_customer;
DROP INDEX operations_merchant;
