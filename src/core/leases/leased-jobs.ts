/**
 * Timed jobs that run once per period however many replicas of a service
 * run: each job has a lease in the service's store, and only the replica
 * holding it runs the job. The holder renews the lease every third of its
 * time to live; a holder that dies (or cannot reach the store) stops
 * renewing, and another replica takes the lease once it expires — within
 * `ttlMs` plus one tick.
 *
 * Periods are aligned to the epoch (period k is [k·P, (k+1)·P)). When a period
 * ends, the holder runs the job for it once, recorded in `job_runs`; a run
 * that a holder started and never finished is run again by the next holder
 * while its period is still the latest ended one (else the next period's run
 * does its work).
 * Only the latest ended period is run, so a period whose end no replica lived
 * through is not run afterwards. A replica that starts runs nothing at once,
 * unless the latest ended period is one the job missed: the period before it
 * has a run (the job runs in this deployment, and its holder died before
 * this period's run).
 */
import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import { Counter, Gauge, type Registry } from "prom-client";
import type { Db } from "../db/index.ts";
import type { Logger } from "../log/index.ts";
import { acquireLease, claimRun, finishRun, hasRun, releaseLeases } from "./leases.repository.ts";

/** A job that runs once per period on the replica that holds its lease. */
export interface LeasedJob {
  /** The lease's name and the runs' job name, e.g. `retention`. */
  name: string;
  /** The period, in milliseconds; 0: the job never runs on its own. */
  periodMs: number;
  /** Runs the job for a period that has ended; `signal` aborts when the lease is lost or the service stops. */
  run(period: { start: Date; end: Date; signal: AbortSignal }): Promise<void>;
}

/** How the leases of a service's jobs are kept. */
export interface LeaseOptions {
  db: Db;
  /** How long a lease lasts without renewal, in milliseconds: the longest a dead holder's jobs wait. */
  ttlMs: number;
  logger: Logger;
  /** Where `phonehome_lease_held` and the runs' counters go (the service's `/metrics`). */
  metrics?: Registry;
  /** This replica's name in the store; unique per process by default. */
  holder?: string;
  /** The clock periods are read from; tests inject one. */
  clock?: () => Date;
}

/** A service's leased jobs, running. */
export interface RunningJobs {
  /** The holder name this replica uses. */
  readonly holder: string;
  /** The leases this replica holds now. */
  held(): string[];
  /** Stops the timers, aborts runs under way and waits for them, then gives the leases up. */
  stop(): Promise<void>;
}

