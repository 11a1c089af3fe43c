/**
 * What the suites of `npm run bench` share: the settings, the server child
 * processes (`bench/server.ts`), PostgreSQL access, the collector's metrics,
 * one measured side under autocannon load, and the report's table.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import pg from "pg";
import { POSTGRES_URL } from "../test/helpers/stores.ts";
import { type LoadOptions, type LoadRun, type Pooled, poolRuns, processCpuMs, runLoad } from "./load.ts";
import type { ReadyLine, ServerSpec } from "./protocol.ts";

const SERVER_SCRIPT = new URL("./server.ts", import.meta.url).pathname;
/** Activations sealed per second of phonehome warm-up and measurement when --devices is not given. */
const DEVICES_PER_SECOND = 4000;
/** Diagnostics envelopes sealed per second of warm-up and measurement when --envelopes is not given. */
const ENVELOPES_PER_SECOND = 600;

/** The suites `--suite` chooses from, in the order they run. */
export const SUITES = [
  "activations",
  "diagnostics",
  "isolation",
  "auditor",
  "audit",
  "owner",
  "memory",
  "workers",
] as const;
export type Suite = (typeof SUITES)[number];
/**
 * What `all` runs: every suite but `owner`, which fills a store with ten million rows first
 * (minutes of work) and runs only when named (docs/decisions/0043).
 */
export const ALL_SUITES: readonly Suite[] = SUITES.filter((s) => s !== "owner");
/** The suites that need PostgreSQL (the auditor suite does not). */
export const POSTGRES_SUITES: ReadonlySet<Suite> = new Set([
  "activations",
  "diagnostics",
  "isolation",
  "audit",
  "owner",
  "memory",
  "workers",
]);

/** What the command line asked for. */
export interface Settings {
  suites: Suite[];
  /** Measured time per server, over all rounds, in milliseconds. */
  durationMs: number;
  warmupMs: number;
  rounds: number;
  concurrency: number;
  /** Activations sealed (and devices provisioned) for the activations suite. */
  devices: number;
  /** Diagnostics envelopes sealed (one device each) for the diagnostics suite. */
  envelopes: number;
  postgres: string;
  pin: boolean;
  /** Directory for V8 CPU profiles of the phonehome servers (and `phonehome audit`), or undefined. */
  cpuProf: string | undefined;
  /** Size of the capture the auditor suite generates, in MB (10^6 bytes). */
  captureMb: number;
  /** Entries in the audit suite's big store (its small one holds 10). */
  auditEntries: number;
  /** Diagnostics rows in the owner suite's full region. */
  ownerRows: number;
  /** Audit entries in the owner suite's full region. */
  ownerAudit: number;
  /** Diagnostics events of each device whose owner the owner suite measures. */
  ownerEvents: number;
  /** Seconds of load the memory suite puts on each service it measures under load. */
  memoryLoadS: number;
}

