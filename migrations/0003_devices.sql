-- Devices: what an organisation connects to sessions. `version` counts changes (optimistic
-- concurrency, ETags); deletion removes the row (the audit log keeps the history).
CREATE TABLE devices (
  id            TEXT PRIMARY KEY,                                  -- dev_…
  org_id        TEXT NOT NULL REFERENCES organizations (id),
  name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  kind          TEXT NOT NULL CHECK (kind IN ('phone', 'browser', 'iot', 'server', 'other')),
  external_id   TEXT CHECK (external_id IS NULL OR length(external_id) BETWEEN 1 AND 128),
  metadata      TEXT NOT NULL DEFAULT '{}',                        -- JSON object
  tags          TEXT NOT NULL DEFAULT '[]',                        -- JSON array of strings
  status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  last_seen_at  TEXT,
  created_at    TEXT NOT NULL,
  updated_at    TEXT NOT NULL,
  version       INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1)
) STRICT;
CREATE UNIQUE INDEX devices_external_id ON devices (org_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX devices_by_org ON devices (org_id, created_at, id);
