-- The fleet registry: factory records only (invariant 6). Nothing here says
-- who owns a device or how it is used.
--
-- Identifiers use the "C" collation so that keyset pagination orders the same
-- way on every store, whatever the database's default locale.
-- Composite foreign keys make the database itself refuse a batch whose build
-- belongs to another variant, and a device that disagrees with its batch.

CREATE TABLE models (
  id text COLLATE "C" PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  -- Warranty length that activation starts, in months.
  warranty_months integer NOT NULL DEFAULT 24 CHECK (warranty_months BETWEEN 0 AND 240)
);

-- A software variant of a model (00WW, 00CN, ...). It belongs to exactly one region.
CREATE TABLE variants (
  model text COLLATE "C" NOT NULL REFERENCES models (id),
  id text COLLATE "C" NOT NULL CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  region text NOT NULL CHECK (region ~ '^[a-z][a-z0-9-]{0,30}$'),
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
  PRIMARY KEY (model, id)
);

-- A software release of a variant, named by its build number.
CREATE TABLE builds (
  number text COLLATE "C" PRIMARY KEY CHECK (number ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  model text COLLATE "C" NOT NULL,
  variant text COLLATE "C" NOT NULL,
  released_at timestamptz,
  FOREIGN KEY (model, variant) REFERENCES variants (model, id),
  UNIQUE (number, model, variant)
);

-- Devices produced and flashed together, for one market, with one build.
CREATE TABLE batches (
  id text COLLATE "C" PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  model text COLLATE "C" NOT NULL,
  variant text COLLATE "C" NOT NULL,
  -- ISO 3166-1 alpha-2 country the batch is sold in.
  market text COLLATE "C" NOT NULL CHECK (market ~ '^[A-Z]{2}$'),
  build text COLLATE "C" NOT NULL,
  produced_at timestamptz NOT NULL,
  -- How many devices the batch holds at most.
  size integer NOT NULL CHECK (size BETWEEN 1 AND 10000000),
  FOREIGN KEY (model, variant) REFERENCES variants (model, id),
  FOREIGN KEY (build, model, variant) REFERENCES builds (number, model, variant),
  UNIQUE (id, model, variant, market)
);

CREATE INDEX batches_model_variant ON batches (model, variant);

-- A device as provisioned at the factory: its serial and the public half of its
-- Ed25519 key pair. The private key never reaches the registry.
CREATE TABLE devices (
  serial text COLLATE "C" PRIMARY KEY CHECK (serial ~ '^[A-Z0-9]{8,20}$'),
  -- The pseudonym devices put in envelopes: "dk_" + base64url of 20 bytes of SHA-256(public key).
  key_id text COLLATE "C" NOT NULL UNIQUE CHECK (key_id ~ '^dk_[A-Za-z0-9_-]{27}$'),
  -- Raw 32-byte Ed25519 public key, base64url without padding.
  public_key text NOT NULL UNIQUE CHECK (public_key ~ '^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$'),
  model text COLLATE "C" NOT NULL,
  variant text COLLATE "C" NOT NULL,
  market text COLLATE "C" NOT NULL,
  batch text COLLATE "C" NOT NULL,
  provisioned_at timestamptz NOT NULL,
  FOREIGN KEY (batch, model, variant, market) REFERENCES batches (id, model, variant, market)
);

CREATE INDEX devices_batch_serial ON devices (batch, serial);
