/** `POST /v1/diagnostics`: thin edge over `receiveDiagnostics`. */
import { Type as T } from "@sinclair/typebox";
import type { App } from "../../core/http/index.ts";
import { ENVELOPE_ROUTE, EnvelopeSchema, envelopeOf, type IntakeContext } from "../ingest/index.ts";
import { MAX_EVENTS_PER_BATCH } from "./diagnostics.schema.ts";
import { receiveDiagnostics } from "./diagnostics.service.ts";

const Stored = T.Object({
  region: T.String(),
  storedIn: T.String({ description: "country where the events are stored" }),
  stored: T.Integer({ description: "events stored by this request" }),
  duplicates: T.Integer({ description: "events of the batch already stored (a retry); stored once" }),
  expired: T.Integer({ description: "events older than their retention; not stored" }),
});
const error = T.Ref("ErrorResponse");

/** Registers the diagnostics endpoint of a region's collector. */
export function registerDiagnosticsRoutes(app: App, ctx: IntakeContext): void {
  app.post(
    "/v1/diagnostics",
    {
      ...ENVELOPE_ROUTE,
      bodyLimit: ctx.maxBodyBytes,
      schema: {
        summary: "Send a batch of diagnostics events",
        description:
          "An envelope of a consent-based collection (e.g. `uep.diagnostics`) whose sealed payload is " +
          `\`{ events: [{ id, at, data }] }\` (1 to ${MAX_EVENTS_PER_BATCH} events). Stored only under a valid consent ` +
          "for the collection's purpose, checked in the transaction that stores it; otherwise `consent.required` " +
          "and nothing is stored. A retried batch stores each event once.",
        tags: ["diagnostics"],
        body: EnvelopeSchema,
        response: { 200: Stored, 400: error, 403: error, 413: error },
      },
    },
    async (request) => {
      const outcome = await receiveDiagnostics(ctx, await envelopeOf(ctx, request));
      return { region: ctx.region.id, storedIn: ctx.region.storedIn, ...outcome };
    },
  );
}
