-- What the recap and the attendance report need beyond the visits: when the event ended (the
-- live window is live_at..ended_at), the room's largest audience at once (the total over all
-- instances, raised as it grows) and how many times guests came in (guests are counted, not
-- recorded one by one).
ALTER TABLE events ADD COLUMN ended_at BIGINT;
ALTER TABLE events ADD COLUMN peak_attendees INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN guest_visits INTEGER NOT NULL DEFAULT 0;
