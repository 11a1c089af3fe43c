-- Incidents (docs/incidents.md): opened from a collector's misrouting alert or by an operator. The
-- affected devices are found in the fleet registry (by batch, build, market and the time the problem
-- was live) and kept by serial, a factory record; what happened to each notice in each region is
-- kept as counts the regions answer. No payload and no owner data is held here.
CREATE SEQUENCE incident_numbers;

CREATE TABLE incidents (
  id text COLLATE "C" PRIMARY KEY CHECK (id ~ '^INC-[1-9][0-9]{0,9}$'),
  title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  description text NOT NULL CHECK (length(description) BETWEEN 1 AND 5000),
  source text NOT NULL CHECK (source IN ('misrouting', 'operator')),
  -- An incident opened from misrouting alerts: "batch/build", so the alerts of one shipment open one incident.
  alert_key text UNIQUE,
  -- { "batches": [], "builds": [], "markets": [], "from": "...", "to": "..." | null }
  scope jsonb NOT NULL,
  -- Taxonomy names of the data involved, and where the data went: [{ "kind": ..., "name": ..., "note": ... }].
  data_categories jsonb NOT NULL,
  destinations jsonb NOT NULL,
  advisory text COLLATE "C" REFERENCES advisories (id),
  opened_at timestamptz NOT NULL,
  closed_at timestamptz
);

CREATE TABLE incident_devices (
  incident text COLLATE "C" NOT NULL REFERENCES incidents (id),
  serial text COLLATE "C" NOT NULL REFERENCES devices (serial),
  PRIMARY KEY (incident, serial)
);

-- The incident's own timeline: opened, notice sent, advisory linked, closed, ...
CREATE TABLE incident_events (
  id bigserial PRIMARY KEY,
  incident text COLLATE "C" NOT NULL REFERENCES incidents (id),
  at timestamptz NOT NULL,
  kind text NOT NULL,
  detail jsonb NOT NULL
);
CREATE INDEX incident_events_incident ON incident_events (incident, at, id);

-- A notice to the affected devices. `regions` holds, per region, how many devices it took the
-- notice for and when, or why it could not be reached (sending again reaches it).
CREATE TABLE incident_notices (
  id text COLLATE "C" PRIMARY KEY CHECK (id ~ '^INC-[1-9][0-9]{0,9}-N[1-9][0-9]{0,3}$'),
  incident text COLLATE "C" NOT NULL REFERENCES incidents (id),
  title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  body text NOT NULL CHECK (length(body) BETWEEN 1 AND 5000),
  sent_at timestamptz NOT NULL,
  regions jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX incident_notices_incident ON incident_notices (incident, id);
