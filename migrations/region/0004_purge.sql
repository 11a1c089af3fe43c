-- Retention and surgical purges (docs/retention.md).

-- Every purge run, dry runs included: what it removed per table, and a SHA-256
-- over the removed rows' keys, so the record proves what went without keeping
-- it. `as_of` is the instant the run purged against (injected, so a dry run
-- can be asked about a future day); `started_at` and `finished_at` are the
-- store's clock. A run with no `finished_at` did not finish (its deletions up
-- to the failure stand; the next run picks up the rest).
CREATE TABLE purge_runs (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('retention', 'surgical')),
  dry_run boolean NOT NULL,
  as_of timestamptz NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  reason text CHECK (reason IS NULL OR length(reason) BETWEEN 1 AND 1000),
  scope jsonb,
  counts jsonb NOT NULL DEFAULT '{}'::jsonb,
  removed bigint NOT NULL DEFAULT 0,
  sha256 text CHECK (sha256 IS NULL OR sha256 ~ '^[0-9a-f]{64}$'),
  CHECK ((kind = 'surgical') = (reason IS NOT NULL AND scope IS NOT NULL))
);

CREATE INDEX purge_runs_started ON purge_runs (started_at);

-- Purges walk expired rows in (expiry, key) order, the key compared byte-wise
-- (COLLATE "C"), so that a run's digest does not depend on the database's
-- locale and a dry run walks exactly the rows the real run removes. Created on
-- the partitioned table, the index is created on every partition, present and future.
CREATE INDEX activations_expiry_key ON activations (expires_at, device_key COLLATE "C");

CREATE INDEX diagnostics_events_expiry_key ON diagnostics_events (expires_at, device_ref COLLATE "C", event_id);
