-- Whether the newest token minted for a participant lets it publish. A speaker sent back to
-- the audience exchanges their token for one that does not: IVS then stops their sending, and
-- reconcile leaves them watching (IVS's `published` only says they ever did).
ALTER TABLE stage_participants ADD COLUMN publisher BOOLEAN NOT NULL DEFAULT FALSE;
