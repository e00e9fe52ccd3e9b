-- The scan queue and the vulnerability summaries.

-- One row per image manifest digest waiting to be indexed. A row is a lease-based job: a
-- worker claims it by setting lease_owner/lease_until in one UPDATE, so several workers and
-- several nodes never index the same image at once, and a worker that dies lets its lease
-- run out for another to take over. A finished job is deleted (its outcome is the
-- index_reports row); a job that keeps failing for machinery reasons backs off
-- (not_before) and ends in state 'failed' with the last error.
CREATE TABLE scan_jobs (
    manifest     TEXT PRIMARY KEY,
    repo         TEXT NOT NULL,
    indexer      TEXT NOT NULL,
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    not_before   BIGINT NOT NULL,
    lease_owner  TEXT,
    lease_until  BIGINT,
    last_error   TEXT,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX scan_jobs_ready ON scan_jobs (state, not_before);

-- What the matcher found per manifest under one vulnerability database build: counts by
-- severity and the finding ids, re-made (from the stored index report, never the layers)
-- whenever the database changes.
CREATE TABLE vuln_summaries (
    manifest    TEXT PRIMARY KEY,
    vulndb      TEXT NOT NULL,
    summary     BLOB NOT NULL,
    updated_at  BIGINT NOT NULL
);
