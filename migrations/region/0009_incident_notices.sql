-- Notices of incidents (docs/incidents.md) for the devices whose home is this region. The control
-- plane hands each notice over with the devices it is for; a device gets it in the answer to its
-- next update check, and its delivery is kept, as proof the owner was told, for
-- `retention.records` after the notice was sent.
CREATE TABLE incident_notices (
  id text COLLATE "C" PRIMARY KEY,
  incident text NOT NULL,
  title text NOT NULL,
  body text NOT NULL,
  sent_at timestamptz NOT NULL
);

CREATE TABLE notice_deliveries (
  device_key text COLLATE "C" NOT NULL CHECK (device_key ~ '^dk_[A-Za-z0-9_-]{27}$'),
  notice text COLLATE "C" NOT NULL REFERENCES incident_notices (id),
  -- When the device first got the notice in an answer; null while it waits for a check-in.
  delivered_at timestamptz,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (device_key, notice)
);
CREATE INDEX notice_deliveries_notice ON notice_deliveries (notice, delivered_at);
CREATE INDEX notice_deliveries_expires ON notice_deliveries (expires_at, device_key, notice);
