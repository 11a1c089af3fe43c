-- Operators (docs/operators.md): people who sign in to the control plane, each with one role, a
-- password kept only as an Argon2id hash, and sessions kept only as the SHA-256 of their token.
CREATE TABLE operators (
  username text COLLATE "C" PRIMARY KEY CHECK (username ~ '^[a-z][a-z0-9._-]{1,63}$'),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  role text NOT NULL CHECK (role IN ('operator', 'privacy-reviewer', 'support', 'auditor', 'admin')),
  password_hash text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
  created_at timestamptz NOT NULL,
  disabled_at timestamptz
);

CREATE TABLE operator_sessions (
  token_sha256 text PRIMARY KEY CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
  username text COLLATE "C" NOT NULL REFERENCES operators (username),
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz
);
CREATE INDEX operator_sessions_username ON operator_sessions (username);
