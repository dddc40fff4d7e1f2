-- Retention (src/scheduled.ts). A session's room keeps its last 1,000 messages in the room's own
-- storage; a day after the session is over the hourly run erases them and stamps the session here,
-- so the room is not called again.
ALTER TABLE sessions ADD COLUMN messages_purged_at TEXT;

-- The run's question, "which sessions have been over since before T and their rooms not yet purged?",
-- answered from this index alone: only unpurged sessions are in it (so it stays the size of the
-- live and recently ended ones, not of all history), keyed by when each is over: ended_at when it
-- was ended (always before its expires_at), else expires_at. The query must spell the same expression.
CREATE INDEX sessions_awaiting_message_purge ON sessions (coalesce(ended_at, expires_at)) WHERE messages_purged_at IS NULL;

-- Expired audit events need no index of their own: audit_events_by_org (org_id, created_at, id)
-- finds each organisation's events older than its plan's retention as one range.
