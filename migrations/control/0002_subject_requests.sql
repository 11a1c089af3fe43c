-- Subject requests (docs/owners.md): an owner's request, carried out in every
-- region, and the receipt each region signed. The control plane keeps only
-- receipts — counts, digests, dates, reasons — never the data they are about
-- (invariant 6). `device_key` is the factory key id the owner token proved.
CREATE TABLE subject_requests (
  id uuid PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('erasure')),
  device_key text COLLATE "C" NOT NULL CHECK (device_key ~ '^dk_[A-Za-z0-9_-]{27}$'),
  requested_at timestamptz NOT NULL,
  -- Set when every configured region has answered a verified receipt.
  completed_at timestamptz,
  -- Regions whose receipt is still missing after the last attempt, and why: { region: reason }.
  failures jsonb NOT NULL DEFAULT '{}'::jsonb,
  updated_at timestamptz NOT NULL
);

CREATE INDEX subject_requests_device ON subject_requests (device_key, requested_at);
CREATE INDEX subject_requests_requested ON subject_requests (requested_at, id);

-- A region's signed receipt for a request, verified against the region's published key before it
-- was stored. `receipt` is the JWS payload (the region's counts and digests), kept beside the JWS
-- so that the operator's listing need not parse signatures; the JWS lets anyone verify it again.
CREATE TABLE subject_request_receipts (
  request_id uuid NOT NULL REFERENCES subject_requests (id),
  region text NOT NULL CHECK (region ~ '^[a-z][a-z0-9-]{0,30}$'),
  received_at timestamptz NOT NULL,
  receipt jsonb NOT NULL,
  jws text NOT NULL,
  PRIMARY KEY (request_id, region)
);
