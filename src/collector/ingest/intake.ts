/**
 * The checks every envelope passes before anything of it is stored, in the
 * order that keeps the promises of DESIGN.md:
 *
 *  1. the clear header is well formed and names this endpoint's collection;
 *  2. the device key is one the factory provisioned (or a re-key registered), the
 *     signature verifies (so nobody can raise alerts or fill the ledger in another
 *     device's name), and the key is not revoked;
 *  3. the device's market belongs to this region — if not, the payload is never
 *     opened, nothing is stored, and the refusal is counted and alerted with the
 *     device's batch and build;
 *  4. the collection version is approved and allowed in this region;
 *  5. the seal opens with the region key the header names, if the region has
 *     it and it has not ended (header bound as associated data), and the
 *     payload is a JSON object whose text the store can hold as sent;
 *  6. each record of the payload validates against the approved version:
 *     undeclared fields are refused;
 *  7. it describes the device that signed it;
 *  8. the declared transforms are applied.
 *
 * Every refusal is counted in the ingest ledger before the error is answered.
 */
import type { KeyObject } from "node:crypto";
import { type Envelope, headerBytes, sealInfo, signingInput, verifyBytes } from "@phonehome/sdk";
import { type Config, regionOfMarket } from "../../core/config/index.ts";
import { importEd25519PublicKey, openBase, type RecipientKey } from "../../core/crypto/index.ts";
import { asStoreError, isStoreUnavailable } from "../../core/db/index.ts";
import type { CompiledCollection, Dictionary } from "../../core/dictionary/index.ts";
import type { DeviceDirectory, DirectoryRecord } from "../../core/directory/index.ts";
import { type ErrorCode, PhoneHomeError } from "../../core/errors/index.ts";
import { validationProblem } from "../../core/http/index.ts";
import { findUnstorableText } from "../../core/http/index.ts";
import { countableHeader } from "./envelope.schema.ts";
import type { MisroutingSighting } from "./ledger.repository.ts";
import type { LedgerContext, RefusalItem, RegionWriter } from "./region-writer.ts";

/** Everything a region's collector needs to take envelopes in. */
export interface IntakeContext {
  region: { id: string; storedIn: string };
  /** The region's seal keys as this replica holds them (collector/region-keys' RegionKeyRing). */
  keys: SealKeys;
  pseudonymSecret: Buffer;
  policy: Config["policy"];
  maxClockSkewSeconds: number;
  /** Largest body an envelope route reads, in bytes (`ingest.maxBodyBytes`). */
  maxBodyBytes: number;
  dictionary: Dictionary;
  directory: DeviceDirectory;
  writer: RegionWriter;
  /**
   * For a consent purpose: the notice versions whose "yes" still covers the
   * current notice (a wider new notice needs a new yes), or null when no notice
   * asks for that consent.
   */
  consentPolicy: (purpose: string) => number[] | null;
}

/** The region's seal keys, as the intake opens with them. */
export interface SealKeys {
  /** The key devices seal to now. */
  readonly kid: string;
  readonly publicKey: string;
  /** The key an envelope names: open (published, not ended), ended, or unknown to this replica. */
  lookup(
    kid: string,
    now: Date,
  ):
    | { kind: "open"; key: { recipient: RecipientKey; notAfter: Date } }
    | { kind: "ended"; key: { notAfter: Date } }
    | { kind: "unknown" };
  /** Reloads the set from the store (rate-limited), for a kid just published by another replica. */
  reloadForUnknown(): Promise<void>;
}

/** Which collections an endpoint takes, and how to name them in a refusal. */
export interface EndpointCollections {
  label: string;
  takes: (collection: string, schemaVersion: number) => boolean;
}

