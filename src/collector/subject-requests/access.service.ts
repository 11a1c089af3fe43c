/**
 * Access: everything a region holds about one device, with each field's
 * purpose, legal basis and retention. It runs in every region, including those
 * where the device's data should never be: finding nothing there is the answer.
 * With a request id, the region also records and signs an access receipt:
 * counts and digests of what the export holds, never the values.
 */
import { appendAudit } from "../../core/audit-log/index.ts";
import type { Retention } from "../../core/calendar/index.ts";
import { findActivations, type StoredActivation } from "../activation/index.ts";
import type { Db, Queryable } from "../../core/db/index.ts";
import { findDeviceBuild } from "../update-check/index.ts";
import {
  deviceRef,
  type EventPosition,
  findDiagnosticsEventKeys,
  findDiagnosticsEvents,
  findDiagnosticsEventsPage,
  type StoredDiagnosticsEvent,
} from "../diagnostics/index.ts";
import type { Dictionary } from "../../core/dictionary/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import type { RegionSigningKey } from "../../core/keys/index.ts";
import { type AccessExport, heldInExport } from "./access.presenter.ts";
import { presentAccessReceipt } from "./access-receipt.presenter.ts";
import { ACCESS_RECEIPT_JWS_TYPE, type SignedAccessReceipt } from "@phonehome/shared";
import type { HeldRecord } from "./held-record.ts";

export type { HeldRecord } from "./held-record.ts";
import {
  findAccessRequestDevice,
  insertAccessReceipt,
  lockAccessRequest,
} from "./access-receipt.repository.ts";
import { findErasure } from "./erasure.repository.ts";
import { signReceipt } from "./erasure.service.ts";

function activationRecords(dictionary: Dictionary, activations: readonly StoredActivation[]): HeldRecord[] {
  return activations.map((a) => ({
    collection: dictionary.get("activation", a.schemaVersion),
    collectionName: "activation",
    schemaVersion: a.schemaVersion,
    data: a.data,
    storedAt: new Date(a.receivedAt),
    expiresAt: new Date(a.expiresAt),
    facts: {
      activatedAt: new Date(a.activatedAt).toISOString(),
      warrantyUntil: new Date(a.warrantyUntil).toISOString(),
    },
  }));
}

function eventRecords(dictionary: Dictionary, events: readonly StoredDiagnosticsEvent[]): HeldRecord[] {
  return events.map((e) => ({
    collection: dictionary.get(e.collection, e.schemaVersion),
    collectionName: e.collection,
    schemaVersion: e.schemaVersion,
    data: e.data,
    storedAt: new Date(e.receivedAt),
    expiresAt: new Date(e.expiresAt),
    facts: {
      eventId: e.eventId,
      occurredAt: new Date(e.occurredAt).toISOString(),
      consentReceipt: e.consentReceipt,
    },
  }));
}

async function buildRecords(q: Queryable, dictionary: Dictionary, deviceKey: string): Promise<HeldRecord[]> {
  const reported = await findDeviceBuild(q, deviceKey);
  return reported === null
    ? []
    : [
        {
          collection: dictionary.get("update.check", reported.schemaVersion),
          collectionName: "update.check",
          schemaVersion: reported.schemaVersion,
          data: { build: reported.build },
          storedAt: reported.receivedAt,
          expiresAt: reported.expiresAt,
          facts: { batch: reported.batch, market: reported.market },
        },
      ];
}

/**
 * Every record this region's store holds about the device, in one answer: its
 * activation, its diagnostics events (oldest first) and its last reported
 * build. For support's view and the owner's summary; the owner's export pages
 * instead (`findHeldRecordsPage`).
 */
export async function findHeldRecords(
  q: Queryable,
  dictionary: Dictionary,
  deviceKey: string,
  pseudonymSecret: Uint8Array,
): Promise<HeldRecord[]> {
  const activations = await findActivations(q, [deviceKey]);
  const events = await findDiagnosticsEvents(q, deviceRef(pseudonymSecret, deviceKey));
  return [
    ...activationRecords(dictionary, activations),
    ...eventRecords(dictionary, events),
    ...(await buildRecords(q, dictionary, deviceKey)),
  ];
}

/** A page of an owner's export: its records, and where the next page of diagnostics events starts (null: none). */
export interface HeldPage {
  records: HeldRecord[];
  next: EventPosition | null;
}

