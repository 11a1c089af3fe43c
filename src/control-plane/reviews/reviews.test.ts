/**
 * The review workflow's own parts: what a proposal changes, in words (each
 * kind of widening named), and how an approval is written into the
 * dictionary (only the approval block changes; a file that is not what was
 * approved is left alone).
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { parse, stringify } from "yaml";
import { phonehome } from "../../../test/helpers/cli.ts";
import { sampleDoc, tempDictionary, TEST_REVIEWER } from "../../../test/helpers/dictionary.ts";
import { approvalStatement, signStatement } from "../../core/dictionary/approval.ts";
import type { Approval } from "../../core/dictionary/index.ts";
import { versionDigest } from "../../core/dictionary/lint.ts";
import { lintDictionary } from "../../core/dictionary/load.ts";
import { isPhoneHomeError } from "../../core/errors/index.ts";
import { writeApproval } from "./apply.ts";
import { changesBetween, unifiedDiff, type VersionContent } from "./diff.ts";

const content = (overrides: Record<string, unknown> = {}): VersionContent => {
  const { approval: _, ...doc } = sampleDoc(overrides);
  return doc as unknown as VersionContent;
};

test("a proposal's changes name each widening, and what narrows is not marked", () => {
  const base = content();
  const fields = structuredClone(base.fields) as Record<string, Record<string, unknown>>;
  fields.imei = {
    description: "imei",
    type: "string",
    maxLength: 15,
    dataCategory: "user.device.device_id.imei",
    sensitivity: 4,
    necessity: "test",
    transform: "pseudonymise",
  };
  (fields.model as Record<string, unknown>).sensitivity = 2;
  (fields.serial as Record<string, unknown>).transform = "keep";
  (fields.seenAt as Record<string, unknown>).retention = "P6M";
  delete fields.charging;
  const proposed = content({ version: 2, retention: "P2Y", regions: ["global"], fields });
  const changes = changesBetween(base, proposed).map((c) => [c.kind, c.path, c.widens]);
  assert.deepEqual(
    changes.sort(),
    [
      ["changed", "/fields/serial/transform", true],
      ["field.added", "/fields/imei", true],
      ["field.removed", "/fields/charging", false],
      ["region.removed", "/regions", false],
      ["retention.shorter", "/fields/seenAt/retention", false],
      ["retention.wider", "/retention", true],
      ["sensitivity.higher", "/fields/model/sensitivity", true],
    ].sort(),
  );
  const words = changesBetween(base, proposed).map((c) => c.text);
  assert.ok(words.includes("wider retention: P1Y → P2Y"), words.join("\n"));
  assert.ok(words.includes("higher sensitivity of model: 1 → 2"));
  assert.ok(words.includes("serial is stored as sent instead of as a pseudonym"));
  assert.ok(words.includes("shorter retention of seenAt: P1Y → P6M"), words.join("\n"));
  const newCollection = changesBetween(null, base);
  assert.equal(newCollection[0]?.kind, "collection.new");
  assert.equal(newCollection.filter((c) => c.kind === "field.added").length, Object.keys(base.fields).length);
  const moreRegions = changesBetween(
    content({ regions: ["global"], fields: { model: base.fields.model } }),
    content({ version: 2, fields: { model: base.fields.model } }),
  );
  assert.deepEqual(
    moreRegions.map((c) => [c.kind, c.text]),
    [["region.added", "the collection may now be stored in region cn"]],
  );
});

test("the unified diff shows only what changed, whatever order the keys were stored in", () => {
  const base = content();
  const shuffled = Object.fromEntries(
    Object.entries(content({ version: 2, retention: "P2Y" })).reverse(),
  ) as unknown as VersionContent;
  const diff = unifiedDiff(base, shuffled);
  const changed = diff.split("\n").filter((l) => /^[-+][^-+]/.test(l));
  assert.deepEqual(changed, ["-version: 1", "+version: 2", "-retention: P1Y", "+retention: P2Y"]);
});

const folder = tempDictionary();
after(() => folder.cleanup());

function approvalOf(doc: VersionContent, reviewer = TEST_REVIEWER.username): Approval {
  const approval = {
    reviewer,
    author: "an.author",
    date: "2026-11-30",
    reference: "PROP-7",
    sha256: versionDigest(doc),
  };
  return {
    ...approval,
    signature: signStatement(approvalStatement(doc.collection, doc.version, approval), TEST_REVIEWER.pem),
  };
}
const reviewer = {
  username: TEST_REVIEWER.username,
  name: TEST_REVIEWER.name,
  publicKey: TEST_REVIEWER.publicKey,
  added: "2026-11-30",
};

test("apply changes only the approval block of an existing file, and the version is then approved", () => {
  const doc = content();
  const text = `# A comment the author wrote.\n${stringify({ ...doc, approval: { reviewer: "someone", date: "2020-01-01", reference: "OLD" } })}# the end\n`;
  const file = folder.write("sample/v1.yaml", text);
  const applied = writeApproval(folder.dir, doc, approvalOf(doc), reviewer);
  assert.deepEqual(
    [applied.created, applied.reviewerAdded],
    [false, false],
    "the reviewer is listed already",
  );
  const after = readFileSync(file, "utf8");
  const outside = (t: string) => t.replace(/^approval:\n(?: {2}.*\n)*/m, "");
  assert.equal(outside(after), outside(text), "nothing but the approval changed");
  assert.match(after, /^ {2}date: "2026-11-30"$/m, "dates are quoted");
  const report = lintDictionary(folder.dir, { regions: ["global", "cn"] });
  assert.deepEqual([report.errors, report.refusals], [[], []]);
  assert.deepEqual(report.checked.find((c) => c.doc.collection === "sample")?.approval, { approved: true });
});

