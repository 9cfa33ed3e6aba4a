-- The remote stage (Amazon IVS) an event's media runs on, from the green room until it is
-- deleted after the end; the embedded media server keeps no rows here. `closed_at` is set once
-- the stage and its composition are gone, so nothing is left running (and billed).
CREATE TABLE stages (
    event_id          TEXT PRIMARY KEY REFERENCES events (id),
    arn               TEXT NOT NULL,
    whip_url          TEXT NOT NULL,
    events_url        TEXT NOT NULL,
    composition_arn   TEXT,
    created_at        BIGINT NOT NULL,
    closed_at         BIGINT
);

-- Every participant id a token was minted for: token refreshes keep the id (IVS exchanges
-- tokens only within one participant), and kick, ban and revoke disconnect each of a person's.
CREATE TABLE stage_participants (
    participant_id TEXT PRIMARY KEY,
    event_id       TEXT NOT NULL REFERENCES events (id),
    user_id        TEXT REFERENCES users (id),
    screen         BOOLEAN NOT NULL,
    issued_at      BIGINT NOT NULL
);
CREATE INDEX stage_participants_by_user ON stage_participants (event_id, user_id);
