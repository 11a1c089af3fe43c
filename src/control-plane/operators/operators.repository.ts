/** Queries of operators and their sessions. One function per query; the caller passes the database or a transaction. */
import type { Role } from "@phonehome/shared";
import type { Queryable } from "../../core/db/index.ts";

/** The roles an operator can have. */

/** An operator as stored. */
export interface OperatorRecord {
  username: string;
  name: string;
  role: Role;
  /** Null for an operator a provider vouches for (issuer and subject set instead). */
  passwordHash: string | null;
  createdAt: Date;
  disabledAt: Date | null;
}

/** Adds an operator; false when the username is taken. */
export async function insertOperator(
  q: Queryable,
  o: Omit<OperatorRecord, "disabledAt" | "passwordHash"> & { passwordHash: string },
): Promise<boolean> {
  const { rows } = await q.query<{ username: string }>(
    `INSERT INTO operators (username, name, role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (username) DO NOTHING RETURNING username`,
    [o.username, o.name, o.role, o.passwordHash, o.createdAt.toISOString()],
  );
  return rows.length === 1;
}

/** One operator, or null. */
export async function findOperator(q: Queryable, username: string): Promise<OperatorRecord | null> {
  const { rows } = await q.query<OperatorRecord>(
    `SELECT username, name, role, password_hash AS "passwordHash", created_at AS "createdAt", disabled_at AS "disabledAt"
       FROM operators WHERE username = $1`,
    [username],
  );
  return rows[0] ?? null;
}

/** Stores a session by its token's digest. */
export async function insertSession(
  q: Queryable,
  s: { tokenSha256: string; username: string; createdAt: Date; expiresAt: Date },
): Promise<void> {
  await q.query(
    "INSERT INTO operator_sessions (token_sha256, username, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    [s.tokenSha256, s.username, s.createdAt.toISOString(), s.expiresAt.toISOString()],
  );
}

/** A live session's operator, and where the operator signs in (issuer and subject; null for a password). */
export interface SessionRecord {
  username: string;
  name: string;
  role: Role;
  issuer: string | null;
  subject: string | null;
  expiresAt: Date;
}

/** The operator of a live session (not expired at `now`, not revoked, operator not disabled), or null. */
export async function sessionOperator(
  q: Queryable,
  tokenSha256: string,
  now: Date,
): Promise<SessionRecord | null> {
  const { rows } = await q.query<SessionRecord>(
    `SELECT o.username, o.name, o.role, o.issuer, o.subject, s.expires_at AS "expiresAt"
       FROM operator_sessions s JOIN operators o ON o.username = s.username
      WHERE s.token_sha256 = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND o.disabled_at IS NULL`,
    [tokenSha256, now.toISOString()],
  );
  const row = rows[0];
  return row === undefined ? null : { ...row, expiresAt: new Date(row.expiresAt) };
}

/** Ends a session that is live at `now`; its operator's username, or null when it was not live. */
export async function revokeSession(q: Queryable, tokenSha256: string, now: Date): Promise<string | null> {
  const { rows } = await q.query<{ username: string }>(
    `UPDATE operator_sessions SET revoked_at = $2 WHERE token_sha256 = $1 AND revoked_at IS NULL AND expires_at > $2
     RETURNING username`,
    [tokenSha256, now.toISOString()],
  );
  return rows[0]?.username ?? null;
}

/** A sign-in attempt as the throttle counts it: whose username (its SHA-256), from where, when. */
export interface SignInAttempt {
  accountSha256: string;
  address: string;
  at: Date;
}

/**
 * The attempts within the window that share the username or the address of
 * `attempt`, newest first, each saying which it shares; at most `limit` rows.
 */
export async function recentSignInAttempts(
  q: Queryable,
  attempt: Omit<SignInAttempt, "at">,
  since: Date,
  limit: number,
): Promise<{ sameAccount: boolean; sameAddress: boolean; at: Date }[]> {
  const { rows } = await q.query<{ sameAccount: boolean; sameAddress: boolean; at: Date | string }>(
    `SELECT account_sha256 = $1 AS "sameAccount", address = $2 AS "sameAddress", at
       FROM sign_in_attempts
      WHERE (account_sha256 = $1 OR address = $2) AND at > $3
      ORDER BY at DESC LIMIT $4`,
    [attempt.accountSha256, attempt.address, since.toISOString(), limit],
  );
  return rows.map((r) => ({ ...r, at: new Date(r.at) }));
}

/**
 * Serialises the admission of sign-in attempts across the control plane's
 * replicas until the transaction ends: counted and recorded as one step.
 */
export async function lockSignInAdmission(tx: Queryable): Promise<void> {
  await tx.query("SELECT pg_advisory_xact_lock(hashtext('phonehome.sign_in.' || current_schema()))");
}

/** Records an attempt (a failure until it is deleted) and forgets those that left the window; its id. */
export async function insertSignInAttempt(
  tx: Queryable,
  attempt: SignInAttempt,
  forgetBefore: Date,
): Promise<number> {
  await tx.query("DELETE FROM sign_in_attempts WHERE at <= $1", [forgetBefore.toISOString()]);
  const { rows } = await tx.query<{ id: number }>(
    `INSERT INTO sign_in_attempts (account_sha256, address, at) VALUES ($1, $2, $3) RETURNING id::integer AS id`,
    [attempt.accountSha256, attempt.address, attempt.at.toISOString()],
  );
  const id = rows[0]?.id;
  if (id === undefined) throw new Error("a sign-in attempt was not recorded");
  return id;
}

/** Forgets an attempt that succeeded, and the earlier failures of the same username from the same address. */
export async function clearSignInAttempts(
  q: Queryable,
  id: number,
  attempt: Omit<SignInAttempt, "at">,
): Promise<void> {
  await q.query("DELETE FROM sign_in_attempts WHERE id = $1 OR (account_sha256 = $2 AND address = $3)", [
    id,
    attempt.accountSha256,
    attempt.address,
  ]);
}
