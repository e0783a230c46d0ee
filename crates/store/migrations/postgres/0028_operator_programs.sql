-- Operators limited to programs (issue 19, docs/operators.md "Programs"): the program ids an
-- operator may see and change, a JSON array; NULL for all programs.
ALTER TABLE operators ADD COLUMN program_ids TEXT;
