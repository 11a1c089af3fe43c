-- The review workflow of the data dictionary (docs/reviews.md): reviewers' public keys, and each
-- proposed collection version with its questionnaire, its author, and the reviewer's decision. An
-- approval is the reviewer's Ed25519 signature over the approval statement, kept as written into
-- the version's file.
CREATE TABLE reviewer_keys (
  username text COLLATE "C" NOT NULL REFERENCES operators (username),
  public_key text COLLATE "C" NOT NULL CHECK (public_key ~ '^[A-Za-z0-9_-]{43}$'),
  added_at timestamptz NOT NULL,
  PRIMARY KEY (username, public_key)
);

CREATE SEQUENCE proposal_numbers;

CREATE TABLE proposals (
  id text COLLATE "C" PRIMARY KEY CHECK (id ~ '^PROP-[1-9][0-9]{0,9}$'),
  collection text COLLATE "C" NOT NULL,
  version integer NOT NULL CHECK (version BETWEEN 1 AND 9999),
  document jsonb NOT NULL,
  sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  base_version integer,
  base_document jsonb,
  answers jsonb NOT NULL,
  author text COLLATE "C" NOT NULL REFERENCES operators (username),
  proposed_at timestamptz NOT NULL,
  status text NOT NULL CHECK (status IN ('open', 'approved', 'rejected')),
  reviewer text COLLATE "C" REFERENCES operators (username),
  decided_at timestamptz,
  comment text,
  approval jsonb,
  CHECK (reviewer IS NULL OR reviewer <> author),
  CHECK ((status = 'open') = (decided_at IS NULL)),
  CHECK ((status = 'approved') = (approval IS NOT NULL))
);
-- One open proposal per collection version at a time.
CREATE UNIQUE INDEX proposals_open ON proposals (collection, version) WHERE status = 'open';
CREATE INDEX proposals_collection ON proposals (collection, version);
