import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { isSdkError, SDK_ERRORS, SdkError } from "./errors.ts";

describe("SDK error registry", () => {
  it("README documents exactly the registered codes, each with its registry sentence", async () => {
    const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");
    const section = readme.split("## Error codes")[1]?.split("\n## ")[0] ?? "";
    const rows = [...section.matchAll(/^\|\s*`(sdk\.[a-z_]+)`\s*\|\s*(.+?)\s*\|/gm)];
    const documented = new Map(rows.map((m) => [m[1], m[2]]));
    assert.deepEqual([...documented.keys()].sort(), Object.keys(SDK_ERRORS).sort());
    for (const [code, doc] of Object.entries(SDK_ERRORS)) assert.equal(documented.get(code), doc, code);
  });

  it("carries code, server error and queue state", () => {
    const server = { status: 400, code: "payload.invalid", message: "bad", path: "/serial" };
    const err = new SdkError("sdk.rejected", "refused", { server, eventId: "e1", queued: false });
    assert.ok(err instanceof Error);
    assert.equal(err.name, "SdkError");
    assert.equal(err.code, "sdk.rejected");
    assert.deepEqual(err.server, server);
    assert.equal(isSdkError(err, "sdk.rejected"), true);
    assert.equal(isSdkError(err, "sdk.offline"), false);
    assert.equal(isSdkError(new Error("x")), false);
  });
});
