/**
 * Updates over HTTP. On the control plane: staged rollouts (start, advance,
 * pause, resume, read), withdrawing a build, and — for regions — the update
 * plan and outcome reports. On each region's collector: the device-facing
 * update check and outcome report, as sealed and signed envelopes.
 */
import { authorize, type Permission } from "../operators/permissions.ts";
import { type Static, Type as T } from "@sinclair/typebox";
import type { Envelope } from "@phonehome/sdk";
import type { Db } from "../../core/db/index.ts";
import type { App, ErrorResponseBody } from "../../core/http/service.ts";
import { serviceTokenCheck } from "../../core/http/service-token.ts";
import { ENVELOPE_ROUTE, EnvelopeSchema } from "../../collector/ingest/envelope.schema.ts";
import { admitEnvelope, envelopeOf, type IntakeContext } from "../../collector/ingest/intake.ts";
import { REDELIVER_FOR_MS, takeNotices } from "../../collector/device-notices/device-notices.repository.ts";
import { DeviceNoticeView } from "../../collector/device-notices/device-notices.routes.ts";
import { recordDeviceBuild } from "../../collector/update-check/device-builds.repository.ts";
import { chooseUpdate } from "../../collector/update-check/offer.ts";
import {
  getRollout,
  rollouts,
  recordOutcome,
  startRollout,
  stepRollout,
  updatePlan,
  withdrawBuild,
} from "./rollouts.service.ts";
import type { UpdateSource } from "../../collector/update-check/source.ts";

const Problem = T.Unsafe<ErrorResponseBody>({ $ref: "ErrorResponse#" });
const BuildNumber = T.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$" });
const RolloutView = T.Object({
  id: T.Integer(),
  build: T.String(),
  stages: T.Array(T.Integer()),
  stage: T.Integer({ description: "index of the current stage in `stages`" }),
  percentage: T.Integer({ description: "share of the variant's devices the current stage reaches" }),
  state: T.String({ description: "active, paused, halted or complete" }),
  failureThreshold: T.Number(),
  minReports: T.Integer(),
  haltedReason: T.Union([T.String(), T.Null()]),
  outcomes: T.Array(T.Object({ stage: T.Integer(), installed: T.Integer(), failed: T.Integer() })),
  createdAt: T.String({ format: "date-time" }),
  updatedAt: T.String({ format: "date-time" }),
});
const StartBody = T.Object(
  {
    build: BuildNumber,
    stages: T.Array(T.Integer({ minimum: 1, maximum: 100 }), {
      minItems: 1,
      maxItems: 20,
      description: "rising percentages of the variant's devices, ending at 100 (default [10, 50, 100])",
    }),
    failureThreshold: T.Optional(
      T.Number({
        exclusiveMinimum: 0,
        maximum: 1,
        description: "share of failed installs in a stage that halts it (default 0.05)",
      }),
    ),
    minReports: T.Optional(
      T.Integer({
        minimum: 1,
        maximum: 1_000_000,
        description: "reports a stage needs before it can halt (default 20)",
      }),
    ),
  },
  { additionalProperties: false },
);
const PlanView = T.Object({
  builds: T.Array(
    T.Object({
      number: T.String(),
      model: T.String(),
      variant: T.String(),
      lineage: T.Union([T.String(), T.Null()]),
      releasedAt: T.Union([T.String(), T.Null()]),
      withdrawn: T.Boolean(),
      rollout: T.Union([
        T.Object({ id: T.Integer(), state: T.String(), percentage: T.Integer(), stage: T.Integer() }),
        T.Null(),
      ]),
    }),
  ),
});
const Outcome = T.Union([T.Literal("installed"), T.Literal("failed")]);
const OutcomeBody = T.Object(
  {
    eventId: T.String({ pattern: "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$" }),
    build: BuildNumber,
    outcome: Outcome,
  },
  { additionalProperties: false },
);

