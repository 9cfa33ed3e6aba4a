-- What an event used on Amazon IVS, per calendar month (UTC, `YYYY-MM`), measured by the
-- stage's reconcile every minute: participant-milliseconds (everyone connected, viewers
-- included, as IVS bills), composition-milliseconds, and the most people seen connected at
-- once (chat messages are delivered to about that many). The operator's monthly ceiling is
-- checked against these.
CREATE TABLE ivs_usage (
    month          TEXT NOT NULL,
    event_id       TEXT NOT NULL REFERENCES events (id),
    participant_ms BIGINT NOT NULL DEFAULT 0,
    composition_ms BIGINT NOT NULL DEFAULT 0,
    audience       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (month, event_id)
);

-- The stage's last look: when, and how many were connected.
ALTER TABLE stages ADD COLUMN sampled_at BIGINT;
ALTER TABLE stages ADD COLUMN sampled_count BIGINT NOT NULL DEFAULT 0;

-- A watching participant IVS no longer reports connected frees its place under the event's
-- viewer cap.
ALTER TABLE stage_participants ADD COLUMN left_at BIGINT;

-- The most people who may watch the event's IVS stage at once; NULL: no cap.
ALTER TABLE events ADD COLUMN viewer_cap INTEGER;
