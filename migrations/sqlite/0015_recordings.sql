-- What became of an event's recording after the end: composed by a job (with its progress),
-- then played, published or unpublished by the organizer, or deleted with its files.
CREATE TABLE recordings (
    event_id    TEXT PRIMARY KEY REFERENCES events (id),
    state       TEXT NOT NULL CHECK (state IN ('waiting', 'processing', 'ready', 'empty', 'failed', 'deleted')),
    progress    INTEGER NOT NULL DEFAULT 0,
    duration_ms BIGINT,
    published   BOOLEAN NOT NULL DEFAULT TRUE,
    chapters    TEXT NOT NULL DEFAULT '[]',
    error       TEXT,
    updated_at  BIGINT NOT NULL
);

-- When a question was answered: the recording's chapters.
ALTER TABLE questions ADD COLUMN answered_at BIGINT;
