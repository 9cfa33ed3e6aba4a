-- The job loop and the mail outbox. Keep in step with migrations/sqlite/0002_jobs_outbox.sql.

-- Durable work for the in-process job loop: reminders, fan-outs, clean-up, live-room timers.
-- `dedupe_key` makes scheduling idempotent (rescheduling a reminder replaces it).
CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    dedupe_key   TEXT UNIQUE,
    payload      TEXT NOT NULL,
    run_at       BIGINT NOT NULL,
    locked_until BIGINT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (run_at, id);

-- One row per mail to send, written in the same transaction as the change that causes it.
-- The message is rendered at delivery from `purpose`, the user, the event and `payload`
-- (which may hold a link token and is emptied once the mail is sent).
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    purpose         TEXT NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users (id),
    event_id        TEXT REFERENCES events (id),
    to_address      TEXT,
    payload         TEXT NOT NULL DEFAULT '{}',
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'dead', 'skipped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_until    BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at, id);
