/**
 * The control plane's update routes: staged rollouts (start, advance, pause,
 * resume, read), withdrawing a build, and — for regions — the update plan and
 * outcome reports. The device-facing update check is the collector's
 * (src/collector/update-check/update-check.routes.ts).
 */
import { authorize, type Permission } from "../operators/index.ts";
import { type Static, Type as T } from "@sinclair/typebox";
import { RolloutView, UpdatePlanView } from "@phonehome/shared";
import type { Db } from "../../core/db/index.ts";
import type { App, ErrorResponseBody } from "../../core/http/index.ts";
import { serviceTokenCheck } from "../../core/http/index.ts";
import {
  getRollout,
  rollouts,
  recordOutcome,
  startRollout,
  stepRollout,
  updatePlan,
  withdrawBuild,
} from "./rollouts.service.ts";
import type { ServiceTokenSource } from "../../core/http/index.ts";

const Problem = T.Unsafe<ErrorResponseBody>({ $ref: "ErrorResponse#" });
const BuildNumber = T.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$" });
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
export function registerRolloutRoutes(app: App, deps: { db: Db; serviceToken: ServiceTokenSource }): void {
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
        response: { 200: UpdatePlanView, 401: Problem, 500: Problem },
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
