/**
 * Subject requests: owners' access to and erasure of what each region holds
 * about their device, and the control plane's orchestration of access and
 * erasure across regions (receipts only). This file is the feature's only public surface.
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
  type SignedAccessReceipt,
} from "./access-receipt.presenter.ts";
export { heldInExport } from "./access.presenter.ts";
export {
  ERASURE_RECEIPT_JWS_TYPE,
  ERASURE_RECEIPT_VERSION,
  type ErasureReceipt,
  type SignedErasureReceipt,
} from "./erasure.presenter.ts";
export { type ErasureContext, eraseHeldData, erasureEpoch, keysDigest } from "./erasure.service.ts";
export {
  type OrchestrationRouteDeps,
  registerOrchestrationRoutes,
} from "../../control-plane/subject-requests/orchestration.routes.ts";
export {
  allSubjectRequests,
  findSubjectRequestState,
  exportUrl,
  type RegionEndpoint,
  requestAccess,
  requestErasure,
  type SubjectRequestState,
} from "../../control-plane/subject-requests/orchestration.service.ts";
export { register as registerSubjectRequestCommands } from "../../control-plane/subject-requests/subject-requests.command.ts";
