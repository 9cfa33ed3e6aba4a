-- A presenter's key for sending into one event's stage from OBS (or any WHIP client). Only
-- its hash is kept: the key is shown once, when it is made; making another replaces it.
CREATE TABLE stream_keys (
    event_id   TEXT NOT NULL REFERENCES events (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    key_hash   TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (event_id, user_id)
);
