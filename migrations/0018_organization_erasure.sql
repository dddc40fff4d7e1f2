-- Erasure (GDPR art. 17). DELETE /v1/organization stamps erased_at in the batch that revokes every
-- key and writes the tombstone: from then on authentication refuses every key of the organisation,
-- even one created by a request that raced the erasure, until the erasure job (src/workflows/
-- erasure.ts) has deleted every row and finally this one. The partial index lists the organisations
-- whose erasure is under way, for the hourly run that restarts a job that stopped.
ALTER TABLE organizations ADD COLUMN erased_at TEXT;
CREATE INDEX organizations_being_erased ON organizations (erased_at) WHERE erased_at IS NOT NULL;

-- What remains of an erased organisation: its id, when, and by which key (the key's row is deleted
-- with the rest), so the erasure itself can be shown to have happened. No name, nothing else. No
-- foreign key: it outlives the organisation's row.
CREATE TABLE organization_tombstones (
  org_id            TEXT PRIMARY KEY,                              -- org_…
  erased_at         TEXT NOT NULL,                                 -- when the erasure was requested
  erased_by_key_id  TEXT NOT NULL                                  -- key_… that requested it
) STRICT;

-- Devices deleted with `erase=true` whose messages the erasure job has still to remove from their
-- sessions' rooms: written in the deletion's batch, deleted by the job when it is done, so a job
-- that never started is found and started by the hourly run.
CREATE TABLE device_erasures (
  org_id        TEXT NOT NULL REFERENCES organizations (id),
  device_id     TEXT NOT NULL,                                     -- dev_…; the device's row is already gone
  requested_at  TEXT NOT NULL,
  PRIMARY KEY (org_id, device_id)
) STRICT;
CREATE INDEX device_erasures_by_age ON device_erasures (requested_at);

-- Deleting an organisation's sessions and keys: SQLite checks each deleted parent row against the
-- tables that refer to it, and session_key_grants had no index on either column it refers by (its
-- primary key starts with org_id), so every such check read the whole table.
CREATE INDEX session_key_grants_by_session ON session_key_grants (session_id);
CREATE INDEX session_key_grants_by_key ON session_key_grants (api_key_id);
