/** Advisories: the problem, the variants it affects, the fixing build, and the adoption of a fix. This file is the folder's only public surface. */
export { adoptionOf } from "./adoption.service.ts";
export { registerAdvisoryRoutes } from "./advisories.routes.ts";
export { getAdvisory } from "./advisories.service.ts";
