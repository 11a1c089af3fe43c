/**
 * Advisories and "is my device fixed?". An advisory names a problem, the
 * variants it affects, and per lineage the build that fixes it (a fix can
 * ship in several branches at once). A build is fixed when it is of an
 * affected variant and was released, in its lineage, no earlier than the
 * fixing build; not fixed when it is of an affected variant and was not;
 * not affected when it is of another variant.
 */
import { appendAudit, currentActor } from "../../core/audit-log/index.ts";
import type { Advisory } from "@phonehome/shared";
import type { Db, Queryable } from "../../core/db/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import { type BuildManifestRecord, findBuildManifest } from "../release/index.ts";

/** What a lookup answers for one advisory. */
export interface AdvisoryStatus {
  advisory: Advisory;
  status: "fixed" | "not fixed" | "not affected";
  /** The build that fixes it in the looked-up build's lineage, when there is one. */
  fixedIn: string | null;
}

/** The answer to "is my device fixed?" for a build number. */
export interface BuildLookup {
  build: string;
  /** `unknown build` when no such build is registered; else the worst status over the advisories. */
  status: "fixed" | "not fixed" | "not affected" | "unknown build";
  advisories: AdvisoryStatus[];
}

interface AdvisoryRow {
  id: string;
  title: string;
  description: string;
  affects: { model: string; variant: string }[];
  publishedAt: Date;
  fixes: { lineage: string; build: string; releasedAt: string }[] | null;
}

async function readAdvisories(q: Queryable, id?: string): Promise<Advisory[]> {
  const { rows } = await q.query<AdvisoryRow>(
    `SELECT a.id, a.title, a.description, a.affects, a.published_at AS "publishedAt",
            (SELECT json_agg(json_build_object('lineage', f.lineage, 'build', f.build,
                     'releasedAt', to_char(b.released_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
                     ORDER BY f.lineage)
               FROM advisory_fixes f JOIN builds b ON b.number = f.build WHERE f.advisory = a.id) AS fixes
       FROM advisories a ${id === undefined ? "" : "WHERE a.id = $1"} ORDER BY a.published_at, a.id`,
    id === undefined ? [] : [id],
  );
  return rows.map((r) => ({
    id: r.id,
    title: r.title,
    description: r.description,
    affects: r.affects,
    fixes: r.fixes ?? [],
    publishedAt: new Date(r.publishedAt).toISOString(),
  }));
}

/** Every advisory, oldest first. */
export function listAdvisories(db: Db): Promise<Advisory[]> {
  return readAdvisories(db);
}

/** One advisory; `fleet.not_found` when there is none. */
export async function getAdvisory(db: Db, id: string): Promise<Advisory> {
  const [advisory] = await readAdvisories(db, id);
  if (advisory === undefined) throw new PhoneHomeError("fleet.not_found", `no advisory ${id}`);
  return advisory;
}

/**
 * Publishes an advisory. Every fixing build must be registered with a lineage
 * and released, of an affected variant; one fix per lineage.
 */
export async function publishAdvisory(
  db: Db,
  request: {
    id: string;
    title: string;
    description: string;
    affects: { model: string; variant: string }[];
    fixes: string[];
  },
  now = new Date(),
): Promise<Advisory> {
  const invalid = (path: string, message: string) =>
    new PhoneHomeError("advisory.invalid", message, { path });
  await db.transaction(async (tx) => {
    if ((await readAdvisories(tx, request.id)).length > 0)
      throw invalid("/id", `advisory ${request.id} exists`);
    const lineages = new Map<string, string>();
    for (const [i, number] of request.fixes.entries()) {
      const build = await findBuildManifest(tx, number);
      if (build === null) throw invalid(`/fixes/${i}`, `no build ${number} is registered`);
      if (build.lineage === null)
        throw invalid(`/fixes/${i}`, `build ${number} has no lineage: register its manifest`);
      if (build.releasedAt === null) throw invalid(`/fixes/${i}`, `build ${number} is not released`);
      if (!request.affects.some((a) => a.model === build.model && a.variant === build.variant)) {
        throw invalid(
          `/fixes/${i}`,
          `build ${number} is of ${build.model}/${build.variant}, which the advisory does not affect`,
        );
      }
      const other = lineages.get(build.lineage);
      if (other !== undefined)
        throw invalid(`/fixes/${i}`, `${number} and ${other} are both of lineage ${build.lineage}`);
      lineages.set(build.lineage, number);
    }
    await tx.query(
      `INSERT INTO advisories (id, title, description, affects, published_at) VALUES ($1, $2, $3, $4::jsonb, $5)`,
      [request.id, request.title, request.description, JSON.stringify(request.affects), now.toISOString()],
    );
    for (const [lineage, build] of lineages) {
      await tx.query(`INSERT INTO advisory_fixes (advisory, lineage, build) VALUES ($1, $2, $3)`, [
        request.id,
        lineage,
        build,
      ]);
    }
    await appendAudit(
      tx,
      {
        actor: currentActor(),
        action: "advisory.published",
        subject: request.id,
        reason: null,
        detail: { affects: request.affects, fixes: [...lineages.values()].sort() },
      },
      now,
    );
  });
  return getAdvisory(db, request.id);
}

const SEVERITY: Record<AdvisoryStatus["status"], number> = { "not affected": 0, fixed: 1, "not fixed": 2 };

/** A registered build as far as advisories care. */
export type AdvisedBuild = Pick<
  BuildManifestRecord,
  "number" | "model" | "variant" | "lineage" | "releasedAt"
>;

/** A build's status under one advisory. */
export function statusUnder(advisory: Advisory, build: AdvisedBuild): AdvisoryStatus {
  if (!advisory.affects.some((a) => a.model === build.model && a.variant === build.variant)) {
    return { advisory, status: "not affected", fixedIn: null };
  }
  const fix = advisory.fixes.find((f) => f.lineage === build.lineage);
  const released = build.releasedAt?.getTime() ?? null;
  const fixed =
    fix !== undefined &&
    (fix.build === build.number || (released !== null && released >= Date.parse(fix.releasedAt)));
  return { advisory, status: fixed ? "fixed" : "not fixed", fixedIn: fix?.build ?? null };
}

/** "Is my device fixed?": the build's status under every advisory. */
export async function lookupBuild(db: Db, number: string): Promise<BuildLookup> {
  const build = await findBuildManifest(db, number);
  if (build === null) return { build: number, status: "unknown build", advisories: [] };
  const advisories = (await listAdvisories(db)).map((advisory) => statusUnder(advisory, build));
  const worst = advisories.reduce<AdvisoryStatus["status"]>(
    (w, a) => (SEVERITY[a.status] > SEVERITY[w] ? a.status : w),
    "not affected",
  );
  return { build: number, status: worst, advisories };
}
