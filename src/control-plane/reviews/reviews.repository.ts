/** Queries of proposals and reviewers' keys. One function per query; the caller passes the database or a transaction. */
import type { Queryable } from "../../core/db/index.ts";
import type { Approval } from "../../core/dictionary/index.ts";
import type { VersionContent } from "./diff.ts";
import type { Answers } from "@phonehome/shared";

export type ProposalStatus = "open" | "approved" | "rejected";

/** A proposal as stored. */
export interface ProposalRecord {
  id: string;
  collection: string;
  version: number;
  document: VersionContent;
  sha256: string;
  baseVersion: number | null;
  baseDocument: VersionContent | null;
  answers: Answers;
  author: string;
  proposedAt: string;
  status: ProposalStatus;
  reviewer: string | null;
  decidedAt: string | null;
  comment: string | null;
  approval: Approval | null;
}

const COLUMNS = `id, collection, version, document, sha256, base_version AS "baseVersion",
  base_document AS "baseDocument", answers, author,
  to_char(proposed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "proposedAt", status, reviewer,
  to_char(decided_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "decidedAt", comment, approval`;

/** Stores a new proposal under the next `PROP-<n>`; null when the version already has an open one. */
export async function insertProposal(
  tx: Queryable,
  p: Omit<
    ProposalRecord,
    "id" | "status" | "reviewer" | "decidedAt" | "comment" | "approval" | "proposedAt"
  > & {
    proposedAt: Date;
  },
): Promise<ProposalRecord | null> {
  const { rows } = await tx.query<ProposalRecord>(
    `INSERT INTO proposals (id, collection, version, document, sha256, base_version, base_document, answers, author,
                            proposed_at, status)
     VALUES ('PROP-' || nextval('proposal_numbers'), $1, $2, $3::jsonb, $4, $5, $6::jsonb, $7::jsonb, $8, $9, 'open')
     ON CONFLICT (collection, version) WHERE status = 'open' DO NOTHING
     RETURNING ${COLUMNS}`,
    [
      p.collection,
      p.version,
      JSON.stringify(p.document),
      p.sha256,
      p.baseVersion,
      p.baseDocument === null ? null : JSON.stringify(p.baseDocument),
      JSON.stringify(p.answers),
      p.author,
      p.proposedAt.toISOString(),
    ],
  );
  return rows[0] ?? null;
}

/** One proposal, or null. */
export async function findProposal(q: Queryable, id: string): Promise<ProposalRecord | null> {
  const { rows } = await q.query<ProposalRecord>(`SELECT ${COLUMNS} FROM proposals WHERE id = $1`, [id]);
  return rows[0] ?? null;
}

/** Proposals, newest first, optionally of one status. */
export async function listProposals(q: Queryable, status: ProposalStatus | null): Promise<ProposalRecord[]> {
  const { rows } = await q.query<ProposalRecord>(
    `SELECT ${COLUMNS} FROM proposals WHERE $1::text IS NULL OR status = $1
      ORDER BY proposed_at DESC, length(id) DESC, id DESC LIMIT 1000`,
    [status],
  );
  return rows;
}

/** The approved proposals of one collection, every version. */
export async function approvedProposalsOf(q: Queryable, collection: string): Promise<ProposalRecord[]> {
  const { rows } = await q.query<ProposalRecord>(
    `SELECT ${COLUMNS} FROM proposals WHERE collection = $1 AND status = 'approved' ORDER BY version, decided_at`,
    [collection],
  );
  return rows;
}

/** Records the decision on an open proposal; null when it was not open (decided meanwhile). */
export async function decideProposal(
  tx: Queryable,
  d: {
    id: string;
    status: "approved" | "rejected";
    reviewer: string;
    at: Date;
    comment: string;
    approval: Approval | null;
  },
): Promise<ProposalRecord | null> {
  const { rows } = await tx.query<ProposalRecord>(
    `UPDATE proposals SET status = $2, reviewer = $3, decided_at = $4, comment = $5, approval = $6::jsonb
      WHERE id = $1 AND status = 'open' RETURNING ${COLUMNS}`,
    [
      d.id,
      d.status,
      d.reviewer,
      d.at.toISOString(),
      d.comment,
      d.approval === null ? null : JSON.stringify(d.approval),
    ],
  );
  return rows[0] ?? null;
}

