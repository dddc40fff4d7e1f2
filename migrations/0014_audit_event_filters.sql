-- The audit log's filters read through indexes that end in the page's order (created_at, id), so a
-- filtered page reads about as many rows as it returns, however many events the organisation keeps.
-- Measured before (npm run bench:scale, 1,000,000 events in one organisation): an `action` that is
-- 1 event in 100,000 read every event, 196 ms of D1 CPU per request; one object's events
-- (`target_type` + `target_id`, 1 in 1,000) read ~51,000 rows, 14 ms: audit_events_by_target lacked
-- `id`, so the page's ORDER BY could not come from it and SQLite kept to audit_events_by_org.
CREATE INDEX audit_events_by_action ON audit_events (org_id, action, created_at, id);
DROP INDEX audit_events_by_target;
CREATE INDEX audit_events_by_target ON audit_events (org_id, target_type, target_id, created_at, id);
