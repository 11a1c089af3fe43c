/** The review workflow: proposals, signed decisions and approvals written into the dictionary. This file is the folder's only public surface. */
export { register } from "./review.command.ts";
export { registerReviewRoutes } from "./reviews.routes.ts";
