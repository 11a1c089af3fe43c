/**
 * Operators' accounts and sessions (docs/operators.md). Passwords are kept
 * only as Argon2id hashes (@node-rs/argon2, its defaults: the OWASP minimum);
 * a session is a random bearer token kept only as its SHA-256, for
 * `SESSION_HOURS`. A failed sign-in says the same whether the username or the
 * password was wrong, and costs the same (a hash is verified either way).
 */
import { createHash, randomBytes } from "node:crypto";
import { type Operator, type Role, ROLES } from "@phonehome/shared";
import { hash, verify } from "@node-rs/argon2";
import { appendAudit } from "../../core/audit-log/index.ts";
import type { Db, Queryable } from "../../core/db/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import type { SignInConfig } from "../../core/config/index.ts";
import { admitSignIn } from "./sign-in-throttle.ts";
import {
  clearSignInAttempts,
  findOperator,
  insertOperator,
  insertSession,
  revokeSession,
  sessionOperator,
} from "./operators.repository.ts";

/** How long a session lasts. */
export const SESSION_HOURS = 8;
/** Who signs in with a local password: everyone (no provider configured), local admins only, or no one. */
export type LocalSignIn = "admin" | "all" | "none";

/** The shortest password an operator may have. */
export const MIN_PASSWORD = 12;

const USERNAME = /^[a-z][a-z0-9._-]{1,63}$/;
// Verified when the username is unknown, so that a miss costs what a wrong password costs; made on first use.
let decoy: Promise<string> | undefined;
const decoyHash = () =>
  (decoy ??= hash("a password no operator has, verified so that a miss costs as a hit"));

/** An operator as the API shows it. */

const digest = (token: string) => createHash("sha256").update(token).digest("hex");

/** Adds an operator; `operator.invalid` for a bad username, role or password, or a username taken. */
export async function addOperator(
  db: Db,
  request: { username: string; name: string; role: string; password: string },
  actor: string,
  now = new Date(),
): Promise<Operator> {
  const invalid = (path: string, message: string) =>
    new PhoneHomeError("operator.invalid", message, { path });
  if (!USERNAME.test(request.username)) {
    throw invalid(
      "/username",
      "a username is 2-64 lower-case letters, digits, '.', '_' or '-', starting with a letter",
    );
  }
  if (!(ROLES as readonly string[]).includes(request.role)) {
    throw invalid("/role", `the role is one of ${ROLES.join(", ")}`);
  }
  if (request.name.trim() === "" || request.name.length > 200)
    throw invalid("/name", "a name is 1-200 characters");
  if ([...request.password].length < MIN_PASSWORD) {
    throw invalid("/password", `a password has at least ${MIN_PASSWORD} characters`);
  }
  const passwordHash = await hash(request.password);
  const role = request.role as Role;
  await db.transaction(async (tx) => {
    const added = await insertOperator(tx, {
      username: request.username,
      name: request.name,
      role,
      passwordHash,
      createdAt: now,
    });
    if (!added) throw invalid("/username", `an operator ${request.username} exists`);
    await appendAudit(
      tx,
      { actor, action: "operator.added", subject: request.username, reason: null, detail: { role } },
      now,
    );
  });
  return { username: request.username, name: request.name, role };
}

/** Who is signing in, and from where (the client's address, as the throttle counts it). */
export interface SignInRequest {
  username: string;
  password: string;
  address: string;
}

/**
 * Signs an operator in: a new session token, or `auth.sign_in_failed` (the
 * same for any wrong part). An attempt past the throttle's limits is refused
 * with `auth.sign_in_throttled` before the password is verified; the failure
 * that reaches a limit is in the audit log (`sign_in.locked`).
 */
export async function signIn(
  db: Db,
  limits: SignInConfig,
  credentials: SignInRequest,
  now = new Date(),
  local: LocalSignIn = "all",
): Promise<{ token: string; expiresAt: string; operator: Operator }> {
  if (local === "none") {
    throw new PhoneHomeError(
      "auth.local_sign_in_disabled",
      "operators sign in through the organisation's identity provider here: password sign-in is turned off",
    );
  }
  const admitted = await admitSignIn(db, limits, credentials, now);
  // A name no operator can have is not looked up: it may hold bytes the store refuses.
  const operator = USERNAME.test(credentials.username) ? await findOperator(db, credentials.username) : null;
  const matches = await verify(operator?.passwordHash ?? (await decoyHash()), credentials.password);
  if (operator === null || operator.disabledAt !== null || !matches) {
    if (admitted.locks.length > 0) {
      await db.transaction((tx) =>
        appendAudit(
          tx,
          {
            actor: "system:sign-in",
            action: "sign_in.locked",
            subject: USERNAME.test(credentials.username) ? credentials.username : "(not a username)",
            reason: null,
            detail: {
              address: admitted.attempt.address,
              windowSeconds: limits.windowSeconds,
              locks: admitted.locks,
            },
          },
          now,
        ),
      );
    }
    throw new PhoneHomeError("auth.sign_in_failed", "the username or the password is wrong");
  }
  // Told only to whoever knows the password: the account exists, and the provider is the way in.
  if (local === "admin" && operator.role !== "admin") {
    throw new PhoneHomeError(
      "auth.local_sign_in_disabled",
      "operators sign in through the organisation's identity provider here; only a local admin may use a password",
    );
  }
  const expiresAt = new Date(now.getTime() + SESSION_HOURS * 3_600_000);
  const token = await db.transaction(async (tx) => {
    // These failures were the operator's own: they count no further.
    await clearSignInAttempts(tx, admitted.id, admitted.attempt);
    return openSession(tx, operator.username, { method: "password" }, now, expiresAt);
  });
  return {
    token,
    expiresAt: expiresAt.toISOString(),
    operator: { username: operator.username, name: operator.name, role: operator.role },
  };
}

/**
 * Opens a session for `username` until `expiresAt` in the caller's
 * transaction, with its `session.opened` entry (how the operator signed in in
 * `detail`); the new bearer token, of which only the SHA-256 is kept.
 */
export async function openSession(
  tx: Queryable,
  username: string,
  detail: Record<string, unknown>,
  now: Date,
  expiresAt: Date,
): Promise<string> {
  const token = randomBytes(32).toString("base64url");
  await insertSession(tx, { tokenSha256: digest(token), username, createdAt: now, expiresAt });
  await appendAudit(
    tx,
    {
      actor: `operator:${username}`,
      action: "session.opened",
      subject: username,
      reason: null,
      detail: { ...detail, expiresAt: expiresAt.toISOString() },
    },
    now,
  );
  return token;
}

/** The operator a session token belongs to, or null (unknown, expired, revoked, operator disabled). */
export async function operatorOfSession(
  db: Db,
  token: string,
  now = new Date(),
): Promise<(Operator & { expiresAt: string }) | null> {
  const found = await sessionOperator(db, digest(token), now);
  return found === null
    ? null
    : {
        username: found.username,
        name: found.name,
        role: found.role,
        ...(found.issuer === null || found.subject === null
          ? {}
          : { provider: { issuer: found.issuer, subject: found.subject } }),
        expiresAt: found.expiresAt.toISOString(),
      };
}

/** Ends a session now, with its `session.closed` entry; true when it was live. */
export function signOut(db: Db, token: string, now = new Date()): Promise<boolean> {
  return db.transaction(async (tx) => {
    const username = await revokeSession(tx, digest(token), now);
    if (username === null) return false;
    await appendAudit(
      tx,
      {
        actor: `operator:${username}`,
        action: "session.closed",
        subject: username,
        reason: null,
        detail: {},
      },
      now,
    );
    return true;
  });
}