/** An envelope whose seal opened: checks 1-5 passed, the payload is a JSON object not yet validated. */
export interface OpenedEnvelope {
  envelope: Envelope;
  device: DirectoryRecord;
  collection: CompiledCollection;
  payload: Record<string, unknown>;
  ledger: LedgerContext;
  /** Counts a refusal in the ledger, then throws its error. */
  refuse: (code: ErrorCode, message: string, path?: string) => Promise<never>;
}

/** An envelope that passed every check: its device, its collection version, and the payload to store. */
export interface AcceptedEnvelope {
  envelope: Envelope;
  device: DirectoryRecord;
  collection: CompiledCollection;
  /** The payload after validation and transforms: only declared fields. */
  data: Record<string, unknown>;
  /** The payload as validated, before transforms (never stored). */
  validated: Record<string, unknown>;
  ledger: LedgerContext;
}

const keyCache = new Map<string, KeyObject>();

/** The device's public key, imported once per key (a malformed one is null: nothing can verify under it). */
async function devicePublicKey(record: DirectoryRecord): Promise<KeyObject | null> {
  let key = keyCache.get(record.publicKey);
  if (!key) {
    try {
      key = await importEd25519PublicKey(record.publicKey);
    } catch {
      return null;
    }
    if (keyCache.size > 100_000) keyCache.clear();
    keyCache.set(record.publicKey, key);
  }
  return key;
}

/**
 * Counts a refusal in the ingest ledger. The count never decides the answer:
 * when it cannot be written for a reason of its own, the group committer has
 * kept it from failing anyone else's write and reported it, and the sender is
 * still told why it was refused. Only a store that cannot be reached answers
 * instead (503), so that the device sends it again and it is counted then.
 */
async function countRefusal(ctx: IntakeContext, item: RefusalItem): Promise<void> {
  try {
    await ctx.writer.submit(item);
  } catch (error) {
    if (isStoreUnavailable(error)) throw asStoreError(error);
  }
}

/**
 * Counts an envelope whose clear header failed its schema (check 1) with what
 * of it the schema allows (`countableHeader`), and returns the error to answer.
 */
export async function refuseMalformedEnvelope(
  ctx: IntakeContext,
  body: unknown,
  problem: { path: string; message: string },
): Promise<PhoneHomeError> {
  await countRefusal(ctx, {
    kind: "refusal",
    ledger: {
      outcome: "refused",
      reason: "envelope.invalid",
      ...countableHeader(body),
      batch: "",
      market: "",
    },
  });
  return new PhoneHomeError("envelope.invalid", problem.message, { path: problem.path });
}

/**
 * The envelope of a request whose body Fastify checked against
 * `EnvelopeSchema` with `attachValidation`: a body that failed is counted and
 * answered as `envelope.invalid`, with the offending field's path.
 */
export async function envelopeOf(
  ctx: IntakeContext,
  request: { body: unknown; validationError?: unknown },
): Promise<Envelope> {
  if (request.validationError) {
    const problem = validationProblem(request.validationError) ?? {
      path: "/body",
      message: "invalid envelope",
    };
    const path = problem.path.replace(/^\/body/, "") || "/";
    throw await refuseMalformedEnvelope(ctx, request.body, { path, message: problem.message });
  }
  return request.body as Envelope;
}

/**
 * Runs checks 1-5 on an envelope sent to an endpoint that takes the collections `endpoint` names, and
 * returns the opened payload, a JSON object not yet validated. Throws a
 * PhoneHomeError (after counting the refusal) when a check fails.
 */