/**
 * The first page of an owner's export: the device's activation and last
 * reported build (one record each at most), and its first `limit` diagnostics
 * events in key order (event id, then expiry).
 */
export async function findHeldRecordsPage(
  q: Queryable,
  dictionary: Dictionary,
  deviceKey: string,
  pseudonymSecret: Uint8Array,
  limit: number,
): Promise<HeldPage> {
  const activations = await findActivations(q, [deviceKey]);
  const page = await findDiagnosticsEventsPage(q, deviceRef(pseudonymSecret, deviceKey), null, limit);
  return {
    records: [
      ...activationRecords(dictionary, activations),
      ...eventRecords(dictionary, page.events),
      ...(await buildRecords(q, dictionary, deviceKey)),
    ],
    next: page.next,
  };
}

/** The device's next `limit` diagnostics events after `after`, for the export's following pages. */
export async function findHeldEventsPage(
  q: Queryable,
  dictionary: Dictionary,
  deviceKey: string,
  pseudonymSecret: Uint8Array,
  after: EventPosition,
  limit: number,
): Promise<HeldPage> {
  const page = await findDiagnosticsEventsPage(q, deviceRef(pseudonymSecret, deviceKey), after, limit);
  return { records: eventRecords(dictionary, page.events), next: page.next };
}

/**
 * The keys of every diagnostics event of the device as the export shows them
 * (event id, expiry): what an access receipt counts and digests, whichever
 * pages the owner reads.
 */
export async function findHeldEventKeys(
  q: Queryable,
  deviceKey: string,
  pseudonymSecret: Uint8Array,
): Promise<string[][]> {
  const keys = await findDiagnosticsEventKeys(q, deviceRef(pseudonymSecret, deviceKey));
  return keys.map((k) => [k.eventId, new Date(k.expiresAt).toISOString()]);
}

/** What issuing an access receipt needs from its region. */
export interface AccessReceiptContext {
  db: Db;
  region: { id: string; storedIn: string };
  signingKey: RegionSigningKey;
  /** How long the receipts and records this writes are kept (`retention.records`). */
  recordsRetention: Retention;
}

/**
 * Records and signs the receipt of an access request over the export the
 * region made for it: per collection, the count and the digest of the keys the
 * export shows, and when. Each call issues a new receipt over what is held
 * then (an export fetched again with the same request id gets its own). A
 * request id already used for another device is refused with
 * `subject_request.conflict`. `eventKeys`, the keys of every diagnostics event
 * held (`findHeldEventKeys`), replaces the events of `data` when it shows one
 * page of them only.
 */
export async function issueAccessReceipt(
  ctx: AccessReceiptContext,
  owner: { device: { keyId: string }; tokenId: string },
  data: AccessExport,
  requestId: string,
  clock: () => Date = () => new Date(),
  eventKeys?: readonly (readonly string[])[],
): Promise<SignedAccessReceipt> {
  const deviceKey = owner.device.keyId;
  return ctx.db.transaction(async (tx) => {
    // An erasure of the same id takes this lock too: a request id is one device's, whatever its kind.
    await lockAccessRequest(tx, requestId);
    const first =
      (await findAccessRequestDevice(tx, requestId)) ?? (await findErasure(tx, requestId))?.deviceKey;
    if (first !== undefined && first !== deviceKey) {
      throw new PhoneHomeError(
        "subject_request.conflict",
        `request id ${requestId} was used for another device; use a new request id`,
        { path: "/querystring/requestId" },
      );
    }
    const now = clock();
    const held = heldInExport(data, eventKeys);
    const receipt = presentAccessReceipt({
      requestId,
      region: ctx.region,
      deviceKeyId: deviceKey,
      accessedAt: now,
      signingKid: ctx.signingKey.kid,
      ownerTokenId: owner.tokenId,
      held,
    });
    const jws = await signReceipt(receipt, ctx.signingKey, ACCESS_RECEIPT_JWS_TYPE);
    await insertAccessReceipt(tx, {
      requestId,
      deviceKey,
      accessedAt: now,
      held,
      jws,
      expiresAt: ctx.recordsRetention.expiresAt(now),
    });
    // Last before the commit: the audit lock (one per store) is held only for the append and the commit.
    await appendAudit(
      tx,
      {
        actor: `owner:${deviceKey}`,
        action: "subject_request.access",
        subject: requestId,
        reason: null,
        detail: { held: Object.fromEntries(held.map((h) => [h.collection, h.count])) },
      },
      now,
    );
    return { receipt, jws };
  });
}
