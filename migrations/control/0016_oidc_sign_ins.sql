-- Operators who sign in through an OpenID provider (docs/operators.md): an account with no password,
-- named by the provider's issuer and subject, its name and role refreshed from the provider at each
-- sign-in. A local account keeps its Argon2id hash; every account is one or the other.
ALTER TABLE operators ALTER COLUMN password_hash DROP NOT NULL;
ALTER TABLE operators ADD COLUMN issuer text CHECK (length(issuer) BETWEEN 1 AND 2048);
ALTER TABLE operators ADD COLUMN subject text CHECK (length(subject) BETWEEN 1 AND 255);
ALTER TABLE operators ADD CONSTRAINT operators_password_or_provider CHECK (
  (password_hash IS NOT NULL AND issuer IS NULL AND subject IS NULL)
  OR (password_hash IS NULL AND issuer IS NOT NULL AND subject IS NOT NULL)
);
CREATE UNIQUE INDEX operators_issuer_subject ON operators (issuer, subject) WHERE issuer IS NOT NULL;

-- Sign-ins begun with the provider and not yet come back: the state (kept as its SHA-256), the PKCE
-- verifier and the nonce the callback needs, and the SHA-256 of the random value the browser that
-- began it holds in a cookie. A callback deletes its row as it reads it, so a state works once;
-- rows live minutes, and expired ones are deleted as new sign-ins begin.
CREATE TABLE oidc_sign_ins (
  state_sha256 text PRIMARY KEY CHECK (state_sha256 ~ '^[0-9a-f]{64}$'),
  browser_sha256 text NOT NULL CHECK (browser_sha256 ~ '^[0-9a-f]{64}$'),
  code_verifier text NOT NULL CHECK (length(code_verifier) BETWEEN 43 AND 128),
  nonce text NOT NULL CHECK (length(nonce) BETWEEN 16 AND 128),
  address text COLLATE "C" NOT NULL CHECK (length(address) BETWEEN 1 AND 64),
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX oidc_sign_ins_expires ON oidc_sign_ins (expires_at);
CREATE INDEX oidc_sign_ins_address ON oidc_sign_ins (address, created_at);
