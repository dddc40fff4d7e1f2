-- Signed requests (RFC 9421) for sensitive operations: an organisation registers Ed25519 public
-- keys, may require that those operations carry a signature by one of them, and every accepted
-- signature's nonce is remembered for as long as the signature could be accepted, so that a
-- captured request cannot be sent again.
ALTER TABLE organizations ADD COLUMN require_signed_requests INTEGER NOT NULL DEFAULT 0 CHECK (require_signed_requests IN (0, 1));

-- Public keys only: the server never holds a private key. Revoked keys stay for the audit trail but
-- are invisible to the API and verify nothing.
CREATE TABLE signing_keys (
  id            TEXT PRIMARY KEY,                                  -- sig_…, the signature's `keyid`
  org_id        TEXT NOT NULL REFERENCES organizations (id),
  name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  public_key    TEXT NOT NULL CHECK (length(public_key) = 43),     -- the Ed25519 key as a JWK's `x`: base64url of 32 bytes
  created_at    TEXT NOT NULL,
  created_by    TEXT,                                              -- API key id that registered it
  revoked_at    TEXT
) STRICT;
CREATE INDEX signing_keys_by_org ON signing_keys (org_id, created_at, id);

-- One row per accepted signature's nonce, per organisation, until the signature could no longer be
-- accepted anyway (`expires_at`); the hourly retention deletes expired rows through the expiry index.
CREATE TABLE signature_nonces (
  org_id        TEXT NOT NULL,
  nonce         TEXT NOT NULL,
  expires_at    TEXT NOT NULL,
  PRIMARY KEY (org_id, nonce)
) STRICT;
CREATE INDEX signature_nonces_by_expiry ON signature_nonces (expires_at);
