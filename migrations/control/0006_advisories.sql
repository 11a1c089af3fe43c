-- Advisories (docs/advisories.md): a problem, the variants it affects, and per lineage the build
-- that fixes it. "Is my device fixed?" is answered from these and the builds' release order.
CREATE TABLE advisories (
  id text COLLATE "C" PRIMARY KEY CHECK (id ~ '^[A-Z][A-Z0-9-]{2,40}$'),
  title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  description text NOT NULL CHECK (length(description) BETWEEN 1 AND 5000),
  -- [{ "model": "TA-1062", "variant": "00WW" }, ...]
  affects jsonb NOT NULL,
  published_at timestamptz NOT NULL
);

CREATE TABLE advisory_fixes (
  advisory text COLLATE "C" NOT NULL REFERENCES advisories (id),
  lineage text COLLATE "C" NOT NULL,
  build text COLLATE "C" NOT NULL REFERENCES builds (number),
  PRIMARY KEY (advisory, lineage)
);
