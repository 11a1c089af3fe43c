import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { renderErrorCatalogue } from "./errors-doc.ts";
import { ERRORS, PhoneHomeError } from "./index.ts";

test("docs/errors.md is the catalogue rendered from the registry (run `npm run docs` after a change)", () => {
  const onDisk = readFileSync(new URL("../../../docs/errors.md", import.meta.url), "utf8");
  assert.equal(onDisk, renderErrorCatalogue());
});

test("every documented code is in the registry and every registry code is documented", () => {
  const onDisk = readFileSync(new URL("../../../docs/errors.md", import.meta.url), "utf8");
  const documented = [...onDisk.matchAll(/^\| `([a-z_.]+)` \| (\d{3}) \|/gm)].map((m) => [
    m[1],
    Number(m[2]),
  ]);
  assert.deepEqual(documented.map(([code]) => code).sort(), Object.keys(ERRORS).sort());
  for (const [code, status] of documented)
    assert.equal(ERRORS[code as keyof typeof ERRORS].status, status, String(code));
});

test("a PhoneHomeError presents its code, message and path as the documented body", () => {
  const error = new PhoneHomeError("payload.undeclared_field", 'unknown field "imsi"', {
    path: "/payload/imsi",
  });
  assert.equal(error.status, 400);
  assert.deepEqual(error.toBody(), {
    error: { code: "payload.undeclared_field", message: 'unknown field "imsi"', path: "/payload/imsi" },
  });
});
