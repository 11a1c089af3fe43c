/**
 * Retention: expiry of what a region stores, and surgical purges of what was
 * collected by mistake. Monthly partitions of diagnostics (dropped whole when
 * their month has expired), a purge job that removes what is due in chunks
 * and records every run with a digest of what went, the schedule a collector
 * runs it on, the `purge` command, and the lock that keeps an embedded store
 * in one process. This file is the feature's only public surface.
 */
export {
  type CreatedPartition,
  type DiagnosticsPartition,
  ensureDiagnosticsPartitions,
  listDiagnosticsPartitions,
  partitionMonthsAhead,
  partitionOf,
} from "./partitions.ts";
export { register } from "./purge.command.ts";
export { listPurgeRuns, type PurgeRunRecord } from "./purge.repository.ts";
export { registerPurgeRoutes } from "./purge.routes.ts";
export {
  checkSurgicalRequest,
  DEFAULT_CHUNK_SIZE,
  type PurgePlan,
  type PurgeResult,
  type PurgeStep,
  planPurge,
  planSurgicalPurge,
  type PurgeScope,
  type RunOptions,
  runPurge,
  runSurgicalPurge,
  type StepOutcome,
  type SurgicalRequest,
  type TableTotals,
} from "./purge.service.ts";
export { prepareRetention, type RetentionOptions } from "./schedule.ts";
