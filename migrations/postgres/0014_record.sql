-- Whether the event is recorded when it goes live (on by default; the organizer may turn it
-- off before going live).
ALTER TABLE events ADD COLUMN record BOOLEAN NOT NULL DEFAULT TRUE;
