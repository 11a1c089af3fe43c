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
import type { Retention } from "../../core/calendar/index.ts";
import { randomUUID } from "node:crypto";
import type { Db, Queryable } from "../../core/db/index.ts";
import type { Dictionary } from "../../core/dictionary/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import { type ReceiptKeys, type RegionSigningKey, signAsRegion } from "../../core/keys/index.ts";
import { presentErasureReceipt } from "./erasure.presenter.ts";
import {
  type DeletedEntry,
  ERASURE_RECEIPT_JWS_TYPE,
  type ErasureReceipt,
  type KeptEntry,
  type SignedErasureReceipt,
} from "@phonehome/shared";
import { type ErasureEpoch, erasureEpochOf } from "../../core/owners/index.ts";
import { type DeviceTable, deviceRef } from "../device-data/index.ts";
import { findAccessRequestDevice, lockAccessRequest } from "./access-receipt.repository.ts";
import { findDeviceErasures, findErasure, insertErasure, lockErasureRequest } from "./erasure.repository.ts";

/** What erasure needs from its region. */
export interface ErasureContext {
  db: Db;
  region: { id: string; storedIn: string };
  dictionary: Dictionary;
  /** The region's device tables: each says what an erasure deletes from it and what it keeps. */
  tables: readonly DeviceTable[];
  /** The region's pseudonymisation secret: diagnostics are stored under `deviceRef(secret, key)`. */
  pseudonymSecret: Uint8Array;
  /** The region's receipt keys: a receipt is signed with the one in force. */
  receipts: ReceiptKeys;
  /** How long the receipts and records this writes are kept (`retention.records`). */
  recordsRetention: Retention;
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
  owner: { device: { deviceKey: string }; tokenId: string; issuedAt: Date },
  requestId: string = randomUUID(),
  clock: () => Date = () => new Date(),
): Promise<SignedErasureReceipt> {
  const deviceKey = owner.device.deviceKey;
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
    const scope = {
      device: { key: deviceKey, ref: deviceRef(ctx.pseudonymSecret, deviceKey) },
      now,
      dictionary: ctx.dictionary,
      recordsRetention: ctx.recordsRetention,
    };
    // Each table, in the list's order (the order the writer takes its locks in), deletes what the owner may
    // have deleted and says what it keeps and why.
    const deleted: DeletedEntry[] = [];
    const kept: KeptEntry[] = [];
    for (const table of ctx.tables) {
      if (!table.erase) continue;
      const outcome = await table.erase(tx, scope);
      deleted.push(...outcome.deleted);
      kept.push(...outcome.kept);
    }
    const key = ctx.receipts.current();
    const receipt = presentErasureReceipt({
      requestId,
      region: ctx.region,
      deviceKeyId: deviceKey,
      erasedAt: now,
      signingKid: key.kid,
      ownerTokenId: owner.tokenId,
      deleted,
      kept,
    });
    const jws = await signErasureReceipt(receipt, key);
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

/** Signs an erasure receipt as a compact JWS (EdDSA) whose payload is the receipt's JSON. */
export async function signErasureReceipt(receipt: ErasureReceipt, key: RegionSigningKey): Promise<string> {
  return signAsRegion(receipt, key, ERASURE_RECEIPT_JWS_TYPE);
}
