/** Operators: accounts, sessions, the sign-in throttle, and the one table of what each role may do. This file is the folder's only public surface. */
export { readSession, register, registerSession } from "./operator.command.ts";
export { registerOperatorRoutes } from "./operators.routes.ts";
export { oidcSignIn, type OidcSignIn } from "./oidc.service.ts";
export { actorHook, authorize, operatorHolds, operatorOf, type Permission } from "./permissions.ts";
