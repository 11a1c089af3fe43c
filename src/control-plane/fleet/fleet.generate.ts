/**
 * A demo fleet, as a factory would produce it: a factory document for the
 * registry (public keys only) and, kept apart, the private keys the factory
 * flashes into the devices. The registry never sees a private key.
 */
import { createHash, createPrivateKey, generateKeyPairSync, type KeyObject, randomBytes } from "node:crypto";
import { type DeviceIdentity, deviceKeyId, type RegionDescriptor, type RootKey } from "@phonehome/sdk";
import type { FactoryBatch, FactoryDevice } from "./fleet.schema.ts";

/** Markets of the demo fleet when none are given: three sold in the global region, one in China. */
export const DEMO_MARKETS: readonly string[] = ["NO", "FI", "DE", "CN"];

/** The demo model. */
export const DEMO_MODEL = "TA-1062";

/** The demo's variant for each region it supports. */
export const DEMO_VARIANTS: Readonly<Record<string, string>> = { global: "00WW", cn: "00CN" };

/** What to generate. */
export interface DemoFleetOptions {
  /** Number of devices, spread over the markets in turn. */
  devices: number;
  /** ISO 3166-1 alpha-2 markets; default `DEMO_MARKETS`. */
  markets?: readonly string[] | undefined;
  /**
   * Makes the fleet reproducible: the same seed gives the same serials and key
   * pairs. Anyone with the seed can derive the private keys: tests and demos only.
   */
  seed?: string | undefined;
  /** The market-to-region policy; default: CN to `cn`, every other market to `global`. */
  regionOfMarket?: ((market: string) => string) | undefined;
}

/** A device's key pair: raw Ed25519 keys in base64url (JWK `x` and `d`) and the key id envelopes carry. */
export interface DeviceKeyPair {
  keyId: string;
  publicKey: string;
  /** The 32-byte private seed. Secret: it lives in the device, never in the registry. */
  privateKey: string;
}

/** The factory document of a demo fleet; every section is present. */
export interface DemoFactoryDocument {
  version: 1;
  models: { id: string; name: string; warrantyMonths: number }[];
  variants: { id: string; model: string; region: string; description: string }[];
  builds: { number: string; model: string; variant: string; releasedAt: string | null }[];
  batches: FactoryBatch[];
  devices: FactoryDevice[];
}

/** A demo fleet: the public factory document, and the private keys by serial. */
export interface DemoFleet {
  factory: DemoFactoryDocument;
  keys: Record<string, DeviceKeyPair>;
}

const BUILDS = {
  "00WW": ["00WW_3_39B_SP03", "00WW_3_22C_SP05"],
  "00CN": ["00CN_3_39B_SP03"],
} as const;

