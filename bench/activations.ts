/**
 * The activations suite of `npm run bench`: activations per second through
 * phonehome's real HTTP stack (HPKE seal opened, Ed25519 signature checked,
 * payload validated against the approved collection, group-committed durably
 * to PostgreSQL), as a ratio against a bare Fastify route answering the same
 * requests, both measured in this run, on this machine, with the same load,
 * in alternating rounds. Every phonehome request activates a device
 * provisioned for it before anything is measured, so none is a replay.
 */
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type ActivationPayloadV1,
  ENVELOPE_FORMAT,
  type EnvelopeHeader,
  ed25519PrivateKey,
  sealEnvelope,
} from "@phonehome/sdk";
import { type DemoFleet, generateDemoFleet } from "../src/control-plane/fleet/index.ts";
import {
  describeCommits,
  ms,
  newSide,
  percent,
  measureRound,
  type RegionAnswer,
  regionOf,
  type Side,
  type SuiteContext,
  type Summary,
  scrapeHistogram,
  startPhonehome,
  startServer,
  summarise,
  table,
  warmUp,
  withPg,
} from "./harness.ts";
import { BODY_LIMIT } from "./protocol.ts";

/** The target: phonehome at no less than this fraction of the bare route (issue 2, item 9). */
const TARGET_RATIO = 0.25;
/** Above this share of a core, the load generator itself may be what limits a run. */
const CLIENT_BUSY = 0.9;

/** Seals one activation per device, as the SDK does, at most `parallel` at a time; JSON request bodies. */
export async function sealActivations(
  fleet: DemoFleet,
  region: RegionAnswer,
  parallel = 64,
): Promise<Buffer[]> {
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

const COLUMNS = [
  ["server", 10],
  ["requests", 9],
  ["req/s", 8],
  ["p50 ms", 7],
  ["p99 ms", 7],
  ["max ms", 7],
  ["errors", 7],
  ["server cpu", 10],
  ["client cpu", 10],
] as const;

function row(name: string, s: Summary): string[] {
  return [
    name,
    String(s.load.requests),
    s.rate.toFixed(0),
    ms(s.p50),
    ms(s.p99),
    ms(s.max),
    String(s.load.errors),
    s.serverCpu === null ? "n/a" : percent(s.serverCpu),
    percent(s.clientCpu),
  ];
}

/** Runs the activations suite and prints its report; resolves with true when the run was valid. */
export async function runActivations(ctx: SuiteContext): Promise<boolean> {
  const { settings, cpu } = ctx;
  console.log("activations: through the real HTTP stack vs a bare Fastify route");

  // Provision before anything is measured: keys, factory file, import at the server's start.
  const t0 = performance.now();
  const fleet = generateDemoFleet({ devices: settings.devices, markets: ["NO", "FI", "DE"] });
  const factoryFile = join(ctx.workDir, "activations-factory.json");
  writeFileSync(factoryFile, JSON.stringify(fleet.factory));
  const { server: phonehomeServer, globalSchema } = await startPhonehome(ctx, "", factoryFile);
  const bodies = await sealActivations(fleet, await regionOf(phonehomeServer));
  const sizes = bodies.map((b) => b.length);
  console.log(
    `setup:    ${phonehomeServer.ready.devices ?? 0} devices provisioned and ${bodies.length} activations ` +
      `sealed in ${((performance.now() - t0) / 1000).toFixed(1)} s; request body ${Math.min(...sizes)}-` +
      `${Math.max(...sizes)} bytes, the same bodies for both servers`,
  );

  const bareServer = await startServer({ mode: "bare", bodyLimit: BODY_LIMIT }, cpu);
  ctx.servers.push(bareServer);
  // The bare route cycles through the bodies (replays mean nothing to it); phonehome takes each once.
  let cycled = 0;
  let taken = 0;
  const body = (i: number): Buffer => {
    const b = bodies[i];
    if (b === undefined) throw new Error(`no sealed activation ${i}: the load went past its limit`);
    return b;
  };
  const bare: Side = newSide({
    name: "bare",
    server: bareServer,
    path: "/v1/activations",
    next: () => body(cycled++ % bodies.length),
    left: () => undefined,
  });
  const phonehome: Side = newSide({
    name: "phonehome",
    server: phonehomeServer,
    path: "/v1/activations",
    next: () => body(taken++),
    left: () => bodies.length - taken,
  });

  await warmUp(bare, settings);
  await warmUp(phonehome, settings);
  const phonehomeWarmup = taken;
  const before = await scrapeHistogram(phonehomeServer.ready, "phonehome_group_commit_size");
  for (let round = 0; round < settings.rounds; round++) {
    await measureRound(bare, settings);
    await measureRound(phonehome, settings);
  }
  const after = await scrapeHistogram(phonehomeServer.ready, "phonehome_group_commit_size");
  await bareServer.stop();
  await phonehomeServer.stop();
  // Every body taken was written to a connection (warm-up included). Those still in flight when a run
  // stopped went unanswered, but the server received them, and stopping it flushed them to the store.
  const sent = taken;
  const stored = await withPg(settings.postgres, async (c) => {
    const r = await c.query<{ n: string }>(`SELECT count(*) AS n FROM "${globalSchema}".activations`);
    return Number(r.rows[0]?.n ?? 0);
  });

  const b = summarise(bare);
  const p = summarise(phonehome);
  const ratio = p.rate / b.rate;
  const commits = describeCommits(before, after);
  console.log("");
  for (const line of table(COLUMNS, [row("bare", b), row("phonehome", p)])) console.log(line);
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
  if (notFirst > 0) problems.push(`${notFirst} phonehome answers were replays, not first activations (201)`);
  if (stored !== sent) problems.push(`${stored} rows stored for ${sent} activations sent`);
  if (problems.length > 0) {
    console.log(`INVALID: ${problems.join("; ")}`);
    return false;
  }
  console.log("valid: 0 errors, every acknowledged activation stored");
  return true;
}
