-- Saved idempotent responses used to be stored in plain text, API-key secrets and connect tokens
-- among them. Bodies are sealed (AES-GCM) from now on and the plain ones are erased here: a replay of
-- one of these keys answers 409 idempotency_record_unreadable instead of running the request again.
UPDATE idempotency_keys SET response_body = NULL WHERE response_body IS NOT NULL;

-- Which sessions each device has connected to, so that disabling or deleting the device can close
-- its live sockets. A row is written before the device joins; rows of ended sessions are purged hourly.
CREATE TABLE device_connections (
  org_id        TEXT NOT NULL REFERENCES organizations (id),
  device_id     TEXT NOT NULL,                                     -- dev_…; no foreign key: the row outlives a deleted device until purged
  session_id    TEXT NOT NULL REFERENCES sessions (id),
  connected_at  TEXT NOT NULL,                                     -- the latest connection
  PRIMARY KEY (device_id, session_id)
) STRICT;
CREATE INDEX device_connections_by_session ON device_connections (session_id);
