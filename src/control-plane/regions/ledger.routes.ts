/**
 * `GET /v1/ledger` on the control plane: every region's ingest ledger — counts
 * of stored and refused messages per minute, by reason, collection, batch,
 * build and market, never a payload — gathered in one answer for the console.
 * A region that does not answer is named, never counted as zero.
 */
import { Type as T } from "@sinclair/typebox";
import type { Db } from "../../core/db/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import { GatheredLedgerView, type LedgerMinute } from "@phonehome/shared";
import type { App, ErrorResponseBody } from "../../core/http/index.ts";
import { authorize } from "../operators/index.ts";
import { callRegion, fromEveryRegion, type RegionRef } from "./region-calls.ts";
import type { ServiceTokenSource } from "../../core/http/index.ts";

const Problem = T.Unsafe<ErrorResponseBody>({ $ref: "ErrorResponse#" });

// Each region answers at most this many rows; the console asks for a day or a week.
const ROWS_PER_REGION = 5000;
const MAX_WINDOW_DAYS = 31;

/** Registers `GET /v1/ledger`. */
export function registerLedgerRoute(
  app: App,
  deps: { db: Db; serviceToken: ServiceTokenSource; regions: () => readonly RegionRef[] },
): void {
  app.get(
    "/v1/ledger",
    {
      onRequest: authorize(deps, "ledger.read"),
      schema: {
        tags: ["ingest"],
        security: [{ serviceToken: [] }],
        summary:
          "Every region's ingest ledger since a time: stored and refused messages by reason, batch and build",
        description:
          `Counts per minute from each region's \`GET /v1/ledger\` (at most ${ROWS_PER_REGION} rows per region; ` +
          "`truncated` names a region that had more). `missing` names a region that did not answer.",
        querystring: T.Object(
          { since: T.String({ format: "date-time", description: `at most ${MAX_WINDOW_DAYS} days ago` }) },
          { additionalProperties: false },
        ),
        response: {
          200: GatheredLedgerView,
          400: Problem,
          401: Problem,
          403: Problem,
        },
      },
    },
    async (request) => {
      const since = new Date(request.query.since);
      if (Date.now() - since.getTime() > MAX_WINDOW_DAYS * 86_400_000) {
        throw new PhoneHomeError(
          "request.invalid",
          `the ledger is read at most ${MAX_WINDOW_DAYS} days back`,
          {
            path: "/querystring/since",
          },
        );
      }
      const path = `/v1/ledger?since=${encodeURIComponent(since.toISOString())}&limit=${ROWS_PER_REGION}`;
      const gathered = await fromEveryRegion(
        deps.regions(),
        async (region) =>
          (await callRegion<{ rows: LedgerMinute[] }>(region, deps.serviceToken, "GET", path)).rows,
      );
      return {
        since: since.toISOString(),
        rows: gathered.answers.flatMap(({ region, value }) => value.map((r) => ({ region, ...r }))),
        truncated: gathered.answers.filter((a) => a.value.length >= ROWS_PER_REGION).map((a) => a.region),
        missing: gathered.missing,
      };
    },
  );
}
