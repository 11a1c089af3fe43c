/** The service token's rotation: the control plane's record of each step, and `keys rotate-service-token`. This file is the folder's only public surface. */
export { register } from "./service-token.command.ts";
export { registerServiceTokenRoutes } from "./service-token.routes.ts";
