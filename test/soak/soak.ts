/**
 * `npm run soak`: the fault tests of the suite at scale, for as long as asked.
 * A control plane and two collectors of region `global` run as processes
 * (`phonehome serve`) on a PostgreSQL cluster of the soak's own, while a fleet
 * switches on through the real SDK (activations; consent and diagnostics for
 * half of it) and a stream of hostile requests arrives. Faults come one after
 * another: connections cut, the store stopped (immediate and fast), frozen,
 * a collector or the control plane killed with SIGKILL. At the end every
 * fault is healed, every device's queue is drained, and the soak prints:
 *
 * - lost: acknowledged records not in the store (activations by device,
 *   diagnostics events by device), and records never delivered at all;
 * - duplicated: records stored more than once;
 * - 5xx: answers of 500 or above other than `503 service.unavailable`;
 * - crashed: service processes that ended without being killed.
 *
 * It exits 1 when any of them is not zero. Traffic goes to 127.0.0.1 only;
 * the run stops by itself. Options: --minutes M (default 10), --devices N
 * (default 2000), --poison R (hostile requests a second, default 20),
 * --seed S.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createDeviceIdentity } from "@phonehome/sdk";
import { buildConfig, type Config } from "../../src/core/config/index.ts";
import { openDb, type StoreConfig } from "../../src/core/db/index.ts";
import { importFleet } from "../../src/control-plane/fleet/index.ts";
import { loadFleetTrust, loadPseudonymSecret } from "../../src/core/keys/index.ts";
import { oneBatchFactoryFile } from "../helpers/fleet.ts";
import { type PgCluster, startPgCluster } from "../helpers/pg-cluster.ts";
import { freePort, startService, Supervised } from "../helpers/processes.ts";
import {
  checkFleet,
  type FleetCheck,
  type FleetDevice,
  finished,
  makeFleet,
  step as stepDevice,
} from "../helpers/sdk-fleet.ts";
import { poisonMaker } from "./poison.ts";

const { values: args } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    devices: { type: "string", default: "2000" },
    poison: { type: "string", default: "20" },
    seed: { type: "string", default: String(Date.now() % 1_000_000) },
  },
});
const MINUTES = Number(args.minutes);
const DEVICES = Number(args.devices);
const POISON_PER_SECOND = Number(args.poison);
/** A device of the program records an event on each of its turns while the soak runs, up to this many. */
const MAX_EVENTS_PER_DEVICE = 1000;
let seed = Number(args.seed);
/** mulberry32: the soak's faults and timings follow from --seed. */
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);

