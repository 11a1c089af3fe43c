/**
 * The review workflow's routes on the control plane (docs/reviews.md):
 * proposals, their decisions, and reviewers' keys. Proposing, deciding and
 * registering a key are a person's steps: they take an operator's session.
 */
import { type Static, Type as T } from "@sinclair/typebox";
import { currentActor } from "../../core/audit-log/index.ts";
import type { Db } from "../../core/db/index.ts";
import type { App, ErrorResponseBody } from "../../core/http/index.ts";
import { authorize, type Permission } from "../operators/index.ts";
import { AnswersSchema, ProposalView } from "@phonehome/shared";
import {
  addReviewerKey,
  approve,
  proposal,
  proposals,
  propose,
  reject,
  type ReviewContext,
  reviewers,
  revokeKey,
} from "./reviews.service.ts";
import type { ServiceTokenSource } from "../../core/http/index.ts";

const Problem = T.Unsafe<ErrorResponseBody>({ $ref: "ErrorResponse#" });
const DATE = T.String({ format: "date", maxLength: 10 });

const PUBLIC_KEY = T.String({ pattern: "^[A-Za-z0-9_-]{43}$", description: "Ed25519, 32 bytes, base64url" });
const REASON = T.String({ minLength: 1, maxLength: 1000, pattern: "\\S" });
const ReviewerKey = T.Object({
  username: T.String(),
  name: T.String(),
  publicKey: T.String({ description: "Ed25519, 32 bytes, base64url" }),
  added: DATE,
  revoked: T.Optional(
    T.Object({
      at: T.String({ format: "date-time", description: "when the control plane recorded the revocation" }),
      by: T.String({ description: "the actor who revoked it" }),
      reason: T.String(),
      kept: T.Array(
        T.Object({
          reference: T.String(),
          collection: T.String(),
          version: T.Integer(),
          signature: T.String(),
        }),
        { description: "the approvals recorded with the key before its revocation: they stay valid" },
      ),
    }),
  ),
});

const ProposeBody = T.Object(
  {
    document: T.Record(T.String(), T.Unknown(), {
      description: "the collection version as its YAML file says it, without `approval`",
    }),
    answers: AnswersSchema,
  },
  { additionalProperties: false },
);
const ApproveBody = T.Object(
  {
    date: T.String({ format: "date", maxLength: 10, description: "today (UTC), as signed" }),
    expires: T.Optional(T.String({ format: "date", maxLength: 10, description: "the last day it holds" })),
    comment: T.String({ minLength: 1, maxLength: 4000, pattern: "\\S" }),
    signature: T.String({
      pattern: "^[A-Za-z0-9_-]{86}$",
      description: "the reviewer's Ed25519 signature of the approval statement (docs/reviews.md), base64url",
    }),
  },
  { additionalProperties: false },
);
const RejectBody = T.Object(
  { comment: T.String({ minLength: 1, maxLength: 4000, pattern: "\\S" }) },
  { additionalProperties: false },
);
const IdParams = T.Object({ id: T.String({ pattern: "^PROP-[1-9][0-9]{0,9}$" }) });

