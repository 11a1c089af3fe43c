/** Subject requests: owners' access to (and, later, erasure of) what a region holds about their device. */
export { registerSubjectRequestRoutes, type OwnerRouteDeps } from "./subject-requests.routes.ts";
export { findHeldRecords, type HeldRecord } from "./access.service.ts";
