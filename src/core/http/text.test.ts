import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { findUnstorableText } from "./text.ts";

describe("findUnstorableText", () => {
  it("finds U+0000 and unpaired surrogates in values and in names, with a JSON pointer", () => {
    assert.deepEqual(findUnstorableText({ a: "fine", b: ["x", "y\u0000"] }), {
      path: "/b/1",
      problem: "contains U+0000 (NUL), which cannot be stored",
    });
    assert.equal(findUnstorableText({ a: { "b/c~": "\ud800" } })?.path, "/a/b~1c~0");
    assert.equal(findUnstorableText({ x: "\udc00z" })?.path, "/x");
    assert.equal(findUnstorableText(["\ud83d"])?.path, "/0");
    assert.deepEqual(findUnstorableText({ "k\u0000": 1 }), {
      path: "/k\u0000",
      problem: "has a name that contains U+0000 (NUL), which cannot be stored",
    });
    assert.equal(findUnstorableText("\u0000")?.path, "");
  });

  it("passes text every store holds as sent: paired surrogates, other controls, the empty string", () => {
    for (const value of ["👩‍👩‍👧‍👦", "\u0001\u001f\u007f", "\ufeff\uffff", "", { "": [null, 1, true, "é"] }]) {
      assert.equal(findUnstorableText(value), undefined, JSON.stringify(value));
    }
    assert.equal(findUnstorableText(undefined), undefined);
  });

  it("walks nesting of any depth without exhausting the stack", () => {
    let deep: unknown = "bottom\u0000";
    for (let i = 0; i < 200_000; i++) deep = [deep];
    assert.equal(findUnstorableText(deep)?.path.length, 200_000 * 2 + 0);
  });
});
