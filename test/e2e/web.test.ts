/**
 * How the services serve the web apps: every service serves the owner portal
 * at /portal/ with a Content-Security-Policy that lets its pages call this
 * deployment's services and nothing else, tells it where the control plane
 * is, and answers a browser's cross-origin request only from this
 * deployment's own origins; the control plane serves the console.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { BACKENDS } from "../helpers/stores.ts";
import { startTestSystem, type TestSystem } from "../helpers/system.ts";

const pglite = BACKENDS[0];
assert.ok(pglite);

describe("the web apps on the services", () => {
  let t: TestSystem;
  const services = () => [t.system.controlPlane.url, ...t.system.regions.map((r) => r.url)];
  before(async () => {
    t = await startTestSystem(pglite);
  });
  after(async () => {
    await t?.close();
  });

  test("every service serves the portal, under a policy that names this deployment's services only", async () => {
    for (const url of services()) {
      const page = await fetch(`${url}/portal/`);
      assert.equal(page.status, 200, url);
      assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
      assert.match(await page.text(), /<div id="app"><\/div>/);
      const policy = page.headers.get("content-security-policy") ?? "";
      const connect = /connect-src ([^;]+)/.exec(policy)?.[1]?.split(" ") ?? [];
      assert.deepEqual(connect.sort(), ["'self'", ...services().map((u) => new URL(u).origin)].sort(), url);
      assert.match(policy, /script-src 'self'/);
      assert.match(policy, /frame-ancestors 'none'/);
      const config = (await (await fetch(`${url}/portal/config.json`)).json()) as { controlPlane: string };
      assert.equal(config.controlPlane, t.system.controlPlane.url);
      const api = await fetch(`${url}/openapi.json`);
      assert.equal(api.headers.get("content-security-policy"), null, "the pages' policy stays off the API");
      const redirect = await fetch(`${url}/portal`, { redirect: "manual" });
      assert.deepEqual([redirect.status, redirect.headers.get("location")], [301, "/portal/"]);
    }
  });

  test("the control plane serves the console, whose pages may call the control plane only", async () => {
    const page = await fetch(`${t.system.controlPlane.url}/console/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>Console — phonehome<\/title>/);
    assert.match(page.headers.get("content-security-policy") ?? "", /connect-src 'self';/);
    for (const region of t.system.regions) {
      assert.equal((await fetch(`${region.url}/console/`)).status, 404, `${region.id} serves no console`);
    }
  });

  test("a page of this deployment may call another of its services; a page of any other origin may not", async () => {
    const [controlPlane, global, cn] = services() as [string, string, string];
    const preflight = (url: string, origin: string) =>
      fetch(url, {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "GET",
          "access-control-request-headers": "authorization",
        },
      });
    const allowed = await preflight(`${cn}/v1/owner/data`, new URL(global).origin);
    assert.equal(allowed.status, 204);
    assert.equal(allowed.headers.get("access-control-allow-origin"), new URL(global).origin);
    assert.match(allowed.headers.get("access-control-allow-headers") ?? "", /authorization/);
    const fromPortal = await fetch(`${controlPlane}/v1/regions`, { headers: { origin: new URL(cn).origin } });
    assert.equal(fromPortal.headers.get("access-control-allow-origin"), new URL(cn).origin);
    for (const origin of ["https://evil.example", "http://127.0.0.1:1"]) {
      const refused = await preflight(`${cn}/v1/owner/data`, origin);
      assert.equal(refused.headers.get("access-control-allow-origin"), null, origin);
      const read = await fetch(`${controlPlane}/v1/regions`, { headers: { origin } });
      assert.equal(read.headers.get("access-control-allow-origin"), null, origin);
    }
  });
});
