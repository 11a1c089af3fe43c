/**
 * Subject requests, the control plane's side: an owner's access and erasure
 * requests orchestrated across every region, keeping only the receipts (counts
 * and digests, never the data), and the command that lists them. The regions'
 * side is src/collector/subject-requests/. This file is the feature's only
 * public surface.
 */
export { type OrchestrationRouteDeps, registerOrchestrationRoutes } from "./orchestration.routes.ts";
export {
  allSubjectRequests,
  findSubjectRequestState,
  exportUrl,
  type RegionEndpoint,
  requestAccess,
  requestErasure,
  type SubjectRequestState,
} from "./orchestration.service.ts";
export { register as registerSubjectRequestCommands } from "./subject-requests.command.ts";
