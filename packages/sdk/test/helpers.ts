/**
 * Test helpers for the SDK's own tests (not exported by the package): region
 * keys, a test fleet root, identities that trust it, a fake clock, and a tiny
 * collector on `node:http` that publishes a region descriptor signed by the
 * test root and really opens the seals (with any of its keys) and checks the
 * signatures. The SDK stands alone, so nothing here comes from the server code.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { importJWK, jwtVerify } from "jose";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Envelope,
  ed25519PublicKey,
  headerBytes,
  hpke,
  regionKeyId,
  sealInfo,
  signingInput,
  toArrayBuffer,
  verifyBytes,
} from "../src/envelope.ts";
import {
  type RegionKeyValidity,
  type RootKey,
  rootKeyId,
  type RootSigner,
  signRegionDescriptor,
} from "../src/descriptor.ts";
import type { ClientEvent, PhoneHomeClientOptions } from "../src/client-types.ts";
import { PhoneHomeClient } from "../src/client.ts";
import { createDeviceIdentity, type DeviceIdentity } from "../src/identity.ts";
import type { RegionDescriptor } from "../src/region.ts";

/** A region's X25519 key pair, with its public key raw base64url and its kid. */
export interface RegionKeys {
  pair: Awaited<ReturnType<typeof hpke.kem.generateKeyPair>>;
  publicKey: string;
  kid: string;
}

/** Generates a region key pair the way a region would. */
export async function makeRegionKeys(): Promise<RegionKeys> {
  const pair = await hpke.kem.generateKeyPair();
  const publicKey = Buffer.from(await hpke.kem.serializePublicKey(pair.publicKey)).toString("base64url");
  return { pair, publicKey, kid: regionKeyId(publicKey) };
}

/** A home descriptor for `url` and `keys`. */
export function makeHome(
  url: string,
  keys: RegionKeys,
  region = "global",
  storedIn = "SG",
): RegionDescriptor {
  return { region, storedIn, url, kid: keys.kid, publicKey: keys.publicKey };
}

/** A fleet root that can sign: its public half (`kid`, `publicKey`) and its private key. */
export type TestRoot = RootKey & RootSigner;

/** A fresh fleet root key. */
export function makeRoot(): TestRoot {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const x = String(publicKey.export({ format: "jwk" }).x);
  return { kid: rootKeyId(x), publicKey: x, privateKey };
}

/** The fleet root of the SDK's tests: identities trust it by default, and the fake collector signs with it. */
export const TEST_ROOT = makeRoot();

/** The public half of a root, as an identity holds it. */
export function publicRoot(root: RootKey): RootKey {
  return { kid: root.kid, publicKey: root.publicKey };
}

/** A region key with the validity a descriptor gives it; by default from 2000 to 2100. */
export function validity(
  keys: RegionKeys,
  notBefore = "2000-01-01T00:00:00Z",
  notAfter = "2100-01-01T00:00:00Z",
): RegionKeyValidity {
  return { kid: keys.kid, publicKey: keys.publicKey, notBefore, notAfter };
}

/** A region descriptor signed by `root` (default the test root), region `global` stored in `SG` unless told. */
export function signDescriptor(
  keys: RegionKeyValidity[],
  options: { root?: RootSigner; region?: string; storedIn?: string; url?: string; issuedAt?: string } = {},
): Promise<string> {
  return signRegionDescriptor(
    {
      region: options.region ?? "global",
      storedIn: options.storedIn ?? "SG",
      url: options.url ?? "https://global.collect.example.com",
      keys,
      issuedAt: options.issuedAt ?? "2026-01-01T00:00:00Z",
    },
    options.root ?? TEST_ROOT,
  );
}

/** What a collector of region `global` announces for `keys`, with a descriptor the test root signed. */
export async function announcementOf(keys: RegionKeys): Promise<Record<string, unknown>> {
  return {
    region: "global",
    storedIn: "SG",
    kid: keys.kid,
    publicKey: keys.publicKey,
    descriptor: await signDescriptor([validity(keys)]),
    rootChain: [],
  };
}

/**
 * A Norwegian-market device of the worldwide variant, homed at `home`, trusting `roots` (default the test
 * root); `null` makes a legacy identity, pinned to the home key.
 */
