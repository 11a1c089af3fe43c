/** The audit log (docs/audit-log.md): append in the transaction of what it records; verify the chain. */
export { appendAudit, auditHead } from "./audit.repository.ts";
export type { AuditEntry, AuditFacts, ChainHead } from "./chain.ts";

/**
 * The actor of an operator route until operators sign in (issue 5, item 2):
 * whoever holds the service token.
 */
export const SERVICE_TOKEN_ACTOR = "service-token";
