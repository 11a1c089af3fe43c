/**
 * Erasure, per region: in one transaction, delete what the owner may have
 * deleted (every diagnostics event of the device; an activation whose
 * retention has run out) and keep what the contract or a legal obligation
 * requires (the warranty record until its retention ends; consent decisions
 * and their history as proof of consent), and answer a receipt the region
 * signs. Every region runs it, including those that should hold nothing: a
 * receipt that found nothing there is the check.
 */
import { appendAudit } from "../../core/audit-log/index.ts";
import { findDeviceNotices } from "../device-notices/index.ts";
import type { Retention } from "../../core/calendar/index.ts";
import { createHash, randomUUID } from "node:crypto";
import { CompactSign } from "jose";
import { findActivations } from "../activation/index.ts";
import type { Db, Queryable } from "../../core/db/index.ts";
import { eraseDeviceBuild } from "../update-check/index.ts";
import { deviceRef } from "../diagnostics/index.ts";
import type { Dictionary } from "../../core/dictionary/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import type { RegionSigningKey } from "../../core/keys/index.ts";
import { presentErasureReceipt } from "./erasure.presenter.ts";
import {
  type DeletedEntry,
  ERASURE_RECEIPT_JWS_TYPE,
  type ErasureReceipt,
  type KeptEntry,
  type SignedErasureReceipt,
} from "@phonehome/shared";
import { type ErasureEpoch, erasureEpochOf } from "../../core/owners/index.ts";
import { findAccessRequestDevice, lockAccessRequest } from "./access-receipt.repository.ts";
import {
  countConsentRecords,
  findDeviceErasures,
  eraseDiagnosticsEventKeys,
  eraseExpiredActivations,
  findErasure,
  insertErasure,
  lockErasureRequest,
} from "./erasure.repository.ts";

/** What erasure needs from its region. */
export interface ErasureContext {
  db: Db;
  region: { id: string; storedIn: string };
  dictionary: Dictionary;
  /** The region's pseudonymisation secret: diagnostics are stored under `deviceRef(secret, key)`. */
  pseudonymSecret: Uint8Array;
  signingKey: RegionSigningKey;
  /** How long the receipts and records this writes are kept (`retention.records`). */
  recordsRetention: Retention;
}

/** Why the warranty record survives an erasure request (GDPR Art. 17(3)(b) and (e)). */
export const WARRANTY_REASON =
  "warranty record: the warranty that activation started, and claims under it, must be honoured until its retention ends; " +
  "it is deleted then (GDPR Art. 6(1)(b); Art. 17(3)(b) and (e))";
/** Why the decisions in force survive an erasure request; `records` is `retention.records` (e.g. `P3Y`). */
export function consentsReason(records: string): string {
  return (
    "proof of consent: the controller must be able to show that the owner consented, and to which notice (GDPR Art. 7(1)); " +
    `kept while it is the decision in force, then for ${records} after a later decision replaces it; no payload is kept with it`
  );
}

/** Why the consent history survives an erasure request. */
export function consentHistoryReason(records: string): string {
  return (
    "proof of consent: every decision with the signed receipt the owner was given (GDPR Art. 7(1)); " +
    `each is kept for ${records} after a later decision replaced it (the one in force, until then); no payload is kept with it`
  );
}

/**
 * SHA-256 over one line per deleted row's key: `collection`, then the key
 * fields, tab-separated, each line ending in `\n`, the lines sorted byte-wise.
 * The key fields are those the access export shows, so an owner who kept an
 * earlier export can recompute it.
 */
export function keysDigest(collection: string, keys: readonly (readonly string[])[]): string {
  const lines = keys.map((k) => `${[collection, ...k].join("\t")}\n`);
  // Keys are ASCII (uuids, key ids, ISO times), so code-unit order is byte order.
  lines.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const hash = createHash("sha256");
  for (const line of lines) hash.update(line);
  return hash.digest("hex");
}

/** The receipt inside a compact JWS this region signed (for replaying a recorded erasure). */
function payloadOf(jws: string): ErasureReceipt {
  const payload = jws.split(".")[1] ?? "";
  return JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as ErasureReceipt;
}

/**
 * Carries out an owner's erasure request in this region and answers the
 * signed receipt. `requestId` makes it idempotent: a request id already
 * carried out for this device answers the receipt it got then (nothing more
 * is erased); one carried out for another device is refused with
 * `subject_request.conflict`.
 */
