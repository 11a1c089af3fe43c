/**
 * The workers suite of `npm run bench`: activations per second through
 * `phonehome serve --region global --workers 2` as a ratio against
 * `--workers 1`, both collectors running side by side on the same store (a
 * control plane process answers their directory lookups), measured in
 * alternating rounds with the same load, each request a fresh device's
 * activation. Neither collector is pinned (two workers need both cores), so
 * the load generator and PostgreSQL share the machine's cores with them: on a
 * machine of two cores the ratio shows what a second worker adds when nothing
 * else is idle.
 */
import { spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { buildConfig } from "../src/core/config/index.ts";
import { openDb } from "../src/core/db/index.ts";
import { generateDemoFleet, importFleet } from "../src/control-plane/fleet/index.ts";
import { sealActivations } from "./activations.ts";
import {
  measureRound,
  ms,
  newSide,
  percent,
  type RegionAnswer,
  type RunningServer,
  type Side,
  type SuiteContext,
  type Summary,
  summarise,
  table,
  warmUp,
  withPg,
} from "./harness.ts";
import { processCpuMs } from "./load.ts";
import { spreadOverEveryCore } from "./pin.ts";
import { freePort } from "../test/helpers/processes.ts";

const BIN = new URL("../bin/phonehome.ts", import.meta.url).pathname;

/** CPU time (ms) of a process and its children (the workers of a `serve`); null without /proc. */
function treeCpuMs(pid: number): number | null {
  const children = spawnSync("pgrep", ["-P", String(pid)], { encoding: "utf8" })
    .stdout.split("\n")
    .filter((l) => l.trim() !== "")
    .map(Number);
  let total = 0;
  for (const p of [pid, ...children]) {
    const used = processCpuMs(p);
    if (used === null) return null;
    total += used;
  }
  return total;
}

/** `phonehome --config FILE serve ARGS` on every core, resolved once it says it listens. */
function serve(configFile: string, args: readonly string[]): Promise<RunningServer> {
  const everyCore = `0-${cpus().length - 1}`;
  // This process may be pinned (bench/pin.ts); a child inherits that, so it is set back to every core.
  const probe = spawnSync("taskset", ["-V"], { stdio: "ignore" });
  const node = [process.execPath, BIN, "--config", configFile, "serve", ...args];
  const [command, ...rest] = probe.status === 0 ? ["taskset", "-c", everyCore, ...node] : node;
  const child = spawn(command ?? process.execPath, rest, { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    let out = "";
    child.once("exit", (code) =>
      reject(new Error(`serve ${args.join(" ")} exited (${code}) before listening`)),
    );
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const m = / listening on (http:\/\/[^\s;]+)/.exec(out);
      if (m?.[1] === undefined) return;
      resolve({
        ready: { ready: true, mode: "phonehome", url: m[1], pid: child.pid ?? 0 },
        child,
        stop: async () => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill("SIGTERM");
          const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
          await exited;
          clearTimeout(timer);
        },
      });
    });
  });
}

const COLUMNS = [
  ["collector", 10],
  ["requests", 9],
  ["req/s", 8],
  ["p50 ms", 7],
  ["p99 ms", 7],
  ["errors", 7],
  ["server cpu", 10],
  ["client cpu", 10],
] as const;

/** Runs the workers suite and prints its report; resolves with true when the run was valid. */
export async function runWorkers(ctx: SuiteContext): Promise<boolean> {
  const placement = spreadOverEveryCore(cpus().length);
  try {
    return await measureWorkers(ctx, placement.describe);
  } finally {
    placement.restore();
  }
}

