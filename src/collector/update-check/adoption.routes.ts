/**
 * `GET /v1/adoption` on a region's collector: the devices active each day by
 * batch, market and build, as counts that name no device. The control plane
 * gathers them from every region (service token).
 */
import { Type as T } from "@sinclair/typebox";
import type { Db } from "../../core/db/index.ts";
import { parseDay } from "../../core/calendar/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import type { App, ErrorResponseBody } from "../../core/http/service.ts";
import { serviceTokenCheck } from "../../core/http/service-token.ts";
import { adoptionSince } from "./device-builds.repository.ts";

const Problem = T.Unsafe<ErrorResponseBody>({ $ref: "ErrorResponse#" });

/** A date, `YYYY-MM-DD`. */
export const DAY = "^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])$";

/**
 * Throws `request.invalid` unless `day` is a date that exists (src/calendar): the pattern
 * admits 31 February, which JavaScript rolls over, and year 0000, which PostgreSQL refuses.
 */
export function checkedDay(day: string): string {
  if (parseDay(day) === undefined) {
    throw new PhoneHomeError("request.invalid", `since ${day} is not a date`, { path: "/querystring/since" });
  }
  return day;
}

/** The rows a region answers. */
export const AdoptionRows = T.Array(
  T.Object({
    day: T.String({ description: "UTC date" }),
    batch: T.String(),
    market: T.String(),
    build: T.String(),
    devices: T.Integer({ description: "devices whose update checks that day reported this build" }),
  }),
);

/** Registers the region's adoption route. */
export function registerAdoptionRoutes(
  app: App,
  deps: { db: Db; region: string; serviceToken: string },
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
