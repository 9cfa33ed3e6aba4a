-- A recording can be refused at go-live (too little free disk), with the reason for the
-- organizer.
ALTER TABLE recordings DROP CONSTRAINT recordings_state_check;
ALTER TABLE recordings ADD CONSTRAINT recordings_state_check
    CHECK (state IN ('waiting', 'processing', 'ready', 'empty', 'failed', 'deleted', 'refused'));
