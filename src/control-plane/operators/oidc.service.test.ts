import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { roleOf } from "./oidc.service.ts";

describe("the role a provider's claim gives", () => {
  const config = {
    roles: [
      { value: "phonehome-privacy", role: "privacy-reviewer" },
      { value: "phonehome-admins", role: "admin" },
      { value: "phonehome-operators", role: "operator" },
    ] as const,
  };

  it("is the first mapping entry the person has, in the configuration's order, not the claim's", () => {
    assert.equal(roleOf(config, ["phonehome-operators", "phonehome-admins"]), "admin");
    assert.equal(roleOf(config, ["phonehome-admins", "phonehome-privacy"]), "privacy-reviewer");
  });

  it("reads a claim of one string as of an array", () => {
    assert.equal(roleOf(config, "phonehome-operators"), "operator");
  });

  it("is none for no mapped value, a missing claim, or values that are not strings", () => {
    assert.equal(roleOf(config, ["sales", "PHONEHOME-ADMINS"]), null);
    assert.equal(roleOf(config, undefined), null);
    assert.equal(roleOf(config, [{ value: "phonehome-admins" }, 7]), null);
    assert.equal(roleOf(config, { "phonehome-admins": true }), null);
  });
});
