-- Organisation exports (GDPR access and portability): one row per export an API key asked for. The
-- archive itself is in R2 (EXPORTS), under orgs/{org_id}/exports/{id}/, written a part at a time by
-- the export Workflow (src/workflows/organization-export.ts); this row is its status and progress.
-- An archive is kept 7 days after it is complete; a failed export's parts are deleted at once. The
-- hourly retention deletes the objects of those past expires_at and marks the row expired; the row
-- itself is kept (it says who asked for which export, and when) until the organisation is erased.
CREATE TABLE organization_exports (
  id            TEXT PRIMARY KEY,                                  -- exp_…
  org_id        TEXT NOT NULL REFERENCES organizations (id),
  status        TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'expired')),
  progress      TEXT NOT NULL,                                     -- JSON: lines written so far, per resource
  created_at    TEXT NOT NULL,
  created_by    TEXT,                                              -- the API key that asked for it
  started_at    TEXT,                                              -- when the Workflow began reading
  completed_at  TEXT,                                              -- when it succeeded or failed
  expires_at    TEXT,                                              -- when its objects are deleted; NULL while in progress
  size_bytes    INTEGER CHECK (size_bytes >= 0),                   -- the archive's size (the tar), once it succeeded
  error_code    TEXT,                                              -- why it failed, once it did
  CHECK ((status IN ('queued', 'running')) = (expires_at IS NULL))
) STRICT;
-- The per-organisation list, in (created_at, id) order.
CREATE INDEX organization_exports_by_org ON organization_exports (org_id, created_at, id);
-- At most one export in progress per organisation: a second INSERT is refused by the constraint.
CREATE UNIQUE INDEX organization_exports_one_in_progress ON organization_exports (org_id) WHERE status IN ('queued', 'running');
-- The hourly expiry, oldest first, of the exports whose objects are still stored.
CREATE INDEX organization_exports_expiring ON organization_exports (expires_at) WHERE status IN ('succeeded', 'failed');
-- The hourly check for exports whose Workflow never started or stopped without a word.
CREATE INDEX organization_exports_in_progress ON organization_exports (created_at) WHERE status IN ('queued', 'running');
