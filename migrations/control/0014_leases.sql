-- Timed jobs run once however many replicas of the service run (docs/operations.md): the replica
-- holding a job's lease runs it. The lease's time is the store's clock, so replicas' clocks need not
-- agree; a holder that stops renewing loses it when expires_at passes.
CREATE TABLE leases (
  name text PRIMARY KEY,
  holder text NOT NULL,
  acquired_at timestamptz NOT NULL,
  renewed_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL
);

-- One row per period of a leased job: claimed by the holder when it starts the period's run, finished
-- when the run ends. A run a dead holder left unfinished is taken over (attempts counts the starts).
CREATE TABLE job_runs (
  job text NOT NULL,
  period_start timestamptz NOT NULL,
  holder text NOT NULL,
  attempts integer NOT NULL DEFAULT 1,
  started_at timestamptz NOT NULL,
  finished_at timestamptz,
  PRIMARY KEY (job, period_start)
);
