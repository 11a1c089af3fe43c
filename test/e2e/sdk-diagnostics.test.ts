/**
 * The SDK's diagnostics against the real collector, on PGlite and PostgreSQL:
 * events recorded while consent is unknown stay on the device; after a yes
 * (told to the region with `sendConsent`, through the real consent route)
 * they are stored with their original times; a batch the region refuses with
 * `consent.required` is kept, not lost; a withdrawal discards what the device
 * still holds, nothing more is sent, and the region erases what it stored.
 * Batches fit the limits the collector announces, and one a collector refuses
 * for its size (413) is split, its events stored once, never dropped.
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
  type FetchLike,
  MAX_BATCH_EVENTS,
  PhoneHomeClient,
  type PhoneHomeClientOptions,
} from "@phonehome/sdk";
import { listLedger } from "../../src/collector/ingest/ledger.repository.ts";
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
    let large: DeviceIdentity[];
    let queues: string;
    const region = () => t.region("global");
    const stored = (device: DeviceIdentity) => t.diagnosticsOf(device);

    /**
     * A client on the device's queue directory, recording every request it makes (with its body's size and
     * the answer's status) and every event it reports; `through` stands between it and the network.
     */
    const device = (
      identity: DeviceIdentity,
      options: { diagnostics?: PhoneHomeClientOptions["diagnostics"]; through?: FetchLike } = {},
    ) => {
      const requests: string[] = [];
      const sent: { path: string; bytes: number; status: number }[] = [];
      const events: ClientEvent[] = [];
      const network = options.through ?? ((url, init) => fetch(url, init));
      const client = new PhoneHomeClient({
        identity,
        queueDir: join(queues, identity.keyId),
        retry: { baseMs: 10, maxMs: 100, maxAttempts: 2 },
        fetch: async (url, init) => {
          const path = new URL(url).pathname;
          requests.push(`${init.method ?? "GET"} ${path}`);
          const response = await network(url, init);
          sent.push({ path, bytes: Buffer.byteLength(String(init.body ?? "")), status: response.status });
          return response;
        },
        onEvent: (e) => events.push(e),
        ...(options.diagnostics === undefined ? {} : { diagnostics: options.diagnostics }),
      });
      return { client, requests, sent, events };
    };

    before(async () => {
      t = await startTestSystem(backend);
      [a, b, ...large] = (await t.provision([
        { market: "NO" },
        { market: "SE" },
        { market: "NO" },
        { market: "NO" },
      ])) as [DeviceIdentity, DeviceIdentity, DeviceIdentity, DeviceIdentity];
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

    describe("batches and the collector's body limit", () => {
      // More events than fit in 64 KiB (about 236), fewer than the batch size allowed (500).
      const EVENTS = 260;
      const LARGEST = { batchSize: MAX_BATCH_EVENTS, maxEvents: 5000, maxBytes: 4 * 1024 * 1024 };

      /** Records `n` events a minute apart, ending a minute ago; their ids in order. */
      const record = async (client: PhoneHomeClient, n: number): Promise<string[]> => {
        const start = Date.now() - (n + 1) * MINUTE;
        const ids: string[] = [];
        for (let i = 0; i < n; i++) {
          const r = await client.recordEvent(figures(i), new Date(start + i * MINUTE));
          if (r.status === "held") ids.push(r.id);
        }
        assert.equal(ids.length, n);
        return ids;
      };
      const consent = async (client: PhoneHomeClient) => {
        await client.sendConsent(decision(true));
        await client.setConsent("granted");
      };
      const refusedForSize = async () =>
        (await listLedger(region().db, new Date(Date.now() - 3_600_000), 5000))
          .filter((r) => r.outcome === "refused" && r.reason === "request.too_large")
          .reduce((n, r) => n + r.count, 0);

      test("with the largest batchSize, every batch fits the announced limit and every event is stored", async () => {
        const [identity] = large;
        assert.ok(identity);
        const { client, sent, events } = device(identity, { diagnostics: LARGEST });
        await consent(client);
        const ids = await record(client, EVENTS);
        const before = await refusedForSize();
        const result = await client.flush();
        assert.deepEqual(
          [result.rejected, result.remaining],
          [0, 0],
          JSON.stringify(events.filter((e) => e.type === "rejected")),
        );
        assert.deepEqual(
          (await stored(identity)).map((r) => r.eventId),
          ids,
        );
        const posts = sent.filter((s) => s.path === "/v1/diagnostics");
        assert.equal(posts.length, 2);
        assert.ok(
          posts.every((p) => p.bytes <= t.config.ingest.maxBodyBytes && p.status === 200),
          JSON.stringify(posts),
        );
        assert.equal(await refusedForSize(), before, "nothing was refused for its size");
        assert.deepEqual((await client.diagnosticsState()).held, { events: 0, bytes: 0 });
      });

      test("a 413 from a collector that announces no limits splits the batch; a half whose answer was lost is stored once", async () => {
        const [, identity] = large;
        assert.ok(identity);
        let lost = 0;
        // An older collector: its announcement without limits. And the first stored half's answer never arrives.
        const older: FetchLike = async (url, init) => {
          const response = await fetch(url, init);
          const path = new URL(url).pathname;
          if (path === "/v1/region") {
            const { limits: _limits, ...announced } = (await response.json()) as Record<string, unknown>;
            return Response.json(announced);
          }
          if (path === "/v1/diagnostics" && response.status === 200 && lost === 0) {
            lost += 1;
            throw new TypeError("fetch failed", { cause: { code: "ECONNRESET" } });
          }
          return response;
        };
        const { client, sent, events } = device(identity, { diagnostics: LARGEST, through: older });
        await consent(client);
        const ids = await record(client, EVENTS);
        const before = await refusedForSize();
        const result = await client.flush();
        assert.deepEqual([result.rejected, result.remaining], [0, 0]);
        assert.deepEqual(
          (await stored(identity)).map((r) => r.eventId),
          ids,
          "every event once, in order",
        );
        assert.deepEqual(
          events.flatMap((e) => (e.type === "split" ? [[e.events, e.parts, e.reason]] : [])),
          [[EVENTS, 2, "refused"]],
        );
        assert.equal(lost, 1);
        assert.equal(sent.filter((s) => s.status === 413).length, 1);
        assert.equal(await refusedForSize(), before + 1, "the 413 is in the ledger");
        const replayed = (await listLedger(region().db, new Date(Date.now() - 3_600_000), 5000)).filter(
          (r) => r.outcome === "replayed" && r.collection === "uep.diagnostics",
        );
        assert.ok(replayed.length > 0, "the half sent again was a replay");
      });
    });
  });
}
