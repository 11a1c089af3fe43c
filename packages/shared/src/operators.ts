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
export const OperatorView = T.Object({ username: T.String(), name: T.String(), role: StringEnum(ROLES) });
/** An operator's account as the API shows it. */
export type Operator = Static<typeof OperatorView>;

/** `GET /v1/sessions/current`: the operator of a session, what their role may do, and when it ends. */
export const SessionOperatorView = T.Object({
  ...OperatorView.properties,
  expiresAt: T.String({ format: "date-time" }),
  permissions: T.Array(T.String(), {
    description: "the permissions the role holds (docs/operators.md): what the console offers",
  }),
});
export type SessionOperator = Static<typeof SessionOperatorView>;

/** `POST /v1/sessions`: a session token, when it ends, and whose it is. */
export const SessionView = T.Object({
  token: T.String(),
  expiresAt: T.String({ format: "date-time" }),
  operator: OperatorView,
});
export type NewSession = Static<typeof SessionView>;
