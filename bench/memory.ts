/**
 * The `memory` suite: resident memory of each service against its budget
 * (docs/configuration.md#memory), and against the floor measured in the same run: a
 * bare Node process running Fastify. The resident set of each process tree is
 * read from /proc every 100 ms. Measured, each as its own child process:
 *
 * - `floor`: bench/floor.ts (Fastify, one route), idle after start and
 *   its peak under autocannon load;
 * - `control plane`: `phonehome serve --control-plane` on PostgreSQL, idle after start;
 * - `collector`: `phonehome serve --region global` on PostgreSQL (its directory
 *   asks the control plane above), idle after start, its peak while
 *   `phonehome simulate` registers and switches on devices for `--memory-load`
 *   seconds, and idle after the load;
 * - `up`: `phonehome up` on a fresh data directory (the control plane and two
 *   regions in one process, each on its own embedded PGlite store: the
 *   default), when it says it is up, idle, its peak under the same load, and
 *   idle after it.
 *
 * Idle figures are read after IDLE_MS of quiet: the last sample (what the
 * process holds), not the peak.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../test/helpers/processes.ts";
import { type SuiteContext, table } from "./harness.ts";
import { runLoad } from "./load.ts";

const BIN = new URL("../bin/phonehome.ts", import.meta.url).pathname;
const FLOOR = new URL("./floor.ts", import.meta.url).pathname;
/** Quiet before an idle figure is read, in milliseconds (less in a short run: half the load's time). */
const IDLE_MS = 5000;
/** Devices per `phonehome simulate` run of the load (runs follow each other until the load's time is up). */
const SIMULATED_DEVICES = 500;
const MIB = 1024 * 1024;

/**
 * The budget of each figure, in MiB (docs/configuration.md#memory, docs/decisions/0044): what a
 * deployment sizes a service's memory limit by. A figure over its budget is printed OVER (memory on a
 * shared machine moves with other work, so it does not fail the suite).
 */
export const MEMORY_BUDGETS_MIB = {
  "floor idle": null,
  "floor peak": null,
  "control plane idle": 256,
  "collector idle": 224,
  "collector peak": 320,
  "collector idle after load": 288,
  "up after start": 640,
  "up idle": 640,
  "up peak": 720,
  "up idle after load": 640,
} as const satisfies Record<string, number | null>;
type Figure = keyof typeof MEMORY_BUDGETS_MIB;

/** The pids of `pid` and every process under it. */
function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const p = out[i] as number;
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) {
      try {
        const children = readFileSync(`/proc/${p}/task/${task}/children`, "utf8").trim();
        if (children !== "") out.push(...children.split(" ").map(Number));
      } catch {
        // The task ended meanwhile.
      }
    }
  }
  return out;
}

/** Resident memory of a process tree, in bytes (0 for a tree that is gone). */
export function treeRss(pid: number): number {
  let total = 0;
  for (const p of processTree(pid)) {
    try {
      const status = readFileSync(`/proc/${p}/status`, "utf8");
      total += Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    } catch {
      // The process ended meanwhile.
    }
  }
  return total;
}

/** Samples a process tree's resident memory every 100 ms until stopped: the peak and the last sample. */
function sampler(pid: number): {
  peak: () => number;
  last: () => number;
  reset: () => void;
  stop: () => void;
} {
  let peak = treeRss(pid);
  let last = peak;
  const timer = setInterval(() => {
    last = treeRss(pid);
    peak = Math.max(peak, last);
  }, 100);
  // A suite that fails midway must still let the process end.
  timer.unref();
  return {
    peak: () => peak,
    last: () => last,
    reset: () => {
      last = treeRss(pid);
      peak = last;
    },
    stop: () => clearInterval(timer),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How long a service may take to say it is ready before the suite gives up on it. */
const START_TIMEOUT_MS = 180_000;

/** Starts `phonehome ARGS` and resolves when its stdout has said `ready` (killed after START_TIMEOUT_MS). */
function startPhonehomeProcess(args: string[], ready: RegExp): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    const late = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(`phonehome ${args.join(" ")} did not say it was ready within ${START_TIMEOUT_MS / 1000} s`),
      );
    }, START_TIMEOUT_MS);
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (ready.test(out)) {
        clearTimeout(late);
        resolve(child);
      }
    });
    child.stderr.on("data", (chunk: Buffer) => {
      err = (err + chunk.toString()).slice(-20_000);
    });
    child.once("exit", (code) => {
      clearTimeout(late);
      reject(new Error(`phonehome ${args.join(" ")} exited (${code}): ${err}`));
    });
  });
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  await exited;
  clearTimeout(timer);
}

