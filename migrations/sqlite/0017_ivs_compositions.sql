-- Every composition IVS recorded an event with (a stopped one is replaced when someone sends
-- again, and an event may go live twice): after the end, their outputs in the bucket are
-- joined into the event's recording, in order. `prefix` is where an output was found.
CREATE TABLE ivs_compositions (
    arn        TEXT PRIMARY KEY,
    event_id   TEXT NOT NULL REFERENCES events (id),
    stage_arn  TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at   BIGINT,
    prefix     TEXT
);
CREATE INDEX ivs_compositions_event ON ivs_compositions (event_id, started_at);
