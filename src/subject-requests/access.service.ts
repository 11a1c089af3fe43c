/**
 * Access: everything a region holds about one device, with each field's
 * purpose, legal basis and retention. It runs in every region, including those
 * where the device's data should never be: finding nothing there is the answer.
 */
import { findActivations, type StoredActivation } from "../activation/activation.repository.ts";
import type { Queryable } from "../db/index.ts";
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

/** Every record this region's store holds about the device. */
export async function findHeldRecords(
  q: Queryable,
  dictionary: Dictionary,
  deviceKey: string,
): Promise<HeldRecord[]> {
  const activations: StoredActivation[] = await findActivations(q, [deviceKey]);
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
