/** The intake every envelope passes, the region's group-commit writer, the ingest ledger and misrouting alerts. This file is the folder's only public surface. */
export { ENVELOPE_ROUTE, EnvelopeSchema } from "./envelope.schema.ts";
export type { GroupCommitter } from "./group-commit.ts";
export { admitEnvelope, envelopeOf, type IntakeContext } from "./intake.ts";
export { registerLedgerRoutes } from "./ledger.routes.ts";
export { createRegionWriter, type WriteItem, type WriteResult } from "./region-writer.ts";
