/**
 * The signed region descriptor. A region's HPKE keys rotate; a device learns
 * a new one only from a descriptor signed by a fleet root key whose public
 * half it got at the factory (in its identity), so a hijacked name or a man in
 * the middle cannot hand it a key. A root can be rolled over: the new root's
 * public key, signed by the old root, is a link of the chain a collector
 * publishes beside the descriptor.
 *
 * Both are compact JWS (RFC 7515) signed with Ed25519 (`alg: EdDSA`), the
 * root named by `kid` in the protected header and the statement's kind by
 * `typ`. The payload is JSON; a verifier checks the signature over the bytes
 * as sent, then reads them, so no canonical form is needed.
 */
import { createHash, type KeyObject } from "node:crypto";
import { CompactSign, compactVerify, decodeProtectedHeader } from "jose";
import { ed25519PublicKey, regionKeyId } from "./envelope.ts";
import { SdkError } from "./errors.ts";

/** `typ` of a signed region descriptor. */
export const DESCRIPTOR_TYPE = "phonehome-region+jws";
/** `typ` of a root rollover link: a new root's public key signed by the old root. */
export const ROOT_LINK_TYPE = "phonehome-root+jws";
/** The most keys one descriptor may list (previous, current, next, with room to spare). */
export const MAX_DESCRIPTOR_KEYS = 8;
/** The most fleet roots an identity may trust. */
export const MAX_FACTORY_ROOTS = 8;
/** The most links a root chain may have. */
export const MAX_ROOT_CHAIN = 8;
/** The longest JWS a device reads, in characters. */
export const MAX_JWS_CHARS = 16_384;

/** A fleet root's public key: raw Ed25519 (32 bytes), base64url, and its id. */
export interface RootKey {
  /** `rootKeyId(publicKey)`. */
  kid: string;
  publicKey: string;
}

/** One of a region's HPKE keys and when devices may seal to it. */
export interface RegionKeyValidity {
  /** `regionKeyId(publicKey)`. */
  kid: string;
  /** Raw X25519 public key (32 bytes), base64url. */
  publicKey: string;
  /** From when devices seal to it, RFC 3339 UTC. */
  notBefore: string;
  /** Until when the region opens what was sealed to it, RFC 3339 UTC. */
  notAfter: string;
}

/** What a fleet root signs about a region. */
export interface RegionDescriptorStatement {
  region: string;
  /** Country where the region stores data, ISO 3166-1 alpha-2. */
  storedIn: string;
  /** The region's collector base URL. */
  url: string;
  /** Its HPKE keys, oldest `notBefore` first. */
  keys: RegionKeyValidity[];
  /** When the root signed it, RFC 3339 UTC. */
  issuedAt: string;
}

/** What an old root signs to hand its trust to a new one. */
export interface RootLinkStatement {
  root: RootKey;
  issuedAt: string;
}

/** The id of a fleet root key: `frk_` + the first 20 bytes of its SHA-256, base64url. */
export function rootKeyId(publicKey: string): string {
  return `frk_${createHash("sha256").update(Buffer.from(publicKey, "base64url")).digest().subarray(0, 20).toString("base64url")}`;
}

/** A root's signing half, for the offline tool that signs descriptors. */
export interface RootSigner {
  kid: string;
  privateKey: KeyObject;
}

/** Signs a region descriptor with a fleet root key. */
export async function signRegionDescriptor(
  statement: RegionDescriptorStatement,
  root: RootSigner,
): Promise<string> {
  validateStatement(statement);
  return sign(statement, root, DESCRIPTOR_TYPE);
}

/** Signs a rollover link: `next` becomes trusted wherever `root` is. */
export async function signRootLink(next: RootKey, root: RootSigner, issuedAt = new Date()): Promise<string> {
  const statement: RootLinkStatement = { root: checkRoot(next, "root"), issuedAt: instant(issuedAt) };
  return sign(statement, root, ROOT_LINK_TYPE);
}

