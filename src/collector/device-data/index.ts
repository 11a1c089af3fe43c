/**
 * What a region stores about a device, described once per table: the
 * description each collection gives of its tables (DeviceTable), the records
 * an owner is shown (HeldRecord), the pseudonym consent-based records are
 * stored under, and the digest receipts give of what they count. This file is
 * the folder's only public surface.
 */
export type {
  DeviceTable,
  ErasureOutcome,
  ErasureScope,
  Expiry,
  KeyColumn,
  OwnerRecords,
  PagedOwnerRecords,
  PagePosition,
  StoredDevice,
  WriteStep,
  Written,
} from "./device-table.ts";
export type { HeldRecord } from "./held-record.ts";
export { deviceRef } from "./pseudonym.ts";
export { deletedEntry, keysDigest } from "./digest.ts";
export { expiringTables, ownerTables, tableStoring } from "./device-tables.ts";
