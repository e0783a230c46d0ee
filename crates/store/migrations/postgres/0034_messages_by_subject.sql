-- Every message about a subject (an ECommPay payment's callbacks), delivered or not, for the
-- dashboard's payment page: sequences begin with the subject (`Tx::messages_of_subject`), a
-- range compared byte by byte whatever the database's collation.
CREATE INDEX messages_subject ON messages ((sequence COLLATE "C"), id);
