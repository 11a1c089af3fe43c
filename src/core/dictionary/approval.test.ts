/**
 * Approvals: only a record signed by a listed reviewer who is not the author,
 * over the very version, approves it. An approval with an end date: the
 * version counts as expired from the day after `approval.expires` (UTC) on,
 * and is accepted again once a review renews the approval; `registry check`
 * flags an end before the approval and warns of one past or near.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { generateKeyPairSync } from "node:crypto";
import { sampleDoc, signed, tempDictionary, TEST_REVIEWER } from "../../../test/helpers/dictionary.ts";
import { lintDictionary, loadDictionary } from "./load.ts";

const folder = tempDictionary();
after(() => folder.cleanup());

const withApproval = (approval: Record<string, string>) => {
  folder.write(
    "sample/v1.yaml",
    sampleDoc({ approval: { reviewer: TEST_REVIEWER.username, reference: "REV-1", ...approval } }),
  );
  return loadDictionary(folder.dir, {
    regions: ["global", "cn"],
    now: new Date("2026-01-15T00:00:00Z"),
  }).dictionary.get("sample", 1);
};

test("a version expires the day after its approval's last day, and a renewal brings it back", () => {
  const sample = withApproval({ date: "2025-01-31", expires: "2026-01-31" });
  assert.ok(sample?.approved);
  assert.equal(sample.expiredAt(new Date("2026-01-31T23:59:59.999Z")), false, "the last day still holds");
  assert.equal(sample.expiredAt(new Date("2026-02-01T00:00:00Z")), true);
  const renewed = withApproval({ date: "2026-02-02", expires: "2027-01-31", reference: "REV-2" });
  assert.equal(renewed?.expiredAt(new Date("2026-06-01T00:00:00Z")), false);
  const open = withApproval({ date: "2025-01-31" });
  assert.equal(open?.expiredAt(new Date("2099-01-01T00:00:00Z")), false, "no end date: no end");
});

test("registry check: an end before the approval is an error; an end past or within 30 days a warning", () => {
  const lint = (approval: Record<string, string>, now: string) => {
    folder.write(
      "sample/v1.yaml",
      sampleDoc({ approval: { reviewer: TEST_REVIEWER.username, reference: "REV-1", ...approval } }),
    );
    return lintDictionary(folder.dir, { regions: ["global", "cn"], now: new Date(now) });
  };
  const before = lint({ date: "2026-01-31", expires: "2026-01-30" }, "2026-01-31T00:00:00Z");
  assert.equal(before.errors.length, 1);
  assert.ok(before.errors[0]?.path.endsWith("sample/v1.yaml:/approval/expires"), before.errors[0]?.path);
  const past = lint({ date: "2025-01-31", expires: "2026-01-31" }, "2026-02-01T00:00:00Z");
  assert.deepEqual(past.errors, []);
  assert.match(
    past.warnings.find((w) => w.path.endsWith("/approval/expires"))?.message ?? "",
    /ran out on 2026-01-31/,
  );
  const soon = lint({ date: "2025-01-31", expires: "2026-01-31" }, "2026-01-15T00:00:00Z");
  assert.match(
    soon.warnings.find((w) => w.path.endsWith("/approval/expires"))?.message ?? "",
    /runs out on 2026-01-31/,
  );
  const far = lint({ date: "2025-01-31", expires: "2027-01-31" }, "2026-01-15T00:00:00Z");
  assert.ok(!far.warnings.some((w) => w.path.endsWith("/approval/expires")));
});

test("an approval pins what was approved: a changed version is refused, layout and key order are not", () => {
  const lint = (doc: Record<string, unknown>) => {
    folder.write("sample/v1.yaml", doc, { sign: false });
    return lintDictionary(folder.dir, { regions: ["global", "cn"], now: new Date("2026-01-15T00:00:00Z") });
  };
  const approval = { reviewer: TEST_REVIEWER.username, date: "2026-01-10", reference: "REV-1" };
  const approved = signed(sampleDoc({ approval }));
  // Signed and unchanged: nothing to say.
  const pinned = lint(approved);
  assert.deepEqual(
    [pinned.errors, pinned.refusals, pinned.warnings.filter((w) => w.path.includes("/approval"))],
    [[], [], []],
  );
  assert.deepEqual(pinned.checked[0]?.approval, { approved: true });
  // The same content in another key order still matches.
  const reordered = Object.fromEntries(Object.entries(approved).reverse());
  assert.deepEqual(lint(reordered).refusals, []);
  // A change of meaning (a longer retention) after the approval: refused, naming the pin.
  const changed = lint({ ...approved, retention: "P2Y" });
  assert.equal(changed.refusals.length, 1);
  assert.deepEqual(changed.errors, [], "a refusal does not stop a service's start");
  assert.ok(changed.refusals[0]?.path.endsWith("/approval/sha256"));
  assert.match(changed.refusals[0]?.message ?? "", /differs from what was approved/);
  assert.equal(changed.checked[0]?.approval.approved, false);
});

test("only a signature by a listed reviewer who is not the author approves a version", (t) => {
  const load = (file: string, doc: Record<string, unknown>) => {
    const own = tempDictionary();
    t.after(() => own.cleanup());
    own.write(file, doc, { sign: false });
    const { dictionary, warnings } = loadDictionary(own.dir, {
      regions: ["global", "cn"],
      now: new Date("2026-01-15T00:00:00Z"),
    });
    const sample = dictionary.get("sample", Number(doc.version));
    assert.ok(sample);
    return { sample, warnings };
  };
  const approval = { reviewer: TEST_REVIEWER.username, date: "2026-01-10", reference: "REV-1" };
  const good = signed(sampleDoc({ approval }));
  const approved = load("sample/v1.yaml", good);
  assert.equal(approved.sample.approved, true);
  assert.equal(approved.sample.unapprovedBecause, undefined);

  const stranger = generateKeyPairSync("ed25519")
    .privateKey.export({ format: "pem", type: "pkcs8" })
    .toString();
  const goodApproval = good.approval as Record<string, string>;
  const cases: [string, string, Record<string, unknown>, RegExp][] = [
    ["no record", "sample/v1.yaml", sampleDoc({ approval: undefined }), /no approval record/],
    [
      "unsigned",
      "sample/v1.yaml",
      sampleDoc({ approval: { ...approval, author: "an.author", sha256: goodApproval.sha256 } }),
      /not signed/,
    ],
    [
      "self-approved",
      "sample/v1.yaml",
      signed(sampleDoc({ approval: { ...approval, author: TEST_REVIEWER.username } })),
      /approved by its own author \(a\.reviewer\)/,
    ],
    [
      "signed by an unlisted key",
      "sample/v1.yaml",
      signed(sampleDoc({ approval }), stranger),
      /signature does not verify with a\.reviewer's key/,
    ],
    [
      "an unlisted reviewer",
      "sample/v1.yaml",
      signed(sampleDoc({ approval: { ...approval, reviewer: "mallory" } })),
      /mallory is not among the dictionary's reviewers/,
    ],
    // The record edited after signing: a later end, as if renewed without a review.
    [
      "edited after signing",
      "sample/v1.yaml",
      { ...good, approval: { ...goodApproval, expires: "2099-12-31" } },
      /signature does not verify/,
    ],
    // Version 1's approval copied onto version 2.
    [
      "another version's approval",
      "sample/v2.yaml",
      { ...good, version: 2 },
      /differs from what was approved/,
    ],
  ];
  for (const [name, file, doc, why] of cases) {
    const { sample, warnings } = load(file, doc);
    assert.equal(sample.approved, false, name);
    assert.match(sample.unapprovedBecause ?? "", why, name);
    assert.ok(
      warnings.some((w) => why.test(w.message)),
      `${name}: reported at start, and the start goes on`,
    );
  }
});
