-- Mail written to the spool folder (no SMTP host configured) is `spooled`, not `sent`: nothing
-- left the machine, and the list must not say it reached the library. Rows spooled before this
-- migration stay `sent` (nothing recorded which transport took them).
ALTER TABLE notifications DROP CONSTRAINT IF EXISTS notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check
    CHECK (status IN ('held', 'digested', 'skipped', 'pending', 'sending', 'sent', 'spooled', 'failed'));
