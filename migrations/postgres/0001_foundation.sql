-- Foundation schema. Timestamps are Unix milliseconds (UTC) and ids are UUIDv7 text,
-- both made in Rust, so the same query text runs on SQLite and Postgres.
-- Keep this file and migrations/sqlite/0001_foundation.sql in step.

CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    email             TEXT NOT NULL UNIQUE,
    display_name      TEXT NOT NULL,
    password_hash     TEXT NOT NULL,
    role              TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'organizer', 'admin')),
    email_verified_at BIGINT,
    disabled_at       BIGINT,
    banned_at         BIGINT,
    ban_reason        TEXT,
    deleted_at        BIGINT,
    failed_logins     INTEGER NOT NULL DEFAULT 0,
    locked_until      BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE account_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'change_email')),
    new_email  TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);

CREATE TABLE events (
    id               TEXT PRIMARY KEY,
    owner_id         TEXT NOT NULL REFERENCES users (id),
    title            TEXT NOT NULL,
    description      TEXT NOT NULL,
    starts_at        BIGINT NOT NULL,
    duration_minutes INTEGER NOT NULL CHECK (duration_minutes BETWEEN 15 AND 480),
    time_zone        TEXT NOT NULL,
    capacity         INTEGER CHECK (capacity IS NULL OR capacity > 0),
    visibility       TEXT NOT NULL CHECK (visibility IN ('public', 'members')),
    status           TEXT NOT NULL CHECK (status IN ('scheduled', 'staging', 'live', 'ended', 'cancelled')),
    sequence         INTEGER NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX events_status_start ON events (status, starts_at, id);
CREATE INDEX events_owner_start ON events (owner_id, starts_at, id);

CREATE TABLE registrations (
    event_id   TEXT NOT NULL REFERENCES events (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    status     TEXT NOT NULL CHECK (status IN ('registered', 'waitlisted')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (event_id, user_id)
);
CREATE INDEX registrations_event_status ON registrations (event_id, status, created_at, user_id);
CREATE INDEX registrations_user ON registrations (user_id);

CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    actor_id    TEXT NOT NULL REFERENCES users (id),
    action      TEXT NOT NULL,
    target_id   TEXT,
    detail      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX audit_log_created ON audit_log (created_at, id);