export async function eraseHeldData(
  ctx: ErasureContext,
  owner: { device: { keyId: string }; tokenId: string; issuedAt: Date },
  requestId: string = randomUUID(),
  clock: () => Date = () => new Date(),
): Promise<SignedErasureReceipt> {
  const deviceKey = owner.device.keyId;
  return ctx.db.transaction(async (tx) => {
    // A request id is one device's, whichever kind of request first used it here: both are held.
    await lockErasureRequest(tx, requestId);
    await lockAccessRequest(tx, requestId);
    const earlier = await findErasure(tx, requestId);
    const accessedFor = await findAccessRequestDevice(tx, requestId);
    if ((earlier !== null && earlier.deviceKey !== deviceKey) || (accessedFor ?? deviceKey) !== deviceKey) {
      throw new PhoneHomeError(
        "subject_request.conflict",
        `request id ${requestId} was used for another device; use a new request id`,
        { path: "/querystring/requestId" },
      );
    }
    if (earlier) return { receipt: payloadOf(earlier.jws), jws: earlier.jws };
    const now = clock();
    const events = await eraseDiagnosticsEventKeys(tx, deviceRef(ctx.pseudonymSecret, deviceKey));
    const expired = await eraseExpiredActivations(tx, deviceKey, now);
    const activations = await findActivations(tx, [deviceKey]);
    const consents = await countConsentRecords(tx, deviceKey);
    const reported = await eraseDeviceBuild(tx, deviceKey);
    const notices = await findDeviceNotices(tx, deviceKey);

    const deleted: DeletedEntry[] = [
      {
        collection: "diagnostics_events",
        count: events.length,
        sha256: keysDigest(
          "diagnostics_events",
          events.map((e) => [e.eventId, e.expiresAt.toISOString()]),
        ),
      },
      {
        collection: "activations",
        count: expired.length,
        sha256: keysDigest(
          "activations",
          expired.map((a) => [a.deviceKey, a.expiresAt.toISOString()]),
        ),
      },
      {
        collection: "device_builds",
        count: reported === null ? 0 : 1,
        sha256: keysDigest(
          "device_builds",
          reported === null ? [] : [[deviceKey, reported.expiresAt.toISOString()]],
        ),
      },
    ];
    const until = activations.reduce<Date | null>((latest, a) => {
      const at = new Date(a.expiresAt);
      return latest === null || at > latest ? at : latest;
    }, null);
    const kept: KeptEntry[] = [
      {
        collection: "activations",
        count: activations.length,
        reason: WARRANTY_REASON,
        // The basis the dictionary declares for the record (activation v1: contract).
        legalBasis:
          ctx.dictionary.get("activation", activations[0]?.schemaVersion ?? 1)?.legalBasis ?? "contract",
        until: until?.toISOString() ?? null,
      },
      // Proof of consent ends only once a later decision replaces it: no date can be given yet (null).
      {
        collection: "consents",
        count: consents.consents,
        reason: consentsReason(ctx.recordsRetention.duration),
        legalBasis: "legal_obligation",
        until: null,
      },
      {
        collection: "consent_history",
        count: consents.history,
        reason: consentHistoryReason(ctx.recordsRetention.duration),
        legalBasis: "legal_obligation",
        until: null,
      },
      {
        collection: "notice_deliveries",
        count: notices.length,
        reason: `notices of incidents sent to the device and when it got them: the proof that the owner was told, kept for ${ctx.recordsRetention.duration} after each was sent; no payload is kept with it`,
        legalBasis: "legal_obligation",
        until: notices.reduce<string | null>(
          (last, n) => (last === null || n.expiresAt > last ? n.expiresAt : last),
          null,
        ),
      },
    ];
    const receipt = presentErasureReceipt({
      requestId,
      region: ctx.region,
      deviceKeyId: deviceKey,
      erasedAt: now,
      signingKid: ctx.signingKey.kid,
      ownerTokenId: owner.tokenId,
      deleted,
      kept,
    });
    const jws = await signErasureReceipt(receipt, ctx.signingKey);
    await insertErasure(tx, {
      requestId,
      deviceKey,
      erasedAt: now,
      deleted,
      kept,
      jws,
      expiresAt: ctx.recordsRetention.expiresAt(now),
      ownerToken: { id: owner.tokenId, issuedAt: owner.issuedAt },
    });
    // Last before the commit: the audit lock (one per store) is held only for the append and the commit.
    await appendAudit(
      tx,
      {
        actor: `owner:${deviceKey}`,
        action: "subject_request.erasure",
        subject: requestId,
        reason: null,
        detail: {
          deleted: Object.fromEntries(deleted.map((d) => [d.collection, d.count])),
          kept: Object.fromEntries(kept.map((k) => [k.collection, k.count])),
        },
      },
      now,
    );
    return { receipt, jws };
  });
}

/** The erasure epoch of a device in this region: owner tokens minted before its last erasure are refused. */
export async function erasureEpoch(db: Queryable, deviceKey: string): Promise<ErasureEpoch | null> {
  return erasureEpochOf(await findDeviceErasures(db, deviceKey));
}

/** Signs a subject-request receipt as a compact JWS (EdDSA) of type `typ` whose payload is the receipt's JSON. */
export async function signReceipt(receipt: object, key: RegionSigningKey, typ: string): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(receipt)))
    .setProtectedHeader({ alg: "EdDSA", kid: key.kid, typ })
    .sign(key.privateKey);
}

/** Signs an erasure receipt as a compact JWS (EdDSA) whose payload is the receipt's JSON. */
export async function signErasureReceipt(receipt: ErasureReceipt, key: RegionSigningKey): Promise<string> {
  return signReceipt(receipt, key, ERASURE_RECEIPT_JWS_TYPE);
}
