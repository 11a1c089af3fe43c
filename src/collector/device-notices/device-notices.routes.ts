/**
 * A region's side of incident notices (service token): the control plane
 * hands a notice over with the devices of this region it is for, and reads
 * back how many were delivered. Devices get their notices in the answer to
 * their update checks (../update-check/update-check.routes.ts).
 */
import { Type as T } from "@sinclair/typebox";
import { INCIDENT_ID, NOTICE_DEVICES_PER_CALL, NOTICE_ID, NoticeDeliveryView } from "@phonehome/shared";
import type { Db } from "../../core/db/index.ts";
import type { Retention } from "../../core/calendar/index.ts";
import type { App, ErrorResponseBody } from "../../core/http/index.ts";
import { serviceTokenCheck } from "../../core/http/index.ts";
import { noticeDeliveries, saveNotice } from "./device-notices.repository.ts";
import type { ServiceTokenSource } from "../../core/http/index.ts";

const Problem = T.Unsafe<ErrorResponseBody>({ $ref: "ErrorResponse#" });
/** Registers `PUT /v1/incident-notices/{id}` and `GET /v1/incident-notices`. */
export function registerDeviceNoticeRoutes(
  app: App,
  deps: { db: Db; region: string; serviceToken: ServiceTokenSource; recordsRetention: Retention },
): void {
  const onRequest = serviceTokenCheck(deps.serviceToken);
  const tags = ["incidents"];
  const security = [{ serviceToken: [] }];
  app.put(
    "/v1/incident-notices/:id",
    {
      onRequest,
      // A notice of 5,000 characters and the key ids of up to 1,000 devices.
      bodyLimit: 128 * 1024,
      schema: {
        tags,
        security,
        summary: "Keep an incident's notice for devices of this region, to give them at their next check-in",
        description:
          "Called by the control plane. Idempotent: devices already holding the notice keep it as it is. Each delivery is kept " +
          "for `retention.records` after the notice was sent, as proof the owner was told.",
        params: T.Object({ id: T.String({ pattern: NOTICE_ID }) }),
        body: T.Object(
          {
            incident: T.String({ pattern: INCIDENT_ID }),
            title: T.String({ minLength: 1, maxLength: 200 }),
            body: T.String({ minLength: 1, maxLength: 5000 }),
            sentAt: T.String({ format: "date-time" }),
            devices: T.Array(T.String({ pattern: "^dk_[A-Za-z0-9_-]{27}$" }), {
              maxItems: NOTICE_DEVICES_PER_CALL,
              uniqueItems: true,
            }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: T.Object({ region: T.String(), notice: T.String(), devices: T.Integer() }),
          400: Problem,
          401: Problem,
        },
      },
    },
    async (request) => {
      const { incident, title, body, sentAt, devices } = request.body;
      const notice = { id: request.params.id, incident, title, body, sentAt };
      const count = await deps.db.transaction((tx) =>
        saveNotice(tx, notice, devices, deps.recordsRetention.expiresAt(new Date(sentAt))),
      );
      return { region: deps.region, notice: notice.id, devices: count };
    },
  );

  app.get(
    "/v1/incident-notices",
    {
      onRequest,
      schema: {
        tags,
        security,
        summary: "How many devices of this region each notice of an incident is for, and how many got it",
        querystring: T.Object(
          { incident: T.String({ pattern: INCIDENT_ID }) },
          { additionalProperties: false },
        ),
        response: {
          200: T.Object({
            region: T.String(),
            notices: T.Array(NoticeDeliveryView),
          }),
          400: Problem,
          401: Problem,
        },
      },
    },
    async (request) => ({
      region: deps.region,
      notices: await noticeDeliveries(deps.db, request.query.incident),
    }),
  );
}
