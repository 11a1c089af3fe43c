/**
 * A region's keys in its store: the first keys at a first start (imported
 * from the key files of an older data directory, or generated), rotations of
 * the seal key under the fleet root's signature, rotations of the receipt
 * key, and the record of keys that ended. Every step is in the region's audit
 * log, appended in the transaction that makes it.
 *
 * A seal-key rotation has two halves so that the root's private key never
 * reaches a server: `prepareRotation` makes the next key (pending: no replica
 * opens with it or publishes it) and answers the descriptor statement to
 * sign; `publishDescriptor` takes the JWS the root signed offline, checks it
 * verifies under the root in use and states exactly what was prepared, and
 * only then publishes the key and the descriptor together.
 */
import {
  type RegionDescriptorStatement,
  type RegionKeyValidity,
  type RootSigner,
  signRegionDescriptor,
  verifyRegionDescriptor,
} from "@phonehome/sdk";
import { decodeProtectedHeader } from "jose";
import { appendAudit, currentActor } from "../../core/audit-log/index.ts";
import type { Db, Queryable } from "../../core/db/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import {
  embeddedRoot,
  existingKeyFiles,
  type FleetTrust,
  generateReceiptKeyPair,
  generateSealKeyPair,
  loadFleetTrust,
  type RawKeyPair,
  rootInUse,
  wrapPrivateKey,
} from "../../core/keys/index.ts";
import {
  currentDescriptor,
  deletePendingKeys,
  insertRegionKey,
  type KeyPurpose,
  listRegionKeys,
  lockRegionKeys,
  markEndedKeys,
  publishKey,
  setKeyEnd,
  type StoredKey,
  storeDescriptor,
} from "./region-keys.repository.ts";

/** What the region's key steps need. */
export interface RegionKeysContext {
  db: Db;
  region: { id: string; storedIn: string };
  /** The collector's base URL, as the descriptor states it. */
  url: () => string;
  /** Where the fleet trust (and, in the embedded default, the root key) lives. */
  dataDir: string;
  /** The key-wrapping secret of the region (core/keys key-wrap.ts). */
  wrapSecret: Buffer;
  /** Lifetime, overlap and start delay of new keys, in milliseconds. */
  policy: { lifetimeMs: number; overlapMs: number; startsInMs: number };
}

/** The statement to sign, and the key a rotation prepared (absent when the current set is re-signed). */
export interface PreparedStatement {
  statement: RegionDescriptorStatement;
  kid?: string;
}

const AUDIT_SUBJECT = "region-keys";

/**
 * At a start: gives the region its first keys when it has none — the key
 * files of the data directory when an older version left them (an upgrade
 * keeps its keys), fresh ones otherwise. Replicas starting at once agree (the
 * region's key lock). Answers what it did.
 */
export async function ensureRegionKeys(
  ctx: RegionKeysContext,
  now = new Date(),
): Promise<{ seal: "kept" | "imported" | "generated"; receipts: "kept" | "imported" | "generated" }> {
  const files = existingKeyFiles(ctx.dataDir, ctx.region.id);
  return ctx.db.transaction(async (tx) => {
    await lockRegionKeys(tx);
    const keys = await listRegionKeys(tx);
    const has = (purpose: KeyPurpose) => keys.some((k) => k.purpose === purpose && k.status === "published");
    const first = async (purpose: KeyPurpose, file: RawKeyPair | undefined) => {
      if (has(purpose)) return "kept" as const;
      const pair = file ?? (purpose === "seal" ? generateSealKeyPair(now) : generateReceiptKeyPair(now));
      // An imported key started when its file was made; its end is counted from the upgrade, not from then.
      await insertKey(tx, ctx, purpose, pair, {
        notBefore: file === undefined ? now : pair.createdAt,
        notAfter: purpose === "seal" ? new Date(now.getTime() + endAfter(ctx)) : null,
        status: "published",
      });
      const how = file === undefined ? ("generated" as const) : ("imported" as const);
      await audit(tx, `keys.${how}`, { purpose, kid: pair.kid, status: "published" });
      return how;
    };
    return { seal: await first("seal", files.seal), receipts: await first("receipts", files.receipts) };
  });
}

/** A new seal key lasts its lifetime, then the overlap a rotation would give it. */
function endAfter(ctx: RegionKeysContext): number {
  return ctx.policy.lifetimeMs + ctx.policy.overlapMs;
}

