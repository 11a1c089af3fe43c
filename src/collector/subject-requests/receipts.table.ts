/**
 * The erasures and access_receipts tables, described once: the records of
 * owners' requests (counts, digests and the signed receipt, never values).
 * Proof that a request was carried out: not part of an erasure's receipt, and
 * they expire `retention.records` after the request.
 */
import type { DeviceTable } from "../device-data/index.ts";

export const erasuresTable: DeviceTable = {
  name: "erasures",
  holds: "proof",
  stores: () => false,
  expiry: { keys: [{ column: "request_id", type: "uuid" }], collection: null, fieldClock: null },
};

export const accessReceiptsTable: DeviceTable = {
  name: "access_receipts",
  holds: "proof",
  stores: () => false,
  expiry: { keys: [{ column: "id", type: "bigint" }], collection: null, fieldClock: null },
};