async function measureWorkers(ctx: SuiteContext, placed: string): Promise<boolean> {
  const { settings } = ctx;
  console.log(
    `workers: \`serve --workers 2\` against \`serve --workers 1\`, side by side on one store; ${placed}`,
  );
  const name = (store: string) => `bench_${ctx.tag}_w${store}`;
  ctx.schemas.push(name("control"), name("global"));
  const ports = { cp: await freePort(), one: await freePort(), two: await freePort() };
  const dataDir = join(ctx.workDir, "workers-data");
  const raw = (collectorPort: number) => ({
    dataDir,
    logLevel: "error",
    controlPlane: {
      listen: `127.0.0.1:${ports.cp}`,
      store: { url: settings.postgres, schema: name("control"), poolSize: 4 },
    },
    regions: [
      {
        id: "global",
        storedIn: "SG",
        listen: `127.0.0.1:${collectorPort}`,
        store: { url: settings.postgres, schema: name("global"), poolSize: 10 },
      },
      { id: "cn", storedIn: "CN", listen: "127.0.0.1:0", store: { dataDir: join(dataDir, "cn-unused") } },
    ],
  });
  const file = (label: string, port: number) => {
    const path = join(ctx.workDir, `workers-${label}.json`);
    writeFileSync(path, JSON.stringify(raw(port)));
    return path;
  };
  const cpFile = file("cp", ports.one);

  const t0 = performance.now();
  const fleet = generateDemoFleet({ devices: settings.devices, markets: ["NO", "FI", "DE"] });
  const controlPlane = await serve(cpFile, ["--workers", "1", "--control-plane"]);
  ctx.servers.push(controlPlane);
  const cp = await openDb(buildConfig(raw(ports.one), dataDir).controlPlane.store);
  try {
    await importFleet(cp, buildConfig(raw(ports.one), dataDir), {
      name: "workers.json",
      text: JSON.stringify(fleet.factory),
    });
  } finally {
    await cp.close();
  }
  const one = await serve(cpFile, ["--workers", "1", "--region", "global"]);
  ctx.servers.push(one);
  const two = await serve(file("two", ports.two), ["--workers", "2", "--region", "global"]);
  ctx.servers.push(two);
  const region = (await (await fetch(new URL("/v1/region", one.ready.url))).json()) as RegionAnswer;
  const bodies = await sealActivations(fleet, region);
  console.log(
    `setup:    ${bodies.length} devices provisioned and their activations sealed in ` +
      `${((performance.now() - t0) / 1000).toFixed(1)} s; half for each collector, each sent once`,
  );
  const half = Math.floor(bodies.length / 2);
  const sideOf = (label: string, server: RunningServer, from: number): Side => {
    let taken = 0;
    return newSide({
      name: label,
      server,
      path: "/v1/activations",
      next: () => {
        const b = bodies[from + taken++];
        if (b === undefined) throw new Error(`no sealed activation left for ${label}`);
        return b;
      },
      left: () => half - taken,
    });
  };
  const sides = [sideOf("1 worker", one, 0), sideOf("2 workers", two, half)];
  const cpu = new Map<Side, number | null>(sides.map((s) => [s, 0]));
  for (const side of sides) await warmUp(side, settings);
  for (let round = 0; round < settings.rounds; round++) {
    for (const side of sides) {
      const before = treeCpuMs(side.server.ready.pid);
      await measureRound(side, settings);
      const after = treeCpuMs(side.server.ready.pid);
      const sofar = cpu.get(side);
      cpu.set(
        side,
        before === null || after === null || sofar === null || sofar === undefined
          ? null
          : sofar + after - before,
      );
    }
  }
  const stored = await withPg(settings.postgres, async (c) => {
    const r = await c.query<{ n: string }>(`SELECT count(*) AS n FROM "${name("global")}".activations`);
    return Number(r.rows[0]?.n ?? 0);
  });
  for (const s of [two, one, controlPlane]) await s.stop();

  const [s1, s2] = sides.map((s) => summarise(s));
  if (s1 === undefined || s2 === undefined) throw new Error("two sides");
  /** A side's row: its answers, latency, errors, and the CPU of its processes and of the load generator. */
  const row = (side: Side, s: Summary): string[] => {
    const used = cpu.get(side);
    const serverCpu =
      used === null || used === undefined || s.load.elapsedMs === 0
        ? "n/a"
        : percent(used / s.load.elapsedMs);
    return [
      side.name,
      String(s.load.requests),
      s.rate.toFixed(0),
      ms(s.p50),
      ms(s.p99),
      String(s.load.errors),
      serverCpu,
      percent(s.clientCpu),
    ];
  };
  console.log("");
  for (const line of table(COLUMNS, [row(sides[0] as Side, s1), row(sides[1] as Side, s2)]))
    console.log(line);
  console.log("");
  const ratio = s2.rate / s1.rate;
  console.log(
    `ratio 2 workers / 1 worker: ${ratio.toFixed(3)} on ${cpus().length} cores (the load generator and PostgreSQL on the same cores)`,
  );
  console.log(
    `stored: ${stored} activation rows; answers by status ${JSON.stringify(s1.load.statuses)} and ${JSON.stringify(s2.load.statuses)}`,
  );
  return s1.load.errors === 0 && s2.load.errors === 0 && s1.load.requests > 0 && s2.load.requests > 0;
}