export async function openEnvelope(
  ctx: IntakeContext,
  envelope: Envelope,
  endpoint: EndpointCollections,
  now: Date,
): Promise<OpenedEnvelope> {
  const ledger: LedgerContext = {
    collection: envelope.collection,
    schemaVersion: envelope.schemaVersion,
    batch: "",
    build: envelope.build,
    market: "",
  };
  const refuse = async (
    code: ErrorCode,
    message: string,
    path?: string,
    misrouting?: MisroutingSighting,
  ): Promise<never> => {
    const item: RefusalItem = { kind: "refusal", ledger: { ...ledger, outcome: "refused", reason: code } };
    if (misrouting) item.misrouting = misrouting;
    await countRefusal(ctx, item);
    throw new PhoneHomeError(code, message, path === undefined ? {} : { path });
  };

  if (!endpoint.takes(envelope.collection, envelope.schemaVersion)) {
    return refuse(
      "envelope.collection_mismatch",
      `this endpoint takes ${endpoint.label}, not ${envelope.collection}`,
      "/collection",
    );
  }
  const sentAt = Date.parse(envelope.sentAt);
  if (sentAt - now.getTime() > ctx.maxClockSkewSeconds * 1000) {
    return refuse("envelope.stale", `sentAt ${envelope.sentAt} lies in the future`, "/sentAt");
  }

  const device = await ctx.directory.lookup(envelope.device);
  if (!device) return refuse("device.unknown", "no device was provisioned with this key", "/device");
  const publicKey = await devicePublicKey(device);
  if (publicKey === null || !verifyBytes(signingInput(envelope), envelope.sig, publicKey)) {
    return refuse("signature.invalid", "the signature does not verify against the device's key", "/sig");
  }
  ledger.batch = device.batch;
  ledger.market = device.market;
  // After the signature: only the key's holder can have its refusals counted against its batch.
  if (device.revoked !== null) {
    return refuse(
      "device.revoked",
      `this device key was revoked on ${device.revoked.at} (${device.revoked.reason}); nothing was stored`,
      "/device",
    );
  }

  const home = regionOfMarket({ policy: ctx.policy }, device.market);
  if (home !== ctx.region.id || envelope.region !== ctx.region.id) {
    const sighting: MisroutingSighting = {
      batch: device.batch,
      build: envelope.build,
      market: device.market,
      expectedRegion: home,
      claimedRegion: envelope.region,
    };
    const message =
      home !== ctx.region.id
        ? `devices sold in ${device.market} belong to region ${home}, not ${ctx.region.id}; nothing was stored`
        : `the device claims home region ${envelope.region}, but devices sold in ${device.market} belong to ${home}; nothing was stored`;
    return refuse("region.misrouted", message, "/region", sighting);
  }

  const collection = ctx.dictionary.get(envelope.collection, envelope.schemaVersion);
  if (!collection) {
    return ctx.dictionary.has(envelope.collection)
      ? refuse(
          "collection.version_unknown",
          `collection ${envelope.collection} has no version ${envelope.schemaVersion}`,
          "/schemaVersion",
        )
      : refuse(
          "collection.unknown",
          `the dictionary has no collection ${envelope.collection}`,
          "/collection",
        );
  }
  if (!collection.approved || !collection.allowedIn(ctx.region.id)) {
    return refuse(
      "collection.unapproved",
      collection.approved
        ? `${envelope.collection} v${envelope.schemaVersion} may not be stored in region ${ctx.region.id}`
        : `${envelope.collection} v${envelope.schemaVersion} is not approved: ${collection.unapprovedBecause}`,
      "/schemaVersion",
    );
  }
  if (collection.expiredAt(now)) {
    return refuse(
      "collection.expired",
      `the approval of ${envelope.collection} v${envelope.schemaVersion} ran out on ${collection.approval?.expires}; ` +
        "its data is refused until a review renews it",
      "/schemaVersion",
    );
  }

  let sealedTo = ctx.keys.lookup(envelope.kid, now);
  if (sealedTo.kind === "unknown") {
    // Published a moment ago by another replica, perhaps: look again (rate-limited), then refuse.
    await ctx.keys.reloadForUnknown();
    sealedTo = ctx.keys.lookup(envelope.kid, now);
  }
  if (sealedTo.kind === "unknown") {
    return refuse(
      "seal.invalid",
      `the payload is sealed to key ${envelope.kid}, which region ${ctx.region.id} does not have; seal to ${ctx.keys.kid}`,
      "/kid",
    );
  }
  if (sealedTo.kind === "ended") {
    return refuse(
      "envelope.key_expired",
      `the payload is sealed to key ${envelope.kid}, which ended at ${sealedTo.key.notAfter.toISOString()}; seal to ${ctx.keys.kid}`,
      "/kid",
    );
  }
  let plaintext: Buffer;
  try {
    plaintext = await openBase(
      sealedTo.key.recipient,
      Buffer.from(envelope.enc, "base64url"),
      sealInfo(ctx.region.id),
      headerBytes(envelope),
      Buffer.from(envelope.ct, "base64url"),
    );
  } catch {
    return refuse("seal.invalid", "the seal does not open with this region's key", "/ct");
  }

  let payload: unknown;
  try {
    payload = JSON.parse(plaintext.toString("utf8"));
  } catch {
    return refuse("payload.malformed", "the opened payload is not JSON", "/ct");
  }
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) {
    return refuse("payload.malformed", "the opened payload is not a JSON object", "/ct");
  }
  // Checked here, once for every collection, as the boundary checks a request's own text.
  const unstorable = findUnstorableText(payload);
  if (unstorable) {
    const at = `/payload${unstorable.path}`;
    return refuse("payload.invalid", `${at} ${unstorable.problem}`, at);
  }
  return { envelope, device, collection, payload: payload as Record<string, unknown>, ledger, refuse };
}

