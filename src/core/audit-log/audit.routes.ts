/**
 * The audit log over HTTP, on the control plane and on every collector: the
 * chain's head, public (its number and hash, nothing of what the entries
 * say), so that anyone can keep it and later show a rewrite; and the entries,
 * for operators' tools (service token).
 */
import { authorize } from "../../control-plane/operators/permissions.ts";
import { Type as T } from "@sinclair/typebox";
import type { Db } from "../db/index.ts";
import type { App, ErrorResponseBody } from "../http/service.ts";
import { serviceTokenCheck } from "../http/service-token.ts";
import type { RegionRef } from "../../control-plane/region-calls.ts";
import { PhoneHomeError } from "../errors/index.ts";
import { anchorRegionHeads } from "../../control-plane/anchors/anchors.ts";
import { auditHead, auditPage, lastAnchor } from "./audit.repository.ts";

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

/** Registers `GET /v1/audit-log/head` and `GET /v1/audit-log`; on the control plane, also the anchors of regions' heads. */
export function registerAuditRoutes(
  app: App,
  deps: { db: Db; store: string; serviceToken: string; regions?: () => RegionRef[] },
): void {
  const tags = ["audit"];
  const regions = deps.regions;
  if (regions !== undefined) {
    app.post(
      "/v1/audit-log/anchors",
      {
        onRequest: authorize(deps, "audit.anchor"),
        schema: {
          tags,
          security: [{ serviceToken: [] }],
          summary:
            "Write every region's audit head into the control plane's chain now (also done on a timer)",
          response: {
            200: T.Object({
              anchored: T.Array(T.Object({ region: T.String(), seq: T.Integer(), hash: T.String() })),
              unchanged: T.Array(T.String()),
              missing: T.Array(T.Object({ region: T.String(), reason: T.String() })),
            }),
            401: Problem,
          },
        },
      },
      async () => anchorRegionHeads(deps.db, regions()),
    );
    app.get(
      "/v1/audit-log/anchors/:region",
      {
        schema: {
          tags,
          summary: "The last head of a region's audit log the control plane anchored (public)",
          params: T.Object({ region: T.String({ pattern: "^[a-z][a-z0-9-]{0,30}$" }) }),
          response: {
            200: T.Object({
              region: T.String(),
              seq: T.Integer(),
              hash: T.String(),
              anchoredAt: T.String({ format: "date-time" }),
              entry: T.Integer({ description: "the control plane's audit entry that anchored it" }),
            }),
            400: Problem,
            404: Problem,
          },
        },
      },
      async (request) => {
        const anchor = await lastAnchor(deps.db, request.params.region);
        if (anchor === null) {
          throw new PhoneHomeError(
            "audit.not_anchored",
            `no head of region ${request.params.region} is anchored yet`,
          );
        }
        return { region: request.params.region, ...anchor };
      },
    );
  }
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
      // On the control plane, operators whose role may read it; on a collector, phonehome's tools.
      onRequest: regions === undefined ? serviceTokenCheck(deps.serviceToken) : authorize(deps, "audit.read"),
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