/** Registers `/v1/proposals…` and `/v1/reviewer-keys`. */
export function registerReviewRoutes(
  app: App,
  deps: ReviewContext & { db: Db; serviceToken: ServiceTokenSource },
): void {
  const tags = ["reviews"];
  const security = [{ serviceToken: [] }];
  const allow = (permission: Permission) => authorize(deps, permission);
  const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 409: Problem };

  app.post(
    "/v1/proposals",
    {
      onRequest: allow("dictionary.propose"),
      // A collection version (a dictionary file is at most 1 MiB) with the questionnaire's answers.
      bodyLimit: 2 * 1024 * 1024,
      schema: {
        tags,
        security,
        summary: "Propose a collection version, with the data-review questionnaire's answers",
        description:
          "Checked by the dictionary's rules (`review.invalid` lists every problem) and compared with the version " +
          "it follows: the answer lists the changes in words and the unified diff. An operator's session only.",
        body: ProposeBody,
        response: { 200: ProposalView, ...errors },
      },
    },
    async (request) => propose(deps, request.body as Static<typeof ProposeBody>, currentActor()),
  );
  app.get(
    "/v1/proposals",
    {
      onRequest: allow("dictionary.read"),
      schema: {
        tags,
        security,
        summary: "Proposals, newest first",
        querystring: T.Object(
          { status: T.Optional(T.Union([T.Literal("open"), T.Literal("approved"), T.Literal("rejected")])) },
          { additionalProperties: false },
        ),
        response: { 200: T.Object({ proposals: T.Array(ProposalView) }), 401: Problem, 403: Problem },
      },
    },
    async (request) => ({ proposals: await proposals(deps, request.query.status ?? null) }),
  );
  app.get(
    "/v1/proposals/:id",
    {
      onRequest: allow("dictionary.read"),
      schema: {
        tags,
        security,
        summary: "One proposal, its changes and its decision",
        params: IdParams,
        response: { 200: ProposalView, ...errors },
      },
    },
    async (request) => proposal(deps, request.params.id),
  );
  app.post(
    "/v1/proposals/:id/approval",
    {
      onRequest: allow("dictionary.review"),
      // A comment of 4,000 characters, each up to 6 bytes when escaped.
      bodyLimit: 32 * 1024,
      schema: {
        tags,
        security,
        summary: "Approve a proposal: the reviewer's signature of its approval statement, and a comment",
        description:
          "The reviewer is the session's operator and may not be the author (`review.own_change`); the signature " +
          "must verify with a key they registered (`review.signature_invalid`).",
        params: IdParams,
        body: ApproveBody,
        response: { 200: ProposalView, ...errors },
      },
    },
    async (request) =>
      approve(deps, request.params.id, request.body as Static<typeof ApproveBody>, currentActor()),
  );
  app.post(
    "/v1/proposals/:id/rejection",
    {
      onRequest: allow("dictionary.review"),
      bodyLimit: 32 * 1024,
      schema: {
        tags,
        security,
        summary: "Reject a proposal with a comment; the reviewer may not be the author",
        params: IdParams,
        body: RejectBody,
        response: { 200: ProposalView, ...errors },
      },
    },
    async (request) => reject(deps, request.params.id, request.body, currentActor()),
  );
  app.get(
    "/v1/reviewer-keys",
    {
      onRequest: allow("dictionary.read"),
      schema: {
        tags,
        security,
        summary: "Every registered reviewer's public key, as the dictionary's reviewers.yaml lists them",
        response: { 200: T.Object({ reviewers: T.Array(ReviewerKey) }), 401: Problem, 403: Problem },
      },
    },
    async () => ({ reviewers: await reviewers(deps) }),
  );
  app.post(
    "/v1/reviewer-keys",
    {
      onRequest: allow("dictionary.review"),
      schema: {
        tags,
        security,
        summary: "Register a public key of the session's operator, to verify their approvals",
        description:
          "With `replaces` (one of the operator's keys) and `reason`, the old key is revoked in the same " +
          "step: it keeps what it signed before and signs nothing new (`review.key_not_found` when it is not theirs).",
        body: T.Object(
          {
            publicKey: T.String({ maxLength: 64, description: "Ed25519, 32 bytes, base64url" }),
            replaces: T.Optional(PUBLIC_KEY),
            reason: T.Optional(REASON),
          },
          { additionalProperties: false },
        ),
        response: {
          200: T.Object({ reviewers: T.Array(ReviewerKey) }),
          400: Problem,
          401: Problem,
          403: Problem,
          404: Problem,
          409: Problem,
        },
      },
    },
    async (request) => ({ reviewers: await addReviewerKey(deps, request.body, currentActor()) }),
  );
  app.post(
    "/v1/reviewer-keys/:publicKey/revocation",
    {
      onRequest: allow("reviewer-keys.revoke"),
      schema: {
        tags,
        security,
        summary: "Revoke a reviewer's key, with a reason",
        description:
          "From now on the key signs no approval the control plane accepts; the approvals recorded with it before " +
          "stay valid and are listed in the answer's `revoked.kept`, which `phonehome review key revoke` writes into " +
          "reviewers.yaml. A reviewer revokes their own keys, an admin anyone's. A person's step: an operator's session.",
        params: T.Object({ publicKey: PUBLIC_KEY }),
        body: T.Object({ reason: REASON }, { additionalProperties: false }),
        response: { 200: ReviewerKey, ...errors },
      },
    },
    async (request) =>
      revokeKey(deps, { publicKey: request.params.publicKey, reason: request.body.reason }, currentActor()),
  );
}
