-- Proof records expire too (retention.records, default P3Y; docs/retention.md). The instant each
-- record must be gone is stamped when it stops being current: a consent decision when a later one
-- replaces it (the one in force keeps a null expiry), an erasure or access receipt when it is
-- issued. Rows written before this migration get the default's end.
ALTER TABLE consent_history ADD COLUMN expires_at timestamptz;
ALTER TABLE erasures ADD COLUMN expires_at timestamptz;
ALTER TABLE access_receipts ADD COLUMN expires_at timestamptz;

UPDATE consent_history h
   SET expires_at = ((n.next_at AT TIME ZONE 'UTC') + interval 'P3Y') AT TIME ZONE 'UTC'
  FROM (SELECT receipt_id,
               lead(decided_at) OVER (PARTITION BY device_key, purpose ORDER BY decided_at, receipt_id) AS next_at
          FROM consent_history) n
 WHERE h.receipt_id = n.receipt_id AND n.next_at IS NOT NULL;
UPDATE erasures SET expires_at = ((erased_at AT TIME ZONE 'UTC') + interval 'P3Y') AT TIME ZONE 'UTC';
UPDATE access_receipts SET expires_at = ((accessed_at AT TIME ZONE 'UTC') + interval 'P3Y') AT TIME ZONE 'UTC';

ALTER TABLE erasures ALTER COLUMN expires_at SET NOT NULL;
ALTER TABLE access_receipts ALTER COLUMN expires_at SET NOT NULL;

CREATE INDEX consent_history_expires ON consent_history (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX erasures_expires ON erasures (expires_at);
CREATE INDEX access_receipts_expires ON access_receipts (expires_at);