// PKCS #8 wrapping of a raw Ed25519 seed (RFC 8410): this prefix, then the 32 bytes.
const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/** Generates a demo fleet: one model, the 00WW and 00CN variants, three builds, a batch per market, and devices with fresh Ed25519 key pairs. */
export function generateDemoFleet(options: DemoFleetOptions): DemoFleet {
  const count = options.devices;
  if (!Number.isInteger(count) || count < 0 || count > 1_000_000) {
    throw new RangeError(`devices must be a whole number from 0 to 1,000,000, not ${count}`);
  }
  const markets = [...(options.markets ?? DEMO_MARKETS)];
  if (markets.length === 0) throw new RangeError("at least one market is needed");
  for (const market of markets) {
    if (!/^[A-Z]{2}$/.test(market))
      throw new RangeError(`market ${JSON.stringify(market)} is not an ISO 3166-1 alpha-2 code`);
  }
  const regionOf = options.regionOfMarket ?? ((market: string) => (market === "CN" ? "cn" : "global"));
  const bytes: (size: number, label: string) => Buffer =
    options.seed === undefined ? (size) => randomBytes(size) : seededBytes(options.seed);
  // A tag per fleet keeps serials and batch ids of two unseeded demo fleets apart.
  const tag = bytes(3, "tag").toString("hex").toUpperCase();

  const perMarket = new Map<string, number>();
  markets.forEach((market, i) => {
    perMarket.set(market, Math.floor(count / markets.length) + (i < count % markets.length ? 1 : 0));
  });

  const batches: FactoryBatch[] = [];
  const batchOf = new Map<string, FactoryBatch>();
  markets.forEach((market, i) => {
    const size = perMarket.get(market) ?? 0;
    if (size === 0 || batchOf.has(market)) return;
    const region = regionOf(market);
    const variant = DEMO_VARIANTS[region];
    if (variant === undefined) {
      throw new RangeError(
        `market ${market} maps to region ${region}; the demo fleet has variants for global and cn only`,
      );
    }
    const builds = BUILDS[variant as keyof typeof BUILDS];
    const batch: FactoryBatch = {
      id: `B-${tag}-${market}`,
      model: DEMO_MODEL,
      variant,
      market,
      build: builds[i % builds.length] ?? builds[0],
      producedAt: new Date(Date.UTC(2019, 2, 1 + i, 8)).toISOString(),
      size,
    };
    batches.push(batch);
    batchOf.set(market, batch);
  });

  const devices: FactoryDevice[] = [];
  const keys: Record<string, DeviceKeyPair> = {};
  for (let i = 0; i < count; i++) {
    const market = markets[i % markets.length] ?? "";
    const batch = batchOf.get(market);
    if (batch === undefined) continue;
    const serial = `PH${tag}${String(i + 1).padStart(7, "0")}`;
    const pair = options.seed === undefined ? freshKeyPair() : keyPairFromSeed(bytes(32, `key/${i}`));
    devices.push({
      serial,
      model: DEMO_MODEL,
      variant: batch.variant,
      market,
      batch: batch.id,
      publicKey: pair.publicKey,
    });
    keys[serial] = pair;
  }

  return {
    factory: {
      version: 1,
      models: [{ id: DEMO_MODEL, name: "Phone 7 Plus (demo)", warrantyMonths: 24 }],
      variants: [
        {
          id: "00WW",
          model: DEMO_MODEL,
          region: "global",
          description: "worldwide, data stored in Singapore",
        },
        { id: "00CN", model: DEMO_MODEL, region: "cn", description: "China, data stored in China" },
      ],
      builds: [
        {
          number: "00WW_3_39B_SP03",
          model: DEMO_MODEL,
          variant: "00WW",
          releasedAt: "2019-02-20T00:00:00.000Z",
        },
        {
          number: "00WW_3_22C_SP05",
          model: DEMO_MODEL,
          variant: "00WW",
          releasedAt: "2019-02-20T00:00:00.000Z",
        },
        {
          number: "00CN_3_39B_SP03",
          model: DEMO_MODEL,
          variant: "00CN",
          releasedAt: "2019-02-20T00:00:00.000Z",
        },
      ],
      batches,
      devices,
    },
    keys,
  };
}

function freshKeyPair(): DeviceKeyPair {
  return exportPair(generateKeyPairSync("ed25519").privateKey);
}

/** The Ed25519 key pair whose private seed is these 32 bytes. */
function keyPairFromSeed(seed: Buffer): DeviceKeyPair {
  return exportPair(
    createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" }),
  );
}

function exportPair(privateKey: KeyObject): DeviceKeyPair {
  const jwk = privateKey.export({ format: "jwk" });
  if (typeof jwk.x !== "string" || typeof jwk.d !== "string")
    throw new Error("Ed25519 JWK export lacks x or d");
  return { keyId: deviceKeyId(jwk.x), publicKey: jwk.x, privateKey: jwk.d };
}

/** A deterministic byte source: SHA-256 of the seed and a label, stretched by a counter. */
function seededBytes(seed: string): (size: number, label: string) => Buffer {
  return (size, label) => {
    const out: Buffer[] = [];
    for (let block = 0; out.length * 32 < size; block++) {
      out.push(
        createHash("sha256").update(`phonehome-demo\u0000${seed}\u0000${label}\u0000${block}`).digest(),
      );
    }
    return Buffer.concat(out).subarray(0, size);
  };
}

/**
 * The identities a factory flashes into a demo fleet's devices: factory
 * record, key pair, the batch's build, the home-region descriptor `homeOf`
 * gives (devices it gives none are left out), and the fleet `roots` whose
 * signature on a region descriptor the devices accept.
 */
export function demoIdentities(
  fleet: DemoFleet,
  homeOf: (device: FactoryDevice) => RegionDescriptor | undefined,
  roots: readonly RootKey[],
): DeviceIdentity[] {
  const build = new Map(fleet.factory.batches.map((b) => [b.id, b.build]));
  return fleet.factory.devices.flatMap((device) => {
    const keys = fleet.keys[device.serial];
    const home = homeOf(device);
    if (!keys || !home) return [];
    return [
      {
        serial: device.serial,
        model: device.model,
        variant: device.variant,
        market: device.market,
        build: build.get(device.batch) ?? "",
        publicKey: keys.publicKey,
        privateKey: keys.privateKey,
        keyId: keys.keyId,
        home,
        roots: roots.map((r) => ({ kid: r.kid, publicKey: r.publicKey })),
      },
    ];
  });
}
