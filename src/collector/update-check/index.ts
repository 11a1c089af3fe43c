/** The device-facing update check and outcome report, adoption counts, and how a region reads the update plan. This file is the folder's only public surface. */
export { registerAdoptionRoutes } from "./adoption.routes.ts";
export { deviceBuildsTable } from "./device-builds.table.ts";
export { cachedPlan, httpUpdates, PLAN_CACHE_MS, type UpdateSource } from "./source.ts";
export { registerUpdateCheckRoutes } from "./update-check.routes.ts";
