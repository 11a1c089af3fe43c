/**
 * The review workflow on the control plane: an author proposes a collection
 * version with the questionnaire's answers; a privacy reviewer who is not the
 * author approves it — signing the approval statement with their own key, which
 * the control plane verifies against the keys they registered — or rejects it,
 * with a comment. Every step is in the audit log, in its own transaction.
 */
import type { Db } from "../../core/db/index.ts";
import { appendAudit } from "../../core/audit-log/index.ts";
import { type Approval, type CollectionFile, lintFiles } from "../../core/dictionary/index.ts";
import { approvalStatement, publicKeyOf, verifyStatement } from "../../core/dictionary/index.ts";
import { versionDigest } from "../../core/dictionary/index.ts";
import { lintDictionary } from "../../core/dictionary/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import { operatorOf } from "../operators/index.ts";
import { type Change, changesBetween, unifiedDiff, type VersionContent } from "./diff.ts";
import type { Answers, Proposal } from "@phonehome/shared";
import {
  approvedProposalsOf,
  decideProposal,
  findProposal,
  insertProposal,
  insertReviewerKey,
  listProposals,
  type ProposalRecord,
  type ProposalStatus,
  reviewerKeys,
} from "./reviews.repository.ts";

/** What the workflow needs: the control plane's store, and the deployed dictionary with its regions. */
export interface ReviewContext {
  db: Db;
  dictionaryDir: string;
  regions: readonly string[];
}

/**
 * A proposal as the API shows it (@phonehome/shared's `Proposal`), with the
 * fields the wire leaves open typed as the service holds them.
 */
export type ProposalView = Omit<Proposal, "document" | "approval" | "changes"> & {
  document: ProposalRecord["document"];
  approval: ProposalRecord["approval"];
  changes: Change[];
};

const invalid = (path: string, message: string) => new PhoneHomeError("review.invalid", message, { path });

/** Proposes a version: checked by the dictionary's rules, compared with what it follows, recorded. */
export async function propose(
  ctx: ReviewContext,
  request: { document: Record<string, unknown>; answers: Answers },
  actor: string,
  now = new Date(),
): Promise<ProposalView> {
  const author = operatorOf(actor, "proposing a change");
  if ("approval" in request.document) {
    throw invalid(
      "/document/approval",
      "a proposal carries no approval record: the reviewer's decision makes it",
    );
  }
  const doc = checkedVersion(ctx, request.document);
  const sha256 = versionDigest(doc);
  const base = await versionBefore(ctx, doc, sha256);
  const stored = await ctx.db.transaction(async (tx) => {
    const record = await insertProposal(tx, {
      collection: doc.collection,
      version: doc.version,
      document: doc,
      sha256,
      baseVersion: base?.version ?? null,
      baseDocument: base,
      answers: request.answers,
      author,
      proposedAt: now,
    });
    if (record === null) {
      throw new PhoneHomeError(
        "review.conflict",
        `${doc.collection} v${doc.version} has an open proposal: wait for its decision`,
        { path: "/document/version" },
      );
    }
    const changes = changesBetween(base, doc);
    await appendAudit(
      tx,
      {
        actor,
        action: "dictionary.proposed",
        subject: record.id,
        reason: null,
        detail: {
          collection: doc.collection,
          version: doc.version,
          sha256,
          changes: changes.map((c) => c.kind),
        },
      },
      now,
    );
    return record;
  });
  return view(stored);
}

/** Proposals, newest first. */
export async function proposals(ctx: ReviewContext, status: ProposalStatus | null): Promise<ProposalView[]> {
  return (await listProposals(ctx.db, status)).map(view);
}

/** One proposal; `review.not_found` when there is none. */
export async function proposal(ctx: ReviewContext, id: string): Promise<ProposalView> {
  return view(await found(ctx, id));
}

/**
 * Approves a proposal: the reviewer (the session's operator, not the author)
 * sends their signature of the approval statement; it must verify with one of
 * the keys they registered. The approval record is kept for `review apply`.
 */
