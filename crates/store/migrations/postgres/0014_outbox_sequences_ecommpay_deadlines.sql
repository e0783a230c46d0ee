-- Messages to one destination are ordered per subject (an ECommPay payment, a Kupi-Kupi
-- transfer, a native webhook's operation), so one refused subject never holds back the others.
-- `sequence` is the destination, followed by the subject when the message names one; messages
-- queued before this migration keep their destination as their sequence.
ALTER TABLE messages ADD COLUMN sequence TEXT;
UPDATE messages SET sequence = destination;
ALTER TABLE messages ALTER COLUMN sequence SET NOT NULL;
DROP INDEX messages_destination;
CREATE INDEX messages_sequence ON messages (sequence, id) WHERE state = 'pending';

-- A Payment Page payment the customer abandons ends: `expires_at` is also the page's deadline
-- while the payment is `processing`, so the expiry job looks at both states.
DROP INDEX ecommpay_payments_due;
CREATE INDEX ecommpay_payments_due ON ecommpay_payments (expires_at) WHERE status IN ('processing', 'awaiting redirect result');
