/**
 * The control plane's anchors of regions' audit heads over HTTP: write every
 * region's head into the control plane's chain now (it is also done on a
 * timer), and read the last head of a region that was anchored (public).
 */
import { Type as T } from "@sinclair/typebox";
import type { Db } from "../../core/db/index.ts";
import { lastAnchor } from "../../core/audit-log/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import type { App, ErrorResponseBody } from "../../core/http/index.ts";
import { authorize } from "../operators/index.ts";
import type { RegionRef } from "../regions/index.ts";
import { anchorRegionHeads } from "./anchors.ts";
import type { ServiceTokenSource } from "../../core/http/index.ts";

const Problem = T.Unsafe<ErrorResponseBody>({ $ref: "ErrorResponse#" });

/** Registers `POST /v1/audit-log/anchors` and `GET /v1/audit-log/anchors/{region}`. */
export function registerAnchorRoutes(
  app: App,
  deps: { db: Db; serviceToken: ServiceTokenSource; regions: () => RegionRef[] },
): void {
  const tags = ["audit"];
  const regions = deps.regions;
  app.post(
    "/v1/audit-log/anchors",
    {
      onRequest: authorize(deps, "audit.anchor"),
      schema: {
        tags,
        security: [{ serviceToken: [] }],
        summary: "Write every region's audit head into the control plane's chain now (also done on a timer)",
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