/** Registers the control plane's update routes. */
export function registerRolloutRoutes(app: App, deps: { db: Db; serviceToken: string }): void {
  const ctx = { db: deps.db };
  const allow = (permission: Permission) => authorize(deps, permission);
  // Regions' own calls: phonehome's services only.
  const serviceOnly = serviceTokenCheck(deps.serviceToken);
  const tags = ["updates"];
  const security = [{ serviceToken: [] }];
  const errors = { 400: Problem, 401: Problem, 404: Problem, 409: Problem, 500: Problem };

  app.post(
    "/v1/rollouts",
    {
      onRequest: allow("rollouts.write"),
      schema: {
        tags,
        security,
        summary: "Start a staged rollout of a released build",
        body: StartBody,
        response: { 200: RolloutView, ...errors },
      },
    },
    async (request) => {
      const body: Static<typeof StartBody> = request.body;
      return startRollout(ctx, {
        build: body.build,
        stages: body.stages,
        failureThreshold: body.failureThreshold ?? 0.05,
        minReports: body.minReports ?? 20,
      });
    },
  );

  // Outcomes are counts of devices' install reports: a small variant's stage can be one device.
  app.get(
    "/v1/rollouts",
    {
      onRequest: allow("rollouts.read"),
      schema: {
        tags,
        security,
        summary: "The latest 200 rollouts, newest first: stage, state and outcomes",
        response: {
          200: T.Object({ rollouts: T.Array(RolloutView) }),
          401: Problem,
          403: Problem,
          500: Problem,
        },
      },
    },
    async () => ({ rollouts: await rollouts(ctx) }),
  );

  app.get(
    "/v1/rollouts/:id",
    {
      onRequest: allow("rollouts.read"),
      schema: {
        tags,
        security,
        summary: "A rollout: its stage, state and the outcomes reported in each stage",
        params: T.Object({ id: T.String({ pattern: "^[1-9][0-9]{0,15}$" }) }),
        response: { 200: RolloutView, 400: Problem, 401: Problem, 403: Problem, 404: Problem, 500: Problem },
      },
    },
    async (request) => getRollout(ctx, Number(request.params.id)),
  );

  app.post(
    "/v1/rollouts/:id/:action",
    {
      onRequest: allow("rollouts.write"),
      schema: {
        tags,
        security,
        summary: "Advance a rollout to its next stage, pause it, or resume it (also after a halt)",
        params: T.Object({
          id: T.String({ pattern: "^[1-9][0-9]{0,15}$" }),
          action: T.Union([T.Literal("advance"), T.Literal("pause"), T.Literal("resume")]),
        }),
        response: { 200: RolloutView, ...errors },
      },
    },
    async (request) => stepRollout(ctx, Number(request.params.id), request.params.action),
  );

  app.post(
    "/v1/builds/:number/withdraw",
    {
      onRequest: allow("rollouts.write"),
      schema: {
        tags,
        security,
        summary: "Withdraw a build: it is never offered again, and its rollout under way halts",
        params: T.Object({ number: BuildNumber }),
        body: T.Object(
          { reason: T.String({ minLength: 10, maxLength: 2000 }) },
          { additionalProperties: false },
        ),
        response: { 204: T.Null(), ...errors },
      },
    },
    async (request, reply) => {
      await withdrawBuild(ctx, request.params.number, request.body.reason);
      return reply.code(204).send(null);
    },
  );

  app.get(
    "/v1/updates/plan",
    {
      onRequest: serviceOnly,
      schema: {
        tags,
        security,
        summary:
          "Every build with its lineage, release, withdrawal and rollout: what regions answer update checks from",
        response: { 200: PlanView, 401: Problem, 500: Problem },
      },
    },
    async () => updatePlan(ctx),
  );

  app.post(
    "/v1/updates/outcomes",
    {
      onRequest: serviceOnly,
      schema: {
        tags,
        security,
        summary: "Count a device's install outcome in its build's rollout (regions forward device reports)",
        body: OutcomeBody,
        response: {
          200: T.Object({
            counted: T.Boolean(),
            rollout: T.Union([T.Integer(), T.Null()]),
            halted: T.Boolean(),
          }),
          ...errors,
        },
      },
    },
    async (request) => recordOutcome(ctx, request.body),
  );
}

const Offer = T.Object({
  region: T.String(),
  update: T.Union([T.Object({ build: T.String(), lineage: T.String() }), T.Null()]),
  reason: T.String({
    description: "why this answer: newer build, up to date, not in the rollout yet, unknown build, ...",
  }),
  notices: T.Array(DeviceNoticeView, {
    description:
      "notices of incidents for this device: those not given before, and those given in the last 7 days (an answer lost on the way is made good); the SDK shows each once",
  }),
});
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
        response: { 200: Offer, 400: error, 403: error, 413: error, 503: error },
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
          deviceKey: accepted.device.keyId,
          batch: accepted.device.batch,
          market: accepted.device.market,
          schemaVersion: accepted.collection.version,
          build,
          at,
          expiresAt: accepted.collection.expiresAt(at),
        });
        return takeNotices(tx, accepted.device.keyId, at, new Date(at.getTime() - REDELIVER_FOR_MS));
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
