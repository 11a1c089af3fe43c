/**
 * The server under test of `npm run bench`, run as its own child process so
 * that it has one core to itself (the parent pins it with `taskset` when it
 * can). It starts one of two things and prints a JSON line `{"ready": ...}` on
 * stdout when it listens:
 *
 * - `bare`: a Fastify app with one POST route that parses the JSON body and
 *   answers a JSON of the same shape as an activation, status 201. The baseline:
 *   what HTTP, JSON parsing and serialisation alone cost on this machine.
 * - `phonehome`: the real system on PostgreSQL (control plane, region
 *   `global` under load, region `cn` idle), after importing the factory file
 *   the parent wrote, so that provisioning happens before the measured window.
 *
 * It stops on SIGTERM or when stdin closes (the parent died), flushing the
 * write path first.
 *
 * Usage: node bench/server.ts '<ServerSpec as JSON>'
 */
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import Fastify from "fastify";
import { buildConfig } from "../src/core/config/index.ts";
import type { StoreConfig } from "../src/core/db/index.ts";
import { importFleet } from "../src/control-plane/fleet/index.ts";
import { createLogger } from "../src/core/log/index.ts";
import { startSystem } from "../src/compose/system/system.ts";
import type { ReadyLine, ServerSpec } from "./protocol.ts";

/** A started server: its base URL, the devices it provisioned, and how to stop it. */
interface Started {
  url: string;
  devices?: number;
  serviceToken?: string;
  close(): Promise<void>;
}

async function startBare(bodyLimit: number): Promise<Started> {
  const app = Fastify({ logger: false, bodyLimit });
  // Same route, same parsed body, a response of the same shape and size class as the collector's.
  app.post("/v1/activations", async (request, reply) => {
    const body = request.body as { device?: unknown; eventId?: unknown };
    const now = new Date();
    return reply.status(201).send({
      activation: {
        device: String(body.device),
        eventId: String(body.eventId),
        region: "global",
        storedIn: "SG",
        schemaVersion: 1,
        activatedAt: now.toISOString(),
        warrantyUntil: new Date(now.getTime() + 730 * 86_400_000).toISOString(),
      },
      replayed: false,
    });
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
}

async function startPhonehome(spec: Extract<ServerSpec, { mode: "phonehome" }>): Promise<Started> {
  const storeOf = (s: StoreConfig) =>
    s.kind === "pglite" ? { dataDir: s.dataDir } : { url: s.url, schema: s.schema, poolSize: s.poolSize };
  // Production defaults for everything the bench does not name (group commit size and delay included).
  const config = buildConfig(
    {
      dataDir: spec.dataDir,
      logLevel: "warn",
      controlPlane: { listen: "127.0.0.1:0", store: storeOf(spec.control) },
      regions: [
        { id: "global", storedIn: "SG", listen: "127.0.0.1:0", store: storeOf(spec.global) },
        { id: "cn", storedIn: "CN", listen: "127.0.0.1:0", store: storeOf(spec.cn) },
      ],
      demo: { devices: 0 },
    },
    spec.dataDir,
  );
  const system = await startSystem(config, createLogger("warn", "bench-server"));
  const summary = await importFleet(system.controlPlane.db, config, {
    name: "bench-factory.json",
    text: readFileSync(spec.factoryFile, "utf8"),
  });
  const region = system.regions.find((r) => r.id === "global");
  if (!region) throw new Error("the system started no region global");
  return {
    url: region.url,
    devices: summary.devices.created,
    serviceToken: system.controlPlane.serviceToken,
    close: () => system.close(),
  };
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? "null") as ServerSpec | null;
  if (spec === null || (spec.mode !== "bare" && spec.mode !== "phonehome")) {
    throw new Error("usage: node bench/server.ts '<ServerSpec JSON>'");
  }
  const server = spec.mode === "bare" ? await startBare(spec.bodyLimit) : await startPhonehome(spec);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await server.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
  // The parent holds our stdin open; when it goes away, so do we (no orphaned servers holding PG schemas).
  process.stdin.on("end", () => void stop());
  process.stdin.resume();
  const line: ReadyLine = {
    ready: true,
    mode: spec.mode,
    url: server.url,
    ...(server.devices === undefined ? {} : { devices: server.devices }),
    ...(server.serviceToken === undefined ? {} : { serviceToken: server.serviceToken }),
    pid: process.pid,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench server failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
