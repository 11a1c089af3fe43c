-- The last anchor of a store's chain (`audit.anchored` entries, by subject) is found by index, not by
-- walking the log back from its head: anchors are a small share of a log that grows to millions.
CREATE INDEX audit_log_anchors ON audit_log (subject, seq) WHERE action = 'audit.anchored';
