-- A recording can be refused at go-live (too little free disk), with the reason for the
-- organizer. SQLite changes a CHECK by rebuilding the table.
CREATE TABLE recordings_new (
    event_id    TEXT PRIMARY KEY REFERENCES events (id),
    state       TEXT NOT NULL CHECK (state IN ('waiting', 'processing', 'ready', 'empty', 'failed', 'deleted', 'refused')),
    progress    INTEGER NOT NULL DEFAULT 0,
    duration_ms BIGINT,
    published   BOOLEAN NOT NULL DEFAULT TRUE,
    chapters    TEXT NOT NULL DEFAULT '[]',
    error       TEXT,
    updated_at  BIGINT NOT NULL
);
INSERT INTO recordings_new (event_id, state, progress, duration_ms, published, chapters, error, updated_at)
    SELECT event_id, state, progress, duration_ms, published, chapters, error, updated_at FROM recordings;
DROP TABLE recordings;
ALTER TABLE recordings_new RENAME TO recordings;
