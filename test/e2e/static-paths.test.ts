/**
 * The web apps' static routes against paths that try to leave them: on the
 * control plane (/portal/ and /console/) and on a collector (/portal/), every
 * path of the traversal set — raw, encoded, double-encoded, with backslashes,
 * NUL, overlong UTF-8, overlong paths — is answered 404 (or 403) with a
 * structured error, never 500 and never a file from outside the app.
 */
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, describe, test } from "node:test";
import { pgliteBackend } from "../helpers/stores.ts";
import { startTestSystem, type TestSystem } from "../helpers/system.ts";

/** GETs `path` exactly as written (no normalisation by a URL parser), answering status and body. */
function rawGet(base: string, path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method: "GET", timeout: 10_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer for ${path}`)));
    req.on("error", reject);
    req.end();
  });
}

/** Paths below an app's prefix that try to reach something outside it, or that no file system could hold. */
const TRAVERSALS = [
  "../../package.json",
  "../../../../../../etc/passwd",
  "../src/core/config/index.ts",
  "/etc/passwd",
  "//etc/passwd",
  "%2e%2e/%2e%2e/package.json",
  "%2E%2E%2F%2E%2E%2Fpackage.json",
  "..%2f..%2fpackage.json",
  "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
  "%252e%252e%252f%252e%252e%252fpackage.json",
  "%252e%252e/%252e%252e/package.json",
  "..\\..\\package.json",
  "%5c..%5c..%5cpackage.json",
  "..%5c..%5cpackage.json",
  "index.html%00.png",
  "%00",
  "..%00/",
  "%00../../package.json",
  "%c0%ae%c0%ae/%c0%ae%c0%ae/package.json",
  "%e0%80%ae%e0%80%ae/package.json",
  "%c0%af%c0%afetc%c0%afpasswd",
  "%E0%A4%A",
  "%",
  "%zz",
  ".env",
  ".git/config",
  "%2fetc%2fpasswd",
  "C:/Windows/win.ini",
  "C:%5cWindows%5cwin.ini",
  "index.html/",
  "index.html/..%2f..%2fpackage.json",
  "assets/../../../package.json",
  "a".repeat(5000),
  "a/".repeat(2000),
  `${"%2e%2e/".repeat(500)}etc/passwd`,
];

describe("static routes against traversal (PGlite)", () => {
  let t: TestSystem;
  before(async () => {
    t = await startTestSystem(pgliteBackend);
  });
  after(async () => {
    await t?.close();
  });

  const check = async (service: string, base: string, prefix: string) => {
    for (const rest of TRAVERSALS) {
      const path = `${prefix}${rest}`;
      const { status, body } = await rawGet(base, path);
      const where = `${service} GET ${path.slice(0, 80)}`;
      assert.ok(status === 404 || status === 403, `${where} answered ${status}: ${body.slice(0, 200)}`);
      const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } };
      assert.equal(typeof parsed.error?.code, "string", where);
      assert.equal(typeof parsed.error?.message, "string", where);
      assert.doesNotMatch(body, /root:x:0|"name": ?"phonehome"|\[core\]/, where);
    }
  };

  test("the control plane's portal and console answer every traversal 404 with a structured error", async () => {
    await check("control plane", t.system.controlPlane.url, "/portal/");
    await check("control plane", t.system.controlPlane.url, "/console/");
  });

  test("a collector's portal answers every traversal 404 with a structured error", async () => {
    for (const region of t.system.regions) await check(`collector ${region.id}`, region.url, "/portal/");
  });

  test("the apps' own files are still served", async () => {
    for (const [base, prefix] of [
      [t.system.controlPlane.url, "/portal/"],
      [t.system.controlPlane.url, "/console/"],
      [t.system.regions[0]?.url ?? "", "/portal/"],
    ] as const) {
      const page = await rawGet(base, `${prefix}index.html`);
      assert.equal(page.status, 200, `${base}${prefix}`);
      assert.match(page.body, /<div id="app"><\/div>/);
    }
  });
});
