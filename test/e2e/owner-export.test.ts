/**
 * The owner's export pages: the first answer carries the small collections and
 * the first diagnostics events, a cursor bound to the device leads through the
 * rest, each event exactly once; instants are written in one format.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type DeviceIdentity, mintOwnerToken } from "@phonehome/sdk";
import { deviceRef } from "../../src/collector/device-data/index.ts";
import { buildEnvelope, post } from "../helpers/envelopes.ts";
import { putEvents } from "../helpers/retention.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { startTestSystem, type TestSystem } from "../helpers/system.ts";

interface Page {
  device: string;
  records: {
    collection: string;
    facts: Record<string, string>;
    fields: { name: string; value: unknown }[];
  }[];
  next: string | null;
  receipt?: { held: { collection: string; count: number }[] };
  error?: { code: string; message: string };
}

const EVENTS = 2500;
const ISO_MS = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$/;

for (const backend of BACKENDS) {
  describe(`the owner's export, paged, on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestSystem;
    let a: DeviceIdentity;
    let b: DeviceIdentity;
    let stored: string[];
    const global = () => {
      const region = t.system.regions.find((r) => r.id === "global");
      if (region === undefined) throw new Error("no global region");
      return region;
    };
    const get = async (path: string, token: string) => {
      const response = await fetch(`${global().url}${path}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      return { status: response.status, body: (await response.json()) as Page };
    };
    const events = (page: Page) => page.records.filter((r) => r.facts.eventId !== undefined);

    before(async () => {
      t = await startTestSystem(backend);
      [a, b] = (await t.provision([{ market: "NO" }, { market: "FI" }])) as [DeviceIdentity, DeviceIdentity];
      for (const d of [a, b]) {
        assert.equal((await post(`${d.home.url}/v1/activations`, await buildEnvelope(d))).status, 201);
      }
      const region = global();
      const expiresAt = new Date(Date.now() + 20 * 24 * 3600 * 1000);
      stored = await putEvents(
        region.db,
        Array.from({ length: EVENTS }, (_, i) => ({
          deviceRef: deviceRef(region.intake.pseudonymSecret, a.keyId),
          collection: "uep.diagnostics",
          occurredAt: new Date(Date.now() - (EVENTS - i) * 1000),
          expiresAt,
          data: { batteryHealth: 90 },
        })),
      );
      await putEvents(region.db, [
        {
          deviceRef: deviceRef(region.intake.pseudonymSecret, b.keyId),
          collection: "uep.diagnostics",
          expiresAt,
        },
      ]);
    });
    after(async () => {
      await t?.close();
    });

    test("2,500 events come in 3 pages, each exactly once, in event-id order; the receipt counts them all", async () => {
      const token = await mintOwnerToken(a);
      const first = await get(`/v1/owner/data?requestId=${crypto.randomUUID()}`, token);
      assert.equal(first.status, 200, JSON.stringify(first.body.error));
      assert.ok(
        first.body.records.some((r) => r.collection === "activation"),
        "the activation is on page 1",
      );
      const pages = [first.body];
      let next = first.body.next;
      while (next !== null) {
        assert.ok(pages.length < 10, "the pages end");
        const page = await get(`/v1/owner/data/records?cursor=${encodeURIComponent(next)}`, token);
        assert.equal(page.status, 200, JSON.stringify(page.body.error));
        assert.equal(page.body.device, a.keyId);
        pages.push(page.body);
        next = page.body.next;
      }
      assert.deepEqual(
        pages.map((p) => events(p).length),
        [1000, 1000, 500],
      );
      const ids = pages.flatMap((p) => events(p).map((r) => r.facts.eventId ?? ""));
      assert.equal(new Set(ids).size, EVENTS, "no event twice");
      assert.deepEqual(ids, [...stored].sort(), "every event, in event-id order");
      const held = first.body.receipt?.held.find((h) => h.collection === "diagnostics_events");
      assert.equal(held?.count, EVENTS, "the receipt counts every event, not the first page's");

      const small = await get("/v1/owner/data?limit=2000", token);
      assert.equal(events(small.body).length, 2000);
      const rest = await get(
        `/v1/owner/data/records?cursor=${encodeURIComponent(small.body.next ?? "")}`,
        token,
      );
      assert.deepEqual([events(rest.body).length, rest.body.next], [500, null]);
    });

    test("a cursor is the device's own: another device's token cannot follow it", async () => {
      const first = await get("/v1/owner/data?limit=10", await mintOwnerToken(a));
      const cursor = encodeURIComponent(first.body.next ?? "");
      const own = await get(`/v1/owner/data/records?cursor=${cursor}`, await mintOwnerToken(a));
      assert.equal(own.status, 200);
      const foreign = await get(`/v1/owner/data/records?cursor=${cursor}`, await mintOwnerToken(b));
      assert.equal(foreign.status, 400);
      assert.equal(foreign.body.error?.code, "owner.cursor_invalid");
      assert.equal(foreign.body.records, undefined, "nothing of device a is shown");
      const none = await fetch(`${global().url}/v1/owner/data/records?cursor=${cursor}`);
      assert.equal(none.status, 401);
    });

    test("a malformed or changed cursor, or a limit out of range, is refused", async () => {
      const token = await mintOwnerToken(a);
      const first = await get("/v1/owner/data?limit=10", token);
      const cursor = first.body.next ?? "";
      const [version, body, mac] = cursor.split(".");
      // The same position moved on by one character of its encoded form: its signature no longer verifies.
      const flipped = `${body?.slice(0, -2)}${body?.at(-2) === "A" ? "B" : "A"}${body?.at(-1)}`;
      for (const bad of ["nonsense", "c1.x.y", `${version}.${flipped}.${mac}`, `c2.${body}.${mac}`]) {
        const answer = await get(`/v1/owner/data/records?cursor=${encodeURIComponent(bad)}`, token);
        assert.equal(answer.status, 400, bad);
        assert.equal(answer.body.error?.code, "owner.cursor_invalid", bad);
      }
      for (const path of ["/v1/owner/data?limit=5001", "/v1/owner/data?limit=0", "/v1/owner/data?limit=x"]) {
        const answer = await get(path, token);
        assert.equal(answer.status, 400, path);
        assert.equal(answer.body.error?.code, "request.invalid", path);
      }
    });

    test("the activation's instants are written in one format, ISO 8601 UTC with milliseconds", async () => {
      const first = await get("/v1/owner/data?limit=1", await mintOwnerToken(a));
      const activation = first.body.records.find((r) => r.collection === "activation");
      const fact = activation?.facts.activatedAt ?? "";
      const field = String(activation?.fields.find((f) => f.name === "activatedAt")?.value);
      assert.match(fact, ISO_MS);
      assert.match(field, ISO_MS);
      assert.equal(field, fact, "the stored day and the warranty's start are the same day");

      // A day stored before days were written with milliseconds is shown as every other instant is.
      const day = fact.slice(0, 10);
      await global().db.query(
        `UPDATE activations SET data = jsonb_set(data, '{activatedAt}', to_jsonb($2::text)) WHERE device_key = $1`,
        [b.keyId, `${day}T00:00:00Z`],
      );
      const older = await get("/v1/owner/data?limit=1", await mintOwnerToken(b));
      const record = older.body.records.find((r) => r.collection === "activation");
      assert.equal(record?.fields.find((f) => f.name === "activatedAt")?.value, `${day}T00:00:00.000Z`);
      assert.equal(record?.facts.activatedAt, `${day}T00:00:00.000Z`);
    });
  });
}
