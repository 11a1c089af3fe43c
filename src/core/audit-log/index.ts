/** The audit log (docs/audit-log.md): append in the transaction of what it records; verify the chain. */
export { allAuditEntries, appendAudit, auditHead } from "./audit.repository.ts";
export type { AuditEntry, AuditFacts, ChainHead, ChainVerdict } from "./chain.ts";
export { verifyChain } from "./chain.ts";

export { currentActor, runAs, SERVICE_TOKEN_ACTOR } from "./actor.ts";
export { register } from "./audit.command.ts";
export { lastAnchor } from "./audit.repository.ts";
export { registerAuditRoutes } from "./audit.routes.ts";
