-- A protocol credential an operator disabled (issue 20, docs/admin-api.md): the protocol no
-- longer knows it, its rows stay for the payments and tokens that name it. Never re-enabled.
ALTER TABLE credentials ADD COLUMN disabled_at BIGINT;
ALTER TABLE ecommpay_projects ADD COLUMN disabled_at BIGINT;
ALTER TABLE kupikupi_platforms ADD COLUMN disabled_at BIGINT;
