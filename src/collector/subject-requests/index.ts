/**
 * Subject requests, a region's side: owners' access to and erasure of what
 * the region holds about their device, with signed receipts. The control
 * plane's orchestration across regions is src/control-plane/subject-requests/.
 * This file is the feature's only public surface.
 */
export {
  registerSubjectRequestRoutes,
  registerSupportAccessRoute,
  type OwnerRouteDeps,
} from "./subject-requests.routes.ts";
export { findHeldRecords, issueAccessReceipt } from "./access.service.ts";
export { type HeldRecord, keysDigest } from "../device-data/index.ts";
export {
  ACCESS_RECEIPT_JWS_TYPE,
  ACCESS_RECEIPT_VERSION,
  type AccessReceipt,
  ERASURE_RECEIPT_JWS_TYPE,
  ERASURE_RECEIPT_VERSION,
  type ErasureReceipt,
  type SignedAccessReceipt,
  type SignedErasureReceipt,
} from "@phonehome/shared";
export { heldInExport } from "./access.presenter.ts";
export { accessReceiptsTable, erasuresTable } from "./receipts.table.ts";
export { type ErasureContext, eraseHeldData, erasureEpoch } from "./erasure.service.ts";
