-- A reviewer's key can be revoked (docs/reviews.md, docs/decisions/0058): when, by whom and why.
-- A revoked key verifies no new approval; the approvals recorded with it before stay valid, and
-- the revocation written into reviewers.yaml lists them.
ALTER TABLE reviewer_keys
  ADD COLUMN revoked_at timestamptz,
  ADD COLUMN revoked_by text COLLATE "C",
  ADD COLUMN revoke_reason text,
  ADD CONSTRAINT reviewer_keys_revocation CHECK (
    (revoked_at IS NULL) = (revoke_reason IS NULL) AND (revoked_at IS NULL) = (revoked_by IS NULL)
  );
