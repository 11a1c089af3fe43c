/** Queries of the audit log. One function per query; the caller passes the database or a transaction. */
import type { Queryable } from "../db/index.ts";
import { PhoneHomeError } from "../errors/index.ts";
import { type AuditEntry, type AuditFacts, type ChainHead, entryHash, GENESIS } from "./chain.ts";

const COLUMNS = `seq::integer AS seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, actor,
  action, subject, reason, detail, prev_hash AS "prevHash", hash`;

/**
 * The log's reads, each along an index (the primary key, or the anchors'
 * index), so that none costs more as the log grows. Every ORDER BY names the
 * column, not the `seq::integer` alias: ordered by an expression, a read is a
 * scan and sort of the whole log. (Exported for the test that reads their plans.)
 */
export const AUDIT_QUERIES = {
  appendHead: "SELECT seq::integer AS seq, hash FROM audit_log ORDER BY audit_log.seq DESC LIMIT 1",
  head: `SELECT seq::integer AS seq, hash, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at
           FROM audit_log ORDER BY audit_log.seq DESC LIMIT 1`,
  page: `SELECT ${COLUMNS} FROM audit_log WHERE audit_log.seq > $1 ORDER BY audit_log.seq LIMIT $2`,
  lastAnchor: `SELECT (detail->>'seq')::integer AS seq, detail->>'hash' AS hash,
                 to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "anchoredAt", seq::integer AS entry
            FROM audit_log WHERE action = 'audit.anchored' AND subject = $1 ORDER BY audit_log.seq DESC LIMIT 1`,
} as const;

/**
 * Appends an entry in the caller's transaction, after the last one: entries
 * are appended one at a time (a transaction-scoped lock, one per store: stores
 * that share a database by schema do not wait for each other), so that the
 * chain has one order whatever commits when. The head is read along the
 * primary key, so an append costs the same at a million entries as at ten.
 * Answers the entry.
 */
export async function appendAudit(
  tx: Queryable,
  facts: AuditFacts,
  at: Date = new Date(),
): Promise<AuditEntry> {
  await tx.query("SELECT pg_advisory_xact_lock(hashtext('phonehome.audit_log.' || current_schema()))");
  const { rows } = await tx.query<{ seq: number; hash: string }>(AUDIT_QUERIES.appendHead);
  const previous = rows[0];
  const unsigned = {
    seq: (previous?.seq ?? 0) + 1,
    at: at.toISOString(),
    ...facts,
    prevHash: previous?.hash ?? GENESIS,
  };
  const entry: AuditEntry = { ...unsigned, hash: entryHash(unsigned) };
  try {
    await tx.query(
      `INSERT INTO audit_log (seq, at, actor, action, subject, reason, detail, prev_hash, hash)
       VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9)`,
      [
        entry.seq,
        entry.at,
        entry.actor,
        entry.action,
        entry.subject,
        entry.reason,
        JSON.stringify(entry.detail),
        entry.prevHash,
        entry.hash,
      ],
    );
  } catch (error) {
    // Only a process that does not take this lock can take the same number: one of an older version,
    // whose lock was one for every store, while a deployment is upgraded. Nothing is done; try again.
    const e = error as { code?: string; constraint?: string };
    if (e.code === "23505" && e.constraint === "audit_log_pkey") {
      throw new PhoneHomeError(
        "service.unavailable",
        `another process appended audit entry ${entry.seq} at the same moment; nothing was done: try again`,
        { cause: error, retryAfterSeconds: 1 },
      );
    }
    throw error;
  }
  return entry;
}

/** Entries after `afterSeq`, in order, at most `limit`. */
export async function auditPage(q: Queryable, afterSeq: number, limit: number): Promise<AuditEntry[]> {
  const { rows } = await q.query<AuditEntry>(AUDIT_QUERIES.page, [afterSeq, limit]);
  return rows;
}

/** Every entry, in order, read a page at a time. */
export async function* allAuditEntries(q: Queryable, pageSize = 1000): AsyncGenerator<AuditEntry> {
  let after = 0;
  for (;;) {
    const page = await auditPage(q, after, pageSize);
    yield* page;
    const last = page[page.length - 1];
    if (last === undefined || page.length < pageSize) return;
    after = last.seq;
  }
}

/** The last entry's number, hash and time; `seq` 0 and the genesis hash for an empty log. */
export async function auditHead(q: Queryable): Promise<ChainHead> {
  const { rows } = await q.query<ChainHead>(AUDIT_QUERIES.head);
  return rows[0] ?? { seq: 0, hash: GENESIS, at: null };
}

/** The last head of `store`'s chain this chain anchored, with the entry that did; null when none. */
export async function lastAnchor(
  q: Queryable,
  store: string,
): Promise<{ seq: number; hash: string; anchoredAt: string; entry: number } | null> {
  const { rows } = await q.query<{ seq: number; hash: string; anchoredAt: string; entry: number }>(
    AUDIT_QUERIES.lastAnchor,
    [store],
  );
  return rows[0] ?? null;
}
