import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { renderOpenApi } from "./openapi.ts";

test("docs/openapi/*.json are the documents the services publish (run `npm run docs` after a change)", async () => {
  const docs = await renderOpenApi();
  assert.deepEqual(Object.keys(docs).sort(), ["collector.json", "control-plane.json"]);
  for (const [name, text] of Object.entries(docs)) {
    const onDisk = readFileSync(new URL(`../../../docs/openapi/${name}`, import.meta.url), "utf8");
    assert.equal(onDisk, text, `docs/openapi/${name} is stale`);
  }
  const collector = JSON.parse(docs["collector.json"] ?? "{}") as { paths: Record<string, unknown> };
  assert.ok(collector.paths["/v1/activations"], "the activation endpoint is documented");
  assert.ok(collector.paths["/v1/region"]);
  const controlPlane = JSON.parse(docs["control-plane.json"] ?? "{}") as { paths: Record<string, unknown> };
  assert.ok(controlPlane.paths["/v1/fleet/directory/lookup"]);
});
