-- Keep in step with migrations/postgres/0004_dead_jobs_login_failures.sql.

-- Jobs that failed too often (or panicked) stop being claimed.
ALTER TABLE jobs ADD COLUMN dead_at BIGINT;

-- Failed logins per account and client: `key` is SHA-256 of the email address and the
-- client's IP, so a stranger elsewhere cannot lock the owner out, and an address with no
-- account is counted and locked exactly like one with an account.
CREATE TABLE login_failures (
    key          TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locked_until BIGINT,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX login_failures_updated ON login_failures (updated_at);

-- Arrival order per event, given under the event's lock: the waitlist moves in this order,
-- and a position told to someone stays true (times can tie within a millisecond).
ALTER TABLE registrations ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
