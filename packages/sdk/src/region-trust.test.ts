/**
 * A device that trusts a fleet root: it accepts a region key only in a
 * descriptor the root signed (directly or through a rollover link), refuses
 * anything else before a byte of a payload leaves, keeps the newest verified
 * descriptor across restarts, follows a rotation, and still delivers what it
 * sealed to the previous key.
 */
import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import type { PhoneHomeClientOptions } from "./client-types.ts";
import { signRootLink } from "./descriptor.ts";
import type { Envelope } from "./envelope.ts";
import { isSdkError } from "./errors.ts";
import type { DeviceIdentity } from "./identity.ts";
import { DiskQueue } from "./queue.ts";
import { REGION_FILE } from "./region-trust.ts";
import {
  closedPort,
  type FakeCollector,
  fakeClock,
  makeHome,
  makeIdentity,
  makeRegionKeys,
  makeRoot,
  publicRoot,
  recordingClient,
  type RegionKeys,
  signDescriptor,
  startCollector,
  tempDir,
  TEST_ROOT,
  validity,
} from "../test/helpers.ts";

const RETRY = { baseMs: 100, maxMs: 1000, maxAttempts: 2 };
const T = Date.parse("2026-03-01T08:00:00Z");
const DAY = 24 * 60 * 60 * 1000;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
const EVENT = { batteryHealthPercent: 97, batteryCycles: 12, crashCount: 0, anrCount: 0, thermalEvents: 0 };

