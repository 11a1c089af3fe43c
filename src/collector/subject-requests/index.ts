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
export { findHeldRecords, type HeldRecord, issueAccessReceipt } from "./access.service.ts";
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
export { type ErasureContext, eraseHeldData, erasureEpoch, keysDigest } from "./erasure.service.ts";