async function insertKey(
  tx: Queryable,
  ctx: RegionKeysContext,
  purpose: KeyPurpose,
  pair: RawKeyPair,
  v: { notBefore: Date; notAfter: Date | null; status: StoredKey["status"]; statement?: object },
): Promise<void> {
  await insertRegionKey(tx, {
    purpose,
    kid: pair.kid,
    publicKey: pair.publicKey,
    sealedPrivate: wrapPrivateKey(
      ctx.wrapSecret,
      { region: ctx.region.id, purpose, kid: pair.kid },
      pair.privateKey,
    ),
    notBefore: v.notBefore,
    notAfter: v.notAfter,
    status: v.status,
    statement: v.statement ?? null,
  });
}

async function audit(
  tx: Queryable,
  action: string,
  detail: Record<string, unknown>,
  reason: string | null = null,
) {
  await appendAudit(tx, { actor: currentActor(), action, subject: AUDIT_SUBJECT, reason, detail });
}

/** The published seal keys that have not ended at `now`, oldest start first. */
function liveSealKeys(keys: readonly StoredKey[], now: Date): RegionKeyValidity[] {
  return keys
    .filter(
      (k) => k.purpose === "seal" && k.status === "published" && (k.notAfter?.getTime() ?? 0) > now.getTime(),
    )
    .map((k) => validity(k.kid, k.publicKey, k.notBefore, k.notAfter ?? now));
}

function validity(kid: string, publicKey: string, notBefore: Date, notAfter: Date): RegionKeyValidity {
  return { kid, publicKey, notBefore: notBefore.toISOString(), notAfter: notAfter.toISOString() };
}

function statementOf(
  ctx: RegionKeysContext,
  keys: RegionKeyValidity[],
  now: Date,
): RegionDescriptorStatement {
  return {
    region: ctx.region.id,
    storedIn: ctx.region.storedIn,
    url: ctx.url(),
    keys: [...keys].sort((a, b) => Date.parse(a.notBefore) - Date.parse(b.notBefore)),
    issuedAt: now.toISOString(),
  };
}

/** The statement of the current set, to re-sign (a first descriptor, a new root, a new URL). */
export async function currentStatement(ctx: RegionKeysContext, now = new Date()): Promise<PreparedStatement> {
  return { statement: statementOf(ctx, liveSealKeys(await listRegionKeys(ctx.db), now), now) };
}

/**
 * Makes the next seal key, pending, starting `startsInMs` from now; the key
 * that started last before it ends `overlapMs` after the new one starts.
 * Answers the statement the root must sign. A rotation prepared before and
 * never signed is replaced.
 */
export async function prepareRotation(
  ctx: RegionKeysContext,
  options: { startsInMs?: number; overlapMs?: number } = {},
  now = new Date(),
): Promise<Required<PreparedStatement>> {
  const startsInMs = options.startsInMs ?? ctx.policy.startsInMs;
  const overlapMs = options.overlapMs ?? ctx.policy.overlapMs;
  const pair = generateSealKeyPair(now);
  const notBefore = new Date(now.getTime() + startsInMs);
  return ctx.db.transaction(async (tx) => {
    await lockRegionKeys(tx);
    const dropped = await deletePendingKeys(tx, "seal");
    const live = liveSealKeys(await listRegionKeys(tx), now);
    const previous = live.at(-1);
    const keys = live.map((k) => {
      if (k !== previous) return k;
      // Exactly the overlap after the next starts: later than it was signed when a rotation comes late.
      const end = notBefore.getTime() + overlapMs;
      return { ...k, notAfter: new Date(Math.max(end, Date.parse(k.notBefore) + 1000)).toISOString() };
    });
    keys.push(validity(pair.kid, pair.publicKey, notBefore, new Date(notBefore.getTime() + endAfter(ctx))));
    const statement = statementOf(ctx, keys, now);
    await insertKey(tx, ctx, "seal", pair, {
      notBefore,
      notAfter: new Date(notBefore.getTime() + endAfter(ctx)),
      status: "pending",
      statement,
    });
    await audit(tx, "keys.generated", {
      purpose: "seal",
      kid: pair.kid,
      status: "pending",
      notBefore: notBefore.toISOString(),
      previous: previous?.kid ?? null,
      ...(dropped.length > 0 ? { replacedPending: dropped } : {}),
    });
    return { statement, kid: pair.kid };
  });
}

