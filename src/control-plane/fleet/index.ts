/**
 * The fleet registry (control plane): models, variants, builds, batches and
 * devices as the factory made them, and nothing about owners or use
 * (invariant 6). This file is the feature's only public surface.
 */
export { register as registerFleetCommands } from "./fleet.command.ts";
export {
  deviceKeyHistory,
  type KeyHistory,
  type RekeyRequest,
  rekeyDevice,
  REVOCATION_PAGE,
  revocationFeed,
  type RevokeRequest,
  revokeDevice,
} from "./device-keys.service.ts";
export {
  DEMO_MARKETS,
  DEMO_MODEL,
  DEMO_VARIANTS,
  type DemoFactoryDocument,
  type DemoFleet,
  type DemoFleetOptions,
  type DeviceKeyPair,
  demoIdentities,
  generateDemoFleet,
} from "./fleet.generate.ts";
export { type FactoryFormat, parseFactory } from "./fleet.parse.ts";
export {
  type BatchRecord,
  type BuildRecord,
  countDevices,
  type DeviceRecord,
  type DirectoryRecord,
  findDevicesByKeyIds,
  type ModelRecord,
  type VariantRecord,
} from "./fleet.repository.ts";
export { DEFAULT_PAGE, type FleetRouteDeps, MAX_LOOKUP_KEYS, registerFleetRoutes } from "./fleet.routes.ts";
export type { FactoryDocument } from "./fleet.schema.ts";
export {
  type FactorySource,
  getDevice,
  type ImportCounts,
  type ImportOptions,
  type ImportSummary,
  importFleet,
  lookupDirectory,
} from "./fleet.service.ts";
export { listBatchMarkets, listVariants } from "./fleet.repository.ts";
