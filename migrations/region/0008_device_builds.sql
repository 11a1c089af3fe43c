-- Adoption (docs/advisories.md): the build each device last reported in an update check, kept in
-- its region like any record of a collection (update.check: data = { build }), and the devices
-- active each day by batch, market and build, as counts that name no device.
CREATE TABLE device_builds (
  device_key text COLLATE "C" PRIMARY KEY CHECK (device_key ~ '^dk_[A-Za-z0-9_-]{27}$'),
  batch text NOT NULL,
  market text NOT NULL,
  schema_version integer NOT NULL,
  data jsonb NOT NULL,
  received_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX device_builds_expires ON device_builds (expires_at, device_key);

CREATE TABLE adoption_daily (
  day date NOT NULL,
  batch text NOT NULL,
  market text NOT NULL,
  build text NOT NULL,
  devices integer NOT NULL CHECK (devices >= 0),
  PRIMARY KEY (day, batch, market, build)
);