/**
 * Publishes a descriptor the fleet root signed: it must verify under the
 * root in use (the last of this data directory's fleet trust) and state
 * exactly what was prepared — the pending rotation's statement when it lists
 * the pending key, else the current set. Then, in one transaction, the
 * pending key (if any) is published, the previous key's end is set, the
 * descriptor stored, and each step audited. A refusal changes nothing but the
 * audit log (`keys.rotation_refused`).
 */
export async function publishDescriptor(
  ctx: RegionKeysContext,
  jws: string,
  now = new Date(),
): Promise<{ statement: RegionDescriptorStatement; rootKid: string; published?: string }> {
  const trust = await loadFleetTrust(ctx.dataDir);
  const refuse = async (message: string): Promise<never> => {
    await ctx.db.transaction((tx) => audit(tx, "keys.rotation_refused", { rootInUse: rootKid }, message));
    throw new PhoneHomeError("keys.descriptor_refused", message, { path: "/descriptor" });
  };
  const rootKid = (await rootInUse(trust)).kid;
  let statement: RegionDescriptorStatement;
  try {
    statement = await verifyRegionDescriptor(jws, trust.roots, trust.chain);
  } catch (error) {
    return refuse(`the descriptor does not verify under the fleet trust: ${(error as Error).message}`);
  }
  const signer = String(decodeProtectedHeader(jws).kid);
  if (signer !== rootKid) {
    return refuse(`the descriptor is signed by ${signer}, not by the root in use ${rootKid}`);
  }
  type Outcome =
    { refused: string } | { statement: RegionDescriptorStatement; rootKid: string; published?: string };
  const outcome = await ctx.db.transaction(async (tx): Promise<Outcome> => {
    await lockRegionKeys(tx);
    const keys = await listRegionKeys(tx);
    const pending = keys.find((k) => k.purpose === "seal" && k.status === "pending");
    const rotating = pending !== undefined && statement.keys.some((k) => k.kid === pending.kid);
    const expected = rotating
      ? (pending.statement as RegionDescriptorStatement)
      : statementOf(ctx, liveSealKeys(keys, now), now);
    const problem = differences(expected, statement);
    if (problem !== null) {
      await audit(tx, "keys.rotation_refused", { rootInUse: rootKid, signer }, problem);
      return { refused: problem };
    }
    const before = await currentDescriptor(tx);
    if (before !== null && Date.parse(statement.issuedAt) < before.issuedAt.getTime()) {
      const message = `the descriptor was issued at ${statement.issuedAt}, before the one in force (${before.issuedAt.toISOString()})`;
      await audit(tx, "keys.rotation_refused", { rootInUse: rootKid, signer }, message);
      return { refused: message };
    }
    if (rotating) await publishKey(tx, "seal", pending.kid);
    for (const k of statement.keys) await setKeyEnd(tx, k.kid, new Date(k.notAfter));
    await storeDescriptor(tx, { jws, rootKid, issuedAt: new Date(statement.issuedAt) });
    if (rotating) await audit(tx, "keys.published", { purpose: "seal", kid: pending.kid });
    await audit(tx, "keys.descriptor_published", {
      root: rootKid,
      issuedAt: statement.issuedAt,
      keys: statement.keys.map((k) => ({ kid: k.kid, notBefore: k.notBefore, notAfter: k.notAfter })),
    });
    if (before !== null && before.rootKid !== rootKid) {
      await audit(tx, "keys.root_rolled", { from: before.rootKid, to: rootKid });
    }
    return { statement, rootKid, ...(rotating ? { published: pending.kid } : {}) };
  });
  // The refusal's audit entry is committed with nothing else; only then is it answered.
  if ("refused" in outcome) {
    throw new PhoneHomeError("keys.descriptor_refused", outcome.refused, { path: "/descriptor" });
  }
  return outcome;
}

