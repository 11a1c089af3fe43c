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
/**
 * When this tab began a sign-in through the provider (ms since the epoch). A session handed over in
 * the fragment is taken only by a tab that began one, within the provider's 10 minutes: a link
 * carrying someone else's session, opened in another tab, signs nobody in as them.
 */
export const SIGN_IN_BEGUN_KEY = "phonehome.console.oidc-begun";
/** How long a begun sign-in may take (the control plane keeps its state as long). */
export const SIGN_IN_BEGUN_MS = 10 * 60_000;
