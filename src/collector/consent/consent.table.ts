/**
 * The consents and consent_history tables, described once. Both are proof of
 * consent: an erasure keeps them. A decision in force does not expire; once a
 * later one replaces it, it moves to the history, which expires
 * `retention.records` after that.
 */
import type { DeviceTable } from "../device-data/index.ts";
import { countConsentHistory, countConsents } from "./consent.repository.ts";

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
  // Proof of consent ends only once a later decision replaces it: no date can be given yet (null).
  async erase(tx, { device, recordsRetention }) {
    return {
      kept: {
        collection: "consents",
        count: await countConsents(tx, device.key),
        reason: consentsReason(recordsRetention.duration),
        legalBasis: "legal_obligation",
        until: null,
      },
    };
  },
  expiry: null,
};

export const consentHistoryTable: DeviceTable = {
  name: "consent_history",
  holds: "proof",
  stores: () => false,
  async erase(tx, { device, recordsRetention }) {
    return {
      kept: {
        collection: "consent_history",
        count: await countConsentHistory(tx, device.key),
        reason: consentHistoryReason(recordsRetention.duration),
        legalBasis: "legal_obligation",
        until: null,
      },
    };
  },
  expiry: { keys: [{ column: "receipt_id", type: "uuid" }], collection: null, fieldClock: null },
};