/**
 * Verifies a descriptor against the roots a device trusts, extended by the
 * rollover `chain`. The descriptor must be signed by the root in use: the
 * root the chain ends at, or, with no chain, one of the trusted roots; a root
 * the chain has moved past signs nothing any more. Throws
 * `sdk.descriptor_invalid` naming what is wrong; returns the statement.
 */
export async function verifyRegionDescriptor(
  jws: unknown,
  trusted: readonly RootKey[],
  chain: readonly unknown[] = [],
): Promise<RegionDescriptorStatement> {
  const order = await verifyRootChain(trusted, chain);
  const inUse = chain.length === 0 ? order : order.slice(-1);
  const statement = await verified(
    jws,
    new Map(inUse.map((r) => [r.kid, r])),
    DESCRIPTOR_TYPE,
    "region descriptor",
  );
  return validateStatement(statement);
}

/**
 * The roots trusted through a rollover chain: `trusted`, then the root each
 * link hands trust to, in order (the last is the root in use). The chain is
 * a line: its first link is signed by a trusted root, each later link by the
 * root the link before handed trust to, and no link hands trust to a root
 * already in it — so whoever holds a root the chain has moved past cannot
 * extend it. Throws `sdk.descriptor_invalid`.
 */
export async function verifyRootChain(
  trusted: readonly RootKey[],
  chain: readonly unknown[],
): Promise<RootKey[]> {
  if (chain.length > MAX_ROOT_CHAIN) invalid(`the root chain has more than ${MAX_ROOT_CHAIN} links`);
  const factory = new Map<string, RootKey>();
  for (const root of trusted) factory.set(root.kid, checkRoot(root, "trusted root"));
  const order = [...factory.values()];
  let signers: ReadonlyMap<string, RootKey> = factory;
  for (const [i, link] of chain.entries()) {
    const statement = (await verified(
      link,
      signers,
      ROOT_LINK_TYPE,
      `root chain link ${i}`,
    )) as Partial<RootLinkStatement>;
    if (typeof statement !== "object" || statement === null) invalid(`root chain link ${i} is not an object`);
    const next = checkRoot(statement.root, `root chain link ${i}: root`);
    if (order.some((r) => r.kid === next.kid))
      invalid(`root chain link ${i} hands trust back to ${next.kid}, already in the chain`);
    order.push(next);
    signers = new Map([[next.kid, next]]);
  }
  return order;
}

/**
 * The key a device seals to at `now`: of the keys in force (`notBefore` ≤
 * now < `notAfter`), the one that started last. Throws
 * `sdk.region_key_expired` when none is in force.
 */
export function sealingKey(statement: RegionDescriptorStatement, now: Date): RegionKeyValidity {
  const t = now.getTime();
  const inForce = statement.keys.filter((k) => Date.parse(k.notBefore) <= t && t < Date.parse(k.notAfter));
  const latest = inForce.sort((a, b) => Date.parse(b.notBefore) - Date.parse(a.notBefore))[0];
  if (latest === undefined) {
    throw new SdkError(
      "sdk.region_key_expired",
      `region ${statement.region} has no key in force at ${now.toISOString()}`,
    );
  }
  return latest;
}

async function sign(statement: object, root: RootSigner, typ: string): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(statement)))
    .setProtectedHeader({ alg: "EdDSA", kid: root.kid, typ })
    .sign(root.privateKey);
}

async function verified(
  jws: unknown,
  roots: ReadonlyMap<string, RootKey>,
  typ: string,
  what: string,
): Promise<unknown> {
  if (typeof jws !== "string" || jws.length === 0) invalid(`${what} is missing or not a string`);
  const text = jws as string;
  if (text.length > MAX_JWS_CHARS) invalid(`${what} is longer than ${MAX_JWS_CHARS} characters`);
  let header: { alg?: unknown; kid?: unknown; typ?: unknown };
  try {
    header = decodeProtectedHeader(text);
  } catch (cause) {
    return invalid(`${what} is not a compact JWS`, cause);
  }
  if (header.alg !== "EdDSA") invalid(`${what} is not signed with EdDSA`);
  if (header.typ !== typ) invalid(`${what} has type ${String(header.typ)}, not ${typ}`);
  const root = typeof header.kid === "string" ? roots.get(header.kid) : undefined;
  if (root === undefined) {
    return invalid(`${what} is signed by ${String(header.kid)}, which is not a trusted root in use`);
  }
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(text, ed25519PublicKey(root.publicKey), { algorithms: ["EdDSA"] }));
  } catch (cause) {
    return invalid(`${what}: the signature by ${root.kid} does not verify`, cause);
  }
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch (cause) {
    return invalid(`${what}: the signed payload is not JSON`, cause);
  }
}