/** Parses the bench's options (see docs/benchmarks.md); throws on a bad one. */
export function settingsFromArgv(argv: string[]): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      suite: { type: "string", default: "all" },
      duration: { type: "string" },
      warmup: { type: "string" },
      rounds: { type: "string" },
      concurrency: { type: "string" },
      devices: { type: "string" },
      envelopes: { type: "string" },
      postgres: { type: "string" },
      quick: { type: "boolean", default: false },
      "no-pin": { type: "boolean", default: false },
      "cpu-prof": { type: "string" },
      "capture-mb": { type: "string" },
      "audit-entries": { type: "string" },
      "owner-rows": { type: "string" },
      "owner-audit": { type: "string" },
      "owner-events": { type: "string" },
      "memory-load": { type: "string" },
    },
    strict: true,
  });
  const number = (name: string, value: string | undefined, fallback: number, min: number): number => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number of at least ${min}`);
    return n;
  };
  // One suite, several separated by commas (run in the order of SUITES), or all.
  const asked = values.suite === "all" ? [...ALL_SUITES] : values.suite.split(",").map((s) => s.trim());
  const unknown = asked.filter((s) => !(SUITES as readonly string[]).includes(s));
  if (asked.length === 0 || unknown.length > 0) {
    throw new Error(`--suite must be one or more of ${SUITES.join(", ")} (comma-separated), or all`);
  }
  const suites: Suite[] = SUITES.filter((s) => asked.includes(s));
  const quick = values.quick === true;
  const duration = number("duration", values.duration, quick ? 2 : 10, 0.5);
  const warmup = number("warmup", values.warmup, quick ? 0.5 : 2, 0);
  return {
    suites,
    durationMs: duration * 1000,
    warmupMs: warmup * 1000,
    rounds: Math.round(number("rounds", values.rounds, quick ? 1 : 3, 1)),
    concurrency: Math.round(number("concurrency", values.concurrency, 32, 1)),
    devices: Math.round(
      number("devices", values.devices, Math.ceil((duration + warmup) * DEVICES_PER_SECOND), 1),
    ),
    envelopes: Math.round(
      number("envelopes", values.envelopes, Math.ceil((duration + warmup) * ENVELOPES_PER_SECOND), 1),
    ),
    postgres: values.postgres ?? POSTGRES_URL,
    pin: values["no-pin"] !== true,
    cpuProf: values["cpu-prof"],
    captureMb: number("capture-mb", values["capture-mb"], quick ? 20 : 200, 1),
    auditEntries: Math.round(number("audit-entries", values["audit-entries"], 1_000_000, 10)),
    ownerRows: Math.round(number("owner-rows", values["owner-rows"], 10_000_000, 0)),
    ownerAudit: Math.round(number("owner-audit", values["owner-audit"], 1_000_000, 0)),
    ownerEvents: Math.round(number("owner-events", values["owner-events"], 300, 1)),
    memoryLoadS: number("memory-load", values["memory-load"], quick ? 3 : 20, 1),
  };
}

/** The CPU the servers are pinned to, or null when they are not pinned. */
export function pinnedCpu(settings: Settings): number | null {
  if (!settings.pin || availableParallelism() < 2) return null;
  const probe = spawnSync("taskset", ["-V"], { stdio: "ignore" });
  return probe.status === 0 ? availableParallelism() - 1 : null;
}

/** What a suite gets from `bench/run.ts`: settings, where servers go, and what to clean up. */
export interface SuiteContext {
  settings: Settings;
  /** The CPU servers are pinned to, or null. */
  cpu: number | null;
  /** Random hex of this run: every schema a suite makes is named `bench_<tag>_...`. */
  tag: string;
  /** A temporary directory removed at the end. */
  workDir: string;
  /** Servers started, stopped at the end (also on Ctrl-C). */
  servers: RunningServer[];
  /** Schemas made, dropped at the end (also on Ctrl-C). */
  schemas: string[];
}

/** A server child process that said it is ready. */
export interface RunningServer {
  ready: ReadyLine;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `bench/server.ts` with `spec` and waits for its ready line. */
export function startServer(
  spec: ServerSpec,
  cpu: number | null,
  profileDir?: string,
): Promise<RunningServer> {
  const profile = profileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${profileDir}`];
  const node = [process.execPath, ...profile, SERVER_SCRIPT, JSON.stringify(spec)];
  const [command, ...args] = cpu === null ? node : ["taskset", "-c", String(cpu), ...node];
  const child = spawn(command ?? process.execPath, args, { stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`the ${spec.mode} server did not get ready within 180 s`));
    }, 180_000);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(`the ${spec.mode} server exited before it was ready (code ${code}, signal ${signal})`),
      );
    });
    if (!child.stdout) throw new Error("no stdout pipe");
    createInterface({ input: child.stdout }).on("line", (line) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        return;
      }
      if (typeof parsed === "object" && parsed !== null && (parsed as ReadyLine).ready === true) {
        clearTimeout(timer);
        resolve({ ready: parsed as ReadyLine, child, stop });
      }
    });
  });
}

