/**
 * `npm run bench`: activations per second through phonehome's real HTTP stack
 * (HPKE seal opened, Ed25519 signature checked, payload validated against the
 * approved collection, group-committed durably to PostgreSQL), as a ratio
 * against a bare Fastify route answering the same requests, both measured in
 * this run, on this machine, with the same load.
 *
 * Each server under test runs in its own child process (`bench/server.ts`),
 * pinned to one core with `taskset` where available; this process generates
 * the load with autocannon (`bench/load.ts`). The two are measured in
 * alternating rounds, so that a burst of other work on the machine falls on
 * both. Every phonehome request activates a device provisioned for it before
 * anything is measured, so none is a replay.
 *
 * Options: --duration S (measured seconds per server, default 10), --warmup S
 * (default 2), --rounds N (default 3), --concurrency N (default 32), --devices
 * N (activations sealed for phonehome), --quick (2 s, one round: a smoke run),
 * --postgres URL, --no-pin, --cpu-prof DIR (profile the phonehome server).
 * See docs/benchmarks.md.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism, cpus, loadavg, release, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import {
  type ActivationPayloadV1,
  ENVELOPE_FORMAT,
  type EnvelopeHeader,
  ed25519PrivateKey,
  sealEnvelope,
} from "@phonehome/sdk";
import pg from "pg";
import { type DemoFleet, generateDemoFleet } from "../src/fleet/index.ts";
import { POSTGRES_URL } from "../test/helpers/stores.ts";
import { type LoadRun, type Pooled, poolRuns, processCpuMs, runLoad } from "./load.ts";
import { BODY_LIMIT, type ReadyLine, type ServerSpec } from "./protocol.ts";

const SERVER_SCRIPT = new URL("./server.ts", import.meta.url).pathname;
const AUTOCANNON_VERSION = (createRequire(import.meta.url)("autocannon/package.json") as { version: string })
  .version;
/** The issue's target: phonehome at no less than this fraction of the bare route (issue 2, item 9). */
const TARGET_RATIO = 0.25;
/** Activations sealed per second of phonehome warm-up and measurement when --devices is not given. */
const DEVICES_PER_SECOND = 4000;
/** Above this share of a core, the load generator itself may be what limits a run. */
const CLIENT_BUSY = 0.9;

interface Settings {
  /** Measured time per server, over all rounds, in milliseconds. */
  durationMs: number;
  warmupMs: number;
  rounds: number;
  concurrency: number;
  devices: number;
  postgres: string;
  pin: boolean;
  /** Directory for a V8 CPU profile of the phonehome server, or undefined. */
  cpuProf: string | undefined;
}

