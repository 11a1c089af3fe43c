/**
 * The control plane's record of a service-token rotation (docs/operations.md):
 * `keys rotate-service-token` reports each step here, with the token it
 * presents before the step, before it writes a file; the step goes into the
 * audit log in its own transaction. Fingerprints only: no token is ever sent
 * in a body or logged.
 */
import { type Static, Type as T } from "@sinclair/typebox";
import { appendAudit, currentActor } from "../../core/audit-log/index.ts";
import type { Db } from "../../core/db/index.ts";
import type { App, ErrorResponseBody, ServiceTokenSource } from "../../core/http/index.ts";
import { serviceTokenCheck } from "../../core/http/index.ts";

const Problem = T.Unsafe<ErrorResponseBody>({ $ref: "ErrorResponse#" });
const FINGERPRINT = T.String({
  pattern: "^sha256:[0-9a-f]{32}$",
  description: "a token's fingerprint, never the token",
});

const RotationStep = T.Union([
  T.Object(
    {
      step: T.Literal("staged"),
      host: T.String({
        minLength: 1,
        maxLength: 255,
        description: "the machine whose data directory changed",
      }),
      staged: FINGERPRINT,
    },
    { additionalProperties: false },
  ),
  T.Object(
    {
      step: T.Literal("rotated"),
      host: T.String({
        minLength: 1,
        maxLength: 255,
        description: "the machine whose data directory changed",
      }),
      previous: FINGERPRINT,
      current: FINGERPRINT,
      until: T.String({
        format: "date-time",
        maxLength: 40,
        description: "when the previous token stops being accepted",
      }),
    },
    { additionalProperties: false },
  ),
]);

/** Registers `POST /v1/service-token/rotations` (the service token only). */
export function registerServiceTokenRoutes(
  app: App,
  deps: { db: Db; serviceToken: ServiceTokenSource },
): void {
  app.post(
    "/v1/service-token/rotations",
    {
      onRequest: serviceTokenCheck(deps.serviceToken),
      schema: {
        tags: ["keys"],
        security: [{ serviceToken: [] }],
        summary: "Record a step of a service-token rotation in the audit log (fingerprints only)",
        description:
          "`phonehome keys rotate-service-token` calls it before it writes a file: `staged` (a new token accepted, " +
          "not presented yet) and `rotated` (the new token presented, the previous one accepted until `until`).",
        body: RotationStep,
        response: { 200: T.Object({ recorded: T.Literal(true) }), 400: Problem, 401: Problem },
      },
    },
    async (request) => {
      const body = request.body as Static<typeof RotationStep>;
      const { step, host, ...detail } = body;
      await deps.db.transaction(async (tx) => {
        await appendAudit(tx, {
          actor: currentActor(),
          action: `service_token.${step}`,
          subject: host,
          reason: null,
          detail,
        });
      });
      return { recorded: true as const };
    },
  );
}
