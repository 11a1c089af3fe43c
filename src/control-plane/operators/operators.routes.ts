/**
 * Operators on the control plane: adding one (service token, or `phonehome
 * operator add`), signing in for a session, reading and ending it. Which
 * routes each role may use is the next step (docs/operators.md).
 */
import type { FastifyRequest } from "fastify";
import { bearerToken } from "../../core/http/index.ts";
import { authorize, permissionsOf } from "./permissions.ts";
import { OperatorView, ROLES, SessionOperatorView, SessionView } from "@phonehome/shared";
import { Type as T } from "@sinclair/typebox";
import type { SignInConfig } from "../../core/config/index.ts";
import type { Db } from "../../core/db/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import type { App, ErrorResponseBody } from "../../core/http/index.ts";
import { currentActor } from "../../core/audit-log/index.ts";
import {
  addOperator,
  type LocalSignIn,
  operatorOfSession,
  SESSION_HOURS,
  signIn,
  signOut,
} from "./operators.service.ts";
import type { OidcSignIn } from "./oidc.service.ts";
import { registerOidcRoutes } from "./oidc.routes.ts";
import type { ServiceTokenSource } from "../../core/http/index.ts";

const Problem = T.Unsafe<ErrorResponseBody>({ $ref: "ErrorResponse#" });

/** The session token of `Authorization: Bearer <token>`; `auth.session_invalid` without one. */
function bearer(request: FastifyRequest): string {
  const token = bearerToken(request);
  if (token === undefined)
    throw new PhoneHomeError("auth.session_invalid", "a bearer session token is required");
  return token;
}

/** Registers `POST /v1/operators`, `POST /v1/sessions`, `GET` and `DELETE /v1/sessions/current`. */
export function registerOperatorRoutes(
  app: App,
  deps: {
    db: Db;
    serviceToken: ServiceTokenSource;
    signIn: SignInConfig;
    /** Who may sign in with a password ("all" without a provider). */
    local: LocalSignIn;
    /** The OpenID provider's relying party, when one is configured. */
    oidc: OidcSignIn | undefined;
  },
): void {
  const tags = ["operators"];
  app.post(
    "/v1/operators",
    {
      onRequest: authorize(deps, "operators.write"),
      schema: {
        tags,
        security: [{ serviceToken: [] }],
        summary: "Add an operator with one role; the password is kept only as an Argon2id hash",
        body: T.Object(
          {
            username: T.String({ maxLength: 64 }),
            name: T.String({ maxLength: 200 }),
            role: T.String({ description: ROLES.join(", ") }),
            password: T.String({ maxLength: 1000, description: "at least 12 characters" }),
          },
          { additionalProperties: false },
        ),
        response: { 200: OperatorView, 400: Problem, 401: Problem },
      },
    },
    async (request) => addOperator(deps.db, request.body, currentActor()),
  );
  app.post(
    "/v1/sessions",
    {
      schema: {
        tags,
        summary: `Sign in: a session token for ${SESSION_HOURS} hours`,
        description:
          `Failed sign-ins are throttled: after ${deps.signIn.perAccountAndAddress} for one username from one address, ` +
          `${deps.signIn.perAddress} from one address or ${deps.signIn.perAccount} for one username from every address ` +
          `within ${deps.signIn.windowSeconds} s, further attempts are refused with 429 \`auth.sign_in_throttled\` ` +
          "and `Retry-After`, without their password being checked, until the oldest of those failures is that old.",
        body: T.Object(
          { username: T.String({ maxLength: 64 }), password: T.String({ maxLength: 1000 }) },
          { additionalProperties: false },
        ),
        response: {
          200: SessionView,
          400: Problem,
          401: Problem,
          403: Problem,
          429: Problem,
        },
      },
    },
    async (request) =>
      signIn(deps.db, deps.signIn, { ...request.body, address: request.ip }, new Date(), deps.local),
  );
  registerOidcRoutes(app, { oidc: deps.oidc });
  app.get(
    "/v1/sessions/current",
    {
      schema: {
        tags,
        summary: "The operator of the bearer session, what their role may do, and when the session ends",
        response: {
          200: SessionOperatorView,
          401: Problem,
        },
      },
    },
    async (request) => {
      const operator = await operatorOfSession(deps.db, bearer(request));
      if (operator === null)
        throw new PhoneHomeError("auth.session_invalid", "the session is not live: sign in again");
      const signOutUrl =
        operator.provider === undefined || deps.oidc === undefined ? undefined : await deps.oidc.signOutUrl();
      return {
        ...operator,
        permissions: permissionsOf(operator.role),
        ...(signOutUrl === undefined ? {} : { signOutUrl }),
      };
    },
  );
  app.delete(
    "/v1/sessions/current",
    {
      schema: {
        tags,
        summary:
          "Sign out: end the bearer session (a session opened through the provider: then send the browser to `signOutUrl`)",
        response: { 204: T.Null(), 401: Problem },
      },
    },
    async (request, reply) => {
      const ended = await signOut(deps.db, bearer(request));
      if (!ended) throw new PhoneHomeError("auth.session_invalid", "the session is not live");
      return reply.code(204).send(null);
    },
  );
}
