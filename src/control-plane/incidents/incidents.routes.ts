/**
 * Incidents over HTTP on the control plane (service token): open, list, read,
 * link the fix or close, sweep the collectors' misrouting alerts, send and
 * resend notices, and the regulator report as JSON or Markdown.
 */
import { authorize, type Permission } from "../operators/index.ts";
import { type Static, Type as T } from "@sinclair/typebox";
import type { LeasedJob } from "../../core/leases/index.ts";
import type { App, ErrorResponseBody } from "../../core/http/index.ts";
import {
  DestinationView,
  INCIDENT_ID,
  IncidentNoticeView,
  IncidentSummaryView,
  IncidentView,
  NOTICE_ID,
} from "@phonehome/shared";
import { changeIncident, getIncident, listIncidents, openIncident } from "./incidents.service.ts";
import type { IncidentContext } from "./incident-steps.ts";
import { resendNotice, sendNotice } from "./notices.service.ts";
import { sweepAlerts } from "./sweep.service.ts";
import { incidentReport } from "./report.ts";
import { reportMarkdown } from "./report.markdown.ts";

const Problem = T.Unsafe<ErrorResponseBody>({ $ref: "ErrorResponse#" });
const Name = T.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$" });
const Scope = T.Object(
  {
    batches: T.Optional(T.Array(Name, { maxItems: 1000 })),
    builds: T.Optional(T.Array(Name, { maxItems: 100 })),
    markets: T.Optional(T.Array(T.String({ pattern: "^[A-Z]{2}$" }), { maxItems: 250 })),
    from: T.Optional(T.String({ format: "date-time", description: "devices provisioned from (inclusive)" })),
    to: T.Optional(T.String({ format: "date-time", description: "devices provisioned before" })),
  },
  {
    additionalProperties: false,
    description:
      "which devices: each list narrows the choice (absent or empty: any); the window is when they were provisioned",
  },
);
const OpenBody = T.Object(
  {
    title: T.String({ minLength: 1, maxLength: 200 }),
    description: T.String({ minLength: 1, maxLength: 5000 }),
    scope: Scope,
    dataCategories: T.Optional(T.Array(T.String({ minLength: 1, maxLength: 100 }), { maxItems: 100 })),
    destinations: T.Optional(T.Array(DestinationView, { maxItems: 100 })),
    advisory: T.Optional(T.String({ pattern: "^[A-Z][A-Z0-9-]{2,40}$" })),
  },
  { additionalProperties: false },
);
const IdParams = T.Object({ id: T.String({ pattern: INCIDENT_ID }) });
const NoticeText = T.Object(
  {
    title: T.String({ minLength: 1, maxLength: 200 }),
    body: T.String({ minLength: 1, maxLength: 5000 }),
  },
  { additionalProperties: false },
);