/** Starts the real system on PostgreSQL in fresh schemas `bench_<tag>_<prefix>{control,global,cn}`. */
export async function startPhonehome(
  ctx: SuiteContext,
  prefix: string,
  factoryFile: string,
): Promise<{ server: RunningServer; globalSchema: string }> {
  const { settings } = ctx;
  const name = (store: string) => `bench_${ctx.tag}_${prefix}${store}`;
  ctx.schemas.push(name("control"), name("global"), name("cn"));
  const server = await startServer(
    {
      mode: "phonehome",
      dataDir: join(ctx.workDir, `${prefix}data`),
      control: { kind: "postgres", url: settings.postgres, schema: name("control"), poolSize: 4 },
      global: { kind: "postgres", url: settings.postgres, schema: name("global"), poolSize: 10 },
      cn: { kind: "postgres", url: settings.postgres, schema: name("cn"), poolSize: 2 },
      factoryFile,
    },
    ctx.cpu,
    settings.cpuProf,
  );
  ctx.servers.push(server);
  return { server, globalSchema: name("global") };
}

/** What `GET /v1/region` answers that a device needs in order to seal. */
export interface RegionAnswer {
  region: string;
  kid: string;
  publicKey: string;
}

/** The region's sealing key, as a device reads it. */
export async function regionOf(server: RunningServer): Promise<RegionAnswer> {
  return (await (await fetch(new URL("/v1/region", server.ready.url))).json()) as RegionAnswer;
}

/** Timeouts for the bench's own connections that fill stores: a chunk of a million rows may take a minute. */
export const FILL_TIMEOUTS = { statementMs: 15 * 60_000, idleInTransactionMs: 15 * 60_000 };

/** Runs `fn` with a fresh connection to `url`, closed afterwards. */
export async function withPg<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A Prometheus histogram's cumulative bucket counts by `le`, with its sum and count. */
export interface Histogram {
  buckets: Map<string, number>;
  sum: number;
  count: number;
}

/** Reads one histogram from a collector's `/metrics` (with the service token it asks for). */
export async function scrapeHistogram(server: ReadyLine, name: string): Promise<Histogram> {
  const text = await (
    await fetch(new URL("/metrics", server.url), {
      headers: { authorization: `Bearer ${server.serviceToken ?? ""}` },
    })
  ).text();
  const h: Histogram = { buckets: new Map(), sum: 0, count: 0 };
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (line.startsWith(`${name}_bucket`)) {
      const le = /le="([^"]+)"/.exec(line)?.[1];
      if (le !== undefined) h.buckets.set(le, value);
    } else if (line.startsWith(`${name}_sum`)) h.sum = value;
    else if (line.startsWith(`${name}_count`)) h.count = value;
  }
  return h;
}

/** Commits between two scrapes: how many, their mean size, and how many fell in each size bucket. */
export function describeCommits(
  before: Histogram,
  after: Histogram,
): { commits: number; mean: number; spread: string } {
  const commits = after.count - before.count;
  const mean = commits > 0 ? (after.sum - before.sum) / commits : 0;
  const parts: string[] = [];
  let below = 0;
  for (const [le, cumulative] of after.buckets) {
    const total = cumulative - (before.buckets.get(le) ?? 0);
    if (total - below > 0) parts.push(`${le === "+Inf" ? ">512" : `<=${le}`}: ${total - below}`);
    below = total;
  }
  return { commits, mean, spread: parts.join(", ") };
}

