-- Diagnostics events, stored only under a valid consent. Devices are named by a
-- pseudonym keyed with the region's secret (`device_ref`), so rows cannot be
-- joined to a serial or to another region's data. Partitioned by expiry month,
-- so that retention drops whole partitions; rows that fall outside every month
-- partition land in the default one and are deleted row by row.
CREATE TABLE diagnostics_events (
  device_ref text NOT NULL,
  event_id uuid NOT NULL,
  collection text NOT NULL,
  schema_version integer NOT NULL,
  occurred_at timestamptz NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  consent_receipt uuid NOT NULL,
  data jsonb NOT NULL,
  PRIMARY KEY (device_ref, event_id, expires_at)
) PARTITION BY RANGE (expires_at);

CREATE TABLE diagnostics_events_default PARTITION OF diagnostics_events DEFAULT;

CREATE INDEX diagnostics_events_expires ON diagnostics_events (expires_at);
