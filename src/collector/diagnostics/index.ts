/** Diagnostics: consent-based batches of device health events, stored under a region-keyed pseudonym. */
export { registerDiagnosticsRoutes } from "./diagnostics.routes.ts";
export { type DiagnosticsOutcome, receiveDiagnostics } from "./diagnostics.service.ts";
export { MAX_EVENTS_PER_BATCH } from "./diagnostics.schema.ts";
export {
  deviceRef,
  type DiagnosticsRow,
  eraseDiagnosticsEvents,
  eventKey,
  type EventPosition,
  findDiagnosticsEventKeys,
  findDiagnosticsEvents,
  findDiagnosticsEventsPage,
  insertDiagnosticsEvents,
  type StoredDiagnosticsEvent,
} from "./diagnostics.repository.ts";
