-- What keys and secrets the service's replicas use, as fingerprints (a key id, or a hash of a secret;
-- never the secret): recorded by the first replica to start, compared by every later one, so that a
-- replica started with another data directory's keys refuses to start instead of sealing, signing and
-- pseudonymising differently from the others.
CREATE TABLE key_fingerprints (
  name text PRIMARY KEY,
  fingerprint text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