/** The default holder name: the host, the process and a random part (a restarted process is a new holder). */
export function defaultHolder(): string {
  return `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
}

/** Metrics of leases and runs, registered once per registry. */
function leaseMetrics(registry: Registry | undefined) {
  const registers = registry === undefined ? [] : [registry];
  const existing = registry?.getSingleMetric("phonehome_lease_held");
  if (existing !== undefined && registry !== undefined) {
    return {
      held: existing as Gauge<"lease">,
      lost: registry.getSingleMetric("phonehome_lease_lost_total") as Counter<"lease">,
      runs: registry.getSingleMetric("phonehome_job_runs_total") as Counter<"job" | "outcome">,
      finished: registry.getSingleMetric("phonehome_job_last_finished_seconds") as Gauge<"job">,
      period: registry.getSingleMetric("phonehome_job_period_seconds") as Gauge<"job">,
    };
  }
  return {
    held: new Gauge({
      name: "phonehome_lease_held",
      help: "1 for each job lease this replica holds, 0 for one it does not",
      labelNames: ["lease"] as const,
      registers,
    }),
    lost: new Counter({
      name: "phonehome_lease_lost_total",
      help: "Leases this replica held and lost (not renewed in time, or taken over)",
      labelNames: ["lease"] as const,
      registers,
    }),
    runs: new Counter({
      name: "phonehome_job_runs_total",
      help: "Runs of leased jobs on this replica, by outcome (finished, failed, aborted)",
      labelNames: ["job", "outcome"] as const,
      registers,
    }),
    finished: new Gauge({
      name: "phonehome_job_last_finished_seconds",
      help: "When this replica last finished a run of the job (Unix time)",
      labelNames: ["job"] as const,
      // Gathered over the workers of `serve --workers N`: the latest.
      aggregator: "max",
      registers,
    }),
    period: new Gauge({
      name: "phonehome_job_period_seconds",
      help: "The period of each leased job",
      labelNames: ["job"] as const,
      aggregator: "max",
      registers,
    }),
  };
}

/** Starts the jobs with a period; each tries its lease at once, then every tick. */
export function startLeasedJobs(jobs: readonly LeasedJob[], options: LeaseOptions): RunningJobs {
  const { db, ttlMs, logger } = options;
  const holder = options.holder ?? defaultHolder();
  const clock = options.clock ?? (() => new Date());
  const metrics = leaseMetrics(options.metrics);
  const startedAt = clock().getTime();
  const stopping = new AbortController();
  const states = jobs
    .filter((job) => job.periodMs > 0)
    .map((job) => ({
      job,
      /** performance.now() until which the lease is surely ours (its renewal began before). */
      heldUntil: 0,
      /** Whether this replica counts itself the holder (and has said so in the metrics). */
      holding: false,
      ticking: undefined as Promise<void> | undefined,
      running: undefined as Promise<void> | undefined,
      abort: undefined as AbortController | undefined,
      lastPeriod: Number.NaN,
      /** A period whose job ran to its end here but whose run is not yet recorded finished. */
      ranPeriod: Number.NaN,
      timer: undefined as NodeJS.Timeout | undefined,
      /** Fires when the lease runs out unless a renewal came first: a run stops before another may take it. */
      deadline: undefined as NodeJS.Timeout | undefined,
    }));

  const holds = (s: (typeof states)[number]) => performance.now() < s.heldUntil;

  const lose = (s: (typeof states)[number], why: string) => {
    clearTimeout(s.deadline);
    s.heldUntil = 0;
    s.holding = false;
    metrics.held.set({ lease: s.job.name }, 0);
    metrics.lost.inc({ lease: s.job.name });
    s.abort?.abort(new Error(`lease ${s.job.name} lost`));
    logger.warn({ lease: s.job.name, holder }, `lease lost (${why}); another replica takes the job over`);
  };

  const runPeriod = async (
    s: (typeof states)[number],
    period: number,
    start: Date,
    end: Date,
    abort: AbortController,
  ) => {
    const { job } = s;
    // A run that ended but was not recorded (the store failed at that moment) is only recorded now.
    if (s.ranPeriod !== period) {
      const attempt = await claimRun(db, job.name, start, holder);
      if (attempt === null) return; // finished already, or the lease moved on
      if (attempt > 1)
        logger.info({ job: job.name, period: start, attempt }, "taking over an unfinished run");
      try {
        await job.run({ start, end, signal: abort.signal });
      } catch (error) {
        metrics.runs.inc({ job: job.name, outcome: abort.signal.aborted ? "aborted" : "failed" });
        if (!abort.signal.aborted)
          logger.error({ err: error, job: job.name }, `${job.name} failed; tried again next period`);
        return;
      }
      s.ranPeriod = period;
    }
    if (await finishRun(db, job.name, start, holder)) {
      metrics.runs.inc({ job: job.name, outcome: "finished" });
      metrics.finished.set({ job: job.name }, Date.now() / 1000);
    }
  };

  const tick = async (s: (typeof states)[number]) => {
    const { job } = s;
    const began = performance.now();
    try {
      const renewed = await acquireLease(db, job.name, holder, ttlMs);
      if (renewed && began + ttlMs > performance.now()) {
        s.heldUntil = began + ttlMs;
        if (!s.holding) logger.info({ lease: job.name, holder }, "lease taken: this replica runs the job");
        s.holding = true;
        metrics.held.set({ lease: job.name }, 1);
        clearTimeout(s.deadline);
        s.deadline = setTimeout(() => {
          if (s.holding && !holds(s)) lose(s, "not renewed in time");
        }, s.heldUntil - performance.now());
        s.deadline.unref();
      } else if (renewed) {
        // Renewed, but the answer came after the lease's time: count it as not held; the next tick tries again.
        if (s.holding) lose(s, "renewed too late");
      } else if (s.holding) {
        lose(s, "another replica has it");
      }
    } catch (error) {
      if (s.holding && !holds(s)) lose(s, "not renewed in time: the store did not answer");
      logger.debug({ err: error, lease: job.name }, "lease not renewed this tick");
      return;
    }
    if (!holds(s) || s.running !== undefined || stopping.signal.aborted) return;
    const period = Math.floor(clock().getTime() / job.periodMs) - 1;
    const end = (period + 1) * job.periodMs;
    if (period === s.lastPeriod) return;
    // A period that ended before this replica started is run only when the one before it was (the job
    // runs in this deployment and its holder died before this period's run): a start runs nothing else.
    if (end <= startedAt) {
      const missed = await hasRun(db, job.name, new Date((period - 1) * job.periodMs)).catch(() => undefined);
      if (missed === undefined) return; // the store did not answer: asked again next tick
      if (!missed) {
        s.lastPeriod = period;
        return;
      }
    }
    if (!holds(s) || s.running !== undefined || stopping.signal.aborted) return;
    const abort = new AbortController();
    s.abort = abort;
    s.running = runPeriod(s, period, new Date(period * job.periodMs), new Date(end), abort)
      .then(() => {
        s.lastPeriod = period;
      })
      .catch((error: unknown) => logger.debug({ err: error, job: job.name }, "run not recorded this tick"))
      .finally(() => {
        s.running = undefined;
        s.abort = undefined;
      });
  };

  for (const s of states) {
    metrics.held.set({ lease: s.job.name }, 0);
    metrics.period.set({ job: s.job.name }, s.job.periodMs / 1000);
    const every = Math.max(100, Math.min(ttlMs / 3, s.job.periodMs / 4, 5000));
    const fire = () => {
      // A renewal that hangs must not keep a run going past the lease's end.
      if (s.holding && !holds(s)) lose(s, "not renewed in time");
      if (s.ticking !== undefined || stopping.signal.aborted) return;
      s.ticking = tick(s)
        .catch((error: unknown) => logger.warn({ err: error, lease: s.job.name }, "a lease tick failed"))
        .finally(() => {
          s.ticking = undefined;
        });
    };
    s.timer = setInterval(fire, every);
    s.timer.unref();
    fire();
  }

  return {
    holder,
    held: () => states.filter(holds).map((s) => s.job.name),
    stop: async () => {
      stopping.abort();
      for (const s of states) {
        clearInterval(s.timer);
        clearTimeout(s.deadline);
        s.abort?.abort(new Error("the service is stopping"));
      }
      await Promise.allSettled(states.flatMap((s) => [s.ticking, s.running]));
      if (states.some((s) => s.holding)) {
        // Given up so that another replica takes the jobs at its next tick, not after the lease expires.
        await releaseLeases(db, holder).catch((error: unknown) =>
          logger.warn({ err: error }, "could not give the leases up; they expire on their own"),
        );
      }
      for (const s of states) {
        s.heldUntil = 0;
        metrics.held.set({ lease: s.job.name }, 0);
      }
    },
  };
}
