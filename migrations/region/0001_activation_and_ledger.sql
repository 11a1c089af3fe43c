-- A region's store. Personal data of a device lives in exactly one region:
-- the region of its market. Rows here hold only fields an approved collection
-- version declares, after that version's transforms.

-- One activation per device: the first accepted one starts the warranty;
-- repeats (same or new event id) return this row and change nothing.
CREATE TABLE activations (
  device_key text PRIMARY KEY,
  event_id uuid NOT NULL,
  schema_version integer NOT NULL,
  data jsonb NOT NULL,
  activated_at timestamptz NOT NULL,
  warranty_until timestamptz NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);

CREATE INDEX activations_expires_at ON activations (expires_at);

-- The ingest ledger counts what arrived and what was refused, and why, per
-- minute; it never keeps a payload. Unknown values are '' so they can be keyed.
CREATE TABLE ingest_ledger (
  minute timestamptz NOT NULL,
  outcome text NOT NULL CHECK (outcome IN ('stored', 'replayed', 'refused')),
  reason text NOT NULL,
  collection text NOT NULL,
  schema_version integer NOT NULL,
  batch text NOT NULL,
  build text NOT NULL,
  market text NOT NULL,
  count integer NOT NULL,
  PRIMARY KEY (minute, outcome, reason, collection, schema_version, batch, build, market)
);

-- A misrouting alert: devices of a market that belongs to another region
-- reached this region's collector. Named by batch and build so the shipment
-- that carried the wrong client can be found.
CREATE TABLE misrouting_alerts (
  batch text NOT NULL,
  build text NOT NULL,
  market text NOT NULL,
  expected_region text NOT NULL,
  claimed_region text NOT NULL,
  first_seen timestamptz NOT NULL,
  last_seen timestamptz NOT NULL,
  count integer NOT NULL,
  PRIMARY KEY (batch, build, market, expected_region, claimed_region)
);
