/**
 * What each role may do on the control plane, in one table, and the hook
 * that enforces it on every operator route. A route names one permission; the
 * service token (phonehome's own services and tools) holds every one; an
 * operator's session holds those of the operator's role. An auditor reads
 * and changes nothing.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { runAs, SERVICE_TOKEN_ACTOR } from "../../core/audit-log/index.ts";
import type { Db } from "../../core/db/index.ts";
import { bearerToken, serviceTokenMatcher } from "../../core/http/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import type { Role } from "@phonehome/shared";
import { operatorOfSession } from "./operators.service.ts";
import { findOperator } from "./operators.repository.ts";
import type { ServiceTokenSource } from "../../core/http/index.ts";

/** The permissions of operator routes, each with the roles that hold it. */
export const PERMISSIONS = {
  "fleet.read": ["operator", "support", "auditor", "admin"],
  "fleet.import": ["operator", "admin"],
  "fleet.revoke": ["operator", "support", "admin"],
  "fleet.rekey": ["service-centre", "admin"],
  "release.check": ["operator", "privacy-reviewer", "auditor", "admin"],
  "release.write": ["operator", "admin"],
  "rollouts.read": ["operator", "support", "auditor", "admin"],
  "rollouts.write": ["operator", "admin"],
  "advisories.write": ["operator", "privacy-reviewer", "admin"],
  "adoption.read": ["operator", "privacy-reviewer", "auditor", "admin"],
  "incidents.read": ["operator", "privacy-reviewer", "support", "auditor", "admin"],
  "incidents.write": ["operator", "privacy-reviewer", "admin"],
  "audit.read": ["privacy-reviewer", "auditor", "admin"],
  "audit.anchor": ["admin"],
  "operators.write": ["admin"],
  "dictionary.read": ["operator", "privacy-reviewer", "auditor", "admin"],
  "dictionary.propose": ["operator", "privacy-reviewer", "admin"],
  "dictionary.review": ["privacy-reviewer"],
  // Revoking a reviewer's key: reviewers their own (a lost or stolen key); an admin, who manages operators
  // (operators.write), anyone's (a reviewer who left).
  "reviewer-keys.revoke": ["privacy-reviewer", "admin"],
  "device.data.open": ["support"],
  "ledger.read": ["operator", "privacy-reviewer", "support", "auditor", "admin"],
} as const satisfies Record<string, readonly Role[]>;
export type Permission = keyof typeof PERMISSIONS;

/** The permissions a role holds, in the table's order. */
export function permissionsOf(role: Role): Permission[] {
  return (Object.keys(PERMISSIONS) as Permission[]).filter((p) =>
    (PERMISSIONS[p] as readonly Role[]).includes(role),
  );
}

// Who each authorised request acts as, for the audit log (see `actorHook`).
const actorOf = new WeakMap<FastifyRequest, string>();

/**
 * A `preHandler` hook for the control plane: runs the handler as the actor
 * `authorize` found (an operator's session, or the service token), so that
 * what it appends to the audit log names them. It runs after the body is
 * read, which the request's own async context does not survive.
 */
export function actorHook(request: FastifyRequest, _reply: FastifyReply, done: () => void): void {
  runAs(actorOf.get(request) ?? SERVICE_TOKEN_ACTOR, done);
}

/**
 * An `onRequest` hook that admits the service token, or an operator session
 * whose role holds `permission`: `401 auth.required` without either,
 * `403 auth.forbidden` for a role without it. It runs before the body is read.
 */
export function authorize(deps: { db: Db; serviceToken: ServiceTokenSource }, permission: Permission) {
  const isServiceToken = serviceTokenMatcher(deps.serviceToken);
  const roles: readonly Role[] = PERMISSIONS[permission];
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const token = bearerToken(request);
    if (isServiceToken(token)) {
      actorOf.set(request, SERVICE_TOKEN_ACTOR);
      return;
    }
    const operator = token === undefined ? null : await operatorOfSession(deps.db, token);
    if (operator === null) {
      reply.header("www-authenticate", 'Bearer realm="phonehome"');
      throw new PhoneHomeError(
        "auth.required",
        token === undefined
          ? "sign in (POST /v1/sessions) or present the service token"
          : "the bearer token is neither the service token nor a live operator session",
      );
    }
    if (!roles.includes(operator.role)) {
      throw new PhoneHomeError(
        "auth.forbidden",
        `the role ${operator.role} may not do this (${permission}: ${roles.join(", ")})`,
      );
    }
    actorOf.set(request, `operator:${operator.username}`);
  };
}

/**
 * The operator an actor names, for the steps only a person takes (proposing or
 * reviewing a change, opening a device's data): `auth.forbidden` for the
 * service token, which acts for no one.
 */
export function operatorOf(actor: string, step: string): string {
  const username = /^operator:(.+)$/.exec(actor)?.[1];
  if (username === undefined) {
    throw new PhoneHomeError(
      "auth.forbidden",
      `${step} is a person's step: sign in as an operator (POST /v1/sessions); the service token cannot take it`,
    );
  }
  return username;
}

/**
 * Whether the operator an actor names holds `permission` (for a step whose
 * permission depends on what it is taken on); false for the service token and
 * for a disabled operator.
 */
export async function operatorHolds(db: Db, actor: string, permission: Permission): Promise<boolean> {
  const username = /^operator:(.+)$/.exec(actor)?.[1];
  if (username === undefined) return false;
  const operator = await findOperator(db, username);
  return (
    operator !== null &&
    operator.disabledAt === null &&
    (PERMISSIONS[permission] as readonly Role[]).includes(operator.role)
  );
}
