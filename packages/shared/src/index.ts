/**
 * `@phonehome/shared`: the shapes that cross a process boundary — control
 * plane ↔ region, server ↔ web apps — as TypeBox schemas with the types
 * derived from them (`Static<>`), so that no shape is declared twice and no
 * database row is a wire format; and the pure functions both sides compute
 * alike (an audit entry's text, an approval's signed bytes). It imports
 * nothing of the server and no Node.js module, so the web apps use it as it
 * is. This file is the package's only public surface.
 */
export { type Activation, ActivationResponse, ActivationView } from "./activation.ts";
export { type AdoptionRow, AdoptionRows, DAY } from "./adoption.ts";
export {
  type AdoptionReport,
  AdoptionReportView,
  type Advisory,
  AdvisoryView,
  type Lookup,
  LookupView,
} from "./advisories.ts";
export {
  CONSENT_METHODS,
  type ConsentDecisionBody,
  ConsentDecisionView,
  type ConsentMethod,
  type ConsentReceipt,
  ConsentReceiptView,
  type ConsentState,
  ConsentStateView,
  type CurrentNotice,
  CurrentNoticeView,
  DecisionView,
  type DeviceConsents,
  DeviceConsentsView,
  LANGUAGE_PATTERN,
  type Notice,
  NoticeView,
  type OwnerConsents,
  OwnerConsentsView,
  RECEIPT_JWS_TYPE,
  RECEIPT_VERSION,
  type ReceiptKeySet,
  ReceiptKeyView,
  type SignedReceipt,
  SignedReceiptView,
} from "./consent.ts";
export { type ApprovalStatement, approvalStatement, statementBytes } from "./approval-statement.ts";
export { type AuditEntry, type AuditFacts, entryText, GENESIS } from "./audit-entry.ts";
export {
  type DeviceNotice,
  DeviceNoticeView,
  INCIDENT_ID,
  NOTICE_DEVICES_PER_CALL,
  NOTICE_ID,
  type NoticeDelivery,
  NoticeDeliveryView,
  type UpdateOffer,
  UpdateOfferView,
} from "./device-notices.ts";
export {
  type AffectedDevices,
  AffectedDevicesView,
  type Destination,
  DestinationView,
  type Incident,
  type IncidentNotice,
  IncidentNoticeView,
  type IncidentScope,
  IncidentScopeView,
  type IncidentSummary,
  IncidentSummaryView,
  IncidentView,
  type NoticeRegions,
  NoticeRegionsView,
} from "./incidents.ts";
export {
  type DataMap,
  DataMapView,
  type MapCollection,
  MapCollectionView,
  type MapField,
  MapFieldView,
  type MapRegion,
  MapRegionView,
  type PublicRoute,
  PublicRouteView,
} from "./data-map.ts";
export {
  type Batch,
  BatchView,
  type Build,
  BuildView,
  type Device,
  type DeviceKey,
  type DeviceKeyHistory,
  DeviceKeyHistoryView,
  DeviceKeyView,
  DeviceView,
  type Directory,
  DirectoryView,
  MAX_REVOCATION_NOTE,
  type Model,
  ModelView,
  REVOCATION_REASONS,
  REVOKE_REASONS,
  RevokeReasonSchema,
  type Revocation,
  type RevocationFeed,
  RevocationFeedView,
  type RevocationReason,
  RevocationView,
  type Variant,
  VariantView,
} from "./fleet.ts";
export {
  type GatheredLedger,
  GatheredLedgerView,
  type LedgerMinute,
  LedgerRowView,
  type LedgerTotal,
  LedgerTotalView,
  type MisroutingAlert,
  MisroutingAlertView,
} from "./ledger.ts";
export {
  ACCESS_RECEIPT_JWS_TYPE,
  ACCESS_RECEIPT_VERSION,
  type AccessReceipt,
  AccessReceiptView,
  type DeletedEntry,
  DeletedView,
  ERASURE_RECEIPT_JWS_TYPE,
  ERASURE_RECEIPT_VERSION,
  type ErasureReceipt,
  ErasureReceiptView,
  type HeldEntry,
  HeldView,
  type KeptEntry,
  KeptView,
  REQUEST_ID_PATTERN,
  type SignedAccessReceipt,
  SignedAccessReceiptView,
  type SignedErasureReceipt,
  SignedErasureReceiptView,
  type SubjectRequest,
  SubjectRequestView,
} from "./receipts.ts";
export {
  basisArticle,
  basisWords,
  LEGAL_BASES,
  type LegalBasis,
  purposeWords,
  recordWords,
  transformWords,
} from "./owner-words.ts";
export {
  AccessExport,
  ExportFieldView,
  type ExportField,
  OwnerExportPage,
  OwnerRecordsPage,
  ExportRecordView,
  type ExportRecord,
} from "./owner-export.ts";
export {
  type CollectorLimits,
  CollectorLimitsView,
  type MarketPolicy,
  MarketPolicyView,
  type PortalConfig,
  PortalConfigView,
  type Region,
  type RegionAnnouncement,
  RegionAnnouncementView,
  type RegionList,
  RegionsView,
  RegionView,
} from "./regions.ts";
export {
  type NewSession,
  type ConsoleConfig,
  ConsoleConfigView,
  type Operator,
  OperatorView,
  type Role,
  ROLES,
  type SessionOperator,
  SessionOperatorView,
  SessionView,
} from "./operators.ts";
export { type GateFinding, GateFindingView, type ReleaseBuild, ReleaseBuildView } from "./release.ts";
export { type Proposal, ProposalView } from "./review-proposal.ts";
export { type Answers, AnswersSchema, QUESTION_LIST, QUESTIONS } from "./review-questionnaire.ts";
export {
  type PlanBuild,
  PlanBuildView,
  type PlanRollout,
  PlanRolloutView,
  type Rollout,
  RolloutView,
  type UpdatePlan,
  UpdatePlanView,
} from "./update-plan.ts";