/** Adds a reviewer's public key; false when it was there already. */
export async function insertReviewerKey(
  tx: Queryable,
  k: { username: string; publicKey: string; addedAt: Date },
): Promise<boolean> {
  const { rows } = await tx.query(
    `INSERT INTO reviewer_keys (username, public_key, added_at) VALUES ($1, $2, $3)
     ON CONFLICT DO NOTHING RETURNING username`,
    [k.username, k.publicKey, k.addedAt.toISOString()],
  );
  return rows.length === 1;
}

/** A reviewer's key as stored: whose, since when, and its revocation when it has one. */
export interface ReviewerKeyRecord {
  username: string;
  name: string;
  publicKey: string;
  added: string;
  revokedAt: string | null;
  revokedBy: string | null;
  revokeReason: string | null;
}

const KEY_COLUMNS = `k.username, o.name, k.public_key AS "publicKey",
  to_char(k.added_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS added,
  to_char(k.revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "revokedAt",
  k.revoked_by AS "revokedBy", k.revoke_reason AS "revokeReason"`;

/** Every reviewer key with its operator's name, revoked ones too, oldest first; optionally one operator's. */
export async function reviewerKeys(q: Queryable, username: string | null): Promise<ReviewerKeyRecord[]> {
  const { rows } = await q.query<ReviewerKeyRecord>(
    `SELECT ${KEY_COLUMNS}
       FROM reviewer_keys k JOIN operators o ON o.username = k.username
      WHERE ($1::text IS NULL OR k.username = $1) AND o.disabled_at IS NULL
      ORDER BY k.added_at, k.username, k.public_key`,
    [username],
  );
  return rows;
}

/** The registrations of one public key (normally one), with their revocations. */
export async function reviewerKeysOf(q: Queryable, publicKey: string): Promise<ReviewerKeyRecord[]> {
  const { rows } = await q.query<ReviewerKeyRecord>(
    `SELECT ${KEY_COLUMNS}
       FROM reviewer_keys k JOIN operators o ON o.username = k.username
      WHERE k.public_key = $1 ORDER BY k.username`,
    [publicKey],
  );
  return rows;
}

/**
 * Holds a live key for the rest of the transaction (a revocation waits for it);
 * false when it is revoked or unknown.
 */
export async function lockLiveReviewerKey(
  tx: Queryable,
  username: string,
  publicKey: string,
): Promise<boolean> {
  const { rows } = await tx.query(
    `SELECT 1 FROM reviewer_keys WHERE username = $1 AND public_key = $2 AND revoked_at IS NULL FOR SHARE`,
    [username, publicKey],
  );
  return rows.length === 1;
}

/** Revokes a live key; false when it is unknown or revoked already. */
export async function revokeReviewerKey(
  tx: Queryable,
  r: { username: string; publicKey: string; at: Date; by: string; reason: string },
): Promise<boolean> {
  const { rows } = await tx.query(
    `UPDATE reviewer_keys SET revoked_at = $3, revoked_by = $4, revoke_reason = $5
      WHERE username = $1 AND public_key = $2 AND revoked_at IS NULL RETURNING username`,
    [r.username, r.publicKey, r.at.toISOString(), r.by, r.reason],
  );
  return rows.length === 1;
}

/** The proposals `reviewer` approved up to and including `until`, oldest first. */
export async function approvalsBy(q: Queryable, reviewer: string, until: Date): Promise<ProposalRecord[]> {
  const { rows } = await q.query<ProposalRecord>(
    `SELECT ${COLUMNS} FROM proposals
      WHERE reviewer = $1 AND status = 'approved' AND decided_at <= $2
      ORDER BY decided_at, length(id), id`,
    [reviewer, until.toISOString()],
  );
  return rows;
}
