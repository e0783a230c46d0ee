-- Analytics sums a program's operations and new customers over a period (docs/analytics.md).
-- The operations index holds every column the sums read, so a period is one range of the
-- index and never the table's rows, which a period visits scattered.
CREATE INDEX operations_program_created ON operations (program_id, created_at, status, kind, protocol, customer_id, amount, reverses);
CREATE INDEX customers_program_created ON customers (program_id, created_at);
