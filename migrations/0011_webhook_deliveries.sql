-- Webhook delivery. An event is dispatched once: a delivery row for every enabled endpoint subscribed
-- to its type, in one batch with the event's dispatched_at, then one queue message per delivery. A
-- delivery is pending until an attempt gets a 2xx (succeeded) or the retry schedule runs out
-- (failed); every HTTP request made for it is an attempt row, kept for the attempts API. Both are
-- kept 30 days, like the events (settled deliveries only: a pending one is never purged).
ALTER TABLE events ADD COLUMN dispatched_at TEXT;                   -- NULL until its deliveries exist
CREATE INDEX events_undispatched ON events (created_at) WHERE dispatched_at IS NULL;

-- When the endpoint's attempts began failing without a success since; NULL while it is healthy.
-- Failing for 5 days disables it.
ALTER TABLE webhook_endpoints ADD COLUMN failing_since TEXT;

CREATE TABLE webhook_deliveries (
  id               TEXT PRIMARY KEY,                                -- whd_…
  org_id           TEXT NOT NULL REFERENCES organizations (id),
  endpoint_id      TEXT NOT NULL,                                   -- no FK: deliveries outlive a deleted endpoint's row for the attempts API
  event_id         TEXT NOT NULL,
  status           TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at  TEXT,                                            -- when the next attempt is due; NULL unless pending
  leased_until     TEXT,                                            -- a consumer is attempting it until then
  created_at       TEXT NOT NULL,
  updated_at       TEXT NOT NULL,
  UNIQUE (endpoint_id, event_id),
  CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL))
) STRICT;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (org_id, endpoint_id, status, created_at);
CREATE INDEX webhook_deliveries_settled ON webhook_deliveries (updated_at) WHERE status <> 'pending';

CREATE TABLE webhook_attempts (
  id             TEXT PRIMARY KEY,                                  -- wha_…
  org_id         TEXT NOT NULL REFERENCES organizations (id),
  endpoint_id    TEXT NOT NULL,
  delivery_id    TEXT NOT NULL,
  event_id       TEXT NOT NULL,
  attempt        INTEGER NOT NULL CHECK (attempt >= 1),             -- 1 for the first request of its delivery
  outcome        TEXT NOT NULL CHECK (outcome IN ('succeeded', 'failed', 'timeout', 'network_error', 'not_allowed')),
  status_code    INTEGER,                                           -- the receiver's, when it answered
  duration_ms    INTEGER NOT NULL CHECK (duration_ms >= 0),
  next_attempt_at TEXT,                                             -- when the delivery is tried again; NULL if not
  created_at     TEXT NOT NULL                                      -- when the request was sent
) STRICT;
CREATE INDEX webhook_attempts_by_endpoint ON webhook_attempts (org_id, endpoint_id, created_at, id);
CREATE INDEX webhook_attempts_by_age ON webhook_attempts (created_at);
