-- Listings newest first (`GET /v1/operations?program_id=` or `?customer_id=`, the exports'
-- pages): a walk down one of these reads the page's rows and stops. Before, a program's page
-- walked the primary key, reading every newer operation of every program first (a small
-- program's page in a database of a million operations: 0.9 s), and a customer's read and
-- sorted all of the customer's operations through `loymax_history` (100,000 of them: 0.4 s).
-- Two index entries more per operation written, each at the right edge of its key's range.
CREATE INDEX operations_program ON operations (program_id, id);
CREATE INDEX operations_customer_newest ON operations (customer_id, id);