test("apply writes a new version's file, and lists a new reviewer's key once", () => {
  // Keys in another order, as a stored document has them.
  const doc = Object.fromEntries(
    Object.entries(content({ collection: "fresh", version: 3 })).reverse(),
  ) as unknown as VersionContent;
  const other = { ...reviewer, username: "b.reviewer", name: "B" };
  const applied = writeApproval(folder.dir, doc, { ...approvalOf(doc), reviewer: "b.reviewer" }, other);
  assert.deepEqual([applied.created, applied.reviewerAdded], [true, true]);
  const written = parse(readFileSync(join(folder.dir, "fresh", "v3.yaml"), "utf8")) as Record<
    string,
    unknown
  >;
  assert.deepEqual(
    Object.keys(written),
    [
      "collection",
      "version",
      "description",
      "purpose",
      "legalBasis",
      "regions",
      "retention",
      "approval",
      "fields",
    ],
    "written in the format's order, the approval before the fields",
  );
  assert.equal(versionDigest(written as never), versionDigest(doc));
  assert.equal(
    writeApproval(folder.dir, doc, { ...approvalOf(doc), reviewer: "b.reviewer" }, other).reviewerAdded,
    false,
  );
  const listed = (
    parse(readFileSync(join(folder.dir, "reviewers.yaml"), "utf8")) as { reviewers: { username: string }[] }
  ).reviewers;
  assert.deepEqual(
    listed.map((r) => r.username),
    [TEST_REVIEWER.username, "b.reviewer"],
  );
});

test("apply refuses a file that is not what was approved, and writes nothing", () => {
  const doc = content({ collection: "edited" });
  const file = folder.write("edited/v1.yaml", { ...doc, retention: "P9Y" });
  const before = readFileSync(file, "utf8");
  assert.throws(
    () => writeApproval(folder.dir, doc, approvalOf(doc), reviewer),
    (e: unknown) =>
      isPhoneHomeError(e, "review.conflict") && /differs from what was approved/.test(e.message),
  );
  assert.equal(readFileSync(file, "utf8"), before);
});

test("review key keeps no key the control plane did not register", () => {
  const keyFile = join(folder.dir, "unregistered.pem");
  const run = phonehome([
    "review",
    "key",
    "--key-file",
    keyFile,
    "--session",
    join(folder.dir, "no-session"),
  ]);
  assert.notEqual(run.status, 0);
  assert.match(run.stderr, /auth\.required/);
  assert.equal(existsSync(keyFile), false);
});
