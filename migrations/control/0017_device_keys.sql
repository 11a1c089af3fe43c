-- Device keys (docs/fleet.md, decision 0057): every Ed25519 key a device has held. The factory key
-- stays in `devices` as the device's first key, whose id is also the key its region keeps its records
-- under (a re-key changes the signing key, never where the data lives). A key is revoked once, with a
-- reason from a fixed set, and stays here: a revoked key id is known and refused for ever.
CREATE TABLE device_keys (
  key_id text COLLATE "C" PRIMARY KEY CHECK (key_id ~ '^dk_[A-Za-z0-9_-]{27}$'),
  serial text COLLATE "C" NOT NULL REFERENCES devices (serial),
  public_key text NOT NULL UNIQUE CHECK (public_key ~ '^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$'),
  registered_at timestamptz NOT NULL,
  -- 'factory' for the key the device was provisioned with; else the actor of the re-key.
  registered_by text NOT NULL CHECK (length(registered_by) BETWEEN 1 AND 200),
  revoked_at timestamptz,
  revoked_reason text CHECK (revoked_reason IN ('cloned', 'stolen', 'key-compromised', 're-keyed')),
  revoked_note text CHECK (length(revoked_note) <= 500),
  revoked_by text CHECK (length(revoked_by) BETWEEN 1 AND 200),
  -- The revocation feed's cursor: taken from the sequence under the fleet's lock, which is held to
  -- commit, so collectors reading the feed in cursor order never skip a revocation.
  revocation_seq bigint UNIQUE,
  CHECK (
    (revoked_at IS NULL AND revoked_reason IS NULL AND revoked_note IS NULL AND revoked_by IS NULL
      AND revocation_seq IS NULL)
    OR (revoked_at IS NOT NULL AND revoked_reason IS NOT NULL AND revoked_note IS NOT NULL
      AND revoked_by IS NOT NULL AND revocation_seq IS NOT NULL)
  )
);

-- At most one key of a device is in force.
CREATE UNIQUE INDEX device_keys_in_force ON device_keys (serial) WHERE revoked_at IS NULL;
CREATE INDEX device_keys_serial ON device_keys (serial, registered_at);

CREATE SEQUENCE device_key_revocation_seq;

INSERT INTO device_keys (key_id, serial, public_key, registered_at, registered_by)
SELECT key_id, serial, public_key, provisioned_at, 'factory' FROM devices;

-- Service centres re-key devices (docs/operators.md): a role of their own, with that one permission.
ALTER TABLE operators DROP CONSTRAINT operators_role_check;
ALTER TABLE operators ADD CONSTRAINT operators_role_check
  CHECK (role IN ('operator', 'privacy-reviewer', 'support', 'auditor', 'admin', 'service-centre'));