/**
 * `phonehome simulate` runs, one after another, for `seconds` (the last one stopped when the time is
 * up); answers how many devices the finished runs switched on.
 */
async function simulateFor(configFile: string, seconds: number): Promise<number> {
  const deadline = Date.now() + seconds * 1000;
  let devices = 0;
  while (Date.now() < deadline) {
    const child = spawn(
      process.execPath,
      [
        BIN,
        "--config",
        configFile,
        "simulate",
        "--devices",
        String(SIMULATED_DEVICES),
        "--markets",
        "NO,FI,DE",
        "--concurrency",
        "32",
        "--json",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    const timer = setTimeout(() => child.kill("SIGTERM"), Math.max(0, deadline - Date.now()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    clearTimeout(timer);
    if (code === 0) {
      const summary = JSON.parse(out) as { activated: Record<string, number> };
      devices += Object.values(summary.activated).reduce((a, b) => a + b, 0);
    }
  }
  return devices;
}

/** The configuration of the suite's services: PostgreSQL schemas, or PGlite when `stores` is null. */
function writeConfig(
  file: string,
  dataDir: string,
  ports: { cp: number; global: number; cn: number },
  stores: { control: object; global: object; cn: object } | null,
): void {
  const config = {
    dataDir,
    logLevel: "warn",
    controlPlane: {
      listen: `127.0.0.1:${ports.cp}`,
      ...(stores === null ? {} : { store: stores.control }),
    },
    regions: [
      {
        id: "global",
        storedIn: "SG",
        listen: `127.0.0.1:${ports.global}`,
        ...(stores === null ? {} : { store: stores.global }),
      },
      {
        id: "cn",
        storedIn: "CN",
        listen: `127.0.0.1:${ports.cn}`,
        ...(stores === null ? {} : { store: stores.cn }),
      },
    ],
  };
  writeFileSync(file, JSON.stringify(config));
}

/**
 * Runs the suite; answers whether every figure was measured. A figure over its budget is
 * printed as OVER (and the last line says so), not failed: memory on a shared machine moves
 * with what else runs, and the smoke test runs it at a size no budget is set for.
 */
export async function runMemory(ctx: SuiteContext): Promise<boolean> {
  const { settings } = ctx;
  const loadS = settings.memoryLoadS;
  const idleMs = Math.min(IDLE_MS, (loadS * 1000) / 2);
  console.log(
    `memory: resident memory of each process tree, sampled every 100 ms; idle figures after ` +
      `${idleMs / 1000} s of quiet; load: ${loadS} s (autocannon on the floor, phonehome simulate ` +
      `on the collector and on up)`,
  );
  const figures = new Map<Figure, number>();
  const note = new Map<Figure, string>();

  // The floor: a bare Fastify process, idle, then under load.
  {
    const floor = spawn(process.execPath, [FLOOR], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = "";
        floor.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString();
          const line = out.split("\n")[0] ?? "";
          if (out.includes("\n")) resolve((JSON.parse(line) as { url: string }).url);
        });
        floor.once("exit", (code) => reject(new Error(`the floor exited (${code}) before it listened`)));
      });
      const s = sampler(floor.pid ?? 0);
      await sleep(idleMs);
      figures.set("floor idle", s.last());
      s.reset();
      const body = Buffer.from(
        JSON.stringify({ device: "dk_bench", eventId: "e", padding: "x".repeat(500) }),
      );
      const run = await runLoad({
        url: new URL("/v1/activations", url),
        next: () => body,
        durationMs: loadS * 1000,
        connections: settings.concurrency,
      });
      figures.set("floor peak", s.peak());
      note.set("floor peak", `${run.sent} requests`);
      s.stop();
    } finally {
      await stopProcess(floor);
    }
  }

  // The control plane and a collector, each its own process, on PostgreSQL.
  {
    const schema = (s: string) => `bench_${ctx.tag}_mem${s}`;
    ctx.schemas.push(schema("control"), schema("global"), schema("cn"));
    const store = (s: string, poolSize: number) => ({ url: settings.postgres, schema: schema(s), poolSize });
    const ports = { cp: await freePort(), global: await freePort(), cn: await freePort() };
    const file = join(ctx.workDir, "memory-pg.json");
    writeConfig(file, join(ctx.workDir, "memory-pg"), ports, {
      control: store("control", 4),
      global: store("global", 10),
      cn: store("cn", 2),
    });
    const cp = await startPhonehomeProcess(
      ["--config", file, "serve", "--workers", "1", "--control-plane"],
      / listening on /,
    );
    let collector: ChildProcess | undefined;
    let cn: ChildProcess | undefined;
    try {
      const cps = sampler(cp.pid ?? 0);
      collector = await startPhonehomeProcess(
        ["--config", file, "serve", "--workers", "1", "--region", "global"],
        / listening on /,
      );
      // Region cn's collector runs too (not measured): simulate asks every configured region for its key.
      cn = await startPhonehomeProcess(
        ["--config", file, "serve", "--workers", "1", "--region", "cn"],
        / listening on /,
      );
      const cs = sampler(collector.pid ?? 0);
      await sleep(idleMs);
      figures.set("control plane idle", cps.last());
      figures.set("collector idle", cs.last());
      cs.reset();
      const devices = await simulateFor(file, loadS);
      figures.set("collector peak", cs.peak());
      note.set("collector peak", `${devices} devices switched on`);
      await sleep(idleMs);
      figures.set("collector idle after load", cs.last());
      cps.stop();
      cs.stop();
    } finally {
      if (cn) await stopProcess(cn);
      if (collector) await stopProcess(collector);
      await stopProcess(cp);
    }
  }

  // `phonehome up`: the embedded default, on a fresh data directory.
  {
    const ports = { cp: await freePort(), global: await freePort(), cn: await freePort() };
    const file = join(ctx.workDir, "memory-up.json");
    writeConfig(file, join(ctx.workDir, "memory-up"), ports, null);
    const started = performance.now();
    const up = await startPhonehomeProcess(["--config", file, "up"], /phonehome is up/);
    try {
      const s = sampler(up.pid ?? 0);
      figures.set("up after start", s.last());
      note.set("up after start", `${((performance.now() - started) / 1000).toFixed(1)} s to start`);
      await sleep(idleMs * 2);
      figures.set("up idle", s.last());
      s.reset();
      const devices = await simulateFor(file, loadS);
      figures.set("up peak", s.peak());
      note.set("up peak", `${devices} devices switched on`);
      await sleep(idleMs);
      figures.set("up idle after load", s.last());
      s.stop();
    } finally {
      await stopProcess(up);
    }
  }

  const floor = figures.get("floor idle") ?? 1;
  let within = true;
  const rows = [...figures].map(([figure, bytes]) => {
    const budget: number | null = MEMORY_BUDGETS_MIB[figure];
    const over = budget !== null && bytes > budget * MIB;
    within &&= !over;
    return [
      figure,
      `${(bytes / MIB).toFixed(0)} MiB`,
      (bytes / floor).toFixed(2),
      budget === null ? "-" : `${budget} MiB`,
      budget === null ? "" : over ? "OVER" : "within",
      note.get(figure) ?? "",
    ];
  });
  for (const line of table(
    [
      ["figure", 26],
      ["rss", 9],
      ["/ floor", 8],
      ["budget", 8],
      ["", 6],
      ["", 0],
    ],
    rows,
  )) {
    console.log(line.trimEnd());
  }
  console.log(
    within
      ? "memory: every figure within its budget"
      : "memory: OVER BUDGET: a figure above exceeds its budget",
  );
  return figures.size === Object.keys(MEMORY_BUDGETS_MIB).length;
}
