-- Access receipts this region issued (docs/owners.md): each time an owner's access request names a
-- request id — the export fetched with `?requestId=` or the receipt the control plane asks for —
-- the region records what it found about the device: per collection a count and a SHA-256 over the
-- keys of the records the export shows, and the signed receipt. No field value is copied. A request
-- id belongs to the device that first used it.
CREATE TABLE access_receipts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  request_id uuid NOT NULL,
  device_key text COLLATE "C" NOT NULL CHECK (device_key ~ '^dk_[A-Za-z0-9_-]{27}$'),
  accessed_at timestamptz NOT NULL,
  -- [{ collection, count, sha256 }]
  held jsonb NOT NULL,
  -- The receipt as a compact JWS (EdDSA) signed with the region's signing key.
  jws text NOT NULL
);

CREATE INDEX access_receipts_request ON access_receipts (request_id, accessed_at);
CREATE INDEX access_receipts_device ON access_receipts (device_key, accessed_at);
