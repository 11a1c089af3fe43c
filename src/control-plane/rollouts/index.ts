/** Staged rollouts with automatic halts, withdrawn builds, and the update plan regions read. This file is the folder's only public surface. */
export { registerRolloutRoutes } from "./rollouts.routes.ts";
export { recordOutcome, updatePlan } from "./rollouts.service.ts";
