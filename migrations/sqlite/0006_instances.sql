-- Each running instance says it is alive every few seconds; visits (attendance) left open
-- by an instance that stopped saying so, because it crashed, are closed by the others.
CREATE TABLE instances (
    id      TEXT PRIMARY KEY,
    seen_at BIGINT NOT NULL
);
