/**
 * Who is acting, for the audit log, without passing it through every
 * service: the control plane's authorisation sets it per request (an
 * operator's session, or the service token) and services read it where they
 * append. Outside a request it is the service token's holder.
 */
import { AsyncLocalStorage } from "node:async_hooks";

/** The actor of an operator route when no session names one: whoever holds the service token. */
export const SERVICE_TOKEN_ACTOR = "service-token";

const actors = new AsyncLocalStorage<string>();

/** The actor of the request being served. */
export function currentActor(): string {
  return actors.getStore() ?? SERVICE_TOKEN_ACTOR;
}

/** Runs `fn` (and everything it starts) as `actor`. */
export function runAs<T>(actor: string, fn: () => T): T {
  return actors.run(actor, fn);
}
