/** Diagnostics: consent-based batches of device health events, stored under a region-keyed pseudonym. This file is the folder's only public surface. */
export { registerDiagnosticsRoutes } from "./diagnostics.routes.ts";
export { type DiagnosticsOutcome, receiveDiagnostics } from "./diagnostics.service.ts";
export { MAX_EVENTS_PER_BATCH } from "./diagnostics.schema.ts";
export {
  type DiagnosticsRow,
  type EventPosition,
  findDiagnosticsEvents,
  insertDiagnosticsEvents,
  type StoredDiagnosticsEvent,
} from "./diagnostics.repository.ts";
export { diagnosticsEventsTable, diagnosticsWrites } from "./diagnostics.table.ts";
