/**
 * An approval with an end date: the version counts as expired from the day
 * after `approval.expires` (UTC) on, and is accepted again once a review
 * renews the approval; `registry check` flags an end before the approval and
 * warns of one past or near.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { sampleDoc, tempDictionary } from "../../test/helpers/dictionary.ts";
import { lintDictionary, loadDictionary } from "./load.ts";

const folder = tempDictionary();
after(() => folder.cleanup());

const withApproval = (approval: Record<string, string>) => {
  folder.write(
    "sample/v1.yaml",
    sampleDoc({ approval: { reviewer: "A. Reviewer", reference: "REV-1", ...approval } }),
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
      sampleDoc({ approval: { reviewer: "A. Reviewer", reference: "REV-1", ...approval } }),
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

test("an approval pins what was approved: a changed version is an error, layout and key order are not", () => {
  const lint = (doc: Record<string, unknown>) => {
    folder.write("sample/v1.yaml", doc);
    return lintDictionary(folder.dir, { regions: ["global", "cn"], now: new Date("2026-01-15T00:00:00Z") });
  };
  const approval = { reviewer: "A. Reviewer", date: "2026-01-10", reference: "REV-1" };
  // Unpinned: a warning that gives the digest to pin.
  const unpinned = lint(sampleDoc({ approval }));
  const hint = unpinned.warnings.find((w) => w.path.endsWith("/approval/sha256"));
  const digest = /digest is ([0-9a-f]{64})$/.exec(hint?.message ?? "")?.[1];
  assert.ok(digest, hint?.message);
  // Pinned and unchanged: nothing to say.
  const pinned = lint(sampleDoc({ approval: { ...approval, sha256: digest } }));
  assert.deepEqual([pinned.errors, pinned.warnings.filter((w) => w.path.includes("/approval"))], [[], []]);
  // The same content in another key order still matches.
  const reordered = Object.fromEntries(
    Object.entries(sampleDoc({ approval: { ...approval, sha256: digest } })).reverse(),
  );
  assert.deepEqual(lint(reordered).errors, []);
  // A change of meaning (a longer retention) after the approval: an error naming the pin.
  const changed = lint(sampleDoc({ retention: "P2Y", approval: { ...approval, sha256: digest } }));
  assert.equal(changed.errors.length, 1);
  assert.ok(changed.errors[0]?.path.endsWith("/approval/sha256"));
  assert.match(changed.errors[0]?.message ?? "", /differs from what was approved/);
});
