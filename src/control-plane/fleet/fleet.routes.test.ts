import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { demoFleet, freshRegistry, TEST_CONFIG, type TestRegistry } from "../../../test/helpers/fleet.ts";
import { BACKENDS } from "../../../test/helpers/stores.ts";
import { openDb } from "../../core/db/index.ts";
import { type App, createService } from "../../core/http/service.ts";
import type { DemoFleet } from "./fleet.generate.ts";
import { registerFleetRoutes } from "./fleet.routes.ts";
import { importFleet } from "./fleet.service.ts";

const TOKEN = "test-service-token-0123456789abcdef";

for (const backend of BACKENDS) {
  describe(`fleet HTTP API (${backend.name})`, { skip: backend.skip }, () => {
    let registry: TestRegistry;
    let app: App;
    let fleet: DemoFleet;

    before(async () => {
      registry = await freshRegistry(backend, "fleet-routes");
      fleet = demoFleet(23);
      await importFleet(registry.db, TEST_CONFIG, { name: "f.json", text: JSON.stringify(fleet.factory) });
      ({ app } = await createService({
        name: "control-plane-test",
        description: "fleet routes under test",
        logger: pino({ level: "silent" }),
        bodyLimit: 1024 * 1024,
        ready: async () => true,
      }));
      registerFleetRoutes(app, { db: registry.db, serviceToken: TOKEN, config: TEST_CONFIG });
      await app.ready();
    });
    after(async () => {
      await app.close();
      await registry.close();
    });

    // Device routes need the service token; the others ignore it.
    const get = async (url: string, authorization: string | null = `Bearer ${TOKEN}`) => {
      const headers = authorization === null ? {} : { authorization };
      const response = await app.inject({ method: "GET", url, headers });
      return { status: response.statusCode, body: response.json() };
    };
    const lookup = (body: unknown, authorization?: string) =>
      app.inject({
        method: "POST",
        url: "/v1/fleet/directory/lookup",
        headers: authorization === undefined ? {} : { authorization },
        payload: body as Record<string, unknown>,
      });

    it("lists models, variants with their region, builds and batches", async () => {
      assert.deepEqual((await get("/v1/fleet/models")).body, {
        models: [{ id: "TA-1062", name: "Phone 7 Plus (demo)", warrantyMonths: 24 }],
      });
      const variants = (await get("/v1/fleet/variants")).body.variants as { id: string; region: string }[];
      assert.deepEqual(
        variants.map((v) => `${v.id}:${v.region}`),
        ["00CN:cn", "00WW:global"],
      );
      const builds = (await get("/v1/fleet/builds")).body.builds as { number: string }[];
      assert.equal(builds.length, 3);
      const first = await get("/v1/fleet/batches?limit=3");
      assert.equal(first.body.batches.length, 3);
      const rest = await get(`/v1/fleet/batches?limit=3&after=${first.body.next}`);
      assert.equal(rest.body.batches.length, 1);
      assert.equal(rest.body.next, null);
    });

    it("shows device records only to callers with the service token (or an operator session)", async () => {
      for (const url of ["/v1/fleet/devices", `/v1/fleet/devices/${fleet.factory.devices[0]?.serial}`]) {
        const anonymous = await get(url, null);
        assert.equal(anonymous.status, 401, url);
        assert.equal(anonymous.body.error.code, "auth.required");
      }
      assert.equal((await get("/v1/fleet/models", null)).status, 200, "models are public");
    });

    it("pages through devices in serial order with a keyset cursor, optionally by batch", async () => {
      const seen: string[] = [];
      let url = "/v1/fleet/devices?limit=5";
      for (let pages = 0; pages < 10; pages++) {
        const { status, body } = await get(url);
        assert.equal(status, 200);
        seen.push(...body.devices.map((d: { serial: string }) => d.serial));
        if (body.next === null) break;
        url = `/v1/fleet/devices?limit=5&after=${body.next}`;
      }
      const all = fleet.factory.devices.map((d) => d.serial).sort();
      assert.deepEqual(seen, all);
      const batch = fleet.factory.batches[3];
      assert.ok(batch);
      const { body } = await get(`/v1/fleet/devices?batch=${batch.id}`);
      assert.equal(body.devices.length, batch.size);
      assert.ok(body.devices.every((d: { batch: string }) => d.batch === batch.id));
      assert.equal(body.next, null);
      const missing = await get("/v1/fleet/devices?batch=B-NONE");
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error.code, "fleet.not_found");
    });

    it("shows one device's factory record, and 404 for an unknown serial", async () => {
      const device = fleet.factory.devices[7];
      assert.ok(device);
      const { status, body } = await get(`/v1/fleet/devices/${device.serial}`);
      assert.equal(status, 200);
      assert.deepEqual(Object.keys(body).sort(), [
        "batch",
        "keyId",
        "market",
        "model",
        "provisionedAt",
        "publicKey",
        "serial",
        "variant",
      ]);
      assert.equal(body.publicKey, device.publicKey);
      assert.equal(body.keyId, fleet.keys[device.serial]?.keyId);
      const unknown = await get("/v1/fleet/devices/PHNOBODY01");
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error.code, "fleet.not_found");
    });

    it("answers a bad query with request.invalid and the offending parameter", async () => {
      for (const [url, path] of [
        ["/v1/fleet/devices?limit=0", "/querystring/limit"],
        ["/v1/fleet/devices?limit=1001", "/querystring/limit"],
        ["/v1/fleet/devices?limit=ten", "/querystring/limit"],
        ["/v1/fleet/devices?after=a%20b", "/querystring/after"],
        ["/v1/fleet/devices?colour=red", "/querystring/colour"],
        ["/v1/fleet/batches?limit=-1", "/querystring/limit"],
      ] as const) {
        const { status, body } = await get(url);
        assert.equal(status, 400, url);
        assert.equal(body.error.code, "request.invalid", url);
        assert.equal(body.error.path, path, url);
      }
    });

    it("resolves key ids for collectors, only with the service token", async () => {
      const devices = fleet.factory.devices.slice(0, 10);
      const keys = devices.map((d) => fleet.keys[d.serial]?.keyId ?? "");
      const noToken = await lookup({ keys });
      assert.equal(noToken.statusCode, 401);
      assert.equal(noToken.json().error.code, "auth.service_token_invalid");
      assert.match(String(noToken.headers["www-authenticate"]), /^Bearer/);
      for (const wrong of [`Bearer ${TOKEN}x`, `Basic ${TOKEN}`, "Bearer ", TOKEN]) {
        const response = await lookup({ keys }, wrong);
        assert.equal(response.statusCode, 401, wrong);
      }
      const ok = await lookup({ keys: [...keys, "dk_AAAAAAAAAAAAAAAAAAAAAAAAAAA"] }, `Bearer ${TOKEN}`);
      assert.equal(ok.statusCode, 200);
      const records = ok.json().devices as { serial: string; variantRegion: string; build: string }[];
      assert.deepEqual(records.map((r) => r.serial).sort(), devices.map((d) => d.serial).sort());
      for (const record of records) {
        const device = devices.find((d) => d.serial === record.serial);
        const batch = fleet.factory.batches.find((b) => b.id === device?.batch);
        assert.equal(record.build, batch?.build);
        assert.equal(record.variantRegion, device?.market === "CN" ? "cn" : "global");
      }
    });

    it("validates the lookup body: 1 to 500 well-formed key ids and nothing else", async () => {
      const auth = `Bearer ${TOKEN}`;
      const tooMany = Array.from({ length: 501 }, () => "dk_AAAAAAAAAAAAAAAAAAAAAAAAAAA");
      for (const body of [{ keys: [] }, { keys: tooMany }, { keys: ["PH-1"] }, { keys: [], more: 1 }]) {
        const response = await lookup(body, auth);
        assert.equal(response.statusCode, 400);
        assert.equal(response.json().error.code, "request.invalid");
      }
    });

    it("imports a factory document with the service token, all or nothing", async () => {
      const more = demoFleet(5, "fleet-routes-import");
      const send = (body: unknown, authorization?: string) =>
        app.inject({
          method: "POST",
          url: "/v1/fleet/imports",
          headers: authorization ? { authorization } : {},
          payload: body as object,
        });
      assert.equal((await send(more.factory)).statusCode, 401);
      const broken = {
        ...more.factory,
        devices: more.factory.devices.map((d, i) => (i === 2 ? { ...d, market: "CN" } : d)),
      };
      const refused = await send(broken, `Bearer ${TOKEN}`);
      assert.equal(refused.statusCode, 400);
      const error = refused.json().error;
      assert.equal(error.code, "fleet.import_invalid");
      assert.ok(error.problems.some((p: { path: string }) => p.path.includes("/devices/2")));
      assert.equal((await get("/v1/fleet/devices?limit=1000")).body.devices.length, 23, "nothing imported");
      const done = await send(more.factory, `Bearer ${TOKEN}`);
      assert.equal(done.statusCode, 200);
      assert.equal(done.json().devices.created, 5);
      assert.equal((await get("/v1/fleet/devices?limit=1000")).body.devices.length, 28);
    });

    it("publishes the routes in the OpenAPI document", async () => {
      const { body } = await get("/openapi.json");
      for (const path of [
        "/v1/fleet/models",
        "/v1/fleet/variants",
        "/v1/fleet/builds",
        "/v1/fleet/batches",
        "/v1/fleet/devices",
        "/v1/fleet/devices/{serial}",
        "/v1/fleet/directory/lookup",
      ]) {
        assert.ok(body.paths[path], path);
      }
    });
  });
}

describe("fleet routes set-up", () => {
  it("refuses a service token too short to be a secret", async () => {
    const { app } = await createService({
      name: "t",
      description: "t",
      logger: pino({ level: "silent" }),
      bodyLimit: 1024,
      ready: async () => true,
    });
    const db = await openDb({ kind: "pglite", dataDir: "memory://" });
    assert.throws(
      () => registerFleetRoutes(app, { db, serviceToken: "short", config: TEST_CONFIG }),
      /at least 16 characters/,
    );
    await db.close();
    await app.close();
  });
});
