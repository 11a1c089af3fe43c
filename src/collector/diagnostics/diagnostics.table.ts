/**
 * The diagnostics_events table, described once: written by the region writer
 * only under a "yes" in force, shown to owners a page at a time, erased whole
 * on an erasure or a withdrawal, expired by month partitions.
 */
import type { Queryable } from "../../core/db/index.ts";
import type { Dictionary } from "../../core/dictionary/index.ts";
import { lockConsentsInForce } from "../consent/index.ts";
import {
  deletedEntry,
  type DeviceTable,
  type HeldRecord,
  type PagedOwnerRecords,
  type WriteStep,
  type Written,
} from "../device-data/index.ts";
import {
  type DiagnosticsRow,
  diagnosticsSavepoint,
  eraseDiagnosticsEvents,
  eventKey,
  findDiagnosticsEventKeys,
  findDiagnosticsEvents,
  findDiagnosticsEventsPage,
  insertDiagnosticsEvents,
  type StoredDiagnosticsEvent,
} from "./diagnostics.repository.ts";

/** A diagnostics batch for the writer: stored only if its device's consent holds inside the storing transaction. */
export interface DiagnosticsWrite {
  deviceKey: string;
  /** The consent purpose the batch needs. */
  purpose: string;
  /** Notice versions whose "yes" is valid for the current notice. */
  noticeVersions: number[];
  rows: Omit<DiagnosticsRow, "consentReceipt">[];
}

/** What the writer answers a batch: whether a "yes" was in force, and how many of its events were new. */
export interface DiagnosticsWritten {
  consented: boolean;
  stored: number;
}

/**
 * Diagnostics in a group commit. The consent in force is read (and
 * share-locked) in the same transaction, so a withdrawal either commits first
 * (and the batch is refused) or waits and erases it.
 */
export const diagnosticsWrites: WriteStep<DiagnosticsWrite, DiagnosticsWritten> = {
  kind: "diagnostics",
  async write(tx, batches): Promise<Written<DiagnosticsWritten>[]> {
    const locking = lockConsentsInForce(
      tx,
      batches.map((b) => ({ deviceKey: b.deviceKey, purpose: b.purpose })),
    );
    // Behind the lock, in the same round trip: the consents' share locks are held through the savepoint.
    const savepoint = diagnosticsSavepoint(tx);
    const consents = await locking;
    const rows: DiagnosticsRow[] = [];
    const consented = new Set<DiagnosticsWrite>();
    for (const b of batches) {
      const consent = consents.get(`${b.deviceKey}\u0000${b.purpose}`);
      if (!consent || !b.noticeVersions.includes(consent.noticeVersion)) continue;
      consented.add(b);
      for (const row of b.rows) rows.push({ ...row, consentReceipt: consent.receiptId });
    }
    const newEvents = await insertDiagnosticsEvents(tx, rows, savepoint);
    return batches.map((b) => {
      if (!consented.has(b)) {
        return { result: { consented: false, stored: 0 }, outcome: "refused", reason: "consent.required" };
      }
      // An event two batches of one flush both carry counts for the first.
      let stored = 0;
      for (const row of b.rows) if (newEvents.delete(eventKey(row))) stored += 1;
      const outcome = stored > 0 ? "stored" : "replayed";
      return { result: { consented: true, stored }, outcome, reason: outcome };
    });
  },
};

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

const ownerEvents: PagedOwnerRecords = {
  async all(q: Queryable, device, dictionary) {
    return eventRecords(dictionary, await findDiagnosticsEvents(q, device.ref));
  },
  async page(q, device, dictionary, after, limit) {
    const page = await findDiagnosticsEventsPage(q, device.ref, after, limit);
    return { records: eventRecords(dictionary, page.events), next: page.next };
  },
  async keys(q, device) {
    const keys = await findDiagnosticsEventKeys(q, device.ref);
    return keys.map((k) => [k.eventId, new Date(k.expiresAt).toISOString()]);
  },
};

export const diagnosticsEventsTable: DeviceTable = {
  name: "diagnostics_events",
  holds: "collected",
  // Every collection that is neither an activation nor an update check is consent-based diagnostics.
  stores: (collection) => collection !== "activation" && collection !== "update.check",
  write: diagnosticsWrites,
  owner: ownerEvents,
  async erase(tx, { device }) {
    const events = await eraseDiagnosticsEvents(tx, device.ref);
    return {
      deleted: [
        deletedEntry(
          "diagnostics_events",
          events.map((e) => [e.eventId, e.expiresAt.toISOString()]),
        ),
      ],
      kept: [],
    };
  },
  // Today every diagnostics collection belongs to one purpose, so a "no" erases the device's diagnostics here.
  async withdraw(tx, device) {
    return (await eraseDiagnosticsEvents(tx, device.ref)).length;
  },
  expiry: {
    keys: [
      { column: "device_ref", type: "text" },
      { column: "event_id", type: "uuid" },
    ],
    collection: "collection",
    fieldClock: "occurred_at",
    partitioned: true,
  },
};
