/**
 * `GET /v1/data-map` on the control plane: the public data map — what is
 * collected, from which devices, why, on which basis, where, for how long —
 * as JSON, the Record of Processing Activities (CSV, Markdown) or fideslang
 * YAML. It names no device and no owner; the transparency page reads it.
 */
import { Type as T } from "@sinclair/typebox";
import type { Config } from "../../core/config/index.ts";
import type { Db } from "../../core/db/index.ts";
import type { Dictionary } from "../../core/dictionary/index.ts";
import type { App } from "../../core/http/index.ts";
import { currentDataMap, type DataMapFormat, FORMATS, render } from "./datamap.service.ts";

/** Registers `GET /v1/data-map`. */
export function registerDataMapRoutes(
  app: App,
  deps: { db: Db; config: Config; dictionary: Dictionary },
): void {
  app.get(
    "/v1/data-map",
    {
      schema: {
        tags: ["data map"],
        summary:
          "What is collected, from which devices, why, on which legal basis, where it is stored, for how long",
        description:
          "Generated from the approved data dictionary, the regions and the fleet registry. `format`: `json` (default), " +
          "`ropa-csv` and `ropa-md` (the Record of Processing Activities, GDPR Art. 30: one row per field), `fides` (fideslang " +
          "YAML: a dataset per region, the system, the taxonomy extensions).",
        querystring: T.Object(
          {
            format: T.Optional(
              T.Union(
                Object.keys(FORMATS).map((f) => T.Literal(f)),
                { description: "json, ropa-csv, ropa-md or fides" },
              ),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: T.Unknown(), 400: T.Ref("ErrorResponse") },
      },
    },
    async (request, reply) => {
      const format = (request.query.format ?? "json") as DataMapFormat;
      const map = await currentDataMap(deps.db, deps.config, deps.dictionary);
      if (format === "json") return map;
      return reply.type(FORMATS[format]).send(render(map, format));
    },
  );
}