export function makeIdentity(
  home: RegionDescriptor,
  roots: RootKey[] | null = [publicRoot(TEST_ROOT)],
): DeviceIdentity {
  return createDeviceIdentity(
    { serial: "SN-0001", model: "N7P", variant: "00WW", market: "NO", build: "00WW_3_39B_SP03" },
    home,
    roots ?? undefined,
  );
}

/** A fresh temporary directory, removed by `cleanup`. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "phonehome-sdk-"));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A clock whose `sleep` returns at once, advancing time and recording each delay. */
export function fakeClock(start = Date.parse("2026-03-01T08:00:00Z")): {
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  sleeps: number[];
} {
  let t = start;
  const sleeps: number[] = [];
  return {
    now: () => t,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
    sleeps,
  };
}

/**
 * A client of `identity` on `queueDir` for a test: a fake clock (unless given), jitter draws of 0.5, and
 * every event it reports kept in `events`.
 */
export function recordingClient(
  identity: DeviceIdentity,
  queueDir: string,
  options: Omit<Partial<PhoneHomeClientOptions>, "clock"> & { clock?: ReturnType<typeof fakeClock> } = {},
): { client: PhoneHomeClient; events: ClientEvent[]; clock: ReturnType<typeof fakeClock> } {
  const events: ClientEvent[] = [];
  const clock = options.clock ?? fakeClock();
  const client = new PhoneHomeClient({
    identity,
    queueDir,
    retry: { baseMs: 100, maxMs: 1000, maxAttempts: 4 },
    random: () => 0.5,
    onEvent: (e) => events.push(e),
    ...options,
    clock,
  });
  return { client, events, clock };
}

/** A request the fake collector received. */
export interface Received {
  method: string;
  url: string;
  body: string;
  /** The `authorization` header, if any. */
  authorization?: string;
}

/** How the fake collector answers one POST; `undefined` falls back to 201 with an activation. */
export type Reply = { status: number; body?: unknown; headers?: Record<string, string> };

/** Options of the fake collector. */
export interface FakeCollectorOptions {
  keys: RegionKeys;
  /** Devices it knows: their public keys, by key id. */
  devices: DeviceIdentity[];
  /**
   * What `GET /v1/region` announces; defaults to the keys' region `global` stored in `SG`. The descriptor
   * and root chain (see `descriptor`) are added unless it names them itself.
   */
  announce?: Record<string, unknown>;
  /**
   * The descriptor published (`undefined` leaves it out); default: one signed by the test root listing
   * `keys` from 2000 to 2100. Change it later with `publish`.
   */
  descriptor?: string | null;
  /** The root chain published; default none. */
  rootChain?: string[];
  /** Keys it also opens envelopes with (a previous or next key of a rotation). */
  otherKeys?: RegionKeys[];
  /** Answer `GET /v1/region` with this instead (e.g. a redirect). */
  regionReply?: Reply;
  /** Answers for successive POSTs (activations and diagnostics); once used up, POSTs succeed. */
  replies?: Reply[];
  /** Whether the region holds a yes to `uep.diagnostics` at start; without one, diagnostics get 403. Default false. */
  consented?: boolean;
  /** Port to listen on; 0 picks one. */
  port?: number;
  /** Largest body it takes; a larger one is answered 413 `request.too_large` unread, as Fastify does. */
  maxBodyBytes?: number;
  /**
   * Whether `GET /v1/region` announces its limits (with the default announcement): `maxBodyBytes` as it is
   * enforced now, and `maxDiagnosticsEvents`; `mislead` announces a larger body than it takes.
   */
  announceLimits?: boolean | "mislead";
  /** Most events per diagnostics batch it announces; default 500. */
  maxDiagnosticsEvents?: number;
}

/** A collector on `node:http` that opens seals for real. */
export interface FakeCollector {
  url: string;
  port: number;
  received: Received[];
  /** Payloads opened from acknowledged POSTs, with their eventId. */
  stored: Array<{ eventId: string; payload: unknown }>;
  /** Diagnostics events stored (once per event id), with the eventId of the envelope that brought them. */
  events: Array<{ id: string; at: string; data: Record<string, unknown>; envelope: string }>;
  /** Records (or removes) the region's yes to `uep.diagnostics`, as an owner's decision would. */
  setConsent: (granted: boolean) => void;
  /** Changes the largest body it takes (undefined: any). */
  setMaxBodyBytes: (bytes: number | undefined) => void;
  /**
   * Changes what `GET /v1/region` publishes from now on: the key to seal to now (also opened), the
   * descriptor and its chain, and keys it opens too.
   */
  publish: (next: {
    current: RegionKeys;
    descriptor: string | null | undefined;
    rootChain?: string[];
    open?: RegionKeys[];
  }) => void;
  /** Refuses envelopes sealed to `kid` from now on, as a region does once the key has ended (`envelope.key_expired`). */
  endKey: (kid: string) => void;
  close: () => Promise<void>;
}

