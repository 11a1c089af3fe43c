/**
 * The server under test of `npm run bench`, run as its own child process so
 * that it has one core to itself (the parent pins it with `taskset` when it
 * can). It starts one of three things and prints a JSON line `{"ready": ...}`
 * on stdout when it listens:
 *
 * - `bare`: a Fastify app with one POST route that parses the JSON body and
 *   answers a JSON of the same shape as an activation, status 201. The baseline:
 *   what HTTP, JSON parsing and serialisation alone cost on this machine.
 * - `floor`: the same route doing only what a first activation cannot avoid,
 *   with no storage and no look-ups: the body parsed against the collector's
 *   envelope schema, the Ed25519 signature verified against a device key
 *   imported at start, the HPKE seal opened with a region key of its own
 *   (generated at start; its public key and id are in the ready line), and the
 *   payload validated against the approved `activation` v1 of the shipped
 *   dictionary. It answers 201 like the bare route, and 400 with a small JSON
 *   error to an envelope that fails any of those.
 * - `phonehome`: the real system on PostgreSQL (control plane, region
 *   `global` under load, region `cn` idle), after importing the factory file
 *   the parent wrote, so that provisioning happens before the measured window.
 *
 * It stops on SIGTERM or when stdin closes (the parent died), flushing the
 * write path first.
 *
 * Usage: node bench/server.ts '<ServerSpec as JSON>'
 */
