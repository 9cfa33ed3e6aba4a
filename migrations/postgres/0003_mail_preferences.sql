-- Notification preferences. Keep in step with migrations/sqlite/0003_mail_preferences.sql.
-- Account mail (confirmation, reset, lockout) is always sent and has no switch.
ALTER TABLE users ADD COLUMN mail_reminders BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE users ADD COLUMN mail_event_news BOOLEAN NOT NULL DEFAULT TRUE;
