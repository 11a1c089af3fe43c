/**
 * An audit-log entry and the text its hash is taken over: the RFC 8785
 * canonical JSON of its sequence number, time, actor, action, subject,
 * reason, detail and the previous entry's hash. Pure (no Node.js modules), so
 * that the console checks a chain in the browser exactly as `chain.ts` does.
 */
import canonicalize from "canonicalize";

/** The previous hash of the first entry. */
export const GENESIS = "0".repeat(64);

/** What an entry says. */
export interface AuditFacts {
  actor: string;
  action: string;
  subject: string;
  reason: string | null;
  detail: Record<string, unknown>;
}

/** An entry as stored. */
export interface AuditEntry extends AuditFacts {
  seq: number;
  /** RFC 3339 with milliseconds, UTC. */
  at: string;
  prevHash: string;
  hash: string;
}

/** What an entry's hash is taken over. */
export function entryText(entry: Omit<AuditEntry, "hash">): string {
  const text = canonicalize({
    seq: entry.seq,
    at: entry.at,
    actor: entry.actor,
    action: entry.action,
    subject: entry.subject,
    reason: entry.reason,
    detail: entry.detail,
    prev: entry.prevHash,
  });
  if (text === undefined) throw new Error("an audit entry has no canonical form");
  return text;
}
