/** What a region holds about a device, one record at a time, before it is shaped for an owner. */
import type { CompiledCollection } from "../../core/dictionary/index.ts";

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
