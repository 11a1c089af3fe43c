import assert from "node:assert/strict";
import { test } from "node:test";
import { CONSENT_METHODS as REGION_METHODS, LANGUAGE_PATTERN } from "@phonehome/shared";
import { isSdkError } from "./errors.ts";
import { CONSENT_METHODS, LANGUAGE, validateDecision } from "./consent-decision.ts";

test("the device checks a decision by the region's own rules: its language pattern and its methods", () => {
  assert.equal(LANGUAGE.source, LANGUAGE_PATTERN);
  assert.deepEqual([...CONSENT_METHODS].sort(), [...REGION_METHODS].sort());
});

test("a decision the region would refuse never leaves the device, and only its four fields do", () => {
  const good = { granted: true, noticeVersion: 2, language: "nb", method: "portal" } as const;
  assert.deepEqual(validateDecision({ ...good, extra: "x" } as typeof good), good);
  for (const bad of [
    { ...good, language: "Norsk" },
    { ...good, method: "email" },
    { ...good, noticeVersion: 0 },
    { ...good, granted: "yes" },
  ]) {
    assert.throws(
      () => validateDecision(bad as unknown as typeof good),
      (e) => isSdkError(e, "sdk.options_invalid"),
      JSON.stringify(bad),
    );
  }
});