describe("region keys under the fleet root", () => {
  let k0: RegionKeys; // the key the factory provisioned
  let k1: RegionKeys; // the next one
  let dir: string;
  let cleanup: () => Promise<void>;
  const collectors: FakeCollector[] = [];

  beforeEach(async () => {
    [k0, k1] = await Promise.all([makeRegionKeys(), makeRegionKeys()]);
    ({ dir, cleanup } = await tempDir());
  });
  afterEach(async () => {
    for (const c of collectors.splice(0)) await c.close();
    await cleanup();
  });

  /** A device homed at a free port, trusting `roots` (default the test root), and that port. */
  async function device(roots?: DeviceIdentity["roots"] | null) {
    const port = await closedPort();
    const identity = makeIdentity(makeHome(`http://127.0.0.1:${port}`, k0), roots);
    return { identity, port };
  }

  async function collector(
    options: Partial<Parameters<typeof startCollector>[0]> & { devices: DeviceIdentity[] },
  ) {
    const c = await startCollector({ keys: k0, ...options });
    collectors.push(c);
    return c;
  }

  const client = (identity: DeviceIdentity, extra: Parameters<typeof recordingClient>[2] = {}) =>
    recordingClient(identity, join(dir, "queue"), { retry: RETRY, clock: fakeClock(T), ...extra });

  const posted = (c: FakeCollector) => c.received.filter((r) => r.method !== "GET");
  const kidsPosted = (c: FakeCollector) => posted(c).map((r) => (JSON.parse(r.body) as Envelope).kid);

  /** k0 until T+2d, k1 from T+1d: a rotation whose overlap is a day. */
  const rotation = (issuedAt = iso(T - 60_000)) =>
    signDescriptor(
      [validity(k0, iso(T - 10 * DAY), iso(T + 2 * DAY)), validity(k1, iso(T + DAY), iso(T + 30 * DAY))],
      { issuedAt },
    );

  it("accepts a descriptor its root signed, seals to its key from then on, and keeps it across a restart", async () => {
    const { identity, port } = await device();
    // The region rotated already: k1 is the key in force, k0 is opened until its end.
    const descriptor = await signDescriptor([
      validity(k0, iso(T - 10 * DAY), iso(T + DAY)),
      validity(k1, iso(T - DAY), iso(T + 30 * DAY)),
    ]);
    const server = await collector({ devices: [identity], port, descriptor, otherKeys: [k1] });
    server.publish({ current: k1, descriptor });
    const first = client(identity);
    // Sealed before any descriptor was verified: to the factory key, which the region still opens.
    await first.client.activate();
    assert.deepEqual(kidsPosted(server), [k0.kid]);
    const verified = first.events.find((e) => e.type === "endpoint_verified");
    assert.equal(verified?.type === "endpoint_verified" ? verified.kid : "", k1.kid);
    assert.ok((await readdir(join(dir, "queue"))).includes(REGION_FILE));
    await first.client.checkForUpdate().catch(() => undefined);
    assert.equal(kidsPosted(server)[1], k1.kid);

    // A restart seals to the kept descriptor's key before asking anything.
    const second = client(identity, { fetch: async () => Promise.reject(new Error("offline")) });
    await assert.rejects(second.client.activate(), (e) => isSdkError(e, "sdk.offline"));
    const [queued] = await new DiskQueue({ dir: join(dir, "queue") }).list();
    assert.equal(queued?.envelope.kid, k1.kid);
  });

  it("refuses a descriptor signed by another root before any byte is sent, for every kind of request", async () => {
    const { identity, port } = await device();
    const other = makeRoot();
    const server = await collector({
      devices: [identity],
      port,
      descriptor: await signDescriptor([validity(k0)], { root: other }),
    });
    const { client: c, events } = client(identity);
    await assert.rejects(c.activate(), (e) => isSdkError(e, "sdk.descriptor_invalid"));
    await assert.rejects(
      c.sendConsent({ granted: true, noticeVersion: 1, language: "en", method: "device-settings" }),
      (e) => isSdkError(e, "sdk.descriptor_invalid"),
    );
    await assert.rejects(c.checkForUpdate(), (e) => isSdkError(e, "sdk.descriptor_invalid"));
    await assert.rejects(c.reportUpdate("00WW_3_39B_SP03", "installed"), (e) =>
      isSdkError(e, "sdk.descriptor_invalid"),
    );
    assert.deepEqual(posted(server), []);
    assert.equal((await c.activationState()).state, "pending");
    assert.ok(events.some((e) => e.type === "endpoint_refused"));
    assert.equal((await readdir(join(dir, "queue"))).includes(REGION_FILE), false);
  });

  it("refuses a missing descriptor, a null one, an unsigned one (alg none) and a tampered one", async () => {
    const { identity, port } = await device();
    const signed = await signDescriptor([validity(k0)]);
    const [header, payload] = signed.split(".");
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
    const unsigned = `${b64({ alg: "none", typ: "phonehome-region+jws", kid: TEST_ROOT.kid })}.${payload}.`;
    const evil = await makeRegionKeys();
    const tampered = `${header}.${b64({
      region: "global",
      storedIn: "SG",
      url: "https://x.example",
      keys: [validity(evil)],
      issuedAt: "2026-02-01T00:00:00Z",
    })}.${signed.split(".")[2]}`;
    const server = await collector({ devices: [identity], port, descriptor: undefined });
    for (const descriptor of [undefined, null, unsigned, tampered, "not a jws", signed.slice(0, -4)]) {
      server.publish({ current: k0, descriptor });
      const { client: c } = client(identity);
      await assert.rejects(c.activate(), (e) => isSdkError(e, "sdk.descriptor_invalid"), String(descriptor));
    }
    assert.deepEqual(posted(server), []);
  });

  it("refuses a descriptor its root signed for another region, and a key in clear the descriptor does not list", async () => {
    const { identity, port } = await device();
    const server = await collector({
      devices: [identity],
      port,
      descriptor: await signDescriptor([validity(k0)], { region: "cn", storedIn: "CN" }),
    });
    await assert.rejects(client(identity).client.activate(), (e) =>
      isSdkError(e, "sdk.endpoint_region_mismatch"),
    );
    server.publish({ current: k1, descriptor: await signDescriptor([validity(k0)]) });
    await assert.rejects(client(identity).client.activate(), (e) =>
      isSdkError(e, "sdk.endpoint_key_mismatch"),
    );
    assert.deepEqual(posted(server), []);
  });

  it("a man in the middle replaying an old, validly signed descriptor cannot bring back a key that ended", async () => {
    const { identity, port } = await device();
    // Issued a month ago: k0 until yesterday.
    const old = await signDescriptor([validity(k0, iso(T - 60 * DAY), iso(T - DAY))], {
      issuedAt: iso(T - 30 * DAY),
    });
    const server = await collector({ devices: [identity], port, descriptor: old, otherKeys: [k1] });
    await assert.rejects(client(identity).client.activate(), (e) => isSdkError(e, "sdk.region_key_expired"));
    assert.deepEqual(posted(server), []);

    // The device has seen the region's newer descriptor (k0 dropped early, k1 in force)...
    const fresh = await signDescriptor([validity(k1, iso(T - DAY), iso(T + 30 * DAY))], {
      issuedAt: iso(T - DAY),
    });
    server.publish({ current: k1, descriptor: fresh });
    const { client: c } = client(identity);
    await c.activate();
    // ...then a replay of an older one that still lists k0 as in force is not taken over it.
    const replay = await signDescriptor([validity(k0, iso(T - 60 * DAY), iso(T + 60 * DAY))], {
      issuedAt: iso(T - 30 * DAY),
    });
    server.publish({ current: k0, descriptor: replay });
    const { client: restarted } = client(identity);
    await restarted.checkForUpdate().catch(() => undefined);
    await restarted.activate();
    // Not even the activation queued at the first try, sealed to the factory key, went out under k0.
    assert.deepEqual(kidsPosted(server), [k1.kid, k1.kid, k1.kid]);
  });

  it("rotation: switches to the next key when its notBefore passes, and still delivers what it sealed to the previous one", async () => {
    const { identity, port } = await device();
    const descriptor = await rotation();
    let server = await collector({ devices: [identity], port, descriptor, otherKeys: [k1], consented: true });
    const { client: c, clock, events } = client(identity);
    await c.activate();
    await c.setConsent("granted");
    // The collector goes away: a batch sealed now (k0 is the key in force) waits in the queue.
    await server.close();
    collectors.splice(0);
    await c.recordEvent(EVENT);
    await c.flush();
    assert.equal((await c.diagnosticsState()).queued.batches, 1);
    // A day and an hour later k1 is in force; k0 is opened until T+2d. The collector is back.
    await clock.sleep(DAY + 60 * 60 * 1000);
    server = await collector({ devices: [identity], port, descriptor, otherKeys: [k1], consented: true });
    await c.recordEvent(EVENT);
    const result = await c.flush();
    assert.equal(result.remaining, 0);
    assert.equal(server.events.length, 2);
    assert.deepEqual(kidsPosted(server), [k0.kid, k1.kid]);
    assert.equal(events.filter((e) => e.type === "rejected").length, 0);
  });

  it("a queued message whose key has ended is sealed again to the key in force, same event ids, stored once", async () => {
    const { identity, port } = await device();
    const descriptor = await rotation();
    const {
      client: c,
      clock,
      events,
    } = client(identity, {
      fetch: async () => Promise.reject(new Error("offline")),
    });
    // Offline from the start: the activation is sealed to the factory key k0.
    await assert.rejects(c.activate(), (e) => isSdkError(e, "sdk.offline"));
    const [queued] = await new DiskQueue({ dir: join(dir, "queue") }).list();
    assert.equal(queued?.envelope.kid, k0.kid);
    // Three days later k0 has ended; the region refuses it.
    await clock.sleep(3 * DAY);
    const server = await collector({ devices: [identity], port, descriptor, otherKeys: [k1] });
    server.endKey(k0.kid);
    const { client: back } = client(identity, { clock });
    const answer = await back.activate();
    assert.equal(answer.activation?.eventId, queued?.envelope.eventId);
    assert.deepEqual(kidsPosted(server), [k1.kid]);
    assert.equal(server.stored.length, 1);
    assert.equal((await back.activationState()).state, "activated");
    assert.equal(events.filter((e) => e.type === "rejected").length, 0);
  });

  it("a diagnostics batch whose key has ended is sealed again with the same events, none lost", async () => {
    const { identity, port } = await device();
    const descriptor = await rotation();
    const server = await collector({
      devices: [identity],
      port,
      descriptor,
      otherKeys: [k1],
      consented: true,
    });
    const { client: c, clock, events } = client(identity);
    await c.activate();
    await c.setConsent("granted");
    for (let i = 0; i < 3; i++) await c.recordEvent(EVENT);
    // The batch is sealed to k0 and queued, but the POST fails.
    server.publish({ current: k0, descriptor });
    const failing: PhoneHomeClientOptions["fetch"] = async (url, init) =>
      init.method === "POST" ? Promise.reject(new Error("cut")) : fetch(url, init);
    const cut = client(identity, { fetch: failing, clock });
    await cut.client.flush();
    const [batch] = await new DiskQueue({ dir: join(dir, "queue") }).list();
    assert.equal(batch?.envelope.kid, k0.kid);
    await clock.sleep(3 * DAY);
    server.endKey(k0.kid);
    const { client: back, events: backEvents } = client(identity, { clock });
    const result = await back.flush();
    assert.equal(result.remaining, 0);
    assert.equal(server.events.length, 3);
    const resealed = backEvents.find((e) => e.type === "resealed");
    assert.deepEqual(
      resealed?.type === "resealed" ? [resealed.eventId, resealed.from, resealed.to, resealed.events] : [],
      [batch?.envelope.eventId, k0.kid, k1.kid, 3],
    );
    assert.equal(kidsPosted(server).filter((k) => k === k0.kid).length, 1); // the activation, at T
    assert.equal([...events, ...backEvents].filter((e) => e.type === "rejected").length, 0);
  });

  it("a region that ended a key sooner than the descriptor the device holds said: checked again, sealed again", async () => {
    const { identity, port } = await device();
    const first = await signDescriptor([validity(k0, iso(T - DAY), iso(T + 30 * DAY))], {
      issuedAt: iso(T - DAY),
    });
    const server = await collector({
      devices: [identity],
      port,
      descriptor: first,
      otherKeys: [k1],
      consented: true,
    });
    let cut = false;
    const { client: c, events } = client(identity, {
      fetch: async (url, init) =>
        cut && init.method === "POST" ? Promise.reject(new Error("cut")) : fetch(url, init),
    });
    await c.activate();
    await c.setConsent("granted");
    cut = true;
    for (let i = 0; i < 2; i++) await c.recordEvent(EVENT);
    await c.flush();
    // The region rotates at once and ends k0 (a compromise, say); the device's region check is minutes old.
    server.publish({
      current: k1,
      descriptor: await signDescriptor([validity(k1, iso(T - 60_000), iso(T + 30 * DAY))], {
        issuedAt: iso(T),
      }),
    });
    server.endKey(k0.kid);
    cut = false;
    const result = await c.flush();
    assert.deepEqual(result, { delivered: 1, rejected: 0, remaining: 0 });
    assert.equal(server.events.length, 2);
    assert.ok(events.some((e) => e.type === "resealed"));
    // Sent once to k0 (refused), once to k1.
    assert.deepEqual(kidsPosted(server).slice(1), [k0.kid, k1.kid]);
  });

  it("a queued message with nothing kept to seal again is sent once, and the region's refusal removes it and is reported", async () => {
    const { identity, port } = await device();
    const descriptor = await rotation();
    const { client: c, clock } = client(identity, {
      fetch: async () => Promise.reject(new Error("offline")),
    });
    await assert.rejects(c.activate(), (e) => isSdkError(e, "sdk.offline"));
    // As an older SDK queued it: the envelope alone.
    const queueDir = join(dir, "queue");
    const [file] = (await readdir(queueDir)).filter((f) => f.endsWith("-k.json"));
    const path = join(queueDir, file ?? "");
    const message = JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
    delete message.contents;
    await writeFile(path, JSON.stringify(message));
    await clock.sleep(3 * DAY);
    const server = await collector({ devices: [identity], port, descriptor, otherKeys: [k1] });
    server.endKey(k0.kid);
    const { client: back, events } = client(identity, { clock });
    const result = await back.flush();
    assert.deepEqual(result, { delivered: 0, rejected: 1, remaining: 0 });
    assert.equal(posted(server).length, 1);
    const ended = events.find((e) => e.type === "key_ended");
    assert.equal(ended?.type === "key_ended" ? ended.kid : "", k0.kid);
    assert.ok(events.some((e) => e.type === "rejected"));
  });

  it("root rollover: a descriptor signed by a new root is accepted through the link the old root signed, and only so", async () => {
    const { identity, port } = await device();
    const next = makeRoot();
    const link = await signRootLink(publicRoot(next), TEST_ROOT);
    const descriptor = await signDescriptor([validity(k0)], { root: next });
    const server = await collector({ devices: [identity], port, descriptor });
    await assert.rejects(client(identity).client.activate(), (e) => isSdkError(e, "sdk.descriptor_invalid"));
    const forged = await signRootLink(publicRoot(next), makeRoot());
    server.publish({ current: k0, descriptor, rootChain: [forged] });
    await assert.rejects(client(identity).client.activate(), (e) => isSdkError(e, "sdk.descriptor_invalid"));
    assert.deepEqual(posted(server), []);
    server.publish({ current: k0, descriptor, rootChain: [link] });
    await client(identity).client.activate();
    assert.equal(server.stored.length, 1);
  });

  it("after a root rollover the device does not go back: a descriptor the previous root signs is refused", async () => {
    const { identity, port } = await device();
    const next = makeRoot();
    const link = await signRootLink(publicRoot(next), TEST_ROOT);
    const server = await collector({
      devices: [identity],
      port,
      descriptor: await signDescriptor([validity(k0)], { root: next, issuedAt: iso(T - DAY) }),
      rootChain: [link],
    });
    await client(identity).client.activate();
    // Someone holding the previous root signs a newer descriptor: without the link, with it, and with a link
    // of its own appended that hands trust back to itself or to a root of theirs.
    const selfLink = await signRootLink(publicRoot(TEST_ROOT), TEST_ROOT);
    const theirs = await signRootLink(publicRoot(makeRoot()), TEST_ROOT);
    for (const rootChain of [[], [link], [link, selfLink], [link, theirs]]) {
      server.publish({
        current: k1,
        descriptor: await signDescriptor([validity(k1)], { issuedAt: iso(T) }),
        rootChain,
        open: [k1],
      });
      const { client: c } = client(identity);
      await assert.rejects(c.activate(), (e) => isSdkError(e, "sdk.descriptor_invalid"));
    }
    assert.equal(kidsPosted(server).includes(k1.kid), false);
    // Even the root in use cannot pin a descriptor from the future over every later real one.
    server.publish({
      current: k1,
      descriptor: await signDescriptor([validity(k1)], { root: next, issuedAt: iso(T + 1000 * DAY) }),
      rootChain: [link],
    });
    await assert.rejects(client(identity).client.activate(), (e) => isSdkError(e, "sdk.descriptor_invalid"));
    // The root in use signs on: accepted.
    server.publish({
      current: k1,
      descriptor: await signDescriptor([validity(k1)], { root: next, issuedAt: iso(T) }),
      rootChain: [link],
    });
    await client(identity).client.activate();
    assert.equal(kidsPosted(server).at(-1), k1.kid);
  });

  it("a kept descriptor changed on disk is not trusted: reported, and the device seals to its factory key", async () => {
    const { identity, port } = await device();
    const descriptor = await signDescriptor([validity(k1, iso(T - DAY), iso(T + 30 * DAY))]);
    const server = await collector({ devices: [identity], port, descriptor, otherKeys: [k1] });
    server.publish({ current: k1, descriptor });
    await client(identity)
      .client.checkForUpdate()
      .catch(() => undefined);
    const path = join(dir, "queue", REGION_FILE);
    const kept = JSON.parse(await readFile(path, "utf8")) as { descriptor: string };
    await writeFile(path, JSON.stringify({ ...kept, descriptor: `${kept.descriptor.slice(0, -3)}AAA` }));
    const { client: c, events } = client(identity, {
      fetch: async () => Promise.reject(new Error("offline")),
    });
    await assert.rejects(c.activate(), (e) => isSdkError(e, "sdk.offline"));
    assert.ok(events.some((e) => e.type === "corrupt" && e.file === REGION_FILE));
    const [queued] = await new DiskQueue({ dir: join(dir, "queue") }).list();
    assert.equal(queued?.envelope.kid, k0.kid);
  });

  it("a legacy identity (no roots) keeps the pinned key: a rotated key is refused even under a valid descriptor", async () => {
    const { identity, port } = await device(null);
    assert.equal(identity.roots, undefined);
    const server = await collector({ devices: [identity], port, otherKeys: [k1] });
    server.publish({ current: k1, descriptor: await rotation() });
    await assert.rejects(client(identity).client.activate(), (e) =>
      isSdkError(e, "sdk.endpoint_key_mismatch"),
    );
    server.publish({ current: k0, descriptor: undefined });
    await client(identity).client.activate();
    assert.equal(server.stored.length, 1);
  });
});
