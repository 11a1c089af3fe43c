-- Updates (docs/updates.md): staged rollouts of released builds, outcome counts per stage (no
-- device is named), and withdrawn builds, which are never offered again.
ALTER TABLE builds ADD COLUMN withdrawn_at timestamptz;
ALTER TABLE builds ADD COLUMN withdrawn_reason text CHECK (length(withdrawn_reason) BETWEEN 1 AND 2000);

CREATE TABLE rollouts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  build text COLLATE "C" NOT NULL REFERENCES builds (number),
  -- Percentages of the variant's devices, one per stage, rising, the last 100.
  stages jsonb NOT NULL,
  stage integer NOT NULL DEFAULT 0 CHECK (stage >= 0),
  state text NOT NULL CHECK (state IN ('active', 'paused', 'halted', 'complete')),
  -- A stage halts by itself when at least min_reports outcomes were reported in it and the share
  -- of failures reaches failure_threshold.
  failure_threshold double precision NOT NULL CHECK (failure_threshold > 0 AND failure_threshold <= 1),
  min_reports integer NOT NULL CHECK (min_reports >= 1),
  halted_reason text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
-- At most one rollout of a build that is not complete.
CREATE UNIQUE INDEX rollouts_one_open ON rollouts (build) WHERE state <> 'complete';

CREATE TABLE rollout_outcomes (
  rollout bigint NOT NULL REFERENCES rollouts (id),
  stage integer NOT NULL,
  outcome text NOT NULL CHECK (outcome IN ('installed', 'failed')),
  count bigint NOT NULL,
  PRIMARY KEY (rollout, stage, outcome)
);

-- Reports already counted, by their envelope's event id, so that a retried report counts once.
CREATE TABLE rollout_reports (
  event_id uuid PRIMARY KEY,
  rollout bigint NOT NULL REFERENCES rollouts (id),
  received_at timestamptz NOT NULL
);
