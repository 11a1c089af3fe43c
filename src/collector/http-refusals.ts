/**
 * HTTP-layer refusals of the device-facing routes, counted in the ingest
 * ledger. A body too large (413), of another media type (415) or that is not
 * JSON (400) is refused by Fastify before any route code runs, so the intake
 * never sees it; this hook counts it, through the region's write path, with
 * the error code as the reason and nothing of the request: the body was never
 * read, and every other value comes from a fixed list, so the count cannot be
 * what fails the transaction it shares with devices' records.
 */
import type { ErrorCode } from "../core/errors/index.ts";
import { type App, toPhoneHomeError } from "../core/http/index.ts";
import type { RegionWriter } from "./ingest/index.ts";

/**
 * The device-facing routes whose HTTP-layer refusals are counted, by method and
 * route pattern, with the collection the ledger counts them under: the one the
 * endpoint takes, or '' where it takes more than one (the body, which would
 * say, was not read).
 */
export const COUNTED_ROUTES: ReadonlyMap<string, string> = new Map([
  ["POST /v1/activations", "activation"],
  ["POST /v1/diagnostics", ""],
  ["POST /v1/updates/check", "update.check"],
  ["POST /v1/updates/report", "update.report"],
  ["PUT /v1/owner/consents/:purpose", ""],
]);

/** The codes of refusals made by the HTTP layer before route code runs. */
const HTTP_LAYER_CODES: ReadonlySet<ErrorCode> = new Set([
  "request.too_large",
  "request.unsupported_media_type",
  "request.malformed",
]);

/**
 * Counts HTTP-layer refusals of `COUNTED_ROUTES` in the ledger before they are
 * answered. A count that fails (the store is down) is logged and the refusal
 * is answered all the same, with its structured error.
 */
export function countHttpRefusals(app: App, writer: RegionWriter): void {
  app.addHook("onError", async (request, _reply, error) => {
    // Fastify's own body errors carry FST_ERR_CTP_* codes; a route's refusals are counted by the intake.
    if (!String((error as { code?: unknown }).code).startsWith("FST_ERR_CTP_")) return;
    const collection = COUNTED_ROUTES.get(`${request.method} ${request.routeOptions.url ?? ""}`);
    if (collection === undefined) return;
    const reason = toPhoneHomeError(error).code;
    if (!HTTP_LAYER_CODES.has(reason)) return;
    try {
      await writer.submit({
        kind: "refusal",
        ledger: {
          outcome: "refused",
          reason,
          collection,
          schemaVersion: 0,
          batch: "",
          build: "",
          market: "",
        },
      });
    } catch (err) {
      request.log.warn({ err, reason }, "an HTTP-layer refusal could not be counted in the ingest ledger");
    }
  });
}
