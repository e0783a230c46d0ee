-- Analytics sums a program's operations and new customers over a period (docs/analytics.md).
-- One index each: operations by program and time, customers by program and creation.
CREATE INDEX operations_program_created ON operations (program_id, created_at);
CREATE INDEX customers_program_created ON customers (program_id, created_at);
