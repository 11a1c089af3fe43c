/**
 * The fleet root: the Ed25519 key that signs each region's descriptor, whose
 * public half devices get at the factory. Its private half belongs offline
 * (a file on a machine that is not a server, or a hardware token); the
 * services hold only the fleet trust — the roots devices trust and the
 * rollover links that lead from them to the root in use — in
 * `<dataDir>/keys/fleet-trust.json`.
 *
 * The embedded default has no offline machine: at a first start with no trust
 * file, a root is generated into `<dataDir>/keys/fleet-root.json` beside it,
 * so that `npm start` works alone and its scheduled rotations can sign. In
 * production that file is moved off the servers (docs/keys.md).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type RootKey, rootKeyId, type RootSigner, verifyRootChain } from "@phonehome/sdk";
import { readOrCreate } from "./files.ts";

/** A fleet root key as a file: raw Ed25519 halves, base64url. Kept offline. */
export interface RootKeyFile {
  kind: "phonehome-fleet-root";
  kid: string;
  publicKey: string;
  privateKey: string;
  createdAt: string;
}

/** What a service trusts: the factory roots, and the rollover chain from them to the root in use. */
export interface FleetTrust {
  /** The roots devices were given at the factory (one, until a fleet made before a rollover still runs). */
  roots: RootKey[];
  /** Rollover links, in order, each signed by a root already trusted (`signRootLink`). */
  chain: string[];
}

/** A root that can sign, with its public half. */
export type Root = RootSigner & RootKey;

/** The path of the fleet trust in a data directory. */
export function fleetTrustPath(dataDir: string): string {
  return join(dataDir, "keys", "fleet-trust.json");
}

/** The path of the root key the embedded default generates. */
export function embeddedRootPath(dataDir: string): string {
  return join(dataDir, "keys", "fleet-root.json");
}

/** A fresh root key, as its file's content. */
export function generateRootKeyFile(now = new Date()): RootKeyFile {
  const jwk = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
  const publicKey = String(jwk.x);
  return {
    kind: "phonehome-fleet-root",
    kid: rootKeyId(publicKey),
    publicKey,
    privateKey: String(jwk.d),
    createdAt: now.toISOString(),
  };
}

/** Reads a root key file; throws naming the file when it is not one whose halves agree. */
export function readRootKeyFile(path: string): Root {
  let file: Partial<RootKeyFile>;
  try {
    file = JSON.parse(readFileSync(path, "utf8")) as Partial<RootKeyFile>;
  } catch (cause) {
    throw new Error(`cannot read the root key file ${path}`, { cause });
  }
  let privateKey: KeyObject | undefined;
  try {
    privateKey = createPrivateKey({
      key: { kty: "OKP", crv: "Ed25519", d: String(file.privateKey), x: String(file.publicKey) },
      format: "jwk",
    });
  } catch {
    privateKey = undefined;
  }
  if (
    privateKey === undefined ||
    file.kind !== "phonehome-fleet-root" ||
    typeof file.publicKey !== "string" ||
    file.kid !== rootKeyId(file.publicKey) ||
    createPublicKey(privateKey).export({ format: "jwk" }).x !== file.publicKey
  ) {
    throw new Error(`${path} does not hold a fleet root key whose halves agree`);
  }
  return { kid: file.kid, publicKey: file.publicKey, privateKey };
}

/**
 * The fleet trust of a data directory. At a first start with no trust file,
 * the embedded default's root is generated beside it and trusted.
 */
export async function loadFleetTrust(dataDir: string): Promise<FleetTrust> {
  const path = fleetTrustPath(dataDir);
  const text = readOrCreate(path, () => {
    const root = readOrCreate(
      embeddedRootPath(dataDir),
      () => `${JSON.stringify(generateRootKeyFile(), null, 2)}\n`,
    );
    const { kid, publicKey } = JSON.parse(root) as RootKeyFile;
    const trust: FleetTrust = { roots: [{ kid, publicKey }], chain: [] };
    return `${JSON.stringify(trust, null, 2)}\n`;
  });
  return parseFleetTrust(text, path);
}

/** Checks a trust file: its roots are keys with their ids, its chain links verify from them. */
export async function parseFleetTrust(text: string, where: string): Promise<FleetTrust> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new Error(`${where} is not JSON`, { cause });
  }
  const v = value as Partial<FleetTrust> | null;
  if (
    typeof v !== "object" ||
    v === null ||
    !Array.isArray(v.roots) ||
    v.roots.length === 0 ||
    !Array.isArray(v.chain)
  ) {
    throw new Error(`${where} must hold { roots: [at least one root], chain: [links] }`);
  }
  const roots = v.roots.map((r: Partial<RootKey>, i) => {
    if (typeof r?.publicKey !== "string" || r.kid !== rootKeyId(r.publicKey)) {
      throw new Error(`${where}: roots[${i}] is not a root key with its id`);
    }
    return { kid: r.kid, publicKey: r.publicKey };
  });
  const chain = v.chain.map((link, i) => {
    if (typeof link !== "string") throw new Error(`${where}: chain[${i}] is not a JWS`);
    return link;
  });
  try {
    await rootInUse({ roots, chain });
  } catch (cause) {
    throw new Error(`${where}: the chain does not verify from its roots`, { cause });
  }
  return { roots, chain };
}

/**
 * The root a descriptor must be signed by: the last root the chain leads to
 * (the last factory root when there is no chain). Throws when a link does not verify.
 */
export async function rootInUse(trust: FleetTrust): Promise<RootKey> {
  const order = await verifyRootChain(trust.roots, trust.chain);
  const last = order[order.length - 1];
  if (last === undefined) throw new Error("fleet trust: no root");
  return last;
}

/** The embedded default's root when it is still in the data directory, to sign scheduled rotations. */
export function embeddedRoot(dataDir: string): Root | undefined {
  const path = embeddedRootPath(dataDir);
  return existsSync(path) ? readRootKeyFile(path) : undefined;
}
