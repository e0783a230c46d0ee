-- Listings newest first (`GET /v1/operations?program_id=` or `?customer_id=`, the exports'
-- pages): a walk down one of these reads the page's rows and stops. Before, a program's page
-- walked the primary key, reading every newer operation of every program first, and a
-- customer's read and sorted all of the customer's operations through `loymax_history`
-- (100,000 of them: 0.4 s, BENCHMARKS.md). Every SQLite index ends with the rowid (`id`), so
-- these are ordered by (program_id, id) and (customer_id, id).
CREATE INDEX operations_program ON operations (program_id);
CREATE INDEX operations_customer_newest ON operations (customer_id);
