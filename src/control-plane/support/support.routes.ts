/**
 * Support's view of one device on the control plane: `POST
 * /v1/devices/{serial}/data-access` with a stated reason opens the device's
 * data in its home region, one device per request. Who opened it, which
 * device, why and when are in the home region's audit log and the control
 * plane's before the data is answered; the control plane keeps none of it.
 */
import { Type as T } from "@sinclair/typebox";
import { appendAudit, currentActor } from "../../core/audit-log/index.ts";
import { callRegion, type RegionRef } from "../regions/index.ts";
import type { Db } from "../../core/db/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import { getDevice } from "../fleet/index.ts";
import type { App, ErrorResponseBody } from "../../core/http/index.ts";
import { authorize, operatorOf } from "../operators/index.ts";
import type { ServiceTokenSource } from "../../core/http/index.ts";

/** What support's view needs: the store, the regions, and which region a market's devices belong to. */
export interface SupportContext {
  db: Db;
  serviceToken: ServiceTokenSource;
  regions: () => readonly RegionRef[];
  regionOfMarket: (market: string) => string;
}

const Problem = T.Unsafe<ErrorResponseBody>({ $ref: "ErrorResponse#" });
const MIN_REASON = 10;

/** Opens one device's data for the session's operator, for `reason`. */
export async function openDeviceData(
  ctx: SupportContext,
  serial: string,
  reason: string,
  actor: string,
  now = new Date(),
): Promise<{
  serial: string;
  region: string;
  openedBy: string;
  reason: string;
  openedAt: string;
  data: unknown;
}> {
  const operator = operatorOf(actor, "opening a device's data");
  const stated = reason.trim();
  if ([...stated].length < MIN_REASON) {
    throw new PhoneHomeError(
      "support.reason_required",
      `say why you open ${serial}'s data (at least ${MIN_REASON} characters: the support case, what the owner asked)`,
      { path: "/reason" },
    );
  }
  const device = await getDevice(ctx.db, serial);
  const home = ctx.regionOfMarket(device.market);
  const region = ctx.regions().find((r) => r.id === home);
  if (region === undefined) throw new Error(`no region ${home} is configured`);
  let data: { records: unknown[] };
  try {
    data = await callRegion(region, ctx.serviceToken, "POST", "/v1/support/device-data", {
      device: device.keyId,
      operator,
      reason: stated,
    });
  } catch (cause) {
    throw new PhoneHomeError(
      "service.unavailable",
      `region ${home}, which holds ${serial}'s data, did not answer (${(cause as Error).message}); nothing was opened`,
      { cause },
    );
  }
  await ctx.db.transaction((tx) =>
    appendAudit(
      tx,
      {
        actor,
        action: "device_data.opened",
        subject: serial,
        reason: stated,
        detail: { region: home, records: data.records.length },
      },
      now,
    ),
  );
  return { serial, region: home, openedBy: operator, reason: stated, openedAt: now.toISOString(), data };
}

/** Registers `POST /v1/devices/{serial}/data-access`. */
export function registerSupportRoutes(app: App, ctx: SupportContext): void {
  app.post(
    "/v1/devices/:serial/data-access",
    {
      onRequest: authorize(ctx, "device.data.open"),
      schema: {
        tags: ["support"],
        security: [{ serviceToken: [] }],
        summary: "Open one device's data, for a stated reason (support)",
        description:
          "Answers what the device's home region holds about it (its access export). The operator, the device, the " +
          "reason and the time are in the region's audit log and the control plane's first. An operator's session " +
          "only; `support.reason_required` without a reason of at least 10 characters.",
        params: T.Object({ serial: T.String({ maxLength: 32 }) }),
        body: T.Object(
          {
            reason: T.String({ maxLength: 2000, description: "why: the support case, what the owner asked" }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: T.Object({
            serial: T.String(),
            region: T.String(),
            openedBy: T.String(),
            reason: T.String(),
            openedAt: T.String({ format: "date-time" }),
            data: T.Unknown({ description: "the home region's access export of the device" }),
          }),
          400: Problem,
          401: Problem,
          403: Problem,
          404: Problem,
          503: Problem,
        },
      },
    },
    async (request) => openDeviceData(ctx, request.params.serial, request.body.reason, currentActor()),
  );
}
