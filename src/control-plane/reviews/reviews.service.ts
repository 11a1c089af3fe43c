/**
 * The review workflow on the control plane: an author proposes a collection
 * version with the questionnaire's answers; a privacy reviewer who is not the
 * author approves it — signing the approval statement with their own key, which
 * the control plane verifies against the keys they registered — or rejects it,
 * with a comment. Every step is in the audit log, in its own transaction.
 */
import type { Db, Queryable } from "../../core/db/index.ts";
import { appendAudit } from "../../core/audit-log/index.ts";
import {
  type Approval,
  type CollectionFile,
  type KeptApproval,
  lintFiles,
} from "../../core/dictionary/index.ts";
import { approvalStatement, publicKeyOf, verifyStatement } from "../../core/dictionary/index.ts";
import { versionDigest } from "../../core/dictionary/index.ts";
import { lintDictionary } from "../../core/dictionary/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import { operatorHolds, operatorOf } from "../operators/index.ts";
import { type Change, changesBetween, unifiedDiff, type VersionContent } from "./diff.ts";
import type { Answers, Proposal } from "@phonehome/shared";
import {
  approvalsBy,
  approvedProposalsOf,
  decideProposal,
  findProposal,
  insertProposal,
  insertReviewerKey,
  listProposals,
  lockLiveReviewerKey,
  type ProposalRecord,
  type ProposalStatus,
  type ReviewerKeyRecord,
  reviewerKeys,
  reviewerKeysOf,
  revokeReviewerKey,
} from "./reviews.repository.ts";

/** A reviewer's key as the API and `reviewers.yaml` show it; a revoked one with the approvals it keeps. */
export interface ReviewerKeyView {
  username: string;
  name: string;
  publicKey: string;
  added: string;
  revoked?: { at: string; by: string; reason: string; kept: KeptApproval[] };
}

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
  const verifies = (k: ReviewerKeyRecord) =>
    verifyStatement(statement, request.signature, publicKeyOf(k.publicKey));
  const signer = keys.find((k) => k.revokedAt === null && verifies(k));
  const revoked = signer === undefined ? keys.find((k) => k.revokedAt !== null && verifies(k)) : undefined;
  if (revoked !== undefined) throw keyRevoked(revoked);
  if (signer === undefined) {
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
    { status: "approved", reviewer, comment: request.comment, approval, signedWith: signer },
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
    { status: "rejected", reviewer, comment: request.comment, approval: null, signedWith: null },
    actor,
    now,
  );
}

/**
 * Registers a public key for the session's operator; answers their keys. With
 * `replaces`, one of their live keys is revoked in the same transaction (a
 * replacement: the old key keeps what it signed before, and signs nothing new).
 */
export async function addReviewerKey(
  ctx: ReviewContext,
  request: { publicKey: string; replaces?: string | undefined; reason?: string | undefined },
  actor: string,
  now = new Date(),
): Promise<ReviewerKeyView[]> {
  const username = operatorOf(actor, "registering a reviewer's key");
  const { publicKey } = request;
  try {
    publicKeyOf(publicKey);
  } catch (cause) {
    throw invalid("/publicKey", `not an Ed25519 public key: ${(cause as Error).message}`);
  }
  if (request.replaces !== undefined && request.reason === undefined) {
    throw invalid("/reason", "a replacement says why the old key goes (lost, stolen, routine)");
  }
  if (request.replaces === publicKey) throw invalid("/replaces", "a key cannot replace itself");
  await ctx.db.transaction(async (tx) => {
    if (await insertReviewerKey(tx, { username, publicKey, addedAt: now })) {
      await appendAudit(
        tx,
        {
          actor,
          action: "reviewer.key_added",
          subject: username,
          reason: null,
          detail: { publicKey, ...(request.replaces === undefined ? {} : { replaces: request.replaces }) },
        },
        now,
      );
    }
    if (request.replaces !== undefined) {
      const old = (await reviewerKeysOf(tx, request.replaces)).find((k) => k.username === username);
      if (old === undefined) {
        throw new PhoneHomeError("review.key_not_found", `${username} has no key ${request.replaces}`, {
          path: "/replaces",
        });
      }
      await revokeInTransaction(tx, old, { reason: request.reason ?? "", replacedBy: publicKey }, actor, now);
    }
  });
  return presentKeys(ctx, await reviewerKeys(ctx.db, username));
}

/**
 * Revokes a reviewer's key with a reason: from now on the control plane
 * verifies no approval with it, and the revocation lists the approvals it
 * recorded with the key before — those stay valid wherever the revocation is
 * written (`reviewers.yaml`). A reviewer revokes their own keys; an admin
 * anyone's. `review.key_revoked` when it is revoked already.
 */
