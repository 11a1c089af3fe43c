/**
 * Every table of a region's store that holds device data, in one list: each
 * described beside its collection (its folder's `*.table.ts`). The writer,
 * the owner's export, erasure, consent withdrawal and retention all work from
 * this list; a new collection is a new description here and in its folder.
 * The order is the order purges walk the tables and erasures list them:
 * collected records first, then the proof records.
 */
import { activationsTable } from "./activation/index.ts";
import { consentHistoryTable, consentsTable } from "./consent/index.ts";
import type { DeviceTable, WriteStep } from "./device-data/index.ts";
import { noticeDeliveriesTable } from "./device-notices/index.ts";
import { diagnosticsEventsTable } from "./diagnostics/index.ts";
import { accessReceiptsTable, erasuresTable } from "./subject-requests/index.ts";
import { deviceBuildsTable } from "./update-check/index.ts";

export const DEVICE_TABLES: readonly DeviceTable[] = [
  activationsTable,
  diagnosticsEventsTable,
  deviceBuildsTable,
  consentsTable,
  consentHistoryTable,
  erasuresTable,
  accessReceiptsTable,
  noticeDeliveriesTable,
];

/** The region writer's steps: the tables it writes, in the list's order. */
export function writeSteps(tables: readonly DeviceTable[]): WriteStep<unknown, unknown>[] {
  return tables.flatMap((t) => (t.write ? [t.write] : []));
}