async function main(): Promise<number> {
  const dataDir = mkdtempSync(join(tmpdir(), "phonehome-soak-"));
  let cluster: PgCluster | undefined;
  const services: Supervised[] = [];
  try {
    log(
      `soak: ${MINUTES} min, ${DEVICES} devices, ${POISON_PER_SECOND} hostile requests/s, seed ${args.seed}`,
    );
    cluster = await startPgCluster({ max_connections: "200" });
    const ports = { cp: await freePort(), a: await freePort(), b: await freePort() };
    const url = (port: number) => `http://127.0.0.1:${port}`;
    const store = (schema: string) => ({ url: cluster?.url, schema, poolSize: 10 });
    const raw = (collectorPort: number) => ({
      dataDir,
      logLevel: "error",
      controlPlane: { listen: `127.0.0.1:${ports.cp}`, url: url(ports.cp), store: store("cp") },
      regions: [
        { id: "global", storedIn: "SG", listen: `127.0.0.1:${collectorPort}`, store: store("global") },
        { id: "cn", storedIn: "CN", listen: "127.0.0.1:0", store: { dataDir: join(dataDir, "cn-unused") } },
      ],
    });
    const configFile = (port: number) => {
      const file = join(dataDir, `phonehome-${port}.json`);
      writeFileSync(file, JSON.stringify(raw(port)));
      return file;
    };
    const [fileA, fileB] = [configFile(ports.a), configFile(ports.b)];
    const config: Config = buildConfig(raw(ports.a), dataDir);
    const controlPlane = new Supervised("control plane", () => startService(fileA, ["--control-plane"]), log);
    const collectorA = new Supervised("collector A", () => startService(fileA, ["--region", "global"]), log);
    const collectorB = new Supervised("collector B", () => startService(fileB, ["--region", "global"]), log);
    services.push(controlPlane, collectorA, collectorB);
    await controlPlane.start();
    await collectorA.start();
    await collectorB.start();

    const announced = (await (await fetch(`${url(ports.a)}/v1/region`)).json()) as {
      kid: string;
      publicKey: string;
    };
    const { roots } = await loadFleetTrust(dataDir);
    const {
      devices: fleet,
      seen,
      fetch: countingFetch,
    } = makeFleet({
      count: DEVICES,
      prefix: "SK",
      // Every other device calls home to each collector.
      home: (i) => ({
        region: "global",
        storedIn: "SG",
        url: url(i % 2 === 0 ? ports.a : ports.b),
        ...announced,
      }),
      roots,
      queueDir: join(dataDir, "queues"),
      retryMaxMs: 2000,
    });
    // A provisioned device of its own signs the poison whose payloads the store or the calendar cannot take.
    const attacker = createDeviceIdentity(
      { serial: "SKATTACKER", model: "TA-1062", variant: "00WW", market: "NO", build: "00WW_3_39B_SP03" },
      { region: "global", storedIn: "SG", url: url(ports.a), ...announced },
      roots,
    );
    const db = await openDb(config.controlPlane.store);
    try {
      await importFleet(db, config, {
        name: "soak.json",
        text: oneBatchFactoryFile("B-SOAK-NO", [...fleet.map((d) => d.identity), attacker]),
      });
    } finally {
      await db.close();
    }
    log(`fleet of ${DEVICES} provisioned; collectors at ${url(ports.a)} and ${url(ports.b)}`);

    const deadline = Date.now() + MINUTES * 60_000;
    let running = true;

    /** A device records events while the soak runs (up to a bound), then only delivers what it has. */
    const step = (device: FleetDevice) =>
      stepDevice(device, running ? MAX_EVENTS_PER_DEVICE : device.recorded);
    const done = (device: FleetDevice) => finished(device, device.recorded);

    // The fleet: 40 devices at a time, in a random order, round after round.
    const fleetLoop = async () => {
      let next = 0;
      const order = fleet.map((_, i) => i).sort(() => random() - 0.5);
      const worker = async () => {
        while (running) {
          const device = fleet[order[next++ % order.length] as number] as FleetDevice;
          await step(device);
        }
      };
      await Promise.all(Array.from({ length: 40 }, worker));
    };

    // Hostile requests, unsigned and malformed, to every collector route and the control plane.
    let poisonSent = 0;
    const poison = poisonMaker(attacker, [url(ports.a), url(ports.b)], url(ports.cp));
    const poisonLoop = async () => {
      while (running) {
        const started = Date.now();
        await Promise.all(
          Array.from({ length: POISON_PER_SECOND }, async () => {
            const request = await poison(random, poisonSent);
            poisonSent += 1;
            await countingFetch(request.url, { ...request.init, signal: AbortSignal.timeout(20_000) }).then(
              (r) => r.arrayBuffer(),
              () => undefined,
            );
          }),
        );
        await sleep(Math.max(0, 1000 - (Date.now() - started)));
      }
    };

    // Faults, one after another, each healed before the next.
    const faults: string[] = [];
    const faultLoop = async () => {
      const kinds = [
        "cut",
        "stop-immediate",
        "stop-fast",
        "freeze",
        "kill-collector",
        "kill-control-plane",
      ] as const;
      while (Date.now() < deadline - 30_000) {
        await sleep(8000 + random() * 12_000);
        const kind = pick(kinds);
        const hold = 2000 + random() * 6000;
        faults.push(kind);
        log(`fault ${faults.length}: ${kind}${kind === "cut" ? "" : ` for ${Math.round(hold)} ms`}`);
        if (kind === "cut") await cluster?.terminateConnections();
        else if (kind === "stop-immediate" || kind === "stop-fast") {
          await cluster?.stop(kind === "stop-fast" ? "fast" : "immediate");
          await sleep(hold);
          await cluster?.start();
        } else if (kind === "freeze") {
          cluster?.freeze();
          await sleep(hold);
          cluster?.thaw();
        } else {
          const target = kind === "kill-control-plane" ? controlPlane : pick([collectorA, collectorB]);
          await target.kill();
          await sleep(hold);
          await target.start();
        }
      }
    };

    const progress = setInterval(() => {
      const activated = fleet.filter((d) => d.activated).length;
      const acked = fleet.reduce((n, d) => n + d.ackedEvents, 0);
      log(
        `progress: ${activated}/${DEVICES} activated, ${acked} events acknowledged, ${poisonSent} hostile requests, ` +
          `answers ${JSON.stringify(Object.fromEntries(seen.answers))}`,
      );
    }, 30_000);
    const loops = [fleetLoop(), poisonLoop()];
    await faultLoop();
    await sleep(Math.max(0, deadline - Date.now()));
    running = false;
    await Promise.all(loops);
    clearInterval(progress);

    // Drain: every fault is healed; each device finishes what it started.
    log("draining the fleet's queues");
    const drainUntil = Date.now() + 5 * 60_000;
    let open = fleet;
    while (open.length > 0 && Date.now() < drainUntil) {
      for (let i = 0; i < open.length; i += 40) await Promise.all(open.slice(i, i + 40).map(step));
      const flags = await Promise.all(open.map(done));
      open = open.filter((_, i) => !flags[i]);
    }

    // What the store holds.
    const region = config.regions[0];
    if (!region) throw new Error("no region");
    const regionDb = await openDb(region.store as StoreConfig);
    let check: FleetCheck;
    try {
      check = await checkFleet(regionDb, loadPseudonymSecret(dataDir, "global"), fleet);
    } finally {
      await regionDb.close();
    }
    const crashes = services.flatMap((s) => s.crashes);
    const figures = {
      faults: faults.length,
      "hostile requests": poisonSent,
      "lost (acknowledged, not stored)": check.lost,
      // Devices that did not finish, and what never reached the store.
      "never delivered": open.length + check.undelivered,
      duplicated: check.duplicated,
      "5xx (not 503)": seen.serverErrors.length,
      "503 answers": seen.answers.get(503) ?? 0,
      "network errors": seen.networkErrors,
      crashed: crashes.length,
    };
    log("soak finished");
    for (const [name, value] of Object.entries(figures))
      process.stdout.write(`  ${name.padEnd(34)} ${value}\n`);
    for (const line of [...seen.serverErrors.slice(0, 20), ...crashes]) process.stdout.write(`  ! ${line}\n`);
    const failed =
      figures["lost (acknowledged, not stored)"] +
      figures["never delivered"] +
      figures.duplicated +
      seen.serverErrors.length +
      crashes.length;
    return failed === 0 ? 0 : 1;
  } finally {
    for (const service of services) await service.stop().catch(() => {});
    await cluster?.destroy().catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
