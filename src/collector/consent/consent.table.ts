/**
 * The consents and consent_history tables, described once. Both are proof of
 * consent: an erasure keeps them. A decision in force does not expire; once a
 * later one replaces it, it moves to the history, which expires
 * `retention.records` after that.
 */
import type { DeviceTable } from "../device-data/index.ts";
import { countConsentRecords } from "./consent.repository.ts";

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

export const consentsTable: DeviceTable = {
  name: "consents",
  holds: "proof",
  stores: () => false,
  // Both of the folder's tables, counted in one statement so that the two counts agree. Proof of consent
  // ends only once a later decision replaces it: no date can be given yet (null).
  async erase(tx, { device, recordsRetention }) {
    const counts = await countConsentRecords(tx, device.key);
    const kept = (collection: string, count: number, reason: string) => ({
      collection,
      count,
      reason,
      legalBasis: "legal_obligation",
      until: null,
    });
    return {
      deleted: [],
      kept: [
        kept("consents", counts.consents, consentsReason(recordsRetention.duration)),
        kept("consent_history", counts.history, consentHistoryReason(recordsRetention.duration)),
      ],
    };
  },
  expiry: null,
};

/** Kept by an erasure, and counted with the decisions in force (above). */
export const consentHistoryTable: DeviceTable = {
  name: "consent_history",
  holds: "proof",
  stores: () => false,
  expiry: { keys: [{ column: "receipt_id", type: "uuid" }], collection: null, fieldClock: null },
};