export async function approve(
  ctx: ReviewContext,
  id: string,
  request: { date: string; expires?: string; comment: string; signature: string },
  actor: string,
  now = new Date(),
): Promise<ProposalView> {
  const reviewer = operatorOf(actor, "approving a change");
  const record = await decidable(ctx, id, reviewer);
  const today = now.toISOString().slice(0, 10);
  const yesterday = new Date(now.getTime() - 86_400_000).toISOString().slice(0, 10);
  // A reviewer west of UTC may sign late in their day, which is already tomorrow in UTC: allow the day before.
  if (request.date !== today && request.date !== yesterday) {
    throw invalid("/date", `an approval is dated the day it is given (${today} UTC), not ${request.date}`);
  }
  if (request.expires !== undefined && request.expires <= request.date) {
    throw invalid("/expires", `an approval must hold past the day it is given (${request.date})`);
  }
  const approval: Approval = {
    reviewer,
    author: record.author,
    date: request.date,
    reference: record.id,
    sha256: record.sha256,
    ...(request.expires === undefined ? {} : { expires: request.expires }),
    signature: request.signature,
  };
  const statement = approvalStatement(record.collection, record.version, {
    ...approval,
    sha256: record.sha256,
    author: record.author,
  });
  const keys = await reviewerKeys(ctx.db, reviewer);
  if (!keys.some((k) => verifyStatement(statement, request.signature, publicKeyOf(k.publicKey)))) {
    throw new PhoneHomeError(
      "review.signature_invalid",
      keys.length === 0
        ? `${reviewer} has registered no key: \`phonehome review key\` makes one and registers it`
        : `the signature does not verify with any of ${reviewer}'s ${keys.length} registered key${keys.length === 1 ? "" : "s"} over ${record.id}'s approval statement`,
      { path: "/signature" },
    );
  }
  return decide(
    ctx,
    record,
    { status: "approved", reviewer, comment: request.comment, approval },
    actor,
    now,
  );
}

/** Rejects a proposal with a comment; the reviewer is not the author. */
export async function reject(
  ctx: ReviewContext,
  id: string,
  request: { comment: string },
  actor: string,
  now = new Date(),
): Promise<ProposalView> {
  const reviewer = operatorOf(actor, "rejecting a change");
  const record = await decidable(ctx, id, reviewer);
  return decide(
    ctx,
    record,
    { status: "rejected", reviewer, comment: request.comment, approval: null },
    actor,
    now,
  );
}

/** Registers a public key for the session's operator; answers their keys. */
export async function addReviewerKey(
  ctx: ReviewContext,
  publicKey: string,
  actor: string,
  now = new Date(),
): Promise<{ username: string; name: string; publicKey: string; added: string }[]> {
  const username = operatorOf(actor, "registering a reviewer's key");
  try {
    publicKeyOf(publicKey);
  } catch (cause) {
    throw invalid("/publicKey", `not an Ed25519 public key: ${(cause as Error).message}`);
  }
  await ctx.db.transaction(async (tx) => {
    if (await insertReviewerKey(tx, { username, publicKey, addedAt: now })) {
      await appendAudit(
        tx,
        { actor, action: "reviewer.key_added", subject: username, reason: null, detail: { publicKey } },
        now,
      );
    }
  });
  return reviewerKeys(ctx.db, username);
}

/** Every registered reviewer key, as `reviewers.yaml` lists them. */
export async function reviewers(
  ctx: ReviewContext,
): Promise<{ username: string; name: string; publicKey: string; added: string }[]> {
  return reviewerKeys(ctx.db, null);
}

async function found(ctx: ReviewContext, id: string): Promise<ProposalRecord> {
  const record = await findProposal(ctx.db, id);
  if (record === null) throw new PhoneHomeError("review.not_found", `no proposal ${id}`);
  return record;
}

/** An open proposal the reviewer may decide. */
async function decidable(ctx: ReviewContext, id: string, reviewer: string): Promise<ProposalRecord> {
  const record = await found(ctx, id);
  if (record.author === reviewer) {
    throw new PhoneHomeError(
      "review.own_change",
      `${reviewer} proposed ${record.id}: nobody decides on their own change; another privacy reviewer must`,
    );
  }
  if (record.status !== "open") {
    throw new PhoneHomeError("review.decided", `${record.id} was ${record.status} on ${record.decidedAt}`);
  }
  return record;
}