function settingsFromArgv(argv: string[]): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: "string" },
      warmup: { type: "string" },
      rounds: { type: "string" },
      concurrency: { type: "string" },
      devices: { type: "string" },
      postgres: { type: "string" },
      quick: { type: "boolean", default: false },
      "no-pin": { type: "boolean", default: false },
      "cpu-prof": { type: "string" },
    },
    strict: true,
  });
  const number = (name: string, value: string | undefined, fallback: number, min: number): number => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number of at least ${min}`);
    return n;
  };
  const quick = values.quick === true;
  const duration = number("duration", values.duration, quick ? 2 : 10, 0.5);
  const warmup = number("warmup", values.warmup, quick ? 0.5 : 2, 0);
  return {
    durationMs: duration * 1000,
    warmupMs: warmup * 1000,
    rounds: Math.round(number("rounds", values.rounds, quick ? 1 : 3, 1)),
    concurrency: Math.round(number("concurrency", values.concurrency, 32, 1)),
    devices: Math.round(
      number("devices", values.devices, Math.ceil((duration + warmup) * DEVICES_PER_SECOND), 1),
    ),
    postgres: values.postgres ?? POSTGRES_URL,
    pin: values["no-pin"] !== true,
    cpuProf: values["cpu-prof"],
  };
}

/** The CPU the servers are pinned to, or null when they are not pinned. */
function pinnedCpu(settings: Settings): number | null {
  if (!settings.pin || availableParallelism() < 2) return null;
  const probe = spawnSync("taskset", ["-V"], { stdio: "ignore" });
  return probe.status === 0 ? availableParallelism() - 1 : null;
}

interface RunningServer {
  ready: ReadyLine;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `bench/server.ts` with `spec` and waits for its ready line. */
function startServer(spec: ServerSpec, cpu: number | null, profileDir?: string): Promise<RunningServer> {
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

/** What `GET /v1/region` answers that a device needs in order to seal. */
interface RegionAnswer {
  region: string;
  kid: string;
  publicKey: string;
}

/** Seals one activation per device, as the SDK does, at most `parallel` at a time; JSON request bodies. */
async function sealActivations(fleet: DemoFleet, region: RegionAnswer, parallel = 64): Promise<Buffer[]> {
  const builds = new Map(fleet.factory.batches.map((b) => [b.id, b.build]));
  const devices = fleet.factory.devices;
  const out: Buffer[] = new Array(devices.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < devices.length; i = next++) {
      const device = devices[i];
      const keys = device ? fleet.keys[device.serial] : undefined;
      if (!device || !keys) throw new Error(`no keys for device ${i}`);
      const build = builds.get(device.batch) ?? "";
      const now = new Date().toISOString();
      const header: EnvelopeHeader = {
        v: ENVELOPE_FORMAT,
        collection: "activation",
        schemaVersion: 1,
        eventId: randomUUID(),
        device: keys.keyId,
        region: region.region,
        kid: region.kid,
        build,
        sentAt: now,
      };
      const payload: ActivationPayloadV1 = {
        serial: device.serial,
        model: device.model,
        variant: device.variant,
        market: device.market,
        build,
        activatedAt: now,
      };
      const deviceKey = ed25519PrivateKey(keys.privateKey, keys.publicKey);
      out[i] = Buffer.from(JSON.stringify(await sealEnvelope(header, payload, region.publicKey, deviceKey)));
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return out;
}

/** A Prometheus histogram's cumulative bucket counts by `le`, with its sum and count. */
interface Histogram {
  buckets: Map<string, number>;
  sum: number;
  count: number;
}

async function scrapeHistogram(baseUrl: string, name: string): Promise<Histogram> {
  const text = await (await fetch(new URL("/metrics", baseUrl))).text();
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
function describeCommits(
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
interface Side {
  name: string;
  server: RunningServer;
  /** The next request body. */
  next: () => Buffer;
  /** How many more requests this side may send: undefined when it may repeat bodies. */
  left: () => number | undefined;
  runs: LoadRun[];
  /** Server CPU time during measured runs, in milliseconds; null where /proc is missing. */
  serverCpuMs: number | null;
  /** This process's CPU time during measured runs, in milliseconds. */
  clientCpuMs: number;
  /** Whether the warm-up ran out of bodies. */
  warmupExhausted: boolean;
}

function load(side: Side, settings: Settings, durationMs: number): Promise<LoadRun> {
  const limit = side.left();
  return runLoad({
    url: new URL("/v1/activations", side.server.ready.url),
    next: side.next,
    durationMs,
    connections: settings.concurrency,
    ...(limit === undefined ? {} : { limit }),
  });
}

async function warmUp(side: Side, settings: Settings): Promise<void> {
  if (settings.warmupMs <= 0) return;
  const run = await load(side, settings, settings.warmupMs);
  side.warmupExhausted = run.exhausted;
}

/** One measured round of `side`, with the CPU both processes used meanwhile. */
async function measureRound(side: Side, settings: Settings): Promise<void> {
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

interface Summary {
  load: Pooled;
  rate: number;
  /** Latency percentiles from autocannon's histogram: whole milliseconds, rounded down. */
  p50: number;
  p99: number;
  max: number;
  serverCpu: number | null;
  clientCpu: number;
}

function summarise(side: Side): Summary {
  const load = poolRuns(new URL("/v1/activations", side.server.ready.url), side.runs);
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
function ms(x: number): string {
  return x === 0 ? "<1" : Number.isNaN(x) ? "n/a" : String(x);
}

const COLUMNS: [string, number][] = [
  ["server", 10],
  ["requests", 9],
  ["req/s", 8],
  ["p50 ms", 7],
  ["p99 ms", 7],
  ["max ms", 7],
  ["errors", 7],
  ["server cpu", 10],
  ["client cpu", 10],
];

function tableLine(cells: string[]): string {
  return cells
    .map((cell, i) => {
      const width = COLUMNS[i]?.[1] ?? 8;
      return i === 0 ? cell.padEnd(width) : cell.padStart(width);
    })
    .join("  ");
}

function row(name: string, s: Summary): string {
  const percent = (x: number) => `${(x * 100).toFixed(0)}%`;
  return tableLine([
    name,
    String(s.load.requests),
    s.rate.toFixed(0),
    ms(s.p50),
    ms(s.p99),
    ms(s.max),
    String(s.load.errors),
    s.serverCpu === null ? "n/a" : percent(s.serverCpu),
    percent(s.clientCpu),
  ]);
}

async function withPg<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function main(): Promise<number> {
  const settings = settingsFromArgv(process.argv.slice(2));
  const cpu = pinnedCpu(settings);
  const pgVersion = await withPg(settings.postgres, async (c) => {
    const r = await c.query<{ server_version: string }>("SHOW server_version");
    return r.rows[0]?.server_version ?? "?";
  }).catch((error: unknown) => {
    throw new Error(
      `the benchmark needs PostgreSQL at ${settings.postgres} (--postgres URL): ${(error as Error).message}`,
    );
  });

  const tag = randomBytes(4).toString("hex");
  const schemas = { control: `bench_${tag}_control`, global: `bench_${tag}_global`, cn: `bench_${tag}_cn` };
  const workDir = mkdtempSync(join(tmpdir(), "phonehome-bench-"));
  const servers: RunningServer[] = [];
  const cleanup = async () => {
    await Promise.allSettled(servers.map((s) => s.stop()));
    await withPg(settings.postgres, async (c) => {
      // Names come from the fixed pattern above (hex tag); identifiers cannot be bound.
      for (const schema of Object.values(schemas)) await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }).catch((error: unknown) =>
      console.error(`could not drop the bench schemas: ${(error as Error).message}`),
    );
    rmSync(workDir, { recursive: true, force: true });
  };
  process.once("SIGINT", () => void cleanup().then(() => process.exit(130)));

  try {
    const duration = settings.durationMs / 1000;
    console.log("phonehome bench: activations through the real HTTP stack vs a bare Fastify route");
    console.log(
      `machine:  ${cpus()[0]?.model ?? "unknown cpu"}, ${availableParallelism()} cores, Node ${process.version}, ` +
        `${process.platform} ${release()}, PostgreSQL ${pgVersion}; load average ${loadavg()
          .map((l) => l.toFixed(2))
          .join(" ")} before the run`,
    );
    console.log(
      `settings: ${duration} s measured per server in ${settings.rounds} alternating round(s), after ` +
        `${settings.warmupMs / 1000} s warm-up each; ${settings.concurrency} keep-alive connections, ` +
        `one request in flight on each (autocannon ${AUTOCANNON_VERSION}); ` +
        `servers ${cpu === null ? "not pinned" : `pinned to cpu ${cpu} (taskset)`}`,
    );

    // Provision before anything is measured: keys, factory file, import at the server's start.
    const t0 = performance.now();
    const fleet = generateDemoFleet({ devices: settings.devices, markets: ["NO", "FI", "DE"] });
    const factoryFile = join(workDir, "factory.json");
    writeFileSync(factoryFile, JSON.stringify(fleet.factory));
    const phonehomeServer = await startServer(
      {
        mode: "phonehome",
        dataDir: join(workDir, "data"),
        control: { kind: "postgres", url: settings.postgres, schema: schemas.control, poolSize: 4 },
        global: { kind: "postgres", url: settings.postgres, schema: schemas.global, poolSize: 10 },
        cn: { kind: "postgres", url: settings.postgres, schema: schemas.cn, poolSize: 2 },
        factoryFile,
      },
      cpu,
      settings.cpuProf,
    );
    servers.push(phonehomeServer);
    const region = (await (
      await fetch(new URL("/v1/region", phonehomeServer.ready.url))
    ).json()) as RegionAnswer;
    const bodies = await sealActivations(fleet, region);
    const sizes = bodies.map((b) => b.length);
    console.log(
      `setup:    ${phonehomeServer.ready.devices ?? 0} devices provisioned and ${bodies.length} activations ` +
        `sealed in ${((performance.now() - t0) / 1000).toFixed(1)} s; request body ${Math.min(...sizes)}-` +
        `${Math.max(...sizes)} bytes, the same bodies for both servers`,
    );

    const bareServer = await startServer({ mode: "bare", bodyLimit: BODY_LIMIT }, cpu);
    servers.push(bareServer);
    // The bare route cycles through the bodies (replays mean nothing to it); phonehome takes each once.
    let cycled = 0;
    let taken = 0;
    const body = (i: number): Buffer => {
      const b = bodies[i];
      if (b === undefined) throw new Error(`no sealed activation ${i}: the load went past its limit`);
      return b;
    };
    const bare: Side = {
      name: "bare",
      server: bareServer,
      next: () => body(cycled++ % bodies.length),
      left: () => undefined,
      runs: [],
      serverCpuMs: 0,
      clientCpuMs: 0,
      warmupExhausted: false,
    };
    const phonehome: Side = {
      name: "phonehome",
      server: phonehomeServer,
      next: () => body(taken++),
      left: () => bodies.length - taken,
      runs: [],
      serverCpuMs: 0,
      clientCpuMs: 0,
      warmupExhausted: false,
    };

    await warmUp(bare, settings);
    await warmUp(phonehome, settings);
    const phonehomeWarmup = taken;
    const before = await scrapeHistogram(phonehomeServer.ready.url, "phonehome_group_commit_size");
    for (let round = 0; round < settings.rounds; round++) {
      await measureRound(bare, settings);
      await measureRound(phonehome, settings);
    }
    const after = await scrapeHistogram(phonehomeServer.ready.url, "phonehome_group_commit_size");
    await bareServer.stop();
    await phonehomeServer.stop();
    // Every body taken was written to a connection (warm-up included). Those still in flight when a run
    // stopped went unanswered, but the server received them, and stopping it flushed them to the store.
    const sent = taken;
    const stored = await withPg(settings.postgres, async (c) => {
      const r = await c.query<{ n: string }>(`SELECT count(*) AS n FROM "${schemas.global}".activations`);
      return Number(r.rows[0]?.n ?? 0);
    });

    const b = summarise(bare);
    const p = summarise(phonehome);
    const ratio = p.rate / b.rate;
    const commits = describeCommits(before, after);
    console.log("");
    console.log(tableLine(COLUMNS.map(([name]) => name)));
    console.log(row("bare", b));
    console.log(row("phonehome", p));
    console.log("");
    console.log(
      `ratio phonehome / bare: ${ratio.toFixed(3)} (target >= ${TARGET_RATIO}: ${ratio >= TARGET_RATIO ? "met" : "NOT met"})`,
    );
    console.log(
      `phonehome latency: p50 ${ms(p.p50)} ms, p99 ${ms(p.p99)} ms (autocannon: whole ms, rounded down)`,
    );
    console.log(
      `group commits (measured rounds): ${commits.commits} transactions for ${p.load.ok} activations, ` +
        `mean ${commits.mean.toFixed(1)} per commit; by size ${commits.spread || "none"}`,
    );
    console.log(
      `stored: ${stored} activation rows in PostgreSQL for ${sent} activations sent (${phonehomeWarmup} in ` +
        `warm-up; ${p.load.sent - p.load.requests} in flight, unanswered, when a measured round stopped); ` +
        `measured answers by status ${JSON.stringify(p.load.statuses)}; ${bodies.length - taken} sealed ` +
        "activations left over",
    );

    if (b.clientCpu >= CLIENT_BUSY) {
      console.log(
        `note: the load generator was busy ${(b.clientCpu * 100).toFixed(0)}% of a core during the bare rounds, ` +
          "so the bare rate may be capped by the client; the ratio is then an upper bound",
      );
    }
    if (p.load.exhausted || phonehome.warmupExhausted) {
      console.log(
        `note: the ${bodies.length} sealed activations ran out before the time was up ` +
          `(${p.load.exhausted ? "measured rounds" : "warm-up"}), and no envelope is sent twice: ` +
          "the phonehome rate is over the time it ran, on fewer connections at the end " +
          "(raise --devices for full-length rounds)",
      );
    }
    const problems: string[] = [];
    if (p.load.errors > 0) {
      problems.push(`${p.load.errors} phonehome requests failed, e.g. ${p.load.samples.join(" | ")}`);
    }
    if (b.load.errors > 0) {
      problems.push(`${b.load.errors} bare requests failed, e.g. ${b.load.samples.join(" | ")}`);
    }
    if (p.load.requests === 0) problems.push("phonehome answered no request in the measured rounds");
    const notFirst = p.load.ok - (p.load.statuses["201"] ?? 0);
    if (notFirst > 0)
      problems.push(`${notFirst} phonehome answers were replays, not first activations (201)`);
    if (stored !== sent) problems.push(`${stored} rows stored for ${sent} activations sent`);
    if (problems.length > 0) {
      console.log(`INVALID: ${problems.join("; ")}`);
      return 1;
    }
    console.log("valid: 0 errors, every acknowledged activation stored");
    return 0;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
