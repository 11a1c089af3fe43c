/**
 * The update plan: everything a region's collector needs to answer update
 * checks, as the control plane hands it over (`GET /v1/updates/plan`, service
 * token): every build with its lineage, release, withdrawal and rollout; and a
 * staged rollout as operators see it.
 */
import { type Static, Type as T } from "@sinclair/typebox";
import { StringEnum } from "./string-enum.ts";

/** A rollout's state as the plan shows it. */
export const PlanRolloutView = T.Object({
  id: T.Integer(),
  state: StringEnum(["active", "paused", "halted", "complete"]),
  /** The share of the variant's devices the current stage reaches, 0-100. */
  percentage: T.Integer(),
  stage: T.Integer(),
});
/** A rollout's state as the plan shows it. */
export type PlanRollout = Static<typeof PlanRolloutView>;

/** A build as the update plan knows it. */
export const PlanBuildView = T.Object({
  number: T.String(),
  model: T.String(),
  variant: T.String(),
  lineage: T.Union([T.String(), T.Null()]),
  releasedAt: T.Union([T.String(), T.Null()]),
  withdrawn: T.Boolean(),
  rollout: T.Union([PlanRolloutView, T.Null()]),
});
/** A build as the update plan knows it. */
export type PlanBuild = Static<typeof PlanBuildView>;

/** Everything a region needs to answer update checks. */
export const UpdatePlanView = T.Object({ builds: T.Array(PlanBuildView) });
/** Everything a region needs to answer update checks. */
export type UpdatePlan = Static<typeof UpdatePlanView>;

/** A staged rollout as the control plane's API shows it. */
export const RolloutView = T.Object({
  id: T.Integer(),
  build: T.String(),
  stages: T.Array(T.Integer()),
  stage: T.Integer({ description: "index of the current stage in `stages`" }),
  percentage: T.Integer({ description: "share of the variant's devices the current stage reaches" }),
  state: StringEnum(["active", "paused", "halted", "complete"], {
    description: "active, paused, halted or complete",
  }),
  failureThreshold: T.Number(),
  minReports: T.Integer(),
  haltedReason: T.Union([T.String(), T.Null()]),
  outcomes: T.Array(T.Object({ stage: T.Integer(), installed: T.Integer(), failed: T.Integer() })),
  createdAt: T.String({ format: "date-time" }),
  updatedAt: T.String({ format: "date-time" }),
});
/** A staged rollout as the control plane's API shows it. */
export type Rollout = Static<typeof RolloutView>;
