/** The region tables that hold personal data and expire, and which collection lives in which. */

/** A region table that holds personal data and expires: collected records, then proof records. */
export type PurgeTable =
  | "activations"
  | "diagnostics_events"
  | "device_builds"
  | "consent_history"
  | "erasures"
  | "access_receipts"
  | "notice_deliveries";

/** The tables purges cover, in the order they are purged. */
export const PURGE_TABLES: readonly PurgeTable[] = [
  "activations",
  "diagnostics_events",
  "device_builds",
  "consent_history",
  "erasures",
  "access_receipts",
  "notice_deliveries",
];

/**
 * The proof records: a consent decision once a later one replaced it, the
 * receipts of subject requests, and the deliveries of incident notices. They
 * expire by `retention.records`, stamped when they stop being current (a
 * notice: when it was sent); no collection lives in them.
 */
export const RECORD_TABLES: readonly PurgeTable[] = [
  "consent_history",
  "erasures",
  "access_receipts",
  "notice_deliveries",
];

/**
 * The table that stores records of `collection`: activations and update
 * checks (the last build each device reported) in their own, every
 * consent-based collection in `diagnostics_events`.
 */
export function tableOf(collection: string): PurgeTable {
  if (collection === "activation") return "activations";
  if (collection === "update.check") return "device_builds";
  return "diagnostics_events";
}
