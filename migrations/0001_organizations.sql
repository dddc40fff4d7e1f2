-- Organisations: the tenant every other row belongs to. Rate limits live on the organisation
-- (copied from its plan at creation, adjustable per organisation), in requests per minute.
CREATE TABLE organizations (
  id                     TEXT PRIMARY KEY,      -- org_…, opaque
  name                   TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  plan                   TEXT NOT NULL CHECK (plan IN ('free', 'pro', 'enterprise', 'unlimited')),
  rate_limit_read        INTEGER NOT NULL CHECK (rate_limit_read > 0),
  rate_limit_write       INTEGER NOT NULL CHECK (rate_limit_write > 0),
  rate_limit_token       INTEGER NOT NULL CHECK (rate_limit_token > 0),
  -- The organisation `npm start` seeds locally; its keys are refused in production.
  is_demo                INTEGER NOT NULL DEFAULT 0 CHECK (is_demo IN (0, 1)),
  created_at             TEXT NOT NULL          -- ISO 8601, UTC, millisecond precision
) STRICT;
