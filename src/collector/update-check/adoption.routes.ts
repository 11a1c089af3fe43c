/**
 * `GET /v1/adoption` on a region's collector: the devices active each day by
 * batch, market and build, as counts that name no device. The control plane
 * gathers them from every region (service token).
 */
import { Type as T } from "@sinclair/typebox";
import { AdoptionRows, DAY } from "@phonehome/shared";
import { checkedDay } from "../../core/calendar/index.ts";
import type { Db } from "../../core/db/index.ts";
import type { App, ErrorResponseBody } from "../../core/http/index.ts";
import { serviceTokenCheck } from "../../core/http/index.ts";
import { adoptionSince } from "./device-builds.repository.ts";
import type { ServiceTokenSource } from "../../core/http/index.ts";

const Problem = T.Unsafe<ErrorResponseBody>({ $ref: "ErrorResponse#" });

/** Registers the region's adoption route. */
export function registerAdoptionRoutes(
  app: App,
  deps: { db: Db; region: string; serviceToken: ServiceTokenSource },
): void {
  app.get(
    "/v1/adoption",
    {
      onRequest: serviceTokenCheck(deps.serviceToken),
      schema: {
        tags: ["updates"],
        security: [{ serviceToken: [] }],
        summary: "Devices active each day by batch, market and build (counts only), from `since` on",
        querystring: T.Object(
          { since: T.String({ pattern: DAY, description: "first UTC date" }) },
          { additionalProperties: false },
        ),
        response: { 200: T.Object({ region: T.String(), rows: AdoptionRows }), 400: Problem, 401: Problem },
      },
    },
    async (request) => ({
      region: deps.region,
      rows: await adoptionSince(deps.db, checkedDay(request.query.since)),
    }),
  );
}
