-- API keys, stored as SHA-256 only. Revoked keys stay for the audit trail but are invisible to the API.
CREATE TABLE api_keys (
  id            TEXT PRIMARY KEY,                                  -- key_…
  org_id        TEXT NOT NULL REFERENCES organizations (id),
  name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  mode          TEXT NOT NULL CHECK (mode IN ('live', 'test')),
  prefix        TEXT NOT NULL,                                     -- first characters, for recognition
  hash          TEXT NOT NULL UNIQUE,                              -- hex SHA-256 of the whole key
  scopes        TEXT NOT NULL,                                     -- JSON array of scope names
  expires_at    TEXT,
  created_at    TEXT NOT NULL,
  created_by    TEXT,                                              -- key id that created it; NULL for bootstrap keys
  last_used_at  TEXT,
  revoked_at    TEXT,
  rotated_to    TEXT                                               -- the key that replaced it, after a rotation
) STRICT;
CREATE INDEX api_keys_by_org ON api_keys (org_id, created_at, id);

-- Every change, written in the same D1 batch as the change itself.
CREATE TABLE audit_events (
  id            TEXT PRIMARY KEY,                                  -- evt_…
  org_id        TEXT NOT NULL REFERENCES organizations (id),
  actor_key_id  TEXT,                                              -- NULL for bootstrap actions
  action        TEXT NOT NULL,                                     -- e.g. api_key.created
  target_type   TEXT NOT NULL,
  target_id     TEXT NOT NULL,
  request_id    TEXT NOT NULL,
  ip_hash       TEXT,                                              -- keyed hash of the client IP, never the IP
  user_agent    TEXT,
  created_at    TEXT NOT NULL
) STRICT;
CREATE INDEX audit_events_by_org ON audit_events (org_id, created_at, id);
CREATE INDEX audit_events_by_target ON audit_events (org_id, target_type, target_id, created_at);

-- Idempotency keys (Stripe / IETF draft semantics), per organisation, kept 24 hours.
CREATE TABLE idempotency_keys (
  org_id            TEXT NOT NULL,
  key               TEXT NOT NULL,
  fingerprint       TEXT NOT NULL,                                 -- SHA-256 of method, path and body
  state             TEXT NOT NULL CHECK (state IN ('in_flight', 'completed')),
  locked_until      TEXT,                                          -- an in-flight claim older than this was abandoned
  response_status   INTEGER,
  response_headers  TEXT,                                          -- JSON object of the headers replayed
  response_body     TEXT,
  created_at        TEXT NOT NULL,
  expires_at        TEXT NOT NULL,
  PRIMARY KEY (org_id, key)
) STRICT;
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);
