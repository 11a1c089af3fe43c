/**
 * Refusals of the HTTP layer on the device-facing routes — a body too large,
 * of another media type, or not JSON — are counted in the ingest ledger under
 * their error code, and answered with their structured error even when the
 * count cannot be written; on PGlite and PostgreSQL.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { DeviceIdentity } from "@phonehome/sdk";
import { buildEnvelope, post } from "../helpers/envelopes.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { collectorLedger, startTestSystem, type TestSystem } from "../helpers/system.ts";

const JSON_TYPE = { "content-type": "application/json" };

for (const backend of BACKENDS) {
  describe(`HTTP-layer refusals in the ingest ledger on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestSystem;
    let device: DeviceIdentity;
    const region = () => {
      const r = t.system.regions.find((x) => x.id === "global");
      if (!r) throw new Error("no global region");
      return r;
    };
    const ledger = () => collectorLedger(t, "global");
    const counted = async (reason: string, collection: string) =>
      (await ledger())
        .filter((r) => r.outcome === "refused" && r.reason === reason && r.collection === collection)
        .reduce((n, r) => n + r.count, 0);
    const send = async (method: string, path: string, body: string, headers: Record<string, string>) => {
      const response = await fetch(`${region().url}${path}`, { method, headers, body });
      return {
        status: response.status,
        body: (await response.json()) as { error?: { code: string; message: string } },
      };
    };

    before(async () => {
      t = await startTestSystem(backend);
      [device] = (await t.provision([{ market: "NO" }])) as [DeviceIdentity];
    });
    after(async () => {
      await t?.close();
    });

    test("413, 415 and a body that is not JSON are counted by reason, with nothing of the request", async () => {
      const tooLarge = JSON.stringify({ pad: `${"\u0000".repeat(10)}${"x".repeat(70_000)}` });
      const cases: [string, string, string, Record<string, string>, number, string, string][] = [
        ["POST", "/v1/diagnostics", tooLarge, JSON_TYPE, 413, "request.too_large", ""],
        ["POST", "/v1/activations", tooLarge, JSON_TYPE, 413, "request.too_large", "activation"],
        [
          "POST",
          "/v1/activations",
          "hello",
          { "content-type": "text/plain" },
          415,
          "request.unsupported_media_type",
          "activation",
        ],
        ["POST", "/v1/updates/check", '{"v":1,', JSON_TYPE, 400, "request.malformed", "update.check"],
        ["POST", "/v1/updates/report", "", JSON_TYPE, 400, "request.malformed", "update.report"],
        ["POST", "/v1/diagnostics", '{"__proto__":{"x":1}}', JSON_TYPE, 400, "request.malformed", ""],
        ["PUT", "/v1/owner/consents/uep.diagnostics", "{nope", JSON_TYPE, 400, "request.malformed", ""],
      ];
      for (const [method, path, body, headers, status, code] of cases) {
        const answer = await send(method, path, body, headers);
        assert.deepEqual([answer.status, answer.body.error?.code], [status, code], `${method} ${path}`);
        assert.equal(typeof answer.body.error?.message, "string");
      }
      const rows = (await ledger()).filter((r) => r.reason.startsWith("request."));
      assert.deepEqual(rows.map((r) => [r.reason, r.collection, r.count]).sort(), [
        ["request.malformed", "", 2],
        ["request.malformed", "update.check", 1],
        ["request.malformed", "update.report", 1],
        ["request.too_large", "", 1],
        ["request.too_large", "activation", 1],
        ["request.unsupported_media_type", "activation", 1],
      ]);
      for (const r of rows) {
        assert.deepEqual(
          [r.outcome, r.schemaVersion, r.batch, r.build, r.market],
          ["refused", 0, "", "", ""],
        );
      }
    });

    test("a route's own refusals are counted once, and routes that are not a device's are not counted", async () => {
      const before = await counted("envelope.invalid", "activation");
      const { sig: _sig, ...unsigned } = await buildEnvelope(device);
      assert.equal((await post(`${region().url}/v1/activations`, unsigned)).status, 400);
      assert.equal(await counted("envelope.invalid", "activation"), before + 1);
      const malformed = await counted("request.malformed", "");
      const answer = await send("POST", "/v1/owner/access-receipts", "{nope", JSON_TYPE);
      assert.equal(answer.body.error?.code, "request.malformed");
      assert.equal(await counted("request.malformed", ""), malformed);
    });

    test("the refusal is answered with its structured error when the count cannot be written", async () => {
      const { writer } = region().intake;
      const submit = writer.submit.bind(writer);
      writer.submit = () => Promise.reject(new Error("the store cannot be reached"));
      try {
        const answer = await send("POST", "/v1/activations", "hello", { "content-type": "text/plain" });
        assert.deepEqual([answer.status, answer.body.error?.code], [415, "request.unsupported_media_type"]);
      } finally {
        writer.submit = submit;
      }
      // The writer works again, and so do devices.
      assert.equal((await post(`${region().url}/v1/activations`, await buildEnvelope(device))).status, 201);
    });
  });
}
