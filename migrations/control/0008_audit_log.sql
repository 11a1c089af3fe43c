-- The audit log (docs/audit-log.md): append-only and hash-chained. Each entry's hash covers its
-- content and the previous entry's hash, so changing, deleting or reordering an entry breaks the
-- chain from there on; `phonehome audit-log verify` names the first broken entry. The database
-- itself refuses UPDATE, DELETE and TRUNCATE; the chain still shows a rewrite by someone who can
-- get past that (the store's owner), and the published head shows a cut-off tail.
CREATE TABLE audit_log (
  seq bigint PRIMARY KEY CHECK (seq >= 1),
  at timestamptz NOT NULL,
  -- Who: "service-token", "owner:<device key id>", "system:<job>", later operators.
  actor text NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),
  action text NOT NULL CHECK (action ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'),
  -- What: a build number, rollout id, incident id, request id, ...
  subject text NOT NULL CHECK (length(subject) <= 200),
  -- Why, when the actor gave a reason.
  reason text CHECK (length(reason) <= 2000),
  detail jsonb NOT NULL,
  prev_hash text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
  hash text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$')
);

-- (The body keeps its ";" off line ends: the migrator splits statements there.)
CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP; END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