/** One server under load: where it is, and what it is sent. */
export interface Side {
  name: string;
  server: RunningServer;
  /** The route under load, e.g. `/v1/activations`. */
  path: string;
  /** The next request body. */
  next: () => Buffer;
  /** How many more requests this side may send: undefined when it may repeat bodies. */
  left: () => number | undefined;
  /** Checks a 2xx answer's body: a problem to report, or null. Undefined: every 2xx is fine. */
  check?: LoadOptions["check"];
  runs: LoadRun[];
  /** Server CPU time during measured runs, in milliseconds; null where /proc is missing. */
  serverCpuMs: number | null;
  /** This process's CPU time during measured runs, in milliseconds. */
  clientCpuMs: number;
  /** Whether the warm-up ran out of bodies. */
  warmupExhausted: boolean;
}

/** A side that has not run yet. */
export function newSide(fields: Pick<Side, "name" | "server" | "path" | "next" | "left" | "check">): Side {
  return { ...fields, runs: [], serverCpuMs: 0, clientCpuMs: 0, warmupExhausted: false };
}

function load(side: Side, settings: Settings, durationMs: number): Promise<LoadRun> {
  const limit = side.left();
  return runLoad({
    url: new URL(side.path, side.server.ready.url),
    next: side.next,
    durationMs,
    connections: settings.concurrency,
    ...(limit === undefined ? {} : { limit }),
    ...(side.check === undefined ? {} : { check: side.check }),
  });
}

/** Unmeasured load on `side` for the warm-up time. */
export async function warmUp(side: Side, settings: Settings): Promise<void> {
  if (settings.warmupMs <= 0) return;
  const run = await load(side, settings, settings.warmupMs);
  side.warmupExhausted = run.exhausted;
}

/** One measured round of `side`, with the CPU both processes used meanwhile. */
export async function measureRound(side: Side, settings: Settings): Promise<void> {
  const pid = side.server.ready.pid;
  const cpu0 = processCpuMs(pid);
  const own0 = process.cpuUsage();
  const run = await load(side, settings, settings.durationMs / settings.rounds);
  const cpu1 = processCpuMs(pid);
  const own = process.cpuUsage(own0);
  side.runs.push(run);
  side.serverCpuMs =
    side.serverCpuMs === null || cpu0 === null || cpu1 === null ? null : side.serverCpuMs + cpu1 - cpu0;
  side.clientCpuMs += (own.user + own.system) / 1000;
}

/** A side's measured rounds, pooled. */
export interface Summary {
  load: Pooled;
  /** Answers per second. */
  rate: number;
  /** Latency percentiles from autocannon's histogram: whole milliseconds, rounded down. */
  p50: number;
  p99: number;
  max: number;
  serverCpu: number | null;
  clientCpu: number;
}

/** Pools a side's measured rounds. */
export function summarise(side: Side): Summary {
  const load = poolRuns(new URL(side.path, side.server.ready.url), side.runs);
  const { latency } = load;
  return {
    load,
    rate: load.elapsedMs > 0 ? load.requests / (load.elapsedMs / 1000) : 0,
    p50: latency.p50,
    p99: latency.p99,
    max: latency.max,
    serverCpu: side.serverCpuMs === null || load.elapsedMs === 0 ? null : side.serverCpuMs / load.elapsedMs,
    clientCpu: load.elapsedMs > 0 ? side.clientCpuMs / load.elapsedMs : 0,
  };
}

/** A latency from autocannon (whole milliseconds, rounded down): 0 means under one. */
export function ms(x: number): string {
  return x === 0 ? "<1" : Number.isNaN(x) ? "n/a" : String(x);
}

/** A share of a core, as a whole percentage. */
export function percent(x: number): string {
  return `${(x * 100).toFixed(0)}%`;
}

/** Formats a table: the first column left-aligned, the others right-aligned, each to its width. */
export function table(columns: readonly (readonly [string, number])[], rows: readonly string[][]): string[] {
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => {
        const width = columns[i]?.[1] ?? 8;
        return i === 0 ? cell.padEnd(width) : cell.padStart(width);
      })
      .join("  ");
  return [line(columns.map(([name]) => name)), ...rows.map(line)];
}
