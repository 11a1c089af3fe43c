/**
 * Access: everything a region holds about one device, with each field's
 * purpose, legal basis and retention. It runs in every region, including those
 * where the device's data should never be: finding nothing there is the answer.
 */
import { findActivations, type StoredActivation } from "../activation/activation.repository.ts";
import type { Queryable } from "../db/index.ts";
import { deviceRef, findDiagnosticsEvents } from "../diagnostics/index.ts";
import type { CompiledCollection, Dictionary } from "../dictionary/index.ts";

/** One stored record and the dictionary version that declares it. */
export interface HeldRecord {
  collection: CompiledCollection | undefined;
  collectionName: string;
  schemaVersion: number;
  data: Record<string, unknown>;
  storedAt: Date;
  expiresAt: Date;
  /** What the record is for, beyond its fields (e.g. the warranty an activation started). */
  facts: Record<string, string>;
}

/** Every record this region's store holds about the device: its activation and its diagnostics events. */
export async function findHeldRecords(
  q: Queryable,
  dictionary: Dictionary,
  deviceKey: string,
  pseudonymSecret: Uint8Array,
): Promise<HeldRecord[]> {
  const activations: StoredActivation[] = await findActivations(q, [deviceKey]);
  const events = await findDiagnosticsEvents(q, deviceRef(pseudonymSecret, deviceKey));
  const activationRecords = activations.map((a) => ({
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
  const eventRecords = events.map((e) => ({
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
  return [...activationRecords, ...eventRecords];
}
