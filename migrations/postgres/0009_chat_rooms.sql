-- The Amazon IVS Chat room an event's group chat is delivered through (chat_provider = ivs),
-- from the green room until it is deleted after the end. Messages themselves stay in
-- chat_messages: IVS only delivers them.
CREATE TABLE chat_rooms (
    event_id   TEXT PRIMARY KEY REFERENCES events (id),
    arn        TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    closed_at  BIGINT
);
