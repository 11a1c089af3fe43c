/**
 * Writes an approval into the dictionary in the repository: the signed
 * approval record into the version's file (comments and layout kept; the file
 * written from the proposal when it does not exist yet), and the reviewer's
 * public key into `reviewers.yaml`. What is written is what `registry check`
 * and the collectors then verify.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type Document as YamlDocument,
  Document,
  isMap,
  isNode,
  isScalar,
  parseDocument,
  stringify,
} from "yaml";
import type { Approval, CollectionFile, Revocation } from "../../core/dictionary/index.ts";
import { versionDigest } from "../../core/dictionary/index.ts";
import { REVIEWERS_FILE } from "../../core/dictionary/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import { inFormatOrder, type VersionContent } from "./diff.ts";

/** A reviewer's key, as `reviewers.yaml` lists it. */
export interface ReviewerEntry {
  username: string;
  name: string;
  publicKey: string;
  added: string;
  revoked?: Revocation;
}

/** What was written, for the command's report. */
export interface Applied {
  file: string;
  created: boolean;
  reviewerAdded: boolean;
}

/**
 * Writes `approval` into `<dir>/<collection>/v<N>.yaml`. An existing file must
 * say exactly what was approved (its digest is the approval's), else nothing
 * is written and `review.conflict` names the difference.
 */
export function writeApproval(
  dir: string,
  document: VersionContent,
  approval: Approval,
  reviewer: ReviewerEntry,
): Applied {
  const file = join(dir, document.collection, `v${document.version}.yaml`);
  const created = !existsSync(file);
  if (created) {
    mkdirSync(join(dir, document.collection), { recursive: true });
    // A stored document keeps no key order: write it in the format's.
    const text = stringify(inFormatOrder(document), { lineWidth: 100 });
    writeFileSync(
      file,
      `# ${document.collection}, version ${document.version}: proposed in ${approval.reference}, approved by ${approval.reviewer}.\n` +
        "# See docs/dictionary.md for the format and docs/reviews.md for how a change is approved.\n" +
        text.replace(/^fields:/m, `${approvalText(approval)}fields:`),
    );
  } else {
    const source = readFileSync(file, "utf8");
    const yaml = parseDocument(source);
    const digest = versionDigest(yaml.toJS() as CollectionFile);
    if (digest !== approval.sha256) {
      throw new PhoneHomeError(
        "review.conflict",
        `${file} differs from what was approved (approved ${approval.sha256?.slice(0, 12)}…, the file ${digest.slice(0, 12)}…): nothing written`,
      );
    }
    writeFileSync(file, withApprovalText(source, yaml, approval));
  }
  return { file, created, reviewerAdded: addReviewer(dir, reviewer) };
}

/**
 * Writes a key's revocation into `reviewers.yaml`: its entry gets `revoked`
 * (when, why, the approvals it keeps), replacing an older record of it; a key
 * the file does not list is added with it, so the file says why it never
 * counts. Returns whether the file changed.
 */
export function writeRevocation(dir: string, reviewer: ReviewerEntry & { revoked: Revocation }): boolean {
  const file = join(dir, REVIEWERS_FILE);
  if (!existsSync(file)) {
    addReviewer(dir, reviewer);
    return true;
  }
  const yaml = parseDocument(readFileSync(file, "utf8"));
  const listed = (yaml.toJS() as { reviewers?: ReviewerEntry[] }).reviewers ?? [];
  const at = listed.findIndex((r) => r.username === reviewer.username && r.publicKey === reviewer.publicKey);
  if (at < 0) {
    addReviewer(dir, reviewer);
    return true;
  }
  const revoked = { at: reviewer.revoked.at, reason: reviewer.revoked.reason, kept: reviewer.revoked.kept };
  if (JSON.stringify(listed[at]?.revoked) === JSON.stringify(revoked)) return false;
  yaml.setIn(["reviewers", at, "revoked"], yaml.createNode(revoked));
  writeFileSync(file, yaml.toString({ lineWidth: 100 }));
  return true;
}

/** Adds the reviewer's key to `reviewers.yaml` (created when missing); false when it is listed already. */
export function addReviewer(dir: string, reviewer: ReviewerEntry): boolean {
  const file = join(dir, REVIEWERS_FILE);
  const yaml = existsSync(file) ? parseDocument(readFileSync(file, "utf8")) : new Document({ reviewers: [] });
  if (!existsSync(file)) {
    yaml.commentBefore =
      " The reviewers whose approval signatures collectors accept: public keys only (docs/reviews.md).\n" +
      " A change to this file is reviewed like any change to the dictionary.";
  }
  const listed = (yaml.toJS() as { reviewers?: ReviewerEntry[] }).reviewers ?? [];
  if (listed.some((r) => r.username === reviewer.username && r.publicKey === reviewer.publicKey))
    return false;
  const { revoked, ...rest } = reviewer;
  const entry = yaml.createNode(
    revoked === undefined
      ? rest
      : { ...rest, revoked: { at: revoked.at, reason: revoked.reason, kept: revoked.kept } },
  );
  const added = entry.get("added", true);
  if (isScalar(added)) added.type = "QUOTE_DOUBLE";
  yaml.addIn(["reviewers"], entry);
  writeFileSync(file, yaml.toString({ lineWidth: 100 }));
  return true;
}

/**
 * The file's text with its approval block replaced (or put before `fields:`):
 * everything else — comments, folding, quoting — stays byte for byte, so the
 * change a reviewer sees in the repository is the approval alone.
 */
function withApprovalText(source: string, yaml: YamlDocument, approval: Approval): string {
  const pairs = isMap(yaml.contents) ? yaml.contents.items : [];
  const at = (name: string) => pairs.find((p) => isScalar(p.key) && p.key.value === name);
  const existing = at("approval");
  if (existing !== undefined && isScalar(existing.key) && existing.key.range && isNode(existing.value)) {
    const start = existing.key.range[0];
    const end = existing.value.range?.[2] ?? start;
    return source.slice(0, start) + approvalText(approval) + source.slice(end);
  }
  const fields = at("fields");
  const start =
    fields !== undefined && isScalar(fields.key) && fields.key.range ? fields.key.range[0] : source.length;
  return source.slice(0, start) + approvalText(approval) + source.slice(start);
}

/** The approval block as YAML, its dates quoted so that no YAML 1.1 reader takes them for timestamps. */
function approvalText(approval: Approval): string {
  const doc = new Document({ approval: inOrder(approval) });
  for (const key of ["date", "expires"]) {
    const node = doc.getIn(["approval", key], true);
    if (isScalar(node)) node.type = "QUOTE_DOUBLE";
  }
  return doc.toString({ lineWidth: 0 });
}

function inOrder(a: Approval): Approval {
  return {
    reviewer: a.reviewer,
    ...(a.author === undefined ? {} : { author: a.author }),
    date: a.date,
    reference: a.reference,
    ...(a.expires === undefined ? {} : { expires: a.expires }),
    ...(a.sha256 === undefined ? {} : { sha256: a.sha256 }),
    ...(a.signature === undefined ? {} : { signature: a.signature }),
  };
}
