/**
 * An operator's session in the console: who signed in, with which permissions,
 * kept for the visit.
 */

export interface Me {
  username: string;
  name: string;
  role: string;
  permissions: string[];
  expiresAt: string;
}

export interface Session {
  token: string;
  me: Me;
}

export const SESSION_KEY = "phonehome.console.session";