/** What differs between the statement prepared and the one signed, or null when they state the same. */
function differences(expected: RegionDescriptorStatement, signed: RegionDescriptorStatement): string | null {
  for (const field of ["region", "storedIn", "url"] as const) {
    if (expected[field] !== signed[field]) {
      return `the descriptor states ${field} ${signed[field]}, not ${expected[field]}`;
    }
  }
  const text = (keys: readonly RegionKeyValidity[]) =>
    keys
      .map((k) => `${k.kid} ${k.publicKey} ${Date.parse(k.notBefore)} ${Date.parse(k.notAfter)}`)
      .sort()
      .join("\n");
  if (text(expected.keys) !== text(signed.keys)) {
    return `the descriptor lists keys ${signed.keys.map((k) => k.kid).join(", ")} or validities other than the ${expected.keys.length} prepared (${expected.keys.map((k) => k.kid).join(", ")})`;
  }
  return null;
}

/** Signs a statement with a root key at hand (the embedded default's) and publishes it. */
export async function signAndPublish(
  ctx: RegionKeysContext,
  prepared: PreparedStatement,
  root: RootSigner,
  now = new Date(),
): Promise<{ statement: RegionDescriptorStatement; rootKid: string; published?: string }> {
  return publishDescriptor(ctx, await signRegionDescriptor(prepared.statement, root), now);
}

/** The embedded default's root when it is the root in use (so this process may sign), else undefined. */
export async function usableEmbeddedRoot(dataDir: string): Promise<RootSigner | undefined> {
  const root = embeddedRoot(dataDir);
  if (root === undefined) return undefined;
  const trust: FleetTrust = await loadFleetTrust(dataDir);
  return (await rootInUse(trust)).kid === root.kid ? root : undefined;
}

/**
 * Re-signs the descriptor with the embedded root when none is stored or the
 * stored one no longer states the region as it is (its URL, its live keys);
 * answers whether it published. Without the embedded root, nothing is done.
 */
export async function refreshDescriptor(
  ctx: RegionKeysContext,
  stored: RegionDescriptorStatement | null,
  now = new Date(),
): Promise<boolean> {
  const current = await currentStatement(ctx, now);
  if (stored !== null && differences(current.statement, stored) === null) return false;
  const root = await usableEmbeddedRoot(ctx.dataDir);
  if (root === undefined) return false;
  await signAndPublish(ctx, current, root, now);
  return true;
}

/** `refreshDescriptor` against the stored JWS (an unverifiable one counts as none). */
export async function refreshStaleDescriptor(
  ctx: RegionKeysContext,
  storedJws: string | null,
  now = new Date(),
): Promise<boolean> {
  const trust = await loadFleetTrust(ctx.dataDir);
  const stored =
    storedJws === null
      ? null
      : await verifyRegionDescriptor(storedJws, trust.roots, trust.chain).catch(() => null);
  return refreshDescriptor(ctx, stored, now);
}

/** Makes a new receipt key, in force from now; the previous ones stay published (old receipts verify). */
export async function rotateReceiptKey(ctx: RegionKeysContext, now = new Date()): Promise<{ kid: string }> {
  const pair = generateReceiptKeyPair(now);
  await ctx.db.transaction(async (tx) => {
    await lockRegionKeys(tx);
    await insertKey(tx, ctx, "receipts", pair, { notBefore: now, notAfter: null, status: "published" });
    await audit(tx, "keys.generated", { purpose: "receipts", kid: pair.kid, status: "published" });
  });
  return { kid: pair.kid };
}

/** Records (and audits) the seal keys that have ended; answers their kids. */
export async function recordEndedKeys(ctx: RegionKeysContext, now = new Date()): Promise<string[]> {
  return ctx.db.transaction(async (tx) => {
    await lockRegionKeys(tx);
    const ended = await markEndedKeys(tx, now);
    for (const k of ended) {
      await audit(tx, "keys.ended", { purpose: "seal", kid: k.kid, notAfter: k.notAfter.toISOString() });
    }
    return ended.map((k) => k.kid);
  });
}

/** The keys of the region as stored, for `keys list` (no private half). */
export async function listKeys(ctx: RegionKeysContext): Promise<{
  keys: Omit<StoredKey, "sealedPrivate" | "statement">[];
  descriptor: { rootKid: string; issuedAt: Date } | null;
}> {
  const keys = await listRegionKeys(ctx.db);
  const descriptor = await currentDescriptor(ctx.db);
  return {
    keys: keys.map(({ sealedPrivate: _s, statement: _t, ...rest }) => rest),
    descriptor: descriptor === null ? null : { rootKid: descriptor.rootKid, issuedAt: descriptor.issuedAt },
  };
}
