/**
 * Queries of sign-ins through an OpenID provider: the sign-ins begun and not
 * yet come back (`oidc_sign_ins`), and the operators a provider vouches for.
 * One function per query; the caller passes the database or a transaction.
 */
import type { Role } from "@phonehome/shared";
import type { Queryable } from "../../core/db/index.ts";

/** A sign-in begun with the provider: what its callback needs, keyed by the state's SHA-256. */
export interface PendingSignIn {
  stateSha256: string;
  /** SHA-256 of the random value in the cookie of the browser that began it. */
  browserSha256: string;
  codeVerifier: string;
  nonce: string;
  address: string;
  createdAt: Date;
  expiresAt: Date;
}

/** Forgets sign-ins that expired before `now`, and counts those `address` began since `since`. */
export async function pendingSignInsFrom(
  q: Queryable,
  address: string,
  since: Date,
  now: Date,
): Promise<{ count: number; oldest: Date | null }> {
  await q.query("DELETE FROM oidc_sign_ins WHERE expires_at <= $1", [now.toISOString()]);
  const { rows } = await q.query<{ count: number; oldest: Date | string | null }>(
    `SELECT count(*)::integer AS count, min(created_at) AS oldest FROM oidc_sign_ins
      WHERE address = $1 AND created_at > $2`,
    [address, since.toISOString()],
  );
  const row = rows[0];
  return {
    count: row?.count ?? 0,
    oldest: row?.oldest === undefined || row.oldest === null ? null : new Date(row.oldest),
  };
}

/** Records a sign-in begun. */
export async function insertPendingSignIn(q: Queryable, s: PendingSignIn): Promise<void> {
  await q.query(
    `INSERT INTO oidc_sign_ins (state_sha256, browser_sha256, code_verifier, nonce, address, created_at, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [
      s.stateSha256,
      s.browserSha256,
      s.codeVerifier,
      s.nonce,
      s.address,
      s.createdAt.toISOString(),
      s.expiresAt.toISOString(),
    ],
  );
}

/**
 * Takes a begun sign-in by its state's SHA-256: deleted as it is read, so
 * that a state is used once however many callbacks arrive at once; null when
 * there is none (forged, or used already). The caller checks its expiry.
 */
export async function takePendingSignIn(q: Queryable, stateSha256: string): Promise<PendingSignIn | null> {
  const { rows } = await q.query<PendingSignIn>(
    `DELETE FROM oidc_sign_ins WHERE state_sha256 = $1
     RETURNING state_sha256 AS "stateSha256", browser_sha256 AS "browserSha256", code_verifier AS "codeVerifier",
               nonce, address, created_at AS "createdAt", expires_at AS "expiresAt"`,
    [stateSha256],
  );
  const row = rows[0];
  return row === undefined
    ? null
    : { ...row, createdAt: new Date(row.createdAt), expiresAt: new Date(row.expiresAt) };
}

/** An operator a provider vouches for, as stored. */
export interface ProviderOperator {
  username: string;
  name: string;
  role: Role;
  disabledAt: Date | null;
}

/** The operator of a provider's subject, or null. */
export async function findProviderOperator(
  q: Queryable,
  issuer: string,
  subject: string,
): Promise<ProviderOperator | null> {
  const { rows } = await q.query<ProviderOperator>(
    `SELECT username, name, role, disabled_at AS "disabledAt" FROM operators WHERE issuer = $1 AND subject = $2`,
    [issuer, subject],
  );
  return rows[0] ?? null;
}

/** Adds an operator a provider vouches for (no password); false when the username or the subject is taken. */
export async function insertProviderOperator(
  q: Queryable,
  o: { username: string; name: string; role: Role; issuer: string; subject: string; createdAt: Date },
): Promise<boolean> {
  const { rows } = await q.query<{ username: string }>(
    `INSERT INTO operators (username, name, role, issuer, subject, created_at) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT DO NOTHING RETURNING username`,
    [o.username, o.name, o.role, o.issuer, o.subject, o.createdAt.toISOString()],
  );
  return rows.length === 1;
}

/** Sets the name and role the provider now gives an operator. */
export async function updateProviderOperator(
  q: Queryable,
  o: { username: string; name: string; role: Role },
): Promise<void> {
  await q.query("UPDATE operators SET name = $2, role = $3 WHERE username = $1 AND issuer IS NOT NULL", [
    o.username,
    o.name,
    o.role,
  ]);
}
