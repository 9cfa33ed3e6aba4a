-- Keep in step with migrations/postgres/0005_live_room.sql.
-- The live room's record: everything here survives a restart and is shared by every
-- instance on the same database; rooms in memory only cache it.

-- Co-presenters the owner names; they run the room with the owner.
CREATE TABLE event_presenters (
    event_id   TEXT NOT NULL REFERENCES events (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (event_id, user_id)
);
CREATE INDEX event_presenters_user ON event_presenters (user_id);

-- Room settings that presenters change while it runs.
ALTER TABLE events ADD COLUMN chat_open BOOLEAN NOT NULL DEFAULT TRUE;

CREATE TABLE questions (
    id          TEXT PRIMARY KEY,
    event_id    TEXT NOT NULL REFERENCES events (id),
    user_id     TEXT NOT NULL REFERENCES users (id),
    body        TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('queued', 'answered', 'dismissed')),
    answer      TEXT,
    answered_by TEXT REFERENCES users (id),
    pinned      BOOLEAN NOT NULL DEFAULT FALSE,
    votes       INTEGER NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX questions_event ON questions (event_id, created_at, id);

CREATE TABLE question_votes (
    question_id TEXT NOT NULL REFERENCES questions (id),
    user_id     TEXT NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (question_id, user_id)
);

-- One raised hand per person and event; lowering deletes the row.
CREATE TABLE hands (
    event_id     TEXT NOT NULL REFERENCES events (id),
    user_id      TEXT NOT NULL REFERENCES users (id),
    raised_at    BIGINT NOT NULL,
    acknowledged BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (event_id, user_id)
);

-- What presenters decided about one person in one event; a reconnect does not clear it.
CREATE TABLE participants (
    event_id             TEXT NOT NULL REFERENCES events (id),
    user_id              TEXT NOT NULL REFERENCES users (id),
    muted                BOOLEAN NOT NULL DEFAULT FALSE,
    chat_restricted      BOOLEAN NOT NULL DEFAULT FALSE,
    questions_restricted BOOLEAN NOT NULL DEFAULT FALSE,
    can_speak            BOOLEAN NOT NULL DEFAULT FALSE,
    banned_at            BIGINT,
    ban_reason           TEXT,
    updated_at           BIGINT NOT NULL,
    PRIMARY KEY (event_id, user_id)
);

-- Group messages (to_user and direct NULL/false), direct messages to the presenters
-- (direct, to_user NULL), a presenter's reply to one attendee (direct, to_user set) and
-- system notices (user_id NULL).
CREATE TABLE chat_messages (
    id         TEXT PRIMARY KEY,
    event_id   TEXT NOT NULL REFERENCES events (id),
    user_id    TEXT REFERENCES users (id),
    direct     BOOLEAN NOT NULL DEFAULT FALSE,
    to_user    TEXT REFERENCES users (id),
    body       TEXT NOT NULL,
    deleted    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);
CREATE INDEX chat_messages_event ON chat_messages (event_id, created_at, id);

-- Each person's joins and leaves, per instance, so reports use real attendance.
CREATE TABLE attendance (
    id        TEXT PRIMARY KEY,
    event_id  TEXT NOT NULL REFERENCES events (id),
    user_id   TEXT NOT NULL REFERENCES users (id),
    instance  TEXT NOT NULL,
    joined_at BIGINT NOT NULL,
    left_at   BIGINT
);
CREATE INDEX attendance_event ON attendance (event_id, left_at);
