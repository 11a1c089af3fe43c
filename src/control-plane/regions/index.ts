/** The regions as the control plane reaches them: calls to one or every region, the list, every ledger. This file is the folder's only public surface. */
export { registerLedgerRoute } from "./ledger.routes.ts";
export { callRegion, fromEveryRegion, type Gathered, type RegionRef } from "./region-calls.ts";
export { registerRegionListRoute } from "./regions.routes.ts";
