-- Realtime sessions. A session ends when asked to (`ended_at`, reason 'ended') or when its TTL
-- runs out (reason 'expired'); an ended session mints no token and accepts no connection.
CREATE TABLE sessions (
  id                  TEXT PRIMARY KEY,                            -- ses_…
  org_id              TEXT NOT NULL REFERENCES organizations (id),
  allowed_device_ids  TEXT,                                        -- JSON array of dev_… ids; NULL lets any participant in
  max_participants    INTEGER NOT NULL CHECK (max_participants BETWEEN 1 AND 1000),
  expires_at          TEXT NOT NULL,
  ended_at            TEXT,
  end_reason          TEXT CHECK (end_reason IN ('ended', 'expired')),
  created_at          TEXT NOT NULL
) STRICT;
CREATE INDEX sessions_by_org ON sessions (org_id, created_at, id);
