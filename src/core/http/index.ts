/** The HTTP shell every service shares, and the service token's check. This file is the folder's only public surface. */
export {
  bearerToken,
  matchesAny,
  presentedToken,
  serviceTokenCheck,
  serviceTokenMatcher,
  tokenDigest,
} from "./service-token.ts";
export type { ServiceTokens, ServiceTokenSource } from "./service-token.ts";
export {
  type App,
  createService,
  type ErrorResponseBody,
  SCHEMA_COMPILER,
  toPhoneHomeError,
  urlOf,
  validationProblem,
} from "./service.ts";
export { findUnstorableText } from "./text.ts";
export { gatherWorkerMetrics } from "./worker-metrics.ts";
