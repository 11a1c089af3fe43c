/** Operators as the control plane's API shows them: their roles, and an operator's account. */
import { type Static, Type as T } from "@sinclair/typebox";
import { StringEnum } from "./string-enum.ts";

/** The roles an operator can hold (docs/operators.md). */
export const ROLES = [
  "operator",
  "privacy-reviewer",
  "support",
  "auditor",
  "admin",
  "service-centre",
] as const;
/** A role an operator can hold. */
export type Role = (typeof ROLES)[number];

/** An operator's account as the API shows it. */
export const OperatorView = T.Object({
  username: T.String(),
  name: T.String(),
  role: StringEnum(ROLES),
  provider: T.Optional(
    T.Object(
      { issuer: T.String(), subject: T.String() },
      {
        description:
          "for an operator who signs in through the OpenID provider: its issuer and the person's subject there (no password is kept)",
      },
    ),
  ),
});
/** An operator's account as the API shows it. */
export type Operator = Static<typeof OperatorView>;

/** `GET /v1/sessions/current`: the operator of a session, what their role may do, and when it ends. */
export const SessionOperatorView = T.Object({
  ...OperatorView.properties,
  expiresAt: T.String({ format: "date-time" }),
  permissions: T.Array(T.String(), {
    description: "the permissions the role holds (docs/operators.md): what the console offers",
  }),
  signOutUrl: T.Optional(
    T.String({
      description:
        "for a session opened through the OpenID provider, when it offers RP-initiated logout: where the browser goes after `DELETE /v1/sessions/current` to sign out there too",
    }),
  ),
});
export type SessionOperator = Static<typeof SessionOperatorView>;

/** `POST /v1/sessions`: a session token, when it ends, and whose it is. */
export const SessionView = T.Object({
  token: T.String(),
  expiresAt: T.String({ format: "date-time" }),
  operator: OperatorView,
});
export type NewSession = Static<typeof SessionView>;

/** `/console/config.json`: how operators sign in to this control plane. */
export const ConsoleConfigView = T.Object({
  /** Who may sign in with a password: everyone, local admins only (break-glass), or no one. */
  passwordSignIn: StringEnum(["all", "admin", "none"] as const),
  /** The OpenID provider, when one is configured: its name, and where a sign-in through it begins. */
  provider: T.Union([T.Object({ name: T.String(), signInUrl: T.String() }), T.Null()]),
});
export type ConsoleConfig = Static<typeof ConsoleConfigView>;
