/**
 * The update plan: everything a region's collector needs to answer update
 * checks, as the control plane hands it over (`GET /v1/updates/plan`, service
 * token): every build with its lineage, release, withdrawal and rollout.
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
