/**
 * A region's update source when the control plane runs in the same process
 * (`phonehome up`): the plan read from the control plane's store, cached as
 * over HTTP, and outcome reports recorded there directly.
 */
import type { Db } from "../../core/db/index.ts";
import { cachedPlan, PLAN_CACHE_MS, type UpdateSource } from "../../collector/update-check/index.ts";
import { recordOutcome, updatePlan } from "../../control-plane/rollouts/index.ts";

/** The control plane's store, in this process. */
export function inProcessUpdates(db: Db, ttlMs = PLAN_CACHE_MS): UpdateSource {
  return {
    plan: cachedPlan(() => updatePlan({ db }), ttlMs),
    report: async (report) => {
      await recordOutcome({ db }, report);
    },
  };
}
