-- The region's keys, in its store so that every replica uses the same set (docs/collector.md, "Keys"):
-- HPKE X25519 keys devices seal to (`seal`) and Ed25519 keys receipts are signed with (`receipts`).
-- The private half is sealed (AES-256-GCM, the AAD binding region, purpose and kid) under the key-wrapping
-- secret in the data directory: a copy of the store alone opens nothing. A `pending` key is a rotation
-- prepared and not yet signed by the fleet root: no replica opens with it or publishes it.
-- Receipt keys never end (every receipt key a region used stays published): their not_after is null.
CREATE TABLE region_keys (
  purpose text NOT NULL CHECK (purpose IN ('seal', 'receipts')),
  kid text NOT NULL,
  public_key text NOT NULL,
  sealed_private text NOT NULL,
  not_before timestamptz NOT NULL,
  not_after timestamptz,
  status text NOT NULL CHECK (status IN ('pending', 'published')),
  created_at timestamptz NOT NULL DEFAULT now(),
  -- When the scheduled job recorded the key's end (audit `keys.ended`); opening stops at not_after regardless.
  ended_at timestamptz,
  -- A pending seal key's prepared descriptor statement, awaiting the fleet root's signature (null otherwise).
  statement jsonb,
  PRIMARY KEY (purpose, kid),
  CHECK (purpose = 'receipts' OR not_after IS NOT NULL)
);

-- The region descriptor in force: the compact JWS the fleet root signed over the region's seal keys.
-- One row (id = 1), replaced at each publication; every publication is in the audit log.
CREATE TABLE region_descriptor (
  id integer PRIMARY KEY CHECK (id = 1),
  jws text NOT NULL,
  root_kid text NOT NULL,
  issued_at timestamptz NOT NULL,
  published_at timestamptz NOT NULL DEFAULT now()
);
