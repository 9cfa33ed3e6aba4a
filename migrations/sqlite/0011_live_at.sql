-- When the event went live: the room's clock counts from it (an event may go live before or
-- after its scheduled start).
ALTER TABLE events ADD COLUMN live_at BIGINT;