export async function revokeKey(
  ctx: ReviewContext,
  request: { publicKey: string; reason: string },
  actor: string,
  now = new Date(),
): Promise<ReviewerKeyView> {
  const operator = operatorOf(actor, "revoking a reviewer's key");
  const registered = await reviewerKeysOf(ctx.db, request.publicKey);
  const own = registered.find((k) => k.username === operator);
  const key = own ?? registered[0];
  if (key === undefined) {
    throw new PhoneHomeError("review.key_not_found", `no reviewer registered the key ${request.publicKey}`, {
      path: "/publicKey",
    });
  }
  if (own === undefined && !(await operatorHolds(ctx.db, actor, "operators.write"))) {
    throw new PhoneHomeError(
      "auth.forbidden",
      `the key is ${key.username}'s: a reviewer revokes their own keys; anyone's, only who manages operators (operators.write: admin)`,
    );
  }
  await ctx.db.transaction(async (tx) =>
    revokeInTransaction(tx, key, { reason: request.reason, replacedBy: null }, actor, now),
  );
  const after = (await reviewerKeysOf(ctx.db, key.publicKey)).find((k) => k.username === key.username);
  if (after === undefined)
    throw new PhoneHomeError("review.key_not_found", `the key ${key.publicKey} is gone`);
  const [view] = await presentKeys(ctx, [after]);
  if (view === undefined)
    throw new PhoneHomeError("review.key_not_found", `the key ${key.publicKey} is gone`);
  return view;
}

async function revokeInTransaction(
  tx: Queryable,
  key: ReviewerKeyRecord,
  r: { reason: string; replacedBy: string | null },
  actor: string,
  now: Date,
): Promise<void> {
  const revoked = await revokeReviewerKey(tx, {
    username: key.username,
    publicKey: key.publicKey,
    at: now,
    by: actor,
    reason: r.reason,
  });
  if (!revoked) throw keyRevoked(key);
  // Read after the row is locked: an approval with this key committed before is seen, and a later one waits and fails.
  const kept = await keptApprovals(tx, key, now);
  await appendAudit(
    tx,
    {
      actor,
      action: "reviewer.key_revoked",
      subject: key.username,
      reason: r.reason,
      detail: {
        publicKey: key.publicKey,
        kept: kept.map((k) => k.reference),
        ...(r.replacedBy === null ? {} : { replacedBy: r.replacedBy }),
      },
    },
    now,
  );
}

/** The approvals the control plane recorded with `key` up to `until`: those a revocation keeps valid. */
async function keptApprovals(q: Queryable, key: ReviewerKeyRecord, until: Date): Promise<KeptApproval[]> {
  const publicKey = publicKeyOf(key.publicKey);
  const kept: KeptApproval[] = [];
  for (const p of await approvalsBy(q, key.username, until)) {
    const approval = p.approval;
    if (approval?.signature === undefined) continue;
    const statement = approvalStatement(p.collection, p.version, {
      ...approval,
      sha256: p.sha256,
      author: p.author,
    });
    if (!verifyStatement(statement, approval.signature, publicKey)) continue;
    kept.push({
      reference: p.id,
      collection: p.collection,
      version: p.version,
      signature: approval.signature,
    });
  }
  return kept;
}

/** Keys as the API shows them: a revoked key with when, by whom, why, and what it keeps. */
async function presentKeys(ctx: ReviewContext, keys: ReviewerKeyRecord[]): Promise<ReviewerKeyView[]> {
  const views: ReviewerKeyView[] = [];
  for (const k of keys) {
    const base = { username: k.username, name: k.name, publicKey: k.publicKey, added: k.added };
    if (k.revokedAt === null || k.revokedBy === null || k.revokeReason === null) {
      views.push(base);
      continue;
    }
    const kept = await keptApprovals(ctx.db, k, new Date(k.revokedAt));
    views.push({ ...base, revoked: { at: k.revokedAt, by: k.revokedBy, reason: k.revokeReason, kept } });
  }
  return views;
}

function keyRevoked(key: ReviewerKeyRecord): PhoneHomeError {
  return new PhoneHomeError(
    "review.key_revoked",
    `${key.username}'s key ${key.publicKey.slice(0, 12)}… is revoked${key.revokedAt === null ? "" : ` since ${key.revokedAt}`}: it signs no new approval; register a new key (\`phonehome review key\`)`,
    { path: "/signature" },
  );
}

/** Every registered reviewer key, as `reviewers.yaml` lists them, revoked ones with what they keep. */
export async function reviewers(ctx: ReviewContext): Promise<ReviewerKeyView[]> {
  return presentKeys(ctx, await reviewerKeys(ctx.db, null));
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
  d: {
    status: "approved" | "rejected";
    reviewer: string;
    comment: string;
    approval: Approval | null;
    signedWith: ReviewerKeyRecord | null;
  },
  actor: string,
  now: Date,
): Promise<ProposalView> {
  const { signedWith, ...decision } = d;
  const decided = await ctx.db.transaction(async (tx) => {
    // The key stays live until this approval is recorded: a revocation waits, and then lists it as kept.
    if (signedWith !== null && !(await lockLiveReviewerKey(tx, signedWith.username, signedWith.publicKey))) {
      throw keyRevoked(signedWith);
    }
    const updated = await decideProposal(tx, { id: record.id, at: now, ...decision });
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