const REGION_ID = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const COUNTRY = /^[A-Z]{2}$/;
const KEY_32 = /^[A-Za-z0-9_-]{43}$/;
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

function validateStatement(value: unknown): RegionDescriptorStatement {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    invalid("the descriptor is not an object");
  const v = value as Record<string, unknown>;
  if (typeof v.region !== "string" || !REGION_ID.test(v.region)) invalid("region: not a region id");
  if (typeof v.storedIn !== "string" || !COUNTRY.test(v.storedIn))
    invalid("storedIn: not an ISO 3166-1 alpha-2 code");
  if (typeof v.url !== "string" || v.url.length > 2048 || !URL.canParse(v.url)) invalid("url: not a URL");
  if (!Array.isArray(v.keys) || v.keys.length === 0 || v.keys.length > MAX_DESCRIPTOR_KEYS)
    invalid(`keys: must list 1 to ${MAX_DESCRIPTOR_KEYS} keys`);
  const keys = (v.keys as unknown[]).map((k, i) => checkValidity(k, `keys[${i}]`));
  if (new Set(keys.map((k) => k.kid)).size !== keys.length) invalid("keys: a kid is listed twice");
  const issuedAt = checkInstant(v.issuedAt, "issuedAt");
  return {
    region: v.region as string,
    storedIn: v.storedIn as string,
    url: v.url as string,
    keys,
    issuedAt,
  };
}

function checkValidity(value: unknown, where: string): RegionKeyValidity {
  if (typeof value !== "object" || value === null || Array.isArray(value)) invalid(`${where}: not an object`);
  const v = value as Record<string, unknown>;
  if (typeof v.publicKey !== "string" || !KEY_32.test(v.publicKey))
    invalid(`${where}.publicKey: not a raw 32-byte key, base64url`);
  if (v.kid !== regionKeyId(v.publicKey as string)) invalid(`${where}.kid: not the id of its publicKey`);
  const notBefore = checkInstant(v.notBefore, `${where}.notBefore`);
  const notAfter = checkInstant(v.notAfter, `${where}.notAfter`);
  if (Date.parse(notAfter) <= Date.parse(notBefore)) invalid(`${where}: notAfter is not after notBefore`);
  return { kid: v.kid as string, publicKey: v.publicKey as string, notBefore, notAfter };
}

function checkRoot(value: unknown, where: string): RootKey {
  if (typeof value !== "object" || value === null) invalid(`${where}: not an object`);
  const v = value as Record<string, unknown>;
  if (typeof v.publicKey !== "string" || !KEY_32.test(v.publicKey))
    invalid(`${where}.publicKey: not a raw 32-byte Ed25519 key, base64url`);
  if (v.kid !== rootKeyId(v.publicKey as string)) invalid(`${where}.kid: not the id of its publicKey`);
  return { kid: v.kid as string, publicKey: v.publicKey as string };
}

function checkInstant(value: unknown, where: string): string {
  if (typeof value !== "string" || !INSTANT.test(value) || Number.isNaN(Date.parse(value)))
    invalid(`${where}: not an RFC 3339 UTC instant`);
  return value as string;
}

function instant(date: Date): string {
  return date.toISOString();
}

function invalid(message: string, cause?: unknown): never {
  throw new SdkError("sdk.descriptor_invalid", message, cause === undefined ? {} : { cause });
}
