-- Build manifests and the release gate (docs/release.md). A build registered with its manifest
-- carries its lineage (the branch its updates follow), its CycloneDX SBOM with the SBOM's SHA-256,
-- and the gate's verdict for its variant. A build is released only with a passing verdict, or
-- forced with a reason kept here.
ALTER TABLE builds ADD COLUMN lineage text COLLATE "C" CHECK (lineage ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$');
ALTER TABLE builds ADD COLUMN sbom jsonb;
ALTER TABLE builds ADD COLUMN sbom_sha256 text CHECK (sbom_sha256 ~ '^[0-9a-f]{64}$');
ALTER TABLE builds ADD COLUMN verdict jsonb;
ALTER TABLE builds ADD COLUMN checked_at timestamptz;
-- { "reason": "...", "findings": N } when released although the gate blocked it.
ALTER TABLE builds ADD COLUMN release_forced jsonb;
ALTER TABLE builds ADD CONSTRAINT builds_manifest_whole
  CHECK ((sbom IS NULL) = (verdict IS NULL) AND (sbom IS NULL) = (checked_at IS NULL) AND (sbom IS NULL) = (sbom_sha256 IS NULL));
