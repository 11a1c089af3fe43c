/**
 * The load generator of `npm run bench`: autocannon, used programmatically.
 * A fixed number of keep-alive connections, one request in flight on each
 * (closed loop, `pipelining: 1`), for a fixed time or until the caller's
 * bodies run out. Every request carries the next body the caller hands out,
 * so the phonehome side never sends the same envelope twice.
 */
import { readdirSync, readFileSync } from "node:fs";
import autocannon from "autocannon";

/**
 * What autocannon resolves with under `skipAggregateResult`: counts, and the
 * latency histogram still encoded, so that rounds can be pooled with
 * `autocannon.aggregateResult`. Only the fields this bench reads.
 */
interface RawResult {
  /** Responses received (any status). */
  totalCompletedRequests: number;
  /** Connection errors, timeouts included. */
  errors: number;
  timeouts: number;
  non2xx: number;
  "2xx": number;
  statusCodeStats: Record<string, { count: number }>;
}

/**
 * `autocannon.aggregateResult` (documented in autocannon 9's README; missing
 * from @types/autocannon 7): pools un-aggregated results into one, latency
 * percentiles included.
 */
type AggregateResult = (results: RawResult[], options: autocannon.Options) => autocannon.Result;

const aggregateResult = (autocannon as unknown as { aggregateResult?: AggregateResult }).aggregateResult;

/** What one load run measured. */
export interface LoadRun {
  /** autocannon's own result of the run, for pooling; null when there was nothing left to send. */
  raw: RawResult | null;
  /** Bodies handed to autocannon, i.e. requests written (answered or not when the run stopped). */
  sent: number;
  /** Wall time of the run, in milliseconds. */
  elapsedMs: number;
  /** First few failures (status and body, or the connection error), for the report. */
  samples: string[];
  /** True when the run ended, on one connection or all, because the bodies allowed it ran out. */
  exhausted: boolean;
  /** 2xx answers whose body the caller's `check` refused. */
  refused: number;
}

/** How to run load. */
export interface LoadOptions {
  /** Where to POST, path included. */
  url: URL;
  /** The next request body. Called once per request written; must not run dry within `limit`. */
  next: () => Buffer;
  durationMs: number;
  /** Connections, each with at most one request in flight. */
  connections: number;
  /** At most this many requests (bodies left to a side that must not repeat one); undefined: no limit. */
  limit?: number;
  /** Checks the body of a 2xx answer: a problem (counted as a failure and sampled) or null. */
  check?: (body: string) => string | null;
}

/** Runs closed-loop load against `options.url` with autocannon and returns what was measured. */
export function runLoad(options: LoadOptions): Promise<LoadRun> {
  // autocannon would treat a per-connection share of 0 as "no limit": never open more connections than bodies.
  const connections =
    options.limit === undefined ? options.connections : Math.min(options.connections, options.limit);
  if (connections < 1) {
    return Promise.resolve({
      raw: null,
      sent: 0,
      elapsedMs: 0,
      samples: [],
      exhausted: true,
      refused: 0,
    });
  }
  const samples: string[] = [];
  const sample = (text: string) => {
    if (samples.length < 5) samples.push(text);
  };
  let sent = 0;
  let exhausted = false;
  let refused = 0;
  const { check } = options;
  const started = performance.now();
  const deadline = started + options.durationMs;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url.origin,
        connections,
        pipelining: 1,
        duration: options.durationMs / 1000,
        // The limit is shared out over the connections; each stops when it has sent its share.
        ...(options.limit === undefined ? {} : { maxOverallRequests: options.limit }),
        // Check for the end every 10 ms, not every second (the default), so a run ends on time.
        sampleInt: 10,
        skipAggregateResult: true,
        requests: [
          {
            method: "POST",
            path: options.url.pathname,
            headers: { "content-type": "application/json" },
            // autocannon calls this once for each request it writes, and writes what it returns.
            setupRequest: (request) => {
              sent += 1;
              request.body = options.next();
              return request;
            },
            onResponse: (status, body) => {
              if (status < 200 || status >= 300) sample(`${status} ${body.slice(0, 200)}`);
              else if (check !== undefined) {
                const problem = check(body);
                if (problem !== null) {
                  refused += 1;
                  sample(`${status} ${problem}`);
                }
              }
            },
          },
        ],
        // A connection that stops before the time is up has sent its share of the limit.
        // (autocannon's own stop, at the deadline, may come a few milliseconds early by our clock: hence the margin.)
        setupClient: (client) => {
          client.once("done", () => {
            if (performance.now() < deadline - 100) exhausted = true;
          });
        },
      },
      (error: unknown, result: autocannon.Result) => {
        if (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        resolve({
          // Typed as the aggregated result by @types/autocannon; skipAggregateResult makes it the raw one.
          raw: result as unknown as RawResult,
          sent,
          elapsedMs: performance.now() - started,
          samples,
          exhausted,
          refused,
        });
      },
    );
    instance.on("reqError", (error: unknown) =>
      sample(error instanceof Error ? error.message : String(error)),
    );
  });
}

