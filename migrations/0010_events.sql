-- Events: one row per change a customer may follow, by webhook or from GET /v1/events. Each is
-- inserted in the same D1 batch as the change it describes, so no committed change is without its
-- event and no rolled-back change has one. `data` is the object as the API presented it then (JSON,
-- at most 64 KiB). Kept 30 days.
CREATE TABLE events (
  id          TEXT PRIMARY KEY,                                    -- msg_… (Standard Webhooks' webhook-id)
  org_id      TEXT NOT NULL REFERENCES organizations (id),
  type        TEXT NOT NULL,                                       -- e.g. device.created
  data        TEXT NOT NULL CHECK (json_valid(data) AND length(data) <= 65536),
  created_at  TEXT NOT NULL
) STRICT;
CREATE INDEX events_by_org ON events (org_id, created_at, id);
CREATE INDEX events_by_org_type ON events (org_id, type, created_at, id);
CREATE INDEX events_by_age ON events (created_at);
