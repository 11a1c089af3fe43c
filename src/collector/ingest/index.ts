/** The intake every envelope passes, the region's group-commit writer, the ingest ledger and misrouting alerts. This file is the folder's only public surface. */
export { ENVELOPE_ROUTE, EnvelopeSchema } from "./envelope.schema.ts";
export type { GroupCommitter } from "./group-commit.ts";
export { admitEnvelope, admitRecord, envelopeOf, type IntakeContext, openEnvelope } from "./intake.ts";
export { registerLedgerRoutes } from "./ledger.routes.ts";
export {
  createRegionWriter,
  type LedgerContext,
  type RegionWriter,
  type WriteItem,
  type WriteResult,
  writeThrough,
} from "./region-writer.ts";