/** Registers the control plane's incident routes. */
export function registerIncidentRoutes(app: App, ctx: IncidentContext): void {
  const allow = (permission: Permission) => authorize(ctx, permission);
  const tags = ["incidents"];
  const security = [{ serviceToken: [] }];
  const errors = { 400: Problem, 401: Problem, 404: Problem, 500: Problem };

  app.post(
    "/v1/incidents",
    {
      onRequest: allow("incidents.write"),
      // 5,000 characters of description, 100 destinations of 4,000 and 1,000 batch names.
      bodyLimit: 1024 * 1024,
      schema: {
        tags,
        security,
        summary: "Open an incident: find the affected devices and record the data involved and where it went",
        description:
          "The release gate's findings for the builds involved add the data categories the package policy lists for a " +
          "blocked component, and the endpoints they name. Refused with `incident.invalid` (nothing stored) when the scope " +
          "selects no registered device.",
        body: OpenBody,
        response: { 200: IncidentView, ...errors },
      },
    },
    async (request) => openIncident(ctx, request.body as Static<typeof OpenBody>),
  );

  app.get(
    "/v1/incidents",
    {
      onRequest: allow("incidents.read"),
      schema: {
        tags,
        security,
        summary: "Every incident, newest first",
        response: {
          200: T.Object({
            incidents: T.Array(IncidentSummaryView),
          }),
          401: Problem,
        },
      },
    },
    async () => ({ incidents: await listIncidents(ctx.db) }),
  );

  app.post(
    "/v1/incidents/sweep",
    {
      onRequest: allow("incidents.write"),
      schema: {
        tags,
        security,
        summary:
          "Read every collector's misrouting alerts now and open an incident for each batch and build not yet covered",
        description: "The control plane also does this every `incidents.sweepIntervalSeconds`.",
        response: {
          200: T.Object({
            opened: T.Array(IncidentView),
            known: T.Array(T.String()),
            skipped: T.Array(T.Object({ alert: T.String(), reason: T.String() })),
            regions: T.Object({
              answered: T.Array(T.String()),
              missing: T.Array(T.Object({ region: T.String(), reason: T.String() })),
            }),
          }),
          401: Problem,
          500: Problem,
        },
      },
    },
    async () => sweepAlerts(ctx),
  );

  app.get(
    "/v1/incidents/:id",
    {
      onRequest: allow("incidents.read"),
      schema: {
        tags,
        security,
        summary:
          "An incident, its devices, and its notices with how many devices got each (asked of the regions)",
        params: IdParams,
        response: { 200: IncidentView, ...errors },
      },
    },
    async (request) => getIncident(ctx, request.params.id, { deliveries: true }),
  );

  app.patch(
    "/v1/incidents/:id",
    {
      onRequest: allow("incidents.write"),
      schema: {
        tags,
        security,
        summary: "Link the advisory that fixes the incident, or close it",
        params: IdParams,
        body: T.Object(
          {
            advisory: T.Optional(T.String({ pattern: "^[A-Z][A-Z0-9-]{2,40}$" })),
            status: T.Optional(T.Literal("closed")),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: IncidentView, ...errors },
      },
    },
    async (request) => changeIncident(ctx, request.params.id, request.body),
  );

  app.post(
    "/v1/incidents/:id/notices",
    {
      onRequest: allow("incidents.write"),
      // A notice of 5,000 characters, each up to 6 bytes when escaped.
      bodyLimit: 64 * 1024,
      schema: {
        tags,
        security,
        summary:
          "Send a notice to every affected device: each home region gives it at the device's next check-in",
        params: IdParams,
        body: NoticeText,
        response: { 200: IncidentNoticeView, ...errors },
      },
    },
    async (request) => sendNotice(ctx, request.params.id, request.body),
  );

  app.post(
    "/v1/incidents/:id/notices/:notice/send",
    {
      onRequest: allow("incidents.write"),
      schema: {
        tags,
        security,
        summary:
          "Hand a notice to the regions again (after one could not be reached); no device is told twice",
        params: T.Object({
          id: T.String({ pattern: INCIDENT_ID }),
          notice: T.String({ pattern: NOTICE_ID }),
        }),
        response: { 200: IncidentNoticeView, ...errors },
      },
    },
    async (request) => resendNotice(ctx, request.params.id, request.params.notice),
  );

  app.get(
    "/v1/incidents/:id/report",
    {
      onRequest: allow("incidents.read"),
      schema: {
        tags,
        security,
        summary:
          "The regulator report: timeline, devices and markets, data, storage from the ledgers, measures, notices",
        description:
          "Made from the running system at the time of the request. `format=markdown` answers `text/markdown`; the JSON is " +
          "the same facts (format `phonehome.incident-report/1`).",
        params: IdParams,
        querystring: T.Object(
          { format: T.Optional(T.Union([T.Literal("json"), T.Literal("markdown")])) },
          { additionalProperties: false },
        ),
        response: { 200: T.Unknown(), ...errors },
      },
    },
    async (request, reply) => {
      const report = await incidentReport(ctx, request.params.id);
      if (request.query.format === "markdown") {
        return reply.type("text/markdown; charset=utf-8").send(reportMarkdown(report));
      }
      return report;
    },
  );
}

/** The name of the incident sweep's lease and runs. */
export const SWEEP_JOB = "incident-sweep";

/** The sweep of the alerts as a leased job, once every `seconds` (0: only on request). */
export function sweepJob(
  ctx: IncidentContext,
  seconds: number,
  log: { info(obj: object, msg: string): void },
): LeasedJob {
  return {
    name: SWEEP_JOB,
    periodMs: seconds * 1000,
    run: async ({ signal }) => {
      for (const i of (await sweepAlerts(ctx, new Date(), signal)).opened) {
        log.info({ incident: i.id, devices: i.devices.total }, `incident opened: ${i.title}`);
      }
    },
  };
}