/** A diagnostics event as the fake collector opens it. */
interface OpenedEvent {
  id: string;
  at: string;
  data: Record<string, unknown>;
}

/** Starts a fake collector on 127.0.0.1. */
export async function startCollector(options: FakeCollectorOptions): Promise<FakeCollector> {
  const received: Received[] = [];
  const stored: Array<{ eventId: string; payload: unknown }> = [];
  const events: FakeCollector["events"] = [];
  let consented = options.consented ?? false;
  const replies = [...(options.replies ?? [])];
  let current = options.keys;
  let descriptor =
    "descriptor" in options ? options.descriptor : await signDescriptor([validity(options.keys)]);
  let rootChain = options.rootChain ?? [];
  let opens = [options.keys, ...(options.otherKeys ?? [])];
  const ended = new Set<string>();
  const announcement = (): Record<string, unknown> => ({
    region: "global",
    storedIn: "SG",
    kid: current.kid,
    publicKey: current.publicKey,
    suite: "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM",
    ...(descriptor === undefined ? {} : { descriptor }),
    rootChain,
  });
  const announced = (): Record<string, unknown> =>
    options.announce === undefined
      ? announcement()
      : {
          ...(descriptor === undefined ? {} : { descriptor }),
          rootChain,
          ...options.announce,
        };
  // Opens with the key the envelope names, refusing one that has ended, as a region does.
  const open = async (env: Envelope): Promise<unknown> => {
    if (ended.has(env.kid)) throw new Refusal(400, "envelope.key_expired", `key ${env.kid} has ended`);
    const keys = opens.find((k) => k.kid === env.kid);
    if (keys === undefined) throw new Refusal(400, "seal.invalid", `no key ${env.kid}`);
    return openEnvelope(env, keys, options.devices);
  };
  let maxBodyBytes = options.maxBodyBytes;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const authorization = req.headers.authorization;
    received.push({
      method: req.method ?? "",
      url: req.url ?? "",
      body,
      ...(authorization === undefined ? {} : { authorization }),
    });
    const send = (reply: Reply): void => {
      res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers });
      res.end(reply.body === undefined ? "" : JSON.stringify(reply.body));
    };
    if (req.method === "GET" && req.url === "/v1/region") {
      const limits = {
        ...(maxBodyBytes === undefined
          ? {}
          : { maxBodyBytes: options.announceLimits === "mislead" ? maxBodyBytes * 4 : maxBodyBytes }),
        maxDiagnosticsEvents: options.maxDiagnosticsEvents ?? 500,
      };
      const body =
        options.announce === undefined && options.announceLimits ? { ...announced(), limits } : announced();
      send(options.regionReply ?? { status: 200, body });
      return;
    }
    if (req.method === "POST" && maxBodyBytes !== undefined && Buffer.byteLength(body) > maxBodyBytes) {
      send({
        status: 413,
        body: { error: { code: "request.too_large", message: "Request body is too large" } },
      });
      return;
    }
    if (req.method === "POST") {
      const scripted = replies.shift();
      if (scripted !== undefined) {
        send(scripted);
        return;
      }
    }
    if (req.method === "POST" && req.url === "/v1/diagnostics") {
      const env = JSON.parse(body) as Envelope;
      const payload = (await open(env)) as { events: OpenedEvent[] };
      if (env.collection !== "uep.diagnostics" || env.schemaVersion !== 1) {
        send({
          status: 400,
          body: { error: { code: "envelope.collection_mismatch", message: "not diagnostics" } },
        });
        return;
      }
      if (!consented) {
        send({
          status: 403,
          body: {
            error: { code: "consent.required", message: "no yes to uep.diagnostics", path: "/collection" },
          },
        });
        return;
      }
      let fresh = 0;
      for (const e of payload.events) {
        if (events.some((x) => x.id === e.id)) continue;
        events.push({ id: e.id, at: e.at, data: e.data, envelope: env.eventId });
        fresh += 1;
      }
      send({
        status: 200,
        body: {
          region: "global",
          storedIn: "SG",
          stored: fresh,
          duplicates: payload.events.length - fresh,
          expired: 0,
        },
      });
      return;
    }
    if (req.method === "PUT" && req.url?.startsWith("/v1/owner/consents/")) {
      const device = await ownerOf(authorization ?? "", options.devices);
      if (device === undefined) {
        send({ status: 401, body: { error: { code: "auth.owner_token_invalid", message: "bad token" } } });
        return;
      }
      const decision = JSON.parse(body) as { granted: boolean; noticeVersion: number };
      consented = decision.granted;
      send({
        status: 200,
        // The parts of a signed receipt the tests read; the SDK passes the answer on as it came.
        body: {
          receipt: {
            principal: { deviceKeyId: device },
            notice: { purpose: req.url.slice("/v1/owner/consents/".length), version: decision.noticeVersion },
            decision: { granted: decision.granted },
          },
          jws: "not.signed.here",
        },
      });
      return;
    }
    if (req.method === "POST" && req.url === "/v1/activations") {
      const env = JSON.parse(body) as Envelope;
      const payload = await open(env);
      const already = stored.find((s) => s.eventId === env.eventId);
      if (already === undefined) stored.push({ eventId: env.eventId, payload });
      const activatedAt = (payload as { activatedAt: string }).activatedAt;
      send({
        status: already === undefined ? 201 : 200,
        body: {
          activation: { eventId: env.eventId, activatedAt, warrantyUntil: "2028-03-01", region: "global" },
        },
      });
      return;
    }
    send({ status: 404, body: { error: { code: "route.not_found", message: "no route" } } });
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof Refusal) {
        res.writeHead(err.status, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { code: err.code, message: err.message } }));
        return;
      }
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code: "internal", message: String(err) } }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    stored,
    events,
    setConsent: (granted) => {
      consented = granted;
    },
    setMaxBodyBytes: (bytes) => {
      maxBodyBytes = bytes;
    },
    publish: (next) => {
      current = next.current;
      descriptor = next.descriptor;
      rootChain = next.rootChain ?? [];
      opens = [next.current, ...(next.open ?? []), ...opens];
    },
    endKey: (kid) => {
      ended.add(kid);
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A refusal the fake collector answers with its status and code. */
class Refusal extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Verifies the device signature and opens the seal, as a collector would; throws on any failure. */
export async function openEnvelope(
  env: Envelope,
  keys: RegionKeys,
  devices: DeviceIdentity[],
): Promise<unknown> {
  const device = devices.find((d) => d.keyId === env.device);
  if (device === undefined) throw new Error(`unknown device ${env.device}`);
  const { sig, ...unsigned } = env;
  if (!verifyBytes(signingInput(unsigned), sig, ed25519PublicKey(device.publicKey)))
    throw new Error("bad signature");
  const recipient = await hpke.createRecipientContext({
    recipientKey: keys.pair,
    enc: toArrayBuffer(Buffer.from(env.enc, "base64url")),
    info: toArrayBuffer(sealInfo(env.region)),
  });
  const plain = await recipient.open(
    toArrayBuffer(Buffer.from(env.ct, "base64url")),
    toArrayBuffer(headerBytes(env)),
  );
  return JSON.parse(new TextDecoder().decode(plain));
}

/** The key id of the device an owner token (`Bearer ...`) was signed by, or undefined if it does not verify. */
async function ownerOf(authorization: string, devices: DeviceIdentity[]): Promise<string | undefined> {
  const token = /^Bearer (.+)$/.exec(authorization)?.[1];
  if (token === undefined) return undefined;
  for (const d of devices) {
    try {
      const key = await importJWK({ kty: "OKP", crv: "Ed25519", x: d.publicKey }, "EdDSA");
      const { payload } = await jwtVerify(token, key, { audience: "phonehome", subject: d.keyId });
      if (payload.sub === d.keyId) return d.keyId;
    } catch {
      // Not this device's token.
    }
  }
  return undefined;
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
