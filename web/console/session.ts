/**
 * An operator's session in the console: who signed in, with which permissions,
 * kept for the visit.
 */
import type { SessionOperator } from "@phonehome/shared";

/** The operator of the session, as `GET /v1/sessions/current` answers. */
export type Me = SessionOperator;

export interface Session {
  token: string;
  me: Me;
}

export const SESSION_KEY = "phonehome.console.session";
