-- Access requests (docs/owners.md) are carried out across regions like erasure: the control plane
-- records the request and each region's signed access receipt (counts and digests of what it
-- holds), never the export itself, which goes from the region to the owner. The request's `kind`
-- tells the two apart.
ALTER TABLE subject_requests DROP CONSTRAINT subject_requests_kind_check;
ALTER TABLE subject_requests ADD CONSTRAINT subject_requests_kind_check CHECK (kind IN ('erasure', 'access'));
