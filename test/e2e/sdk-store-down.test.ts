/**
 * The SDK against a real collector whose PostgreSQL goes away: stopped in
 * immediate mode (the collector answers 503 `service.unavailable` with
 * `Retry-After`), and frozen (requests time out at the device). The device
 * keeps every message, waits the collector's Retry-After plus its own jitter,
 * and delivers each once when the store is back. The store is a throwaway
 * cluster of this test's own, never the shared server.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type ClientEvent, type DeviceIdentity, isSdkError, PhoneHomeClient } from "@phonehome/sdk";
import { Agent } from "undici";
import { findDiagnosticsEvents } from "../../src/collector/diagnostics/index.ts";
import { deviceRef } from "../../src/collector/device-data/index.ts";
import { type PgCluster, startPgCluster } from "../helpers/pg-cluster.ts";
import { pgliteBackend } from "../helpers/stores.ts";
import { startTestSystem, type TestSystem } from "../helpers/system.ts";

describe("the SDK while its region's PostgreSQL is down", () => {
  let cluster: PgCluster;
  let t: TestSystem;
  let cn: { cleanup: () => Promise<void> };
  let devices: DeviceIdentity[];
  let queues: string;
  // The devices' connections, closed before the collector is: it waits for open connections as it stops.
  const dispatcher = new Agent();
  const region = () => {
    const r = t.system.regions.find((x) => x.id === "global");
    if (!r) throw new Error("no global region");
    return r;
  };

  /**
   * A client whose clock does not really wait (it records the waits), with every answer's status and
   * Retry-After recorded.
   */
  const device = (identity: DeviceIdentity, requestTimeoutMs = 15_000) => {
    const sleeps: number[] = [];
    const answers: { path: string; status: number; retryAfter: string | null }[] = [];
    const events: ClientEvent[] = [];
    const client = new PhoneHomeClient({
      identity,
      queueDir: join(queues, identity.keyId),
      retry: { baseMs: 200, maxMs: 20_000, maxAttempts: 3 },
      requestTimeoutMs,
      clock: { now: () => Date.now(), sleep: async (ms) => void sleeps.push(ms) },
      random: () => 0.5,
      fetch: async (url, init) => {
        const response = await fetch(url, { ...init, dispatcher } as RequestInit);
        answers.push({
          path: new URL(url).pathname,
          status: response.status,
          retryAfter: response.headers.get("retry-after"),
        });
        return response;
      },
      onEvent: (e) => events.push(e),
    });
    return { client, sleeps, answers, events };
  };
  const activations = async () => (await t.activationsByRegion()).get("global") ?? [];

  before(async () => {
    cluster = await startPgCluster();
    const cnStore = await pgliteBackend.fresh("cn");
    cn = cnStore;
    const store = (schema: string) => ({
      url: cluster.url,
      schema,
      poolSize: 4,
      connectTimeoutMs: 1000,
      statementTimeoutMs: 1500,
    });
    t = await startTestSystem(pgliteBackend, {
      extra: {
        regions: [
          { id: "global", storedIn: "SG", listen: "127.0.0.1:0", store: store("sdk_down") },
          {
            id: "cn",
            storedIn: "CN",
            listen: "127.0.0.1:0",
            store: { dataDir: cnStore.store.kind === "pglite" ? cnStore.store.dataDir : "" },
          },
        ],
      },
    });
    devices = await t.provision([{ market: "NO" }, { market: "NO" }]);
    queues = mkdtempSync(join(tmpdir(), "phonehome-sdk-store-down-"));
  });
  after(async () => {
    await dispatcher.destroy();
    await t?.close();
    await cn?.cleanup();
    await cluster?.destroy();
    if (queues) rmSync(queues, { recursive: true, force: true });
  });

  test("stopped in immediate mode: 503 with Retry-After, kept, waited with jitter, delivered once after", async () => {
    const [identity] = devices;
    assert.ok(identity);
    const { client, sleeps, answers } = device(identity);
    // The owner's yes reaches the region while it is up; then events are recorded and the store goes.
    await client.sendConsent({ granted: true, noticeVersion: 1, language: "en", method: "device-settings" });
    await client.setConsent("granted");
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await client.recordEvent(
        { batteryHealthPercent: 90, batteryCycles: 10, crashCount: i, anrCount: 0, thermalEvents: 0 },
        new Date(Date.now() - (10 - i) * 60_000),
      );
      if (r.status === "held") ids.push(r.id);
    }
    await cluster.stop("immediate");

    await assert.rejects(client.activate(), (e) => isSdkError(e, "sdk.offline") && e.queued === true);
    const refused = answers.filter((a) => a.path === "/v1/activations");
    assert.equal(refused.length, 3, JSON.stringify(answers));
    assert.deepEqual(new Set(refused.map((a) => `${a.status} ${a.retryAfter}`)), new Set(["503 5"]));
    // Retry-After 5 s as the floor, the jitter on top (0.5 of 200 ms, then of 400 ms).
    assert.deepEqual(sleeps.slice(0, 2), [5100, 5200]);
    const state = await client.diagnosticsState();
    assert.equal(state.queued.events + state.held.events, 3, "every event still on the device");
    assert.equal((await client.activationState()).state, "pending");

    await cluster.start();
    // The collector's pool reconnects by itself; the device's next flush delivers everything, once.
    const result = await client.flush();
    assert.deepEqual([result.rejected, result.remaining], [0, 0]);
    assert.equal((await client.activationState()).state, "activated");
    assert.equal((await activations()).filter((a) => a.deviceKey === identity.keyId).length, 1);
    const stored = await findDiagnosticsEvents(
      region().db,
      deviceRef(region().intake.pseudonymSecret, identity.keyId),
    );
    assert.deepEqual(
      stored.map((r) => r.eventId),
      ids,
    );
  });

  test("frozen: requests time out at the device, the message is kept and delivered once after", async () => {
    const [, identity] = devices;
    assert.ok(identity);
    const { client, events } = device(identity, 800);
    // The region check is answered without the store; the POST waits on it.
    cluster.freeze();
    try {
      await assert.rejects(client.activate(), (e) => isSdkError(e, "sdk.offline") && e.queued === true);
    } finally {
      cluster.thaw();
    }
    const reasons = events.flatMap((e) => (e.type === "retry" || e.type === "deferred" ? [e.reason] : []));
    assert.ok(
      reasons.every((r) => r === "timeout" || r === "HTTP 503"),
      reasons.join(", "),
    );
    assert.ok(reasons.includes("timeout"), reasons.join(", "));
    assert.equal(await client.pending(), 1);

    // Once the store answers again (the collector may have stored a try whose answer it could not give).
    let result = await client.flush();
    for (let i = 0; i < 5 && result.remaining > 0; i++) result = await client.flush();
    assert.deepEqual([result.rejected, result.remaining], [0, 0]);
    assert.equal((await activations()).filter((a) => a.deviceKey === identity.keyId).length, 1);
  });
});
