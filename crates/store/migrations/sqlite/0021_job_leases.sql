-- Periodic jobs run once across nodes: a node runs a job only while it holds the job's lease,
-- renewed every round; a lease not renewed by its expiry is free for another node.
CREATE TABLE job_leases (
    job TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
