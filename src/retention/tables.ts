/** The region tables that hold personal data and expire, and which collection lives in which. */

/** A region table that holds personal data and expires. */
export type PurgeTable = "activations" | "diagnostics_events";

/** The tables purges cover, in the order they are purged. */
export const PURGE_TABLES: readonly PurgeTable[] = ["activations", "diagnostics_events"];

/** The table that stores records of `collection`: activations in theirs, every consent-based collection in `diagnostics_events`. */
export function tableOf(collection: string): PurgeTable {
  return collection === "activation" ? "activations" : "diagnostics_events";
}
