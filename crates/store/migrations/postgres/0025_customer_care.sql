-- Customers an operator updates, blocks, anonymises, merges and searches (docs/customers.md).
-- name_key is the name in lower case in every script (SQLite's lower() folds ASCII only).
ALTER TABLE customers ADD COLUMN name TEXT;
ALTER TABLE customers ADD COLUMN name_key TEXT;
ALTER TABLE customers ADD COLUMN birthday TEXT;
ALTER TABLE customers ADD COLUMN blocked_reason TEXT;
ALTER TABLE customers ADD COLUMN merged_into BIGINT REFERENCES customers(id);
ALTER TABLE customers ADD COLUMN closed_at BIGINT;

-- Search without a program finds a phone, an e-mail, a member number or a card through an
-- index (with a program, the unique keys on (program_id, phone), (program_id, member_no) and
-- (program_id, number) serve).
CREATE INDEX customers_phone ON customers (phone) WHERE phone IS NOT NULL;
CREATE INDEX customers_email ON customers (lower(email)) WHERE email IS NOT NULL;
CREATE INDEX customers_member_no ON customers (member_no);
CREATE INDEX customers_merged_into ON customers (merged_into) WHERE merged_into IS NOT NULL;
CREATE INDEX cards_number ON cards (number);
-- Anonymising a customer finds their messages and inCust rows.
CREATE INDEX messages_customer ON messages (customer_id) WHERE customer_id IS NOT NULL;
CREATE INDEX incust_transactions_customer ON incust_transactions (customer_id);
CREATE INDEX incust_pages_customer ON incust_pages (customer_id) WHERE customer_id IS NOT NULL;
