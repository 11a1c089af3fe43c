/**
 * A region collector's device-facing update routes: the update check (the
 * newest build open to the device under its rollout, and its notices of
 * incidents) and the outcome report, as sealed and signed envelopes. The
 * rollouts themselves are the control plane's (src/control-plane/rollouts/).
 */
import { Type as T } from "@sinclair/typebox";
import type { Envelope } from "@phonehome/sdk";
import type { Db } from "../../core/db/index.ts";
import type { App } from "../../core/http/index.ts";
import { ENVELOPE_ROUTE, EnvelopeSchema } from "../ingest/index.ts";
import { admitEnvelope, envelopeOf, type IntakeContext } from "../ingest/index.ts";
import { REDELIVER_FOR_MS, takeNotices } from "../device-notices/index.ts";
import { UpdateOfferView } from "@phonehome/shared";
import { recordDeviceBuild } from "./device-builds.repository.ts";
import { chooseUpdate } from "./offer.ts";
import type { UpdateSource } from "./source.ts";

const error = T.Ref("ErrorResponse");

/** Registers the device-facing update routes of a region's collector. */
export function registerUpdateCheckRoutes(app: App, ctx: IntakeContext, updates: UpdateSource, db: Db): void {
  app.post(
    "/v1/updates/check",
    {
      ...ENVELOPE_ROUTE,
      bodyLimit: ctx.maxBodyBytes,
      schema: {
        summary: "Ask for a software update",
        description:
          "An envelope of `update.check` whose sealed payload is `{ build }`, the build the device runs (as in the envelope's header). " +
          "The answer is the newest released build of the device's variant and lineage that is newer, not withdrawn and open to it " +
          "under its rollout — never another variant's build, never a downgrade — or `update: null` with the reason. The region keeps the build the device reported (its last only), for adoption. " +
          "The answer also carries the device's notices of incidents (its check-in is how they reach it); the first answer that carries a notice marks it delivered.",
        tags: ["updates"],
        body: EnvelopeSchema,
        response: { 200: UpdateOfferView, 400: error, 403: error, 413: error, 503: error },
      },
    },
    async (request) => {
      const envelope: Envelope = await envelopeOf(ctx, request);
      const accepted = await admitEnvelope(ctx, envelope, "update.check", new Date());
      // The intake has checked that it is the envelope's build (payload.device_mismatch otherwise).
      const build = String(accepted.validated.build);
      const offer = chooseUpdate(await updates.plan(), accepted.device, build);
      const at = new Date();
      const notices = await db.transaction(async (tx) => {
        await recordDeviceBuild(tx, {
          deviceKey: accepted.device.deviceKey,
          batch: accepted.device.batch,
          market: accepted.device.market,
          schemaVersion: accepted.collection.version,
          build,
          at,
          expiresAt: accepted.collection.expiresAt(at),
        });
        return takeNotices(tx, accepted.device.deviceKey, at, new Date(at.getTime() - REDELIVER_FOR_MS));
      });
      return {
        region: ctx.region.id,
        update: offer.update === null ? null : { build: offer.update.build, lineage: offer.update.lineage },
        reason: offer.reason,
        notices,
      };
    },
  );

  app.post(
    "/v1/updates/report",
    {
      ...ENVELOPE_ROUTE,
      bodyLimit: ctx.maxBodyBytes,
      schema: {
        summary: "Report whether an offered build installed",
        description:
          "An envelope of `update.report` whose sealed payload is `{ build, outcome }` (`installed` or `failed`). Counted once per " +
          "envelope event id in the current stage of the build's rollout, with no device named; a stage whose failures reach its " +
          "threshold halts by itself. Answered after the count is kept.",
        tags: ["updates"],
        body: EnvelopeSchema,
        response: {
          202: T.Object({ region: T.String(), accepted: T.Boolean() }),
          400: error,
          403: error,
          413: error,
          503: error,
        },
      },
    },
    async (request, reply) => {
      const envelope: Envelope = await envelopeOf(ctx, request);
      const accepted = await admitEnvelope(ctx, envelope, "update.report", new Date());
      const outcome = accepted.validated.outcome === "failed" ? "failed" : "installed";
      await updates.report({ eventId: envelope.eventId, build: String(accepted.validated.build), outcome });
      return reply.code(202).send({ region: ctx.region.id, accepted: true });
    },
  );
}
