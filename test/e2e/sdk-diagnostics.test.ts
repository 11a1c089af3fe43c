/**
 * The SDK's diagnostics against the real collector, on PGlite and PostgreSQL:
 * events recorded while consent is unknown stay on the device; after a yes
 * (told to the region with `sendConsent`, through the real consent route)
 * they are stored with their original times; a batch the region refuses with
 * `consent.required` is kept, not lost; a withdrawal discards what the device
 * still holds, nothing more is sent, and the region erases what it stored.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  type ClientEvent,
  type ConsentDecision,
  type DeviceIdentity,
  type DiagnosticsData,
  PhoneHomeClient,
} from "@phonehome/sdk";
import { deviceRef, findDiagnosticsEvents } from "../../src/diagnostics/index.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { startTestSystem, type TestSystem } from "../helpers/system.ts";

const MINUTE = 60_000;

/** Figures of the n-th event; `crashCount` tells events apart. */
function figures(n: number): DiagnosticsData {
  return { batteryHealthPercent: 96, batteryCycles: 314, crashCount: n, anrCount: 1, thermalEvents: 0 };
}

/** The owner's decision on notice v1 of `uep.diagnostics`, as the device's settings screen sends it. */
function decision(granted: boolean): ConsentDecision {
  return { granted, noticeVersion: 1, language: "en", method: "device-settings" };
}

for (const backend of BACKENDS) {
  describe(`SDK diagnostics against the collector on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestSystem;
    let a: DeviceIdentity;
    let b: DeviceIdentity;
    let queues: string;
    const region = () => {
      const r = t.system.regions.find((x) => x.id === "global");
      if (!r) throw new Error("no global region");
      return r;
    };
    const stored = async (device: DeviceIdentity) =>
      findDiagnosticsEvents(region().db, deviceRef(region().intake.pseudonymSecret, device.keyId));

    /** A client on the device's queue directory, recording every request it makes and every event it reports. */
    const device = (identity: DeviceIdentity) => {
      const requests: string[] = [];
      const events: ClientEvent[] = [];
      const client = new PhoneHomeClient({
        identity,
        queueDir: join(queues, identity.keyId),
        retry: { baseMs: 10, maxMs: 100, maxAttempts: 2 },
        fetch: (url, init) => {
          requests.push(`${init.method ?? "GET"} ${new URL(url).pathname}`);
          return fetch(url, init);
        },
        onEvent: (e) => events.push(e),
      });
      return { client, requests, events };
    };

    before(async () => {
      t = await startTestSystem(backend);
      [a, b] = (await t.provision([{ market: "NO" }, { market: "SE" }])) as [DeviceIdentity, DeviceIdentity];
      queues = await mkdtemp(join(tmpdir(), "phonehome-sdk-diagnostics-"));
    });
    after(async () => {
      await t?.close();
      if (queues) await rm(queues, { recursive: true, force: true });
    });

    test("held while unknown, then stored once with their original times after a yes", async () => {
      const { client, requests } = device(a);
      const start = Date.now() - 3 * 60 * MINUTE;
      const times = [0, 45, 90].map((m) => new Date(start + m * MINUTE));
      const ids: string[] = [];
      for (const [i, at] of times.entries()) {
        const r = await client.recordEvent(figures(i), at);
        assert.equal(r.status, "held");
        if (r.status === "held") ids.push(r.id);
      }
      await client.flush();
      assert.deepEqual(requests, [], "nothing leaves the device while consent is unknown");
      assert.deepEqual(await stored(a), []);

      const receipt = await client.sendConsent(decision(true));
      assert.equal(typeof receipt.jws, "string", JSON.stringify(receipt));
      await client.setConsent("granted");
      assert.deepEqual(await client.flush(), { delivered: 1, rejected: 0, remaining: 0 });
      assert.deepEqual(requests, [
        "GET /v1/region",
        "PUT /v1/owner/consents/uep.diagnostics",
        "POST /v1/diagnostics",
      ]);

      const rows = await stored(a);
      assert.deepEqual(
        rows.map((r) => [r.eventId, new Date(r.occurredAt).toISOString()]),
        ids.map((id, i) => [id, times[i]?.toISOString()]),
      );
      assert.deepEqual(
        rows.map((r) => r.data.crashCount),
        [0, 1, 2],
      );
      assert.deepEqual((await client.diagnosticsState()).held, { events: 0, bytes: 0 });
    });

    test("a batch refused with consent.required stays on the device until the yes reaches the region", async () => {
      const { client, requests, events } = device(b);
      // The device believes yes, but the region has not been told.
      await client.setConsent("granted");
      const first = await client.recordEvent(figures(7), new Date(Date.now() - 10 * MINUTE));
      assert.deepEqual(await client.flush(), { delivered: 0, rejected: 0, remaining: 1 });
      assert.deepEqual(await stored(b), []);
      assert.ok(events.some((e) => e.type === "consent_required" && e.events === 1));
      const state = await client.diagnosticsState();
      assert.equal(state.consent.state, "unknown");
      assert.equal(state.consent.cause, "collector");
      assert.deepEqual(state.queued, { batches: 1, events: 1 });

      await client.flush();
      assert.equal(
        requests.filter((r) => r === "POST /v1/diagnostics").length,
        1,
        "not sent again while unknown",
      );

      await client.sendConsent(decision(true));
      await client.setConsent("granted");
      await client.flush();
      assert.deepEqual(
        (await stored(b)).map((r) => r.eventId),
        [first.status === "held" ? first.id : ""],
      );
    });

    test("a withdrawal discards what the device still holds, nothing more is sent, the region erases", async () => {
      const { client, requests, events } = device(a);
      assert.equal((await stored(a)).length, 3);
      await client.recordEvent(figures(10), new Date(Date.now() - 2 * MINUTE));
      await client.recordEvent(figures(11), new Date(Date.now() - MINUTE));
      // The device first: from here on nothing more leaves it.
      assert.deepEqual(await client.setConsent("withdrawn"), { state: "withdrawn", discarded: 2 });
      assert.ok(events.some((e) => e.type === "discarded" && e.events === 2 && e.reason === "withdrawn"));
      assert.deepEqual(await client.recordEvent(figures(12)), { status: "discarded", reason: "withdrawn" });
      await client.flush();
      assert.deepEqual(requests, []);
      assert.equal((await stored(a)).length, 3);
      const state = await client.diagnosticsState();
      assert.equal(state.consent.state, "withdrawn");
      assert.deepEqual(
        [state.held, state.queued],
        [
          { events: 0, bytes: 0 },
          { batches: 0, events: 0 },
        ],
      );

      // Then the region, which erases what the yes allowed.
      await client.sendConsent(decision(false));
      assert.deepEqual(await stored(a), []);
      assert.deepEqual(requests, ["GET /v1/region", "PUT /v1/owner/consents/uep.diagnostics"]);
    });
  });
}
