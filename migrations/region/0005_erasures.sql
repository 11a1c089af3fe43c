-- Erasure requests carried out in this region (docs/owners.md). One row per
-- request id: what was deleted (counts and a SHA-256 over the deleted rows'
-- keys) and what was kept (counts, reason, legal basis, until when), and the
-- signed receipt the owner was given, so that a retried request answers the
-- same receipt instead of erasing again. Nothing here names the device beyond
-- its key id; no field value of a deleted or kept row is copied.
CREATE TABLE erasures (
  request_id uuid PRIMARY KEY,
  device_key text COLLATE "C" NOT NULL CHECK (device_key ~ '^dk_[A-Za-z0-9_-]{27}$'),
  erased_at timestamptz NOT NULL,
  -- [{ collection, count, sha256 }]
  deleted jsonb NOT NULL,
  -- [{ collection, count, reason, legalBasis, until }]
  kept jsonb NOT NULL,
  -- The receipt as a compact JWS (EdDSA) signed with the region's signing key; its payload holds
  -- the same counts and digests.
  jws text NOT NULL
);

CREATE INDEX erasures_device ON erasures (device_key, erased_at);
