/** A region's keys (docs/collector.md, "Keys"): stored, rotated under the fleet root, reloaded by every replica. This file is the folder's only public surface. */
export { MIN_RELOAD_INTERVAL_MS, RegionKeyRing, type SealKeyLookup } from "./key-ring.ts";
export { registerRegionKeyRoutes } from "./region-keys.routes.ts";
export {
  currentStatement,
  ensureRegionKeys,
  listKeys,
  prepareRotation,
  publishDescriptor,
  refreshDescriptor,
  refreshStaleDescriptor,
  type RegionKeysContext,
  rotateReceiptKey,
  recordEndedKeys,
  signAndPublish,
  usableEmbeddedRoot,
} from "./region-keys.service.ts";
export { REGION_KEYS_JOB, regionKeysJob, rotationDue } from "./schedule.ts";
export { register } from "./keys.command.ts";
