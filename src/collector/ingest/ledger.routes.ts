/**
 * Read-only views of the ingest ledger and misrouting alerts, for the control
 * plane (service token): counts per minute by batch and build name no device,
 * but a batch can be one device, whose activity over time they would show —
 * operators read them through the control plane's `GET /v1/ledger`
 * (`ledger.read`), the incident report through its own calls.
 */
import { Type as T } from "@sinclair/typebox";
import { LedgerRowView, LedgerTotalView, MisroutingAlertView } from "@phonehome/shared";
import type { Db } from "../../core/db/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import type { App } from "../../core/http/index.ts";
import { serviceTokenCheck } from "../../core/http/index.ts";
import { ledgerTotals, listLedger, listMisroutingAlerts } from "./ledger.repository.ts";
import type { ServiceTokenSource } from "../../core/http/index.ts";

const FOR_THE_CONTROL_PLANE =
  "Requires the service token: counts over time by batch would show one device's activity where a batch is " +
  "one device. Operators read every region's ledger through the control plane's `GET /v1/ledger` (`ledger.read`).";

const NameList = T.String({
  pattern: "^([A-Za-z0-9][A-Za-z0-9._-]{0,63}(,[A-Za-z0-9][A-Za-z0-9._-]{0,63}){0,99})?$",
  description: "comma-separated, at most 100; empty or absent: every one",
});

/** Registers `GET /v1/ledger`, `GET /v1/ledger/totals` and `GET /v1/alerts/misrouting`, for the service token. */
export function registerLedgerRoutes(app: App, deps: { db: Db; serviceToken: ServiceTokenSource }): void {
  const { db } = deps;
  const onRequest = serviceTokenCheck(deps.serviceToken);
  const security = [{ serviceToken: [] }];
  app.get(
    "/v1/ledger",
    {
      onRequest,
      schema: {
        security,
        summary: "Counts of stored and refused messages, by reason, batch and build",
        description: FOR_THE_CONTROL_PLANE,
        tags: ["ledger"],
        querystring: T.Object(
          {
            since: T.Optional(
              T.String({ format: "date-time", description: "earliest minute (default: 24 hours ago)" }),
            ),
            limit: T.Optional(
              T.String({ pattern: "^[1-9][0-9]{0,3}$", description: "rows, 1-5000 (default 500)" }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: T.Object({ rows: T.Array(LedgerRowView) }),
          400: T.Ref("ErrorResponse"),
          401: T.Ref("ErrorResponse"),
        },
      },
    },
    async (request) => {
      const since = request.query.since ? new Date(request.query.since) : new Date(Date.now() - 86_400_000);
      const limit = Number(request.query.limit ?? 500);
      if (limit > 5000)
        throw new PhoneHomeError("request.invalid", "limit is at most 5000", { path: "/querystring/limit" });
      const rows = await listLedger(db, since, limit);
      return { rows: rows.map((r) => ({ ...r, minute: new Date(r.minute).toISOString() })) };
    },
  );
  app.get(
    "/v1/ledger/totals",
    {
      onRequest,
      schema: {
        security,
        summary:
          "Counts of stored, replayed and refused messages in a time window, summed, for some batches and builds",
        description: FOR_THE_CONTROL_PLANE,
        tags: ["ledger"],
        querystring: T.Object(
          {
            since: T.String({ format: "date-time", description: "start of the window (inclusive)" }),
            until: T.Optional(
              T.String({ format: "date-time", description: "end of the window (default: now)" }),
            ),
            batches: T.Optional(NameList),
            builds: T.Optional(NameList),
          },
          { additionalProperties: false },
        ),
        response: {
          200: T.Object({
            rows: T.Array(LedgerTotalView),
          }),
          400: T.Ref("ErrorResponse"),
          401: T.Ref("ErrorResponse"),
        },
      },
    },
    async (request) => {
      const since = new Date(request.query.since);
      const until = request.query.until ? new Date(request.query.until) : new Date();
      if (since >= until)
        throw new PhoneHomeError("request.invalid", "since must come before until", {
          path: "/querystring/since",
        });
      const list = (text: string | undefined) => (text ? text.split(",") : []);
      return {
        rows: await ledgerTotals(
          db,
          { since, until },
          { batches: list(request.query.batches), builds: list(request.query.builds) },
        ),
      };
    },
  );
  app.get(
    "/v1/alerts/misrouting",
    {
      onRequest,
      schema: {
        summary: "Misrouting alerts: devices of another region's market that reached this collector",
        description: FOR_THE_CONTROL_PLANE,
        tags: ["ledger"],
        security,
        response: { 200: T.Object({ alerts: T.Array(MisroutingAlertView) }), 401: T.Ref("ErrorResponse") },
      },
    },
    async () => {
      const alerts = await listMisroutingAlerts(db);
      return {
        alerts: alerts.map((a) => ({
          ...a,
          firstSeen: new Date(a.firstSeen).toISOString(),
          lastSeen: new Date(a.lastSeen).toISOString(),
        })),
      };
    },
  );
}
