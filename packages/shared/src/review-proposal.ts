/**
 * A proposal as the control plane's API answers it: the route's response
 * schema, and its type for the clients that read it (the CLI and the
 * console). Pure, so that the browser build can import it.
 */
import { type Static, Type as T } from "@sinclair/typebox";
import { AnswersSchema } from "./review-questionnaire.ts";

export const ProposalView = T.Object({
  id: T.String({ description: "PROP-<n>; also the approval's reference" }),
  reference: T.String(),
  collection: T.String(),
  version: T.Integer(),
  sha256: T.String({
    description: "what an approval pins: SHA-256 of the version's RFC 8785 canonical JSON",
  }),
  status: T.Union([T.Literal("open"), T.Literal("approved"), T.Literal("rejected")]),
  author: T.String(),
  proposedAt: T.String({ format: "date-time" }),
  baseVersion: T.Union([T.Integer(), T.Null()], { description: "the version it is compared with" }),
  reviewer: T.Union([T.String(), T.Null()]),
  decidedAt: T.Union([T.String({ format: "date-time" }), T.Null()]),
  comment: T.Union([T.String(), T.Null()]),
  answers: AnswersSchema,
  changes: T.Array(
    T.Object({
      kind: T.String(),
      path: T.String(),
      text: T.String(),
      widens: T.Boolean({ description: "asks for more data, keeps it longer or wider, or protects it less" }),
    }),
  ),
  diff: T.String({ description: "unified diff of the two versions as YAML" }),
  document: T.Unknown({ description: "the proposed version, without an approval record" }),
  approval: T.Union([T.Unknown(), T.Null()], {
    description: "the signed approval record, as `review apply` writes it into the version's file",
  }),
});

/** A proposal as `GET /v1/proposals/{id}` answers it. */
export type Proposal = Static<typeof ProposalView>;
