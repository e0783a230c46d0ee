-- Kupi-Kupi: when a transfer's code SMS went out (sent at init, or at the first touch when the
-- per-phone quota held it back), and fiscal receipts, so a refund finds its sale.
-- inCust: every form token a page ever carried, so a form submitted again finds its page.

ALTER TABLE kupikupi_transfers ADD COLUMN code_sent_at INTEGER;
CREATE INDEX kupikupi_transfers_code_sent ON kupikupi_transfers (phone, code_sent_at)
    WHERE code_sent_at IS NOT NULL;

-- One row per receipt (fn, fd, fp) of a platform. A sale (receipt_type 1) earns `cashback`
-- points through `operation_id`; a refund (2) points at the sale it was matched to and
-- takes back `cashback` points through its own reversal `operation_id`.
CREATE TABLE kupikupi_receipts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    platform_id INTEGER NOT NULL REFERENCES kupikupi_platforms(id),
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    fiscal_key TEXT NOT NULL,
    receipt_type INTEGER NOT NULL CHECK (receipt_type IN (1, 2)),
    amount INTEGER NOT NULL CHECK (amount > 0),
    discount INTEGER NOT NULL CHECK (discount >= 0 AND discount <= amount),
    pay_date INTEGER NOT NULL,
    cashback INTEGER NOT NULL CHECK (cashback >= 0),
    operation_id INTEGER REFERENCES operations(id),
    refund_of INTEGER REFERENCES kupikupi_receipts(id),
    refunded INTEGER NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
    taken_back INTEGER NOT NULL DEFAULT 0 CHECK (taken_back >= 0 AND taken_back <= cashback),
    created_at INTEGER NOT NULL,
    UNIQUE (platform_id, fiscal_key)
);
CREATE INDEX kupikupi_receipts_sales ON kupikupi_receipts (platform_id, customer_id, pay_date)
    WHERE receipt_type = 1;

CREATE TABLE incust_page_tokens (
    form_token TEXT PRIMARY KEY,
    page_id INTEGER NOT NULL REFERENCES incust_pages(id)
);
CREATE INDEX incust_page_tokens_page ON incust_page_tokens (page_id);
