-- Webhook endpoints: where an organisation wants its events delivered. The signing secret is stored
-- sealed (AES-GCM under STORAGE_ENCRYPTION_SECRET, src/lib/encryption.ts), never in plain text; after
-- a rotation the secret it replaced is kept, sealed too, until previous_secret_expires_at, so that
-- deliveries are signed with both while receivers switch.
CREATE TABLE webhook_endpoints (
  id                          TEXT PRIMARY KEY,                    -- whe_…
  org_id                      TEXT NOT NULL REFERENCES organizations (id),
  url                         TEXT NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
  description                 TEXT NOT NULL DEFAULT '' CHECK (length(description) <= 500),
  event_types                 TEXT,                                -- JSON array of event types; NULL: every type
  enabled                     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  secret_sealed               TEXT NOT NULL,
  previous_secret_sealed      TEXT,
  previous_secret_expires_at  TEXT,
  created_at                  TEXT NOT NULL,
  updated_at                  TEXT NOT NULL,
  version                     INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
  CHECK ((previous_secret_sealed IS NULL) = (previous_secret_expires_at IS NULL))
) STRICT;
CREATE INDEX webhook_endpoints_by_org ON webhook_endpoints (org_id, created_at, id);
