-- The owner token each subject request was asked with (docs/owners.md): its id (`jti`) and when the
-- device minted it (`iat`). An erasure ends every owner token of the device minted before it, here
-- as in each region, and the token it was asked with, except to ask or read the same request
-- again. Earlier requests get their token id from a region's receipt of them.
ALTER TABLE subject_requests ADD COLUMN owner_token_id text CHECK (length(owner_token_id) BETWEEN 1 AND 200);
ALTER TABLE subject_requests ADD COLUMN owner_token_issued_at timestamptz;

UPDATE subject_requests r
   SET owner_token_id = (SELECT receipt ->> 'ownerTokenId' FROM subject_request_receipts
                          WHERE request_id = r.id ORDER BY region LIMIT 1);