/** Several runs against the same server, pooled: counts and times added, latency histograms merged. */
export interface Pooled {
  /** Responses received (any status). */
  requests: number;
  /** 2xx responses. */
  ok: number;
  /** Non-2xx responses, 2xx responses the caller's check refused, connection errors and timeouts: must be 0 for a valid run. */
  errors: number;
  /** Responses by status code. */
  statuses: Record<string, number>;
  /** Latency percentiles over all the runs, from autocannon's histogram: whole milliseconds, rounded down; NaN without answers. */
  latency: { p50: number; p99: number; max: number };
  samples: string[];
  sent: number;
  elapsedMs: number;
  exhausted: boolean;
}

/** Pools the measured runs of one server; latency with `autocannon.aggregateResult`. */
export function poolRuns(url: URL, runs: readonly LoadRun[]): Pooled {
  const raws = runs.flatMap((r) => (r.raw === null ? [] : [r.raw]));
  const sum = (of: (raw: RawResult) => number) => raws.reduce((n, raw) => n + of(raw), 0);
  const statuses: Record<string, number> = {};
  for (const raw of raws) {
    for (const [status, { count }] of Object.entries(raw.statusCodeStats)) {
      statuses[status] = (statuses[status] ?? 0) + count;
    }
  }
  let latency = { p50: Number.NaN, p99: Number.NaN, max: Number.NaN };
  if (raws.length > 0) {
    if (typeof aggregateResult !== "function") throw new Error("this autocannon has no aggregateResult");
    // aggregateResult folds into the first result's objects: hand it copies.
    const copies = raws.map((raw) => ({ ...raw, statusCodeStats: structuredClone(raw.statusCodeStats) }));
    const { p50, p99, max } = aggregateResult(copies, { url: url.origin }).latency;
    latency = { p50, p99, max };
  }
  return {
    requests: sum((raw) => raw.totalCompletedRequests),
    ok: sum((raw) => raw["2xx"]),
    errors: sum((raw) => raw.non2xx + raw.errors) + runs.reduce((n, r) => n + r.refused, 0),
    statuses,
    latency,
    samples: runs.flatMap((r) => r.samples).slice(0, 5),
    sent: runs.reduce((n, r) => n + r.sent, 0),
    elapsedMs: runs.reduce((n, r) => n + r.elapsedMs, 0),
    exhausted: runs.some((r) => r.exhausted),
  };
}

/** CPU time (user + system) a process has used so far, in milliseconds; null where /proc is missing. */
export function processCpuMs(pid: number): number | null {
  try {
    // Fields after the command name (which may hold spaces, so cut at the last ')'): utime is 14th, stime 15th overall.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    // Linux reports in clock ticks of USER_HZ, 100 per second on every mainstream architecture.
    return Number.isFinite(ticks) ? ticks * 10 : null;
  } catch {
    return null;
  }
}

/** CPU time (ms) each PostgreSQL process of this machine has used so far, by pid; null without /proc. */
export function postgresCpu(): Map<number, number> | null {
  const used = new Map<number, number>();
  try {
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      let comm: string;
      try {
        comm = readFileSync(`/proc/${entry}/comm`, "utf8").trim();
      } catch {
        continue; // gone meanwhile
      }
      if (comm !== "postgres") continue;
      const ms = processCpuMs(Number(entry));
      if (ms !== null) used.set(Number(entry), ms);
    }
  } catch {
    return null;
  }
  return used;
}

/**
 * The CPU time (ms) PostgreSQL used between two `postgresCpu()` readings:
 * each process's growth, a process started meanwhile counted whole. A
 * process that ended meanwhile (a closed connection's backend) took its last
 * moments with it, so this can fall short, never below zero.
 */
export function postgresCpuBetween(
  before: ReadonlyMap<number, number> | null,
  after: ReadonlyMap<number, number> | null,
): number | null {
  if (before === null || after === null) return null;
  let total = 0;
  for (const [pid, ms] of after) total += Math.max(0, ms - (before.get(pid) ?? 0));
  return total;
}