/**
 * Collections whose `build` field names the build the device runs as it sends
 * (so it must equal the envelope's); a diagnostics event's `build` is the one
 * it was measured on, which may be older.
 */
const BUILD_IS_THE_ENVELOPES: ReadonlySet<string> = new Set(["activation", "update.check"]);

/**
 * Checks 6-8 on one record of an opened envelope: it validates against the
 * approved version (undeclared fields refused), describes the signing device,
 * and is transformed. `at` is the record's JSON pointer, for errors.
 */
export async function admitRecord(
  ctx: IntakeContext,
  opened: OpenedEnvelope,
  record: unknown,
  at: string,
): Promise<{ validated: Record<string, unknown>; data: Record<string, unknown> }> {
  const { collection, device, envelope, refuse } = opened;
  const checked = collection.validate(record);
  if (!checked.ok) {
    const code = checked.problem.kind === "undeclared" ? "payload.undeclared_field" : "payload.invalid";
    return refuse(code, checked.problem.message, `${at}${checked.problem.path}`);
  }
  const validated = checked.value;
  for (const field of ["serial", "model", "variant", "market"] as const) {
    if (field in validated && validated[field] !== device[field]) {
      return refuse(
        "payload.device_mismatch",
        `the payload's ${field} differs from the factory record of the signing device`,
        `${at}/${field}`,
      );
    }
  }
  if (
    BUILD_IS_THE_ENVELOPES.has(collection.name) &&
    "build" in validated &&
    validated.build !== envelope.build
  ) {
    return refuse(
      "payload.device_mismatch",
      "the payload's build differs from the envelope's",
      `${at}/build`,
    );
  }
  const data = collection.transform(validated, {
    region: ctx.region.id,
    pseudonymSecret: ctx.pseudonymSecret,
  });
  return { validated, data };
}

/** Checks 1-8 on an envelope whose payload is one record (an activation). */
export async function admitEnvelope(
  ctx: IntakeContext,
  envelope: Envelope,
  collectionName: string,
  now: Date,
): Promise<AcceptedEnvelope> {
  const opened = await openEnvelope(
    ctx,
    envelope,
    { label: `collection ${collectionName}`, takes: (name) => name === collectionName },
    now,
  );
  const { validated, data } = await admitRecord(ctx, opened, opened.payload, "/payload");
  return {
    envelope,
    device: opened.device,
    collection: opened.collection,
    data,
    validated,
    ledger: opened.ledger,
  };
}
