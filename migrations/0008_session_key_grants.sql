-- Which sessions each API key has minted connect tokens for, so that revoking the key can close the
-- sockets opened with them. A row is written with each token, in the batch of its audit event.
CREATE TABLE session_key_grants (
  org_id      TEXT NOT NULL REFERENCES organizations (id),
  api_key_id  TEXT NOT NULL REFERENCES api_keys (id),
  session_id  TEXT NOT NULL REFERENCES sessions (id),
  -- Until when the key's tokens reach into the session: the session's expiry, not the tokens'. A
  -- socket outlives the token it was opened with, but not its session (the room closes every socket
  -- when the session expires), and no token outlives its session. Rows past it are purged hourly.
  expires_at  TEXT NOT NULL,
  PRIMARY KEY (org_id, api_key_id, session_id)
) STRICT;
-- The revocation's lookup (org_id, api_key_id) is the primary key's prefix; the purge's is this one.
CREATE INDEX session_key_grants_by_expiry ON session_key_grants (expires_at);
