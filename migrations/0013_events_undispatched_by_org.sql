-- The dispatch after a change reads its organisation's undispatched events
-- (`WHERE dispatched_at IS NULL AND org_id = ? ORDER BY created_at`). With only events_by_org and the
-- all-organisations events_undispatched, SQLite picks events_by_org and reads every event the
-- organisation ever wrote to find the few undispatched ones, so each change cost more than the one
-- before (EXPLAIN QUERY PLAN: `SEARCH events USING INDEX events_by_org (org_id=?)`). This index holds
-- only undispatched events, by organisation: the read costs what is pending, not what is kept.
CREATE INDEX events_undispatched_by_org ON events (org_id, created_at) WHERE dispatched_at IS NULL;
