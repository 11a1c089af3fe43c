/** Operators as the control plane's API shows them: their roles, and an operator's account. */
import { type Static, Type as T } from "@sinclair/typebox";
import { StringEnum } from "./string-enum.ts";

/** The roles an operator can hold (docs/operators.md). */
export const ROLES = ["operator", "privacy-reviewer", "support", "auditor", "admin"] as const;
/** A role an operator can hold. */
export type Role = (typeof ROLES)[number];

/** An operator's account as the API shows it. */
export const OperatorView = T.Object({ username: T.String(), name: T.String(), role: StringEnum(ROLES) });
/** An operator's account as the API shows it. */
export type Operator = Static<typeof OperatorView>;
