-- Organisations: the tenant every other row belongs to. Plans carry the rate limits of the access layer.
CREATE TABLE organizations (
  id          TEXT PRIMARY KEY,                  -- org_…, opaque
  name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  plan        TEXT NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'pro', 'enterprise', 'unlimited')),
  created_at  TEXT NOT NULL                      -- ISO 8601, UTC
) STRICT;