async function decide(
  ctx: ReviewContext,
  record: ProposalRecord,
  d: { status: "approved" | "rejected"; reviewer: string; comment: string; approval: Approval | null },
  actor: string,
  now: Date,
): Promise<ProposalView> {
  const decided = await ctx.db.transaction(async (tx) => {
    const updated = await decideProposal(tx, { id: record.id, at: now, ...d });
    if (updated === null) throw new PhoneHomeError("review.decided", `${record.id} was decided meanwhile`);
    await appendAudit(
      tx,
      {
        actor,
        action: `dictionary.${d.status}`,
        subject: record.id,
        reason: d.comment,
        detail: {
          collection: record.collection,
          version: record.version,
          sha256: record.sha256,
          author: record.author,
          ...(d.approval === null
            ? {}
            : { expires: d.approval.expires ?? null, signature: d.approval.signature ?? null }),
        },
      },
      now,
    );
    return updated;
  });
  return view(decided);
}

/** The version as the dictionary's rules see it, filed where it belongs; `review.invalid` listing every error. */
function checkedVersion(ctx: ReviewContext, document: Record<string, unknown>): CollectionFile {
  const collection = typeof document.collection === "string" ? document.collection : "proposal";
  const version = typeof document.version === "number" ? document.version : 0;
  const report = lintFiles(
    {
      files: [{ file: "", label: "document", folder: collection, name: `v${version}.yaml`, document }],
      problems: [],
    },
    { regions: ctx.regions },
  );
  const [checked] = report.checked;
  if (report.errors.length > 0 || checked === undefined) {
    throw new PhoneHomeError(
      "review.invalid",
      `the proposed version breaks ${report.errors.length} rule${report.errors.length === 1 ? "" : "s"} of the dictionary`,
      { path: "/document", problems: report.errors },
    );
  }
  return checked.doc;
}

/**
 * The version the proposal follows: the same version when it renews it (same
 * content), else the newest earlier version, deployed or approved. An
 * approved version with other content is never edited: `review.conflict`.
 */
async function versionBefore(
  ctx: ReviewContext,
  doc: VersionContent,
  sha256: string,
): Promise<VersionContent | null> {
  const deployed = lintDictionary(ctx.dictionaryDir, { regions: ctx.regions })
    .checked.filter((c) => c.doc.collection === doc.collection)
    .map((c) => withoutApproval(c.doc));
  const approved = (await approvedProposalsOf(ctx.db, doc.collection)).map((p) => p.document);
  const known = [...deployed, ...approved];
  const same = known.filter((v) => v.version === doc.version);
  if (same.some((v) => versionDigest(v) !== sha256)) {
    throw new PhoneHomeError(
      "review.conflict",
      `${doc.collection} v${doc.version} is approved already with other content: an approved version is never edited; propose v${Math.max(...known.map((v) => v.version)) + 1}`,
      { path: "/document/version" },
    );
  }
  if (same.length > 0) return same[0] ?? null;
  const earlier = known.filter((v) => v.version < doc.version).sort((a, b) => b.version - a.version);
  return earlier[0] ?? null;
}

function withoutApproval(doc: CollectionFile): VersionContent {
  const { approval: _, ...content } = doc;
  return content;
}

function view(record: ProposalRecord): ProposalView {
  const { baseDocument, ...rest } = record;
  const renewal = baseDocument !== null && baseDocument.version === record.version;
  return {
    ...rest,
    reference: record.id,
    changes: renewal
      ? [
          {
            kind: "renewal",
            path: "",
            text: `renewal of ${record.collection} v${record.version}: the same content, reviewed again`,
            widens: false,
          },
        ]
      : changesBetween(baseDocument, record.document),
    diff: renewal ? "" : unifiedDiff(baseDocument, record.document),
  };
}
