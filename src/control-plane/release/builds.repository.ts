/** Queries on builds' manifests and releases. One function per query; the caller passes the database or a transaction. */
import type { Queryable } from "../../core/db/index.ts";

/** A build with what the release gate knows of it. */
export interface BuildManifestRecord {
  number: string;
  model: string;
  variant: string;
  lineage: string | null;
  releasedAt: Date | null;
  sbomSha256: string | null;
  /** The gate's verdict as its JSON report (`verdictJson`), or null for a build registered without a manifest. */
  verdict: { passed: boolean; findings: unknown[] } | null;
  checkedAt: Date | null;
  releaseForced: { reason: string; findings: number } | null;
}

const COLUMNS = `number, model, variant, lineage, released_at AS "releasedAt", sbom_sha256 AS "sbomSha256", verdict,
  checked_at AS "checkedAt", release_forced AS "releaseForced"`;

function withDates(r: BuildManifestRecord): BuildManifestRecord {
  return {
    ...r,
    releasedAt: r.releasedAt === null ? null : new Date(r.releasedAt),
    checkedAt: r.checkedAt === null ? null : new Date(r.checkedAt),
  };
}

/** One build, or null; with `forUpdate`, its row is locked until the transaction ends. */
export async function findBuildManifest(
  q: Queryable,
  number: string,
  forUpdate = false,
): Promise<BuildManifestRecord | null> {
  const { rows } = await q.query<BuildManifestRecord>(
    `SELECT ${COLUMNS} FROM builds WHERE number = $1${forUpdate ? " FOR UPDATE" : ""}`,
    [number],
  );
  const [row] = rows;
  return row === undefined ? null : withDates(row);
}

/** Registers a build with its manifest and verdict, or replaces the manifest of an unreleased one. */
export async function saveBuildManifest(
  tx: Queryable,
  build: {
    number: string;
    model: string;
    variant: string;
    lineage: string;
    sbom: unknown;
    sbomSha256: string;
    verdict: unknown;
    checkedAt: Date;
  },
): Promise<void> {
  await tx.query(
    `INSERT INTO builds (number, model, variant, lineage, sbom, sbom_sha256, verdict, checked_at)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7::jsonb, $8)
     ON CONFLICT (number) DO UPDATE SET lineage = EXCLUDED.lineage, sbom = EXCLUDED.sbom,
       sbom_sha256 = EXCLUDED.sbom_sha256, verdict = EXCLUDED.verdict, checked_at = EXCLUDED.checked_at`,
    [
      build.number,
      build.model,
      build.variant,
      build.lineage,
      JSON.stringify(build.sbom),
      build.sbomSha256,
      JSON.stringify(build.verdict),
      build.checkedAt.toISOString(),
    ],
  );
}

/** Marks a build released at `at`; `forced` when the gate had blocked it. */
export async function markBuildReleased(
  tx: Queryable,
  number: string,
  at: Date,
  forced: { reason: string; findings: number } | null,
): Promise<void> {
  await tx.query(`UPDATE builds SET released_at = $2, release_forced = $3::jsonb WHERE number = $1`, [
    number,
    at.toISOString(),
    forced === null ? null : JSON.stringify(forced),
  ]);
}
