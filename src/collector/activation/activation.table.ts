/** The activations table, described once: written by the region writer, shown to owners, kept for the warranty. */
import type { Queryable } from "../../core/db/index.ts";
import type { Dictionary } from "../../core/dictionary/index.ts";
import {
  deletedEntry,
  type DeviceTable,
  type HeldRecord,
  type WriteStep,
  type Written,
} from "../device-data/index.ts";
import {
  type ActivationReceipt,
  type ActivationRow,
  eraseExpiredActivations,
  findActivations,
  type StoredActivation,
  storeActivations,
} from "./activation.repository.ts";

/** What the writer answers an activation: the device's stored activation, and whether it was already there. */
export interface ActivationWritten {
  stored: ActivationReceipt;
  replayed: boolean;
}

/** Activations in a group commit: a device that already activated keeps its first; a device twice in one flush is stored once. */
export const activationWrites: WriteStep<ActivationRow, ActivationWritten> = {
  kind: "activation",
  async write(tx, rows): Promise<Written<ActivationWritten>[]> {
    const { stored, inserted } = await storeActivations(tx, rows);
    // A device may appear twice in one batch: only its first item is "stored".
    const firstSeen = new Set<string>();
    return rows.map((row) => {
      const found = stored.get(row.deviceKey);
      if (!found) throw new Error(`activation of ${row.deviceKey} is neither inserted nor found`);
      const fresh = inserted.has(row.deviceKey) && !firstSeen.has(row.deviceKey);
      firstSeen.add(row.deviceKey);
      const outcome = fresh ? "stored" : "replayed";
      return { result: { stored: found, replayed: !fresh }, outcome, reason: outcome };
    });
  },
};

/** Why the warranty record survives an erasure request (GDPR Art. 17(3)(b) and (e)). */
export const WARRANTY_REASON =
  "warranty record: the warranty that activation started, and claims under it, must be honoured until its retention ends; " +
  "it is deleted then (GDPR Art. 6(1)(b); Art. 17(3)(b) and (e))";

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

/** The latest expiry among a device's activations (there is one at most), or null. */
function latestExpiry(activations: readonly StoredActivation[]): Date | null {
  return activations.reduce<Date | null>((latest, a) => {
    const at = new Date(a.expiresAt);
    return latest === null || at > latest ? at : latest;
  }, null);
}

export const activationsTable: DeviceTable = {
  name: "activations",
  holds: "collected",
  stores: (collection) => collection === "activation",
  write: activationWrites,
  owner: {
    async all(q: Queryable, device, dictionary) {
      return activationRecords(dictionary, await findActivations(q, [device.key]));
    },
  },
  // An activation whose retention has run out goes; a running warranty record stays until it ends.
  async erase(tx, { device, now, dictionary }) {
    const expired = await eraseExpiredActivations(tx, device.key, now);
    const activations = await findActivations(tx, [device.key]);
    return {
      deleted: [
        deletedEntry(
          "activations",
          expired.map((a) => [a.deviceKey, a.expiresAt.toISOString()]),
        ),
      ],
      kept: [
        {
          collection: "activations",
          count: activations.length,
          reason: WARRANTY_REASON,
          // The basis the dictionary declares for the record (activation v1: contract).
          legalBasis:
            dictionary.get("activation", activations[0]?.schemaVersion ?? 1)?.legalBasis ?? "contract",
          until: latestExpiry(activations)?.toISOString() ?? null,
        },
      ],
    };
  },
  expiry: {
    keys: [{ column: "device_key", type: "text" }],
    collection: "'activation'",
    fieldClock: "received_at",
  },
};