import { type KeyObject, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import {
  type Envelope,
  deviceKeyId,
  ed25519PublicKey,
  headerBytes,
  regionKeyId,
  sealInfo,
  signingInput,
  verifyBytes,
} from "@phonehome/sdk";
import Fastify, { type FastifyInstance } from "fastify";
import { ENVELOPE_ROUTE, EnvelopeSchema } from "../src/collector/ingest/index.ts";
import { buildConfig, PACKAGE_ROOT } from "../src/core/config/index.ts";
import { importRecipientKey, openBase } from "../src/core/crypto/index.ts";
import type { StoreConfig } from "../src/core/db/index.ts";
import { loadDictionary } from "../src/core/dictionary/index.ts";
import { SCHEMA_COMPILER } from "../src/core/http/index.ts";
import { type FactoryDocument, importFleet } from "../src/control-plane/fleet/index.ts";
import { createLogger } from "../src/core/log/index.ts";
import { startSystem } from "../src/compose/system/system.ts";
import { FLOOR_REGION, type ReadyLine, type ServerSpec } from "./protocol.ts";

/** A started server: its base URL, the devices it provisioned, its seal key (floor), and how to stop it. */
interface Started {
  url: string;
  devices?: number;
  serviceToken?: string;
  publicKey?: string;
  kid?: string;
  close(): Promise<void>;
}

/** The bare and floor routes' answer: the same shape and size class as the collector's. */
function answerOf(device: unknown, eventId: unknown) {
  const now = new Date();
  return {
    activation: {
      device: String(device),
      eventId: String(eventId),
      region: "global",
      storedIn: "SG",
      schemaVersion: 1,
      activatedAt: now.toISOString(),
      warrantyUntil: new Date(now.getTime() + 730 * 86_400_000).toISOString(),
    },
    replayed: false,
  };
}

async function listening(app: FastifyInstance): Promise<string> {
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

async function startBare(bodyLimit: number): Promise<Started> {
  const app = Fastify({ logger: false, bodyLimit });
  // Same route, same parsed body, a response of the same shape and size class as the collector's.
  app.post("/v1/activations", async (request, reply) => {
    const body = request.body as { device?: unknown; eventId?: unknown };
    return reply.status(201).send(answerOf(body.device, body.eventId));
  });
  return { url: await listening(app), close: () => app.close() };
}

async function startFloor(spec: Extract<ServerSpec, { mode: "floor" }>): Promise<Started> {
  // Everything a request needs is in memory before the ready line: the device keys, imported...
  const factory = JSON.parse(readFileSync(spec.factoryFile, "utf8")) as Pick<FactoryDocument, "devices">;
  const deviceKeys = new Map<string, KeyObject>();
  for (const device of factory.devices ?? []) {
    deviceKeys.set(deviceKeyId(device.publicKey), ed25519PublicKey(device.publicKey));
  }
  // ... a region key of its own...
  const recipient = importRecipientKey(randomBytes(32));
  const publicKey = recipient.publicKeyRaw.toString("base64url");
  const kid = regionKeyId(publicKey);
  const info = sealInfo(FLOOR_REGION);
  // ... and the shipped dictionary's activation v1, compiled as the phonehome side's (same regions).
  const { dictionary } = loadDictionary(join(PACKAGE_ROOT, "dictionary"), { regions: ["global", "cn"] });
  const activation = dictionary.get("activation", 1);
  if (!activation?.approved || !activation.allowedIn(FLOOR_REGION) || activation.expiredAt(new Date())) {
    throw new Error(`the shipped dictionary has no activation v1 approved for region ${FLOOR_REGION}`);
  }

  // The collector's schema compiler and envelope route: the body is parsed and checked as it is there.
  const app = Fastify({ logger: false, bodyLimit: spec.bodyLimit, ajv: SCHEMA_COMPILER });
  app.post(
    "/v1/activations",
    { ...ENVELOPE_ROUTE, bodyLimit: spec.bodyLimit, schema: { body: EnvelopeSchema } },
    async (request, reply) => {
      const refuse = (code: string, message: string) => reply.status(400).send({ error: { code, message } });
      if (request.validationError) return refuse("envelope.invalid", request.validationError.message);
      const envelope = request.body as Envelope;
      if (envelope.collection !== "activation" || envelope.schemaVersion !== 1) {
        return refuse("envelope.collection_mismatch", "this route takes activation v1");
      }
      const key = deviceKeys.get(envelope.device);
      if (key === undefined) return refuse("device.unknown", "no device key was imported with this id");
      if (!verifyBytes(signingInput(envelope), envelope.sig, key)) {
        return refuse("signature.invalid", "the signature does not verify against the device's key");
      }
      if (envelope.kid !== kid) return refuse("seal.invalid", `the payload is not sealed to ${kid}`);
      let plaintext: Buffer;
      try {
        // Awaited: the collector's open may become asynchronous; a synchronous one is awaited the same.
        plaintext = await openBase(
          recipient,
          Buffer.from(envelope.enc, "base64url"),
          info,
          headerBytes(envelope),
          Buffer.from(envelope.ct, "base64url"),
        );
      } catch {
        return refuse("seal.invalid", "the seal does not open with this key");
      }
      let payload: unknown;
      try {
        payload = JSON.parse(plaintext.toString("utf8"));
      } catch {
        return refuse("payload.malformed", "the opened payload is not JSON");
      }
      const checked = activation.validate(payload);
      if (!checked.ok) {
        const code = checked.problem.kind === "undeclared" ? "payload.undeclared_field" : "payload.invalid";
        return refuse(code, checked.problem.message);
      }
      return reply.status(201).send(answerOf(envelope.device, envelope.eventId));
    },
  );
  return { url: await listening(app), devices: deviceKeys.size, publicKey, kid, close: () => app.close() };
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
  if (spec === null || (spec.mode !== "bare" && spec.mode !== "floor" && spec.mode !== "phonehome")) {
    throw new Error("usage: node bench/server.ts '<ServerSpec JSON>'");
  }
  const server =
    spec.mode === "bare"
      ? await startBare(spec.bodyLimit)
      : spec.mode === "floor"
        ? await startFloor(spec)
        : await startPhonehome(spec);
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
    ...(server.publicKey === undefined ? {} : { publicKey: server.publicKey }),
    ...(server.kid === undefined ? {} : { kid: server.kid }),
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
