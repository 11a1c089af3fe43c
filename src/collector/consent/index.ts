/**
 * Consent: an owner's yes or no to a purpose, under a versioned notice, with a
 * receipt the region signs; a no erases what the yes allowed. This file is the
 * feature's only public surface.
 */
export {
  type ConsentDecision,
  type ConsentHistoryEntry,
  type ConsentInForce,
  type ConsentMethod,
  findConsent,
  findConsentHistory,
  findConsents,
  findValidConsent,
  lockConsentsInForce,
  recordConsentDecision,
} from "./consent.repository.ts";
export { presentOwnerConsents } from "./consent.presenter.ts";
export { type ConsentRouteDeps, registerConsentRoutes } from "./consent.routes.ts";
export {
  type ConsentContext,
  type DecisionInForce,
  type DecisionRequest,
  decideConsent,
  findHeldConsents,
  type HeldConsents,
} from "./consent.service.ts";
export {
  LANGUAGE_PATTERN,
  lintNotices,
  loadNotices,
  type Notice,
  type NoticeScope,
  type Notices,
  type NoticesReport,
  PURPOSE_PATTERN,
  scopeWithin,
} from "./notices.ts";
export { receiptKeySet } from "./receipt.ts";
export { consentHistoryTable, consentsTable } from "./consent.table.ts";
