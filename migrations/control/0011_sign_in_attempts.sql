-- Sign-in attempts that failed, or are being checked (docs/operators.md): what throttles sign-in
-- per username, per address and per both, across every replica of the control plane. A row is
-- written before the password is verified (so that attempts sent at once count against each
-- other) and deleted if it succeeds; the rest live for the throttle's window. The username is kept
-- only as its SHA-256 (a password typed into the wrong field is not kept), one that names no
-- operator counting like any other; the address is the client's (an IPv6 client's /64).
CREATE TABLE sign_in_attempts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_sha256 text NOT NULL CHECK (account_sha256 ~ '^[0-9a-f]{64}$'),
  address text COLLATE "C" NOT NULL CHECK (length(address) BETWEEN 1 AND 64),
  at timestamptz NOT NULL
);
CREATE INDEX sign_in_attempts_account ON sign_in_attempts (account_sha256, at);
CREATE INDEX sign_in_attempts_address ON sign_in_attempts (address, at);
CREATE INDEX sign_in_attempts_at ON sign_in_attempts (at);
