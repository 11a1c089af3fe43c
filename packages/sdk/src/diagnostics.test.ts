import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import type { ClientEvent, FetchLike, PhoneHomeClientOptions } from "./client-types.ts";
import { PhoneHomeClient } from "./client.ts";
import { CONSENT_FILE, type DiagnosticsData } from "./diagnostics.ts";
import type { Envelope } from "./envelope.ts";
import { isSdkError, type SdkError } from "./errors.ts";
import { DiskQueue } from "./queue.ts";
import type { DeviceIdentity } from "./identity.ts";
import {
  announcementOf,
  closedPort,
  type FakeCollector,
  type FakeCollectorOptions,
  fakeClock,
  makeHome,
  makeIdentity,
  makeRegionKeys,
  type RegionKeys,
  startCollector,
  tempDir,
} from "../test/helpers.ts";

const RETRY = { baseMs: 10, maxMs: 100, maxAttempts: 2 };
const MINUTE = 60_000;

/** Figures of the n-th event; `crashCount` tells events apart. */
function figures(n: number): DiagnosticsData {
  return { batteryHealthPercent: 97, batteryCycles: 123, crashCount: n, anrCount: 0, thermalEvents: 1 };
}

describe("diagnostics on the device", () => {
  let keys: RegionKeys;
  let dir: string;
  let cleanup: () => Promise<void>;
  const collectors: FakeCollector[] = [];

  beforeEach(async () => {
    keys = await makeRegionKeys();
    ({ dir, cleanup } = await tempDir());
  });
  afterEach(async () => {
    for (const c of collectors.splice(0)) await c.close();
    await cleanup();
  });

  /** A device homed at a free loopback port, and a collector there knowing it. */
  async function setup(
    collectorOptions: Omit<Partial<FakeCollectorOptions>, "keys" | "devices" | "port"> = {},
  ) {
    const port = await closedPort();
    const id = makeIdentity(makeHome(`http://127.0.0.1:${port}`, keys));
    const server = await startCollector({ keys, devices: [id], port, ...collectorOptions });
    collectors.push(server);
    return { id, server };
  }

  function client(identity: DeviceIdentity, extra: Partial<PhoneHomeClientOptions> = {}) {
    const events: ClientEvent[] = [];
    const clock = extra.clock ?? fakeClock();
    const c = new PhoneHomeClient({
      identity,
      queueDir: join(dir, "queue"),
      retry: RETRY,
      clock,
      random: () => 0.5,
      onEvent: (e) => events.push(e),
      ...extra,
    });
    return { client: c, events, clock };
  }

  const posts = (server: FakeCollector, path = "/v1/diagnostics") =>
    server.received.filter((r) => r.method === "POST" && r.url === path);

  it("holds events while consent is unknown: no request, nothing readable on disk", async () => {
    const { id, server } = await setup({ consented: true });
    const { client: c, clock } = client(id);
    for (let i = 0; i < 3; i++) {
      const r = await c.recordEvent(figures(i));
      assert.equal(r.status, "held");
      await clock.sleep(MINUTE);
    }
    assert.deepEqual(await c.flush(), { delivered: 0, rejected: 0, remaining: 0 });
    assert.deepEqual(server.received, [], "not even the region check: nothing is due to leave");
    const state = await c.diagnosticsState();
    assert.equal(state.consent.state, "unknown");
    assert.equal(state.held.events, 3);
    assert.deepEqual(state.queued, { batches: 0, events: 0 });
    const heldDir = join(dir, "queue", "held");
    for (const f of await readdir(heldDir)) {
      const text = await readFile(join(heldDir, f), "utf8");
      assert.equal(text.includes(id.build), false, "held events are encrypted at rest");
      assert.equal(text.includes("batteryHealthPercent"), false);
    }
  });

  it("after a yes, sends the held events in one batch with their original ids and times", async () => {
    const { id, server } = await setup({ consented: true });
    const { client: c, clock } = client(id);
    const recorded: Array<{ id: string; at: string }> = [];
    for (let i = 0; i < 3; i++) {
      const r = await c.recordEvent(figures(i));
      if (r.status === "held") recorded.push({ id: r.id, at: r.at });
      await clock.sleep(30 * MINUTE);
    }
    // An event measured earlier and recorded late keeps the time it happened.
    const late = await c.recordEvent(figures(3), new Date("2026-02-27T12:00:00Z"));
    if (late.status === "held") recorded.push({ id: late.id, at: late.at });
    assert.equal(recorded.length, 4);

    assert.deepEqual(await c.setConsent("granted"), { state: "granted", discarded: 0 });
    assert.deepEqual(await c.flush(), { delivered: 1, rejected: 0, remaining: 0 });

    assert.deepEqual(
      server.received.map((r) => `${r.method} ${r.url}`),
      ["GET /v1/region", "POST /v1/diagnostics"],
    );
    assert.deepEqual(
      server.events.map((e) => ({ id: e.id, at: e.at })),
      recorded,
    );
    assert.equal(recorded[0]?.at, "2026-03-01T08:00:00.000Z");
    assert.equal(recorded[3]?.at, "2026-02-27T12:00:00.000Z");
    assert.deepEqual(server.events[1]?.data, { build: id.build, ...figures(1) });
    const env = JSON.parse(posts(server)[0]?.body ?? "") as Envelope;
    assert.equal(env.collection, "uep.diagnostics");
    assert.equal(env.schemaVersion, 1);
    assert.equal(env.device, id.keyId);
    assert.equal(posts(server)[0]?.body.includes("batteryHealthPercent"), false, "sealed on the wire");
    assert.deepEqual((await c.diagnosticsState()).held, { events: 0, bytes: 0 });

    // While granted, new events wait for the next flush and go in the next batch.
    await c.recordEvent(figures(9));
    assert.equal(posts(server).length, 1);
    await c.flush();
    assert.equal(posts(server).length, 2);
    assert.equal(server.events.length, 5);
  });

  it("sends in batches of at most batchSize events, oldest first", async () => {
    const { id, server } = await setup({ consented: true });
    const { client: c } = client(id, { diagnostics: { batchSize: 2 } });
    for (let i = 0; i < 5; i++) await c.recordEvent(figures(i));
    await c.setConsent("granted");
    assert.deepEqual(await c.flush(), { delivered: 3, rejected: 0, remaining: 0 });
    const sizes = posts(server).map(
      (p) => server.events.filter((e) => e.envelope === (JSON.parse(p.body) as Envelope).eventId).length,
    );
    assert.deepEqual(sizes, [2, 2, 1]);
    assert.deepEqual(
      server.events.map((e) => e.data.crashCount),
      [0, 1, 2, 3, 4],
    );
  });

  it("packs 100 events per envelope by default", async () => {
    const { id, server } = await setup({ consented: true });
    const { client: c } = client(id);
    for (let i = 0; i < 150; i++) await c.recordEvent(figures(i));
    await c.setConsent("granted");
    await c.flush();
    assert.equal(posts(server).length, 2);
    assert.equal(server.events.length, 150);
  });

  it("discards the held events on a no, says how many, and discards later events at once", async () => {
    const { id, server } = await setup({ consented: true });
    const { client: c, events } = client(id);
    for (let i = 0; i < 3; i++) await c.recordEvent(figures(i));
    assert.deepEqual(await c.setConsent("refused"), { state: "refused", discarded: 3 });
    assert.deepEqual(
      events.filter((e) => e.type === "discarded"),
      [{ type: "discarded", events: 3, reason: "refused" }],
    );
    assert.deepEqual(await c.recordEvent(figures(4)), { status: "discarded", reason: "refused" });
    await c.flush();
    assert.deepEqual(server.received, []);
    const state = await c.diagnosticsState();
    assert.equal(state.consent.state, "refused");
    assert.deepEqual(state.held, { events: 0, bytes: 0 });
  });

  it("a withdrawal also discards batches already sealed and waiting in the queue", async () => {
    const { id, server } = await setup({ consented: true });
    // The collector answers its region, then 503 to every batch: sealed, queued, not delivered.
    let down = true;
    const flaky: FetchLike = async (url, init) =>
      down && url.endsWith("/v1/diagnostics") ? new Response("", { status: 503 }) : fetch(url, init);
    const { client: c, events } = client(id, { fetch: flaky, diagnostics: { batchSize: 2 } });
    await c.setConsent("granted");
    for (let i = 0; i < 3; i++) await c.recordEvent(figures(i));
    // The first batch is sealed and queued, the rest stays held.
    assert.deepEqual(await c.flush(), { delivered: 0, rejected: 0, remaining: 1 });
    assert.deepEqual((await c.diagnosticsState()).queued, { batches: 1, events: 2 });
    assert.equal((await c.diagnosticsState()).held.events, 1);

    assert.deepEqual(await c.setConsent("withdrawn"), { state: "withdrawn", discarded: 3 });
    assert.ok(events.some((e) => e.type === "discarded" && e.events === 3 && e.reason === "withdrawn"));
    assert.equal(await c.pending(), 0);

    down = false;
    await c.flush();
    assert.deepEqual(posts(server), []);
  });

  it("while the collector cannot be reached, events stay held: nothing is sealed without its limits", async () => {
    const port = await closedPort();
    const id = makeIdentity(makeHome(`http://127.0.0.1:${port}`, keys));
    const { client: c } = client(id);
    await c.setConsent("granted");
    for (let i = 0; i < 3; i++) await c.recordEvent(figures(i));
    assert.deepEqual(await c.flush(), { delivered: 0, rejected: 0, remaining: 0 });
    const state = await c.diagnosticsState();
    assert.deepEqual([state.held.events, state.queued.batches], [3, 0]);

    const server = await startCollector({ keys, devices: [id], port, consented: true });
    collectors.push(server);
    assert.deepEqual(await c.flush(), { delivered: 1, rejected: 0, remaining: 0 });
    assert.equal(server.events.length, 3);
  });

  it("a no given during a flush stops the batches that have not left yet", async () => {
    const { id, server } = await setup({ consented: true });
    const box: { c?: PhoneHomeClient } = {};
    let withdrawal: Promise<unknown> | undefined;
    const spy: FetchLike = async (url, init) => {
      const response = await fetch(url, init);
      // The owner says no while the first batch is on the wire.
      if (url.endsWith("/v1/diagnostics") && withdrawal === undefined)
        withdrawal = box.c?.setConsent("withdrawn");
      return response;
    };
    const c = client(id, { fetch: spy, diagnostics: { batchSize: 1 } }).client;
    box.c = c;
    await c.setConsent("granted");
    for (let i = 0; i < 3; i++) await c.recordEvent(figures(i));
    await c.flush();
    assert.deepEqual(await withdrawal, { state: "withdrawn", discarded: 2 });
    assert.equal(posts(server).length, 1);
    assert.equal(server.events.length, 1);
  });

  it("bounds the held events by count: drops the oldest and reports it, never the activation", async () => {
    const port = await closedPort();
    const id = makeIdentity(makeHome(`http://127.0.0.1:${port}`, keys));
    const { client: c, events } = client(id, { diagnostics: { maxEvents: 3 } });
    // An activation waiting offline is in the other queue and is never what gets dropped.
    await assert.rejects(c.activate(), (e) => isSdkError(e, "sdk.offline"));
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await c.recordEvent(figures(i)));
    assert.deepEqual(
      results.map((r) => (r.status === "held" ? r.dropped : -1)),
      [0, 0, 0, 1, 1],
    );
    const dropped = events.filter((e) => e.type === "dropped");
    assert.equal(dropped.length, 2);
    assert.ok(dropped.every((e) => e.type === "dropped" && e.events === 1 && e.bytes > 0));
    assert.equal((await c.diagnosticsState()).held.events, 3);
    assert.equal((await c.activationState()).state, "pending");

    const server = await startCollector({ keys, devices: [id], port, consented: true });
    collectors.push(server);
    await c.setConsent("granted");
    await c.flush();
    assert.equal(server.stored.length, 1, "the activation was delivered");
    assert.deepEqual(
      server.events.map((e) => e.data.crashCount),
      [2, 3, 4],
    );
  });

  it("bounds the held events by bytes", async () => {
    const { id } = await setup();
    const { client: c, events } = client(id, { diagnostics: { maxBytes: 4096 } });
    for (let i = 0; i < 40; i++) await c.recordEvent(figures(i));
    const { held } = await c.diagnosticsState();
    assert.ok(held.bytes <= 4096, `${held.bytes} bytes held`);
    const droppedEvents = events.reduce((n, e) => n + (e.type === "dropped" ? e.events : 0), 0);
    assert.equal(held.events + droppedEvents, 40);
    assert.ok(droppedEvents > 0);
  });

  it("keeps the batch on the device when the collector answers consent.required, and goes back to unknown", async () => {
    const { id, server } = await setup({ consented: false });
    const { client: c, events } = client(id);
    await c.setConsent("granted");
    const first = await c.recordEvent(figures(0));
    const second = await c.recordEvent(figures(1), new Date("2026-03-01T07:00:00Z"));

    assert.deepEqual(await c.flush(), { delivered: 0, rejected: 0, remaining: 1 });
    assert.equal(posts(server).length, 1, "refused once, not retried");
    assert.equal(server.events.length, 0);
    const state = await c.diagnosticsState();
    assert.equal(state.consent.state, "unknown");
    assert.equal(state.consent.cause, "collector");
    assert.deepEqual(state.queued, { batches: 1, events: 2 });
    assert.ok(events.some((e) => e.type === "consent_required" && e.events === 2));

    // Unknown again: nothing more leaves, and the batch is not lost.
    await c.flush();
    assert.equal(posts(server).length, 1);

    // The region learns of the yes; the device is told again.
    server.setConsent(true);
    await c.setConsent("granted");
    assert.deepEqual(await c.flush(), { delivered: 1, rejected: 0, remaining: 0 });
    assert.deepEqual(
      server.events.map((e) => [e.id, e.at]),
      [
        [first.status === "held" ? first.id : "", "2026-03-01T08:00:00.000Z"],
        [second.status === "held" ? second.id : "", "2026-03-01T07:00:00.000Z"],
      ],
    );
  });

  it("does not let a consent.required answer override a no given meanwhile", async () => {
    const { id, server } = await setup({ consented: false });
    const box: { c?: PhoneHomeClient } = {};
    let withdrawal: Promise<unknown> | undefined;
    const spy: FetchLike = async (url, init) => {
      if (url.endsWith("/v1/diagnostics")) withdrawal = box.c?.setConsent("withdrawn");
      return fetch(url, init);
    };
    const c = client(id, { fetch: spy }).client;
    box.c = c;
    await c.setConsent("granted");
    await c.recordEvent(figures(0));
    await c.flush();
    assert.deepEqual(await withdrawal, { state: "withdrawn", discarded: 1 });
    assert.equal((await c.diagnosticsState()).consent.state, "withdrawn");
    assert.equal(posts(server).length, 1);
  });

  it("survives a restart: a new client on the same directory keeps the held events and the consent", async () => {
    const { id, server } = await setup({ consented: true });
    const first = client(id);
    const recorded = await first.client.recordEvent(figures(0));
    await first.client.recordEvent(figures(1));
    await first.client.setConsent("granted");

    const second = client(id);
    const state = await second.client.diagnosticsState();
    assert.equal(state.consent.state, "granted");
    assert.equal(state.consent.cause, "owner");
    assert.equal(state.held.events, 2);
    await second.client.flush();
    assert.equal(server.events[0]?.id, recorded.status === "held" ? recorded.id : "");
    assert.equal(server.events.length, 2);

    await second.client.setConsent("withdrawn");
    const third = client(id);
    assert.deepEqual(await third.client.recordEvent(figures(2)), {
      status: "discarded",
      reason: "withdrawn",
    });
    const file = JSON.parse(await readFile(join(dir, "queue", CONSENT_FILE), "utf8"));
    assert.equal(file.state, "withdrawn");
    assert.equal(file.purpose, "uep.diagnostics");
  });

  it("refuses an event that does not match the collection, keeping nothing", async () => {
    const { id } = await setup();
    const { client: c, clock } = client(id);
    const bad: Array<[unknown, Date | undefined]> = [
      [{ ...figures(0), imsi: "242011234567890" }, undefined],
      [{ ...figures(0), batteryHealthPercent: 101 }, undefined],
      [{ ...figures(0), crashCount: 1.5 }, undefined],
      [{ ...figures(0), anrCount: "0" }, undefined],
      [{ ...figures(0), build: "not a build" }, undefined],
      [{ batteryHealthPercent: 90 }, undefined],
      [figures(0), new Date(clock.now() + MINUTE)],
      [figures(0), new Date(Number.NaN)],
    ];
    for (const [data, at] of bad) {
      await assert.rejects(
        c.recordEvent(data as DiagnosticsData, at),
        (e) => isSdkError(e, "sdk.event_invalid"),
        JSON.stringify(data),
      );
    }
    assert.equal((await c.diagnosticsState()).held.events, 0);
    const own = await c.recordEvent({ ...figures(0), build: "00WW_3_22C_SP05" });
    assert.equal(own.status, "held");
  });

  it("rejects bad diagnostics options and consent states", async () => {
    const { id } = await setup();
    for (const diagnostics of [{ batchSize: 0 }, { batchSize: 501 }, { maxEvents: 0 }, { maxBytes: 100 }]) {
      assert.throws(
        () => client(id, { diagnostics }),
        (e) => isSdkError(e, "sdk.options_invalid"),
        JSON.stringify(diagnostics),
      );
    }
    const { client: c } = client(id);
    await assert.rejects(c.setConsent("yes" as "granted"), (e) => isSdkError(e, "sdk.options_invalid"));
  });

  it("sendConsent tells the home region with an owner token, after the endpoint check", async () => {
    const { id, server } = await setup({ consented: false });
    const { client: c } = client(id, { clock: fakeClock(Date.now()) });
    const receipt = await c.sendConsent({
      granted: true,
      noticeVersion: 1,
      language: "nb",
      method: "device-settings",
    });
    assert.deepEqual(
      server.received.map((r) => `${r.method} ${r.url}`),
      ["GET /v1/region", "PUT /v1/owner/consents/uep.diagnostics"],
    );
    assert.match(server.received[1]?.authorization ?? "", /^Bearer ey/);
    assert.deepEqual(JSON.parse(server.received[1]?.body ?? ""), {
      granted: true,
      noticeVersion: 1,
      language: "nb",
      method: "device-settings",
    });
    assert.equal(receipt.receipt?.principal.deviceKeyId, id.keyId);
    // Local state is the app's separate call.
    assert.equal((await c.diagnosticsState()).consent.state, "unknown");
    await c.recordEvent(figures(0));
    await c.setConsent("granted");
    await c.flush();
    assert.equal(server.events.length, 1);

    await assert.rejects(
      c.sendConsent({ granted: true, noticeVersion: 0, language: "en", method: "device-settings" }),
      (e) => isSdkError(e, "sdk.options_invalid"),
    );
  });

  it("sendConsent goes nowhere but a verified home collector", async () => {
    const port = await closedPort();
    const id = makeIdentity(makeHome(`http://127.0.0.1:${port}`, keys));
    const cn = await makeRegionKeys();
    const server = await startCollector({
      keys,
      devices: [id],
      port,
      announce: { region: "cn", storedIn: "CN", kid: cn.kid, publicKey: cn.publicKey },
    });
    collectors.push(server);
    const { client: c } = client(id);
    await assert.rejects(
      c.sendConsent({ granted: true, noticeVersion: 1, language: "en", method: "setup-wizard" }),
      (e) => isSdkError(e, "sdk.endpoint_region_mismatch"),
    );
    assert.deepEqual(
      server.received.map((r) => r.method),
      ["GET"],
    );
  });

  it("sendConsent reports a refusal and an unreachable region", async () => {
    const { id } = await setup();
    const refusing: FetchLike = async (url) =>
      url.endsWith("/v1/region")
        ? Response.json(await announcementOf(keys))
        : Response.json(
            { error: { code: "consent.notice_outdated", message: "notice 2 is current" } },
            { status: 409 },
          );
    const decision = { granted: true, noticeVersion: 1, language: "en", method: "portal" } as const;
    await assert.rejects(
      client(id, { fetch: refusing }).client.sendConsent(decision),
      (e) => isSdkError(e, "sdk.rejected") && e.server?.code === "consent.notice_outdated",
    );
    const down: FetchLike = async () => new Response("", { status: 503 });
    await assert.rejects(
      client(id, { fetch: down }).client.sendConsent(decision),
      (e) => isSdkError(e, "sdk.offline") && e.queued === false,
    );
  });

  describe("batches and the collector's limits", () => {
    /** Records `n` events, a minute apart, and returns their ids in order. */
    async function record(c: PhoneHomeClient, n: number): Promise<string[]> {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const r = await c.recordEvent(figures(i), new Date(Date.parse("2026-03-01T06:00:00Z") + i * MINUTE));
        if (r.status === "held") ids.push(r.id);
      }
      return ids;
    }
    const bodies = (server: FakeCollector) => posts(server).map((p) => Buffer.byteLength(p.body));
    /** Events per POST, as the collector opened them (refused ones carry none). */
    const perPost = (server: FakeCollector) =>
      posts(server).map(
        (p) => server.events.filter((e) => e.envelope === (JSON.parse(p.body) as Envelope).eventId).length,
      );

    it("seals batches that fit the body limit the collector announces, measuring the envelope", async () => {
      const { id, server } = await setup({ consented: true, maxBodyBytes: 6000, announceLimits: true });
      const { client: c, events } = client(id);
      const ids = await record(c, 60);
      await c.setConsent("granted");
      assert.deepEqual(await c.flush(), { delivered: 3, rejected: 0, remaining: 0 });
      assert.ok(
        bodies(server).every((b) => b <= 6000 && b > 4000),
        `${bodies(server).join(", ")} bytes`,
      );
      assert.deepEqual(
        server.events.map((e) => e.id),
        ids,
      );
      assert.equal(events.filter((e) => e.type === "split" || e.type === "too_large").length, 0);
    });

    it("seals no more events than the collector announces per batch, nor than batchSize", async () => {
      const { id, server } = await setup({ consented: true, announceLimits: true, maxDiagnosticsEvents: 7 });
      const { client: c } = client(id, { diagnostics: { batchSize: 100 } });
      await record(c, 20);
      await c.setConsent("granted");
      await c.flush();
      assert.deepEqual(perPost(server), [7, 7, 6]);
      const small = await setup({ consented: true, announceLimits: true, maxDiagnosticsEvents: 7 });
      const other = client(small.id, { diagnostics: { batchSize: 4 } }).client;
      await record(other, 6);
      await other.setConsent("granted");
      await other.flush();
      assert.deepEqual(perPost(small.server), [4, 2]);
    });

    it("splits a batch refused with 413 into halves with the same event ids, until each is taken", async () => {
      // An older collector: it announces no limits, and takes at most 6000 bytes.
      const { id, server } = await setup({ consented: true, maxBodyBytes: 6000 });
      const { client: c, events } = client(id);
      const ids = await record(c, 60);
      await c.setConsent("granted");
      const result = await c.flush();
      assert.deepEqual([result.rejected, result.remaining], [0, 0]);
      assert.deepEqual(
        server.events.map((e) => e.id),
        ids,
        "every event once, in order",
      );
      const splits = events.filter((e) => e.type === "split");
      assert.deepEqual(
        splits.map((e) => (e.type === "split" ? [e.events, e.parts, e.reason] : [])),
        [
          [60, 2, "refused"],
          [30, 2, "refused"],
          [30, 2, "refused"],
        ],
      );
      assert.deepEqual(perPost(server), [0, 0, 0, 15, 15, 15, 15]);
      assert.deepEqual(await c.diagnosticsState(), {
        consent: (await c.diagnosticsState()).consent,
        held: { events: 0, bytes: 0 },
        queued: { batches: 0, events: 0 },
      });
    });

    it("splits when the announced limit was wrong, and sends the parts to the limit it learns again", async () => {
      const { id, server } = await setup({ consented: true, maxBodyBytes: 6000, announceLimits: "mislead" });
      const { client: c } = client(id);
      const ids = await record(c, 60);
      await c.setConsent("granted");
      assert.equal((await c.flush()).remaining, 0);
      assert.deepEqual(
        server.events.map((e) => e.id),
        ids,
      );
      const regionChecks = server.received.filter((r) => r.url === "/v1/region").length;
      assert.ok(regionChecks >= 2, "a 413 makes the client ask for the limits again");
    });

    it("a batch that exceeds the limits it learns after sealing is split before it is sent", async () => {
      const { id, server } = await setup({ consented: true, maxBodyBytes: 6000, announceLimits: true });
      // Sealed while the collector could not be reached (no limits known), then sent once it can.
      const flaky: FetchLike = async (url, init) =>
        url.endsWith("/v1/diagnostics") ? new Response("", { status: 503 }) : fetch(url, init);
      const first = client(id, { fetch: flaky });
      await record(first.client, 40);
      await first.client.setConsent("granted");
      // Known limits: sealed to fit, 503: waits in the queue.
      assert.equal((await first.client.flush()).delivered, 0);
      const q = new DiskQueue({ dir: join(dir, "queue") });
      const queued = await q.list();
      assert.ok(queued.length > 0 && queued.every((m) => m.bytes > 0 && m.events < 40));
      assert.equal(
        queued.some((m) => JSON.stringify(m).includes("batteryHealthPercent")),
        false,
        "the kept events are encrypted",
      );

      // The collector's limit falls to 3000 bytes; the device restarts and learns it before sending.
      server.setMaxBodyBytes(3000);
      const second = client(id);
      const result = await second.client.flush();
      assert.deepEqual([result.rejected, result.remaining], [0, 0]);
      assert.equal(server.events.length, 40);
      assert.ok(
        bodies(server).every((b) => b <= 3000),
        "no request over the limit: nothing was refused",
      );
      assert.ok(second.events.some((e) => e.type === "split" && e.reason === "limits"));
    });

    it("keeps and reports an event too large to send even alone, and sends it once the limit allows", async () => {
      const { id, server } = await setup({ consented: true, maxBodyBytes: 700, announceLimits: true });
      const { client: c, events } = client(id);
      const [only] = await record(c, 1);
      await c.setConsent("granted");
      assert.deepEqual(await c.flush(), { delivered: 0, rejected: 0, remaining: 1 });
      assert.deepEqual(posts(server), [], "not sent: it exceeds the announced limit");
      const reported = events.find((e) => e.type === "too_large");
      assert.ok(reported?.type === "too_large");
      assert.equal(reported.events, 1);
      assert.equal(reported.error.code, "sdk.too_large");
      assert.equal(reported.error.queued, true);
      assert.deepEqual((await c.diagnosticsState()).queued, { batches: 1, events: 1 });

      // A second flush tries again (the limit may have risen), still without sending it.
      await c.flush();
      assert.deepEqual(posts(server), []);
      server.setMaxBodyBytes(4000);
      assert.deepEqual(await c.flush(), { delivered: 1, rejected: 0, remaining: 0 });
      assert.deepEqual(
        server.events.map((e) => e.id),
        [only],
      );
    });

    it("keeps a batch it cannot split (queued before its events were kept) when it is refused for size", async () => {
      const { id, server } = await setup({ consented: true });
      let down = true;
      const flaky: FetchLike = async (url, init) =>
        down && url.endsWith("/v1/diagnostics") ? new Response("", { status: 503 }) : fetch(url, init);
      const { client: c, events } = client(id, { fetch: flaky });
      await record(c, 10);
      await c.setConsent("granted");
      await c.flush();
      // The batch as an older SDK queued it: the envelope only.
      const q = new DiskQueue({ dir: join(dir, "queue") });
      const [old] = await q.list();
      assert.ok(old?.contents);
      await q.remove(old.id);
      await q.enqueue(old.path, old.envelope, { droppable: true, events: old.events });

      server.setMaxBodyBytes(1000);
      down = false;
      assert.deepEqual(await c.flush(), { delivered: 0, rejected: 0, remaining: 1 });
      assert.equal(posts(server).length, 1);
      const reported = events.find((e) => e.type === "too_large");
      assert.ok(reported?.type === "too_large");
      assert.equal(reported.error.server?.status, 413);
      assert.equal(reported.events, 10);
      assert.equal(
        events.some((e) => e.type === "rejected"),
        false,
      );
    });

    it("a no discards the parts of a split batch too", async () => {
      const { id, server } = await setup({ consented: true, maxBodyBytes: 6000 });
      // Batches that fit are answered 503: the parts wait in the queue.
      const flaky: FetchLike = async (url, init) =>
        url.endsWith("/v1/diagnostics") && Buffer.byteLength(String(init.body)) <= 6000
          ? new Response("", { status: 503 })
          : fetch(url, init);
      const { client: c } = client(id, { fetch: flaky });
      await record(c, 60);
      await c.setConsent("granted");
      await c.flush();
      const { queued } = await c.diagnosticsState();
      assert.ok(queued.batches >= 2);
      assert.equal(queued.events, 60);
      assert.deepEqual(await c.setConsent("withdrawn"), { state: "withdrawn", discarded: 60 });
      assert.equal(await c.pending(), 0);
      assert.equal(server.events.length, 0);
    });

    it("an activation too large to send is kept and activate() says so", async () => {
      const { id, server } = await setup({ maxBodyBytes: 600, announceLimits: true });
      const { client: c } = client(id);
      await assert.rejects(c.activate(), (e: SdkError) => {
        assert.equal(e.code, "sdk.too_large");
        assert.equal(e.queued, true);
        return true;
      });
      assert.equal((await c.activationState()).state, "pending");
      assert.equal(posts(server, "/v1/activations").length, 0);
      server.setMaxBodyBytes(undefined);
      assert.deepEqual(await c.flush(), { delivered: 1, rejected: 0, remaining: 0 });
      assert.equal((await c.activationState()).state, "activated");
    });
  });
});
