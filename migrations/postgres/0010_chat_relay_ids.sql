-- The id Amazon IVS Chat gave a relayed message (SendEvent's answer, 12 characters): IVS's
-- DeleteMessage takes that id, not ours, and pages map it back to the message they show.
ALTER TABLE chat_messages ADD COLUMN relay_id TEXT;
