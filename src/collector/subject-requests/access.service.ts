/**
 * Access: everything a region holds about one device, with each field's
 * purpose, legal basis and retention. It runs in every region, including those
 * where the device's data should never be: finding nothing there is the answer.
 * With a request id, the region also records and signs an access receipt:
 * counts and digests of what the export holds, never the values.
 */
import { appendAudit } from "../../core/audit-log/index.ts";
import type { Retention } from "../../core/calendar/index.ts";
import type { Db, Queryable } from "../../core/db/index.ts";
import type { Dictionary } from "../../core/dictionary/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import { type ReceiptKeys, signAsRegion } from "../../core/keys/index.ts";
import {
  type DeviceTable,
  type HeldRecord,
  ownerTables,
  type PagePosition,
  type StoredDevice,
} from "../device-data/index.ts";
import { type AccessExport, heldInExport } from "./access.presenter.ts";
import { presentAccessReceipt } from "./access-receipt.presenter.ts";
import { ACCESS_RECEIPT_JWS_TYPE, type SignedAccessReceipt } from "@phonehome/shared";
import {
  findAccessRequestDevice,
  insertAccessReceipt,
  lockAccessRequest,
} from "./access-receipt.repository.ts";
import { findErasure } from "./erasure.repository.ts";

/** Where an owner's records are found: the region's device tables, and what reading them needs. */
export interface HeldSource {
  tables: readonly DeviceTable[];
  dictionary: Dictionary;
}

/**
 * Every record this region's store holds about the device, in one answer, in
 * the order of the collector's list (its activation, its diagnostics events
 * oldest first, its last reported build). For support's view and the owner's
 * summary; the owner's export pages instead (`findHeldRecordsPage`).
 */
export async function findHeldRecords(
  q: Queryable,
  source: HeldSource,
  device: StoredDevice,
): Promise<HeldRecord[]> {
  const records: HeldRecord[] = [];
  for (const table of source.tables) {
    if (table.owner) records.push(...(await table.owner.all(q, device, source.dictionary)));
  }
  return records;
}

/** A page of an owner's export: its records, and where the next page of the paged table starts (null: none). */
export interface HeldPage {
  records: HeldRecord[];
  next: PagePosition | null;
}

/**
 * The first page of an owner's export: every record of the tables shown
 * whole (one activation and one last reported build at most), and the first
 * `limit` records of the paged one (diagnostics events, in key order), in the
 * order of the list.
 */
export async function findHeldRecordsPage(
  q: Queryable,
  source: HeldSource,
  device: StoredDevice,
  limit: number,
): Promise<HeldPage> {
  const { paged } = ownerTables(source.tables);
  const records: HeldRecord[] = [];
  let next: PagePosition | null = null;
  for (const table of source.tables) {
    if (table === paged.table) {
      const page = await paged.owner.page(q, device, source.dictionary, null, limit);
      records.push(...page.records);
      next = page.next;
    } else if (table.owner) {
      records.push(...(await table.owner.all(q, device, source.dictionary)));
    }
  }
  return { records, next };
}

/** The device's next `limit` records of the paged table after `after`, for the export's following pages. */
export async function findHeldEventsPage(
  q: Queryable,
  source: HeldSource,
  device: StoredDevice,
  after: PagePosition,
  limit: number,
): Promise<HeldPage> {
  return ownerTables(source.tables).paged.owner.page(q, device, source.dictionary, after, limit);
}

/**
 * The keys of every record of the paged table as the export shows them
 * (event id, expiry): what an access receipt counts and digests, whichever
 * pages the owner reads.
 */
export async function findHeldEventKeys(
  q: Queryable,
  source: HeldSource,
  device: StoredDevice,
): Promise<string[][]> {
  return ownerTables(source.tables).paged.owner.keys(q, device);
}

/** What issuing an access receipt needs from its region. */
export interface AccessReceiptContext {
  db: Db;
  region: { id: string; storedIn: string };
  /** The region's receipt keys: a receipt is signed with the one in force. */
  receipts: ReceiptKeys;
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
  owner: { device: { deviceKey: string }; tokenId: string },
  data: AccessExport,
  requestId: string,
  clock: () => Date = () => new Date(),
  eventKeys?: readonly (readonly string[])[],
): Promise<SignedAccessReceipt> {
  const deviceKey = owner.device.deviceKey;
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
    const key = ctx.receipts.current();
    const receipt = presentAccessReceipt({
      requestId,
      region: ctx.region,
      deviceKeyId: deviceKey,
      accessedAt: now,
      signingKid: key.kid,
      ownerTokenId: owner.tokenId,
      held,
    });
    const jws = await signAsRegion(receipt, key, ACCESS_RECEIPT_JWS_TYPE);
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
