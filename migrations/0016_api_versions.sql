-- Dated API versions (src/versions/, docs/versioning.md). Each organisation has a default version,
-- pinned when it is created (the newest then) and changed with PATCH /v1/organization; a request
-- without `Switchyard-Version` is rendered in it. Organisations created before versions existed get
-- the first one, 2026-12-01: the API as it was. The organisation also gets what the other changeable
-- resources have, a `version` (its ETag, for If-Match) and `updated_at`.
ALTER TABLE organizations ADD COLUMN api_version TEXT NOT NULL DEFAULT '2026-12-01'
  CHECK (api_version GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]');
ALTER TABLE organizations ADD COLUMN version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1);
ALTER TABLE organizations ADD COLUMN updated_at TEXT;
