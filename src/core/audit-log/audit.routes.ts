/**
 * The audit log over HTTP, on the control plane and on every collector: the
 * chain's head, public (its number and hash, nothing of what the entries
 * say), so that anyone can keep it and later show a rewrite; and the entries,
 * for operators' tools. The control plane's anchors of regions' heads are
 * src/control-plane/anchors/anchors.routes.ts.
 */
import { Type as T } from "@sinclair/typebox";
import type { onRequestHookHandler } from "fastify";
import type { Db } from "../db/index.ts";
import type { App, ErrorResponseBody } from "../http/index.ts";
import { auditHead, auditPage } from "./audit.repository.ts";

const Problem = T.Unsafe<ErrorResponseBody>({ $ref: "ErrorResponse#" });
const Head = T.Object({
  store: T.String({ description: "`control-plane`, or the region whose store it is" }),
  seq: T.Integer({ description: "the last entry's number (0: empty)" }),
  hash: T.String({ description: "the last entry's hash (64 zeros: empty)" }),
  at: T.Union([T.String({ format: "date-time" }), T.Null()]),
});
const Entry = T.Object({
  seq: T.Integer(),
  at: T.String({ format: "date-time" }),
  actor: T.String(),
  action: T.String(),
  subject: T.String(),
  reason: T.Union([T.String(), T.Null()]),
  detail: T.Record(T.String(), T.Unknown()),
  prevHash: T.String(),
  hash: T.String(),
});

/**
 * Registers `GET /v1/audit-log/head` and `GET /v1/audit-log`. Who may read the
 * entries is the service's to say (`readEntries`): on a collector phonehome's
 * tools with the service token, on the control plane operators whose role may.
 */
export function registerAuditRoutes(
  app: App,
  deps: { db: Db; store: string; readEntries: onRequestHookHandler },
): void {
  const tags = ["audit"];
  app.get(
    "/v1/audit-log/head",
    {
      schema: {
        tags,
        summary:
          "The audit log's head: the last entry's number and hash (public; keep it to detect a rewrite later)",
        response: { 200: Head },
      },
    },
    async () => ({ store: deps.store, ...(await auditHead(deps.db)) }),
  );
  app.get(
    "/v1/audit-log",
    {
      onRequest: deps.readEntries,
      schema: {
        tags,
        security: [{ serviceToken: [] }],
        summary: "Audit log entries after `after`, in order",
        querystring: T.Object(
          {
            after: T.Optional(T.String({ pattern: "^(0|[1-9][0-9]{0,15})$", description: "default 0" })),
            limit: T.Optional(
              T.String({ pattern: "^[1-9][0-9]{0,3}$", description: "1-1000, default 1000" }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: T.Object({ store: T.String(), entries: T.Array(Entry) }),
          400: Problem,
          401: Problem,
        },
      },
    },
    async (request) => ({
      store: deps.store,
      entries: await auditPage(
        deps.db,
        Number(request.query.after ?? 0),
        Math.min(1000, Number(request.query.limit ?? 1000)),
      ),
    }),
  );
}
