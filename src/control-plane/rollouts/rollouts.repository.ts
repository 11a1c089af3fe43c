/** Queries on rollouts, their outcome counts, withdrawn builds and the update plan. One function per query. */
import type { Queryable } from "../../core/db/index.ts";
import type { PlanBuild, PlanRollout } from "@phonehome/shared";

/** A rollout as stored. */
export interface RolloutRecord {
  id: number;
  build: string;
  stages: number[];
  stage: number;
  state: "active" | "paused" | "halted" | "complete";
  failureThreshold: number;
  minReports: number;
  haltedReason: string | null;
  createdAt: Date;
  updatedAt: Date;
}

const COLUMNS = `id::int AS id, build, stages, stage, state, failure_threshold AS "failureThreshold",
  min_reports AS "minReports", halted_reason AS "haltedReason", created_at AS "createdAt", updated_at AS "updatedAt"`;

function withDates(r: RolloutRecord): RolloutRecord {
  return { ...r, createdAt: new Date(r.createdAt), updatedAt: new Date(r.updatedAt) };
}

/** Starts a rollout at its first stage; returns it. */
export async function insertRollout(
  tx: Queryable,
  r: { build: string; stages: number[]; failureThreshold: number; minReports: number; at: Date },
): Promise<RolloutRecord> {
  const { rows } = await tx.query<RolloutRecord>(
    `INSERT INTO rollouts (build, stages, state, failure_threshold, min_reports, created_at, updated_at)
     VALUES ($1, $2::jsonb, 'active', $3, $4, $5, $5) RETURNING ${COLUMNS}`,
    [r.build, JSON.stringify(r.stages), r.failureThreshold, r.minReports, r.at.toISOString()],
  );
  const [row] = rows;
  if (row === undefined) throw new Error("the rollout was not inserted");
  return withDates(row);
}

async function selectRollout(
  q: Queryable,
  where: string,
  value: unknown,
  forUpdate: boolean,
): Promise<RolloutRecord | null> {
  const { rows } = await q.query<RolloutRecord>(
    `SELECT ${COLUMNS} FROM rollouts WHERE ${where}${forUpdate ? " FOR UPDATE" : ""}`,
    [value],
  );
  const [row] = rows;
  return row === undefined ? null : withDates(row);
}

/** One rollout, or null; with `forUpdate`, locked until the transaction ends. */
export function findRollout(q: Queryable, id: number, forUpdate = false): Promise<RolloutRecord | null> {
  return selectRollout(q, "id = $1", id, forUpdate);
}

/** Every rollout, newest first (at most `limit`). */
export async function listRollouts(q: Queryable, limit: number): Promise<RolloutRecord[]> {
  const { rows } = await q.query<RolloutRecord>(`SELECT ${COLUMNS} FROM rollouts ORDER BY id DESC LIMIT $1`, [
    limit,
  ]);
  return rows.map(withDates);
}

/** The rollout of a build that is not complete, or null; locked with `forUpdate`. */
export function findOpenRollout(
  q: Queryable,
  build: string,
  forUpdate = false,
): Promise<RolloutRecord | null> {
  return selectRollout(q, "build = $1 AND state <> 'complete'", build, forUpdate);
}

/** Sets a rollout's stage and state. */
export async function updateRollout(
  tx: Queryable,
  id: number,
  change: { stage: number; state: RolloutRecord["state"]; haltedReason: string | null; at: Date },
): Promise<void> {
  await tx.query(
    `UPDATE rollouts SET stage = $2, state = $3, halted_reason = $4, updated_at = $5 WHERE id = $1`,
    [id, change.stage, change.state, change.haltedReason, change.at.toISOString()],
  );
}

/** Counts a report once per event id; returns false when it was counted before. */
export async function countReport(
  tx: Queryable,
  report: { eventId: string; rollout: number; stage: number; outcome: "installed" | "failed"; at: Date },
): Promise<boolean> {
  const { rows } = await tx.query<{ fresh: boolean }>(
    `WITH seen AS (
       INSERT INTO rollout_reports (event_id, rollout, received_at) VALUES ($1, $2, $5)
       ON CONFLICT (event_id) DO NOTHING RETURNING 1),
     counted AS (
       INSERT INTO rollout_outcomes (rollout, stage, outcome, count)
       SELECT $2, $3, $4, 1 FROM seen
       ON CONFLICT (rollout, stage, outcome) DO UPDATE SET count = rollout_outcomes.count + 1
       RETURNING 1)
     SELECT EXISTS (SELECT 1 FROM counted) AS fresh`,
    [report.eventId, report.rollout, report.stage, report.outcome, report.at.toISOString()],
  );
  return rows[0]?.fresh === true;
}

/** Outcomes reported in each stage of a rollout. */
export async function outcomesOf(
  q: Queryable,
  rollout: number,
): Promise<{ stage: number; installed: number; failed: number }[]> {
  const { rows } = await q.query<{ stage: number; installed: number; failed: number }>(
    `SELECT stage, coalesce(sum(count) FILTER (WHERE outcome = 'installed'), 0)::int AS installed,
            coalesce(sum(count) FILTER (WHERE outcome = 'failed'), 0)::int AS failed
       FROM rollout_outcomes WHERE rollout = $1 GROUP BY stage ORDER BY stage`,
    [rollout],
  );
  return rows;
}

/** Whether a build is withdrawn. */
export async function isWithdrawn(q: Queryable, number: string): Promise<boolean> {
  const { rows } = await q.query<{ w: boolean }>(
    `SELECT withdrawn_at IS NOT NULL AS w FROM builds WHERE number = $1`,
    [number],
  );
  return rows[0]?.w === true;
}

/** Marks a build withdrawn. */
export async function withdrawBuildRow(
  tx: Queryable,
  number: string,
  reason: string,
  at: Date,
): Promise<void> {
  await tx.query(`UPDATE builds SET withdrawn_at = $2, withdrawn_reason = $3 WHERE number = $1`, [
    number,
    at.toISOString(),
    reason,
  ]);
}

/** Every build with its lineage, release, withdrawal and open (or last) rollout: what regions answer update checks from. */
export async function readUpdatePlan(q: Queryable): Promise<PlanBuild[]> {
  const { rows } = await q.query<{
    number: string;
    model: string;
    variant: string;
    lineage: string | null;
    releasedAt: Date | null;
    withdrawn: boolean;
    rolloutId: number | null;
    state: PlanRollout["state"];
    stages: number[] | null;
    stage: number | null;
  }>(
    `SELECT b.number, b.model, b.variant, b.lineage, b.released_at AS "releasedAt",
            b.withdrawn_at IS NOT NULL AS withdrawn,
            r.id::int AS "rolloutId", r.state, r.stages, r.stage
       FROM builds b
       LEFT JOIN LATERAL (SELECT * FROM rollouts WHERE build = b.number ORDER BY id DESC LIMIT 1) r ON true
      ORDER BY b.number`,
  );
  return rows.map((r) => ({
    number: r.number,
    model: r.model,
    variant: r.variant,
    lineage: r.lineage,
    releasedAt: r.releasedAt === null ? null : new Date(r.releasedAt).toISOString(),
    withdrawn: r.withdrawn,
    rollout:
      r.rolloutId === null || r.stages === null || r.stage === null
        ? null
        : { id: r.rolloutId, state: r.state, stage: r.stage, percentage: r.stages[r.stage] ?? 100 },
  }));
}
