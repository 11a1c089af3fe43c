/**
 * Leases and the runs of leased jobs, in the service's own store: one query
 * per function, times on the store's clock (`now()`), so that the replicas'
 * clocks need not agree.
 */
import type { Queryable } from "../db/index.ts";

/**
 * Takes the lease `name` for `holder`, or renews it when `holder` has it: it
 * is taken when no one holds it or the holder let it expire. True when
 * `holder` holds it for `ttlMs` from now.
 */
export async function acquireLease(
  db: Queryable,
  name: string,
  holder: string,
  ttlMs: number,
): Promise<boolean> {
  const { rows } = await db.query(
    `INSERT INTO leases (name, holder, acquired_at, renewed_at, expires_at)
     VALUES ($1, $2, now(), now(), now() + $3::integer * interval '1 millisecond')
     ON CONFLICT (name) DO UPDATE SET
       holder = EXCLUDED.holder,
       acquired_at = CASE WHEN leases.holder = EXCLUDED.holder THEN leases.acquired_at ELSE now() END,
       renewed_at = now(),
       expires_at = EXCLUDED.expires_at
     WHERE leases.holder = EXCLUDED.holder OR leases.expires_at <= now()
     RETURNING holder`,
    [name, holder, Math.round(ttlMs)],
  );
  return rows.length === 1;
}

/** Gives up every lease `holder` has, so that another replica takes them at its next try. */
export async function releaseLeases(db: Queryable, holder: string): Promise<number> {
  const { rows } = await db.query(`DELETE FROM leases WHERE holder = $1 RETURNING name`, [holder]);
  return rows.length;
}

/** A lease as the store has it. */
export interface LeaseRow {
  name: string;
  holder: string;
  acquiredAt: Date;
  expiresAt: Date;
}

/** Every lease the store records, held or expired. */
export async function listLeases(db: Queryable): Promise<LeaseRow[]> {
  const { rows } = await db.query<{ name: string; holder: string; acquired_at: Date; expires_at: Date }>(
    `SELECT name, holder, acquired_at, expires_at FROM leases ORDER BY name`,
  );
  return rows.map((r) => ({
    name: r.name,
    holder: r.holder,
    acquiredAt: new Date(r.acquired_at),
    expiresAt: new Date(r.expires_at),
  }));
}

/**
 * Claims the run of `job` for the period starting at `periodStart`, while
 * `holder` holds the job's lease: a period no one started, or one a holder
 * started and never finished (it died), is claimed; a finished one is not.
 * Resolves with the attempt number, or null when the period needs no run.
 */
export async function claimRun(
  db: Queryable,
  job: string,
  periodStart: Date,
  holder: string,
): Promise<number | null> {
  const { rows } = await db.query<{ attempts: number }>(
    `INSERT INTO job_runs (job, period_start, holder, started_at)
     SELECT $1, $2, $3, now()
      WHERE EXISTS (SELECT 1 FROM leases WHERE name = $1 AND holder = $3 AND expires_at > now())
     ON CONFLICT (job, period_start) DO UPDATE SET
       holder = EXCLUDED.holder, attempts = job_runs.attempts + 1, started_at = now()
     WHERE job_runs.finished_at IS NULL
     RETURNING attempts`,
    [job, periodStart.toISOString(), holder],
  );
  return rows[0]?.attempts ?? null;
}

/** How long the runs of a job are remembered. */
const RUNS_KEPT_DAYS = 90;

/**
 * Marks the claimed run finished, and forgets the job's runs older than 90
 * days. False when the run is no longer `holder`'s (another took it over).
 */
export async function finishRun(
  db: Queryable,
  job: string,
  periodStart: Date,
  holder: string,
): Promise<boolean> {
  const { rows } = await db.query(
    `WITH finished AS (
       UPDATE job_runs SET finished_at = now()
        WHERE job = $1 AND period_start = $2 AND holder = $3 AND finished_at IS NULL
        RETURNING job
     ), forgotten AS (
       DELETE FROM job_runs WHERE job = $1 AND period_start < now() - $4::integer * interval '1 day'
     )
     SELECT job FROM finished`,
    [job, periodStart.toISOString(), holder, RUNS_KEPT_DAYS],
  );
  return rows.length === 1;
}

/** A period's run as the store has it. */
export interface JobRunRow {
  job: string;
  periodStart: Date;
  holder: string;
  attempts: number;
  finished: boolean;
}

/** The runs of `job` (every job when absent), oldest period first. */
export async function listJobRuns(db: Queryable, job?: string): Promise<JobRunRow[]> {
  const { rows } = await db.query<{
    job: string;
    period_start: Date;
    holder: string;
    attempts: number;
    finished_at: Date | null;
  }>(
    `SELECT job, period_start, holder, attempts, finished_at FROM job_runs
      WHERE $1::text IS NULL OR job = $1 ORDER BY job, period_start`,
    [job ?? null],
  );
  return rows.map((r) => ({
    job: r.job,
    periodStart: new Date(r.period_start),
    holder: r.holder,
    attempts: r.attempts,
    finished: r.finished_at !== null,
  }));
}

/** Whether `job` has a run (finished or not) for the period starting at `periodStart`. */
export async function hasRun(db: Queryable, job: string, periodStart: Date): Promise<boolean> {
  const { rows } = await db.query(`SELECT 1 FROM job_runs WHERE job = $1 AND period_start = $2`, [
    job,
    periodStart.toISOString(),
  ]);
  return rows.length === 1;
}
