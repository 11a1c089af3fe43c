import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import {
  ACTIVATION_MARKER,
  type ClientEvent,
  type FetchLike,
  type PhoneHomeClientOptions,
} from "./client-types.ts";
import { PhoneHomeClient } from "./client.ts";
import type { Envelope } from "./envelope.ts";
import { isSdkError, SdkError } from "./errors.ts";
import type { DeviceIdentity } from "./identity.ts";
import { DiskQueue } from "./queue.ts";
import {
  announcementOf,
  closedPort,
  type FakeCollector,
  fakeClock,
  makeHome,
  makeIdentity,
  makeRegionKeys,
  openEnvelope,
  type RegionKeys,
  startCollector,
  tempDir,
} from "../test/helpers.ts";

const RETRY = { baseMs: 100, maxMs: 1000, maxAttempts: 4 };

describe("PhoneHomeClient", () => {
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

  async function collector(
    options: Partial<Parameters<typeof startCollector>[0]> & { devices: DeviceIdentity[] },
  ) {
    const c = await startCollector({ keys, ...options });
    collectors.push(c);
    return c;
  }

  function client(identity: DeviceIdentity, extra: Partial<PhoneHomeClientOptions> = {}) {
    const events: ClientEvent[] = [];
    const clock = fakeClock();
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

  /** A device whose home is the given URL; the collector must be told about it. */
  function device(url: string): DeviceIdentity {
    return makeIdentity(makeHome(url, keys));
  }

  it("activates: checks the region, seals exactly the activation fields, and records the marker", async () => {
    const port = await closedPort();
    const id = device(`http://127.0.0.1:${port}`);
    const server = await collector({ devices: [id], port });
    const { client: c, events } = client(id);
    assert.deepEqual(await c.activationState(), { state: "not_activated" });

    const answer = await c.activate(new Date("2026-03-01T09:30:00Z"));

    assert.equal(answer.activation?.warrantyUntil, "2028-03-01");
    assert.deepEqual(
      server.received.map((r) => `${r.method} ${r.url}`),
      ["GET /v1/region", "POST /v1/activations"],
    );
    assert.equal(server.stored.length, 1);
    assert.deepEqual(server.stored[0]?.payload, {
      serial: "SN-0001",
      model: "N7P",
      variant: "00WW",
      market: "NO",
      build: "00WW_3_39B_SP03",
      activatedAt: "2026-03-01T09:30:00.000Z",
    });
    const env = JSON.parse(server.received[1]?.body ?? "") as Envelope;
    assert.equal(env.v, 1);
    assert.equal(env.collection, "activation");
    assert.equal(env.schemaVersion, 1);
    assert.equal(env.device, id.keyId);
    assert.equal(env.region, "global");
    assert.equal(env.kid, keys.kid);
    assert.equal(env.build, id.build);
    assert.match(env.eventId, /^[0-9a-f-]{36}$/);
    // No plaintext on the wire: the serial appears nowhere in what was sent.
    for (const r of server.received) assert.equal(r.body.includes(id.serial), false);

    const state = await c.activationState();
    assert.equal(state.state, "activated");
    assert.equal(state.state === "activated" ? state.eventId : "", env.eventId);
    assert.equal(await c.pending(), 0);
    assert.deepEqual(
      events.map((e) => e.type),
      ["queued", "endpoint_verified", "delivered"],
    );

    // Activating again still works (the server is idempotent) and checks the region only once per client.
    const again = await c.activate();
    assert.equal(again.activation?.warrantyUntil, "2028-03-01");
    assert.equal(server.received.filter((r) => r.url === "/v1/region").length, 1);
  });

  it("concurrent activations share one queued message and one delivery", async () => {
    const port = await closedPort();
    const id = device(`http://127.0.0.1:${port}`);
    const server = await collector({ devices: [id], port });
    const { client: c } = client(id);
    const answers = await Promise.all([c.activate(), c.activate(), c.activate()]);
    assert.equal(server.received.filter((r) => r.method === "POST").length, 1);
    assert.equal(new Set(answers.map((a) => a.activation?.eventId)).size, 1);
    assert.equal(server.stored.length, 1);
  });

  it("never writes the payload in clear to the queue directory", async () => {
    const id = device(`http://127.0.0.1:${await closedPort()}`);
    const { client: c } = client(id, { retry: { ...RETRY, maxAttempts: 1 } });
    await assert.rejects(c.activate(), (e) => isSdkError(e, "sdk.offline"));
    const files = await readdir(join(dir, "queue"));
    assert.equal(files.length, 1);
    const text = await readFile(join(dir, "queue", files[0] ?? ""), "utf8");
    // Quoted: the three letters of a model can turn up in base64 by chance, a quoted string cannot.
    assert.equal(text.includes(`"${id.serial}"`), false);
    assert.equal(text.includes(`"${id.model}"`), false);
    const queued = JSON.parse(text).envelope as Envelope;
    assert.equal(((await openEnvelope(queued, keys, [id])) as { serial: string }).serial, id.serial);
  });

  it("refuses a collector announcing another region: no payload leaves, the message stays queued", async () => {
    const port = await closedPort();
    const id = device(`http://127.0.0.1:${port}`);
    const cnKeys = await makeRegionKeys();
    const server = await collector({
      devices: [id],
      port,
      announce: { region: "cn", storedIn: "CN", kid: cnKeys.kid, publicKey: cnKeys.publicKey },
    });
    const { client: c, events } = client(id);
    await assert.rejects(c.activate(), (e) => isSdkError(e, "sdk.endpoint_region_mismatch"));
    assert.deepEqual(
      server.received.map((r) => r.method),
      ["GET"],
    );
    assert.equal((await c.activationState()).state, "pending");
    assert.ok(events.some((e) => e.type === "endpoint_refused"));
  });

  it("refuses a collector announcing another key of the same region", async () => {
    const port = await closedPort();
    const id = device(`http://127.0.0.1:${port}`);
    const rotated = await makeRegionKeys();
    const server = await collector({
      devices: [id],
      port,
      announce: { region: "global", storedIn: "SG", kid: rotated.kid, publicKey: rotated.publicKey },
    });
    const { client: c } = client(id);
    await assert.rejects(c.activate(), (e) => isSdkError(e, "sdk.endpoint_key_mismatch"));
    assert.equal(
      server.received.some((r) => r.method === "POST"),
      false,
    );
  });

  it("refuses plain http to a non-loopback host before any connection attempt", async () => {
    const calls: string[] = [];
    const recording: FetchLike = async (url) => {
      calls.push(url);
      return new Response("{}", { status: 200 });
    };
    for (const url of ["http://10.0.0.1", "http://zzhc.vnet.cn"]) {
      assert.throws(
        () => client(device(url), { fetch: recording }),
        (e) => isSdkError(e, "sdk.insecure_transport"),
      );
    }
    assert.deepEqual(calls, []);
    assert.deepEqual(await readdir(dir), []);
  });

  it("does not follow a redirect", async () => {
    const port = await closedPort();
    const id = device(`http://127.0.0.1:${port}`);
    const server = await collector({
      devices: [id],
      port,
      regionReply: { status: 302, headers: { location: "http://127.0.0.1:1/v1/region" } },
    });
    const { client: c } = client(id);
    await assert.rejects(c.activate(), (e) => isSdkError(e, "sdk.redirect_refused"));
    assert.equal(server.received.length, 1);
    assert.equal(await c.pending(), 1);
  });

  it("refuses a home URL that is not a collector (no region announcement)", async () => {
    const port = await closedPort();
    const id = device(`http://127.0.0.1:${port}`);
    const server = await collector({
      devices: [id],
      port,
      regionReply: { status: 404, body: { error: {} } },
    });
    const { client: c } = client(id);
    // With nothing queued there is nothing to send, hence nothing to check.
    assert.deepEqual(await c.flush(), { delivered: 0, rejected: 0, remaining: 0 });
    await assert.rejects(c.activate(), (e) => isSdkError(e, "sdk.endpoint_invalid"));
    await assert.rejects(c.flush(), (e) => isSdkError(e, "sdk.endpoint_invalid"));
    assert.equal(
      server.received.some((r) => r.method === "POST"),
      false,
    );
    assert.equal(await c.pending(), 1);
  });

  it("retries 503 twice then delivers once, resending the same envelope", async () => {
    const port = await closedPort();
    const id = device(`http://127.0.0.1:${port}`);
    const server = await collector({
      devices: [id],
      port,
      replies: [
        { status: 503, body: { error: { code: "service.unavailable", message: "starting" } } },
        { status: 503, body: { error: { code: "service.unavailable", message: "starting" } } },
      ],
    });
    const { client: c, events, clock } = client(id);
    const answer = await c.activate();
    const posts = server.received.filter((r) => r.method === "POST");
    assert.equal(posts.length, 3);
    assert.equal(new Set(posts.map((p) => p.body)).size, 1, "every attempt sends identical bytes");
    assert.equal(server.stored.length, 1);
    assert.equal(answer.activation?.eventId, (JSON.parse(posts[0]?.body ?? "") as Envelope).eventId);
    // Full jitter with random() = 0.5: 0.5 * 100, then 0.5 * 200.
    assert.deepEqual(clock.sleeps, [50, 100]);
    assert.equal(events.filter((e) => e.type === "retry").length, 2);
  });

  it("backs off exponentially with full jitter, capped, then gives up for this flush", async () => {
    const id = device("https://global.example.com");
    const urls: string[] = [];
    const unavailable: FetchLike = async (url) => {
      urls.push(url);
      if (url.endsWith("/v1/region")) {
        return Response.json(await announcementOf(keys));
      }
      return Response.json({ error: { code: "service.unavailable", message: "down" } }, { status: 503 });
    };
    const randoms = [0.5, 0.25, 0.999, 0.999, 0.999];
    const {
      client: c,
      events,
      clock,
    } = client(id, {
      fetch: unavailable,
      retry: { baseMs: 100, maxMs: 1000, maxAttempts: 6 },
      random: () => randoms.shift() ?? 0,
    });
    await assert.rejects(c.activate(), (e) => isSdkError(e, "sdk.offline") && e.queued === true);
    // Ceilings 100, 200, 400, 800, 1000 (capped), times the jitter draws.
    assert.deepEqual(clock.sleeps, [50, 50, 399, 799, 999]);
    assert.equal(urls.filter((u) => u === "https://global.example.com/v1/activations").length, 6);
    assert.ok(urls.every((u) => u.startsWith("https://global.example.com/")));
    const deferred = events.find((e) => e.type === "deferred");
    assert.equal(deferred?.type === "deferred" ? deferred.reason : "", "HTTP 503");
    assert.equal(await c.pending(), 1);
  });

  it("honours Retry-After as a floor, within the cap, with the jitter on top", async () => {
    const id = device("https://global.example.com");
    let posts = 0;
    const busy: FetchLike = async (url) => {
      if (url.endsWith("/v1/region")) {
        return Response.json(await announcementOf(keys));
      }
      posts += 1;
      if (posts === 1) return new Response("", { status: 429, headers: { "retry-after": "3" } });
      return Response.json({ activation: { eventId: "x" } }, { status: 201 });
    };
    const { client: c, clock } = client(id, { fetch: busy, retry: { baseMs: 100, maxMs: 10_000 } });
    await c.activate();
    // 3 s asked for, plus 0.5 * 100 ms of jitter.
    assert.deepEqual(clock.sleeps, [3050]);
  });

  it("keeps the message when requests time out, retrying each with backoff", async () => {
    const id = device("https://global.example.com");
    const hanging: FetchLike = async (url, init) => {
      if (url.endsWith("/v1/region")) {
        return Response.json(await announcementOf(keys));
      }
      // A collector that never answers: only the client's own deadline ends the request.
      return new Promise((_resolve, reject) => {
        init.signal?.addEventListener("abort", () => reject(init.signal?.reason));
      });
    };
    const { client: c, events } = client(id, { fetch: hanging, requestTimeoutMs: 30 });
    await assert.rejects(c.activate(), (e) => isSdkError(e, "sdk.offline") && e.queued === true);
    const reasons = events.flatMap((e) => (e.type === "retry" || e.type === "deferred" ? [e.reason] : []));
    assert.deepEqual(reasons, ["timeout", "timeout", "timeout", "timeout"]);
    assert.equal(await c.pending(), 1);
    assert.equal((await c.activationState()).state, "pending");
  });

  it("reads Retry-After as an HTTP date too, relative to the client's clock", async () => {
    const id = device("https://global.example.com");
    let posts = 0;
    const { client: c, clock } = client(id, {
      retry: { baseMs: 100, maxMs: 10_000 },
      fetch: async (url) => {
        if (url.endsWith("/v1/region")) {
          return Response.json(await announcementOf(keys));
        }
        posts += 1;
        if (posts > 1) return Response.json({ activation: { eventId: "x" } }, { status: 201 });
        const at = new Date(clock.now() + 2000).toUTCString();
        return new Response("", { status: 503, headers: { "retry-after": at } });
      },
    });
    await c.activate();
    assert.deepEqual(clock.sleeps, [2050]);
  });

  it("a request sent now and refused for its size is sdk.too_large, nothing queued", async () => {
    const id = device("https://global.example.com");
    const { client: c } = client(id, {
      fetch: async (url) =>
        url.endsWith("/v1/region")
          ? Response.json(await announcementOf(keys))
          : Response.json({ error: { code: "request.too_large", message: "too large" } }, { status: 413 }),
    });
    await assert.rejects(
      c.checkForUpdate(),
      (e) => isSdkError(e, "sdk.too_large") && e.queued === false && e.server?.status === 413,
    );
    assert.equal(await c.pending(), 0);
  });

  it("drops a message the collector refuses for good and rejects activate with the server's error", async () => {
    const port = await closedPort();
    const id = device(`http://127.0.0.1:${port}`);
    const refusal = { code: "payload.undeclared_field", message: "not declared", path: "/imsi" };
    const server = await collector({
      devices: [id],
      port,
      replies: [{ status: 400, body: { error: refusal } }],
    });
    const { client: c, events } = client(id);
    await assert.rejects(c.activate(), (e) => {
      assert.ok(e instanceof SdkError);
      assert.equal(e.code, "sdk.rejected");
      assert.deepEqual(e.server, { status: 400, ...refusal });
      assert.equal(e.queued, false);
      return true;
    });
    assert.equal(server.received.filter((r) => r.method === "POST").length, 1, "a 4xx is not retried");
    assert.equal(await c.pending(), 0);
    assert.deepEqual(await c.activationState(), { state: "not_activated" });
    assert.ok(events.some((e) => e.type === "rejected"));
  });

  it("treats 403 region.misrouted as final", async () => {
    const port = await closedPort();
    const id = device(`http://127.0.0.1:${port}`);
    const misrouted = { code: "region.misrouted", message: "market NO belongs to region global" };
    const reply = { status: 403, body: { error: misrouted } };
    const server = await collector({ devices: [id], port, replies: [reply, reply, reply] });
    const { client: c } = client(id);
    await assert.rejects(
      c.activate(),
      (e) => isSdkError(e, "sdk.rejected") && e.server?.code === "region.misrouted",
    );
    assert.equal(await c.pending(), 0);
    assert.equal(server.received.filter((r) => r.method === "POST").length, 1, "not retried");
    assert.equal(server.stored.length, 0);
  });

  it("keeps the activation while offline and delivers it, once, when the collector appears", async () => {
    const port = await closedPort();
    const id = device(`http://127.0.0.1:${port}`);
    const first = client(id, { retry: { baseMs: 10, maxMs: 50, maxAttempts: 3 } });
    await assert.rejects(first.client.activate(), (e) => isSdkError(e, "sdk.offline"));
    // Booting again while still offline reuses the queued activation instead of adding another.
    await assert.rejects(first.client.activate(), (e) => isSdkError(e, "sdk.offline"));
    const pending = await first.client.activationState();
    assert.equal(pending.state, "pending");
    assert.equal(await first.client.pending(), 1);
    const queuedId = pending.state === "pending" ? pending.eventId : "";

    // The process restarts; the collector comes up on the provisioned port.
    const server = await collector({ devices: [id], port });
    const second = client(id);
    assert.deepEqual(await second.client.flush(), { delivered: 1, rejected: 0, remaining: 0 });
    assert.deepEqual(
      server.stored.map((s) => s.eventId),
      [queuedId],
    );
    const state = await second.client.activationState();
    assert.equal(state.state === "activated" ? state.eventId : "", queuedId);
    const marker = JSON.parse(await readFile(join(dir, "queue", ACTIVATION_MARKER), "utf8"));
    assert.equal(marker.eventId, queuedId);
  });

  it("refuses to queue an activation when the queue is full of messages it may not drop", async () => {
    const id = device("https://global.example.com");
    const q = new DiskQueue({ dir: join(dir, "queue") });
    const { client: seeder } = client(id, { fetch: async () => new Response("", { status: 503 }) });
    await assert.rejects(seeder.activate(), (e) => isSdkError(e, "sdk.offline"));
    // Re-file the queued activation under another path so the next activate() cannot reuse it.
    const [m] = await q.list();
    assert.ok(m);
    await q.remove(m.id);
    await q.enqueue("/v1/other", m.envelope);
    const calls: string[] = [];
    const { client: c } = client(id, {
      queue: { maxMessages: 1 },
      fetch: async (url) => {
        calls.push(url);
        return new Response("", { status: 503 });
      },
    });
    await assert.rejects(c.activate(), (e) => isSdkError(e, "sdk.queue_full"));
    assert.deepEqual(calls, []);
  });

  it("rejects bad options and a bad identity up front", async () => {
    const id = device("https://global.example.com");
    assert.throws(
      () => client(id, { retry: { baseMs: 10, maxMs: 5 } }),
      (e) => isSdkError(e, "sdk.options_invalid"),
    );
    assert.throws(
      () => client(id, { retry: { baseMs: 1, maxMs: 5, maxAttempts: 0 } }),
      (e) => isSdkError(e, "sdk.options_invalid"),
    );
    assert.throws(
      () => client({ ...id, keyId: "dk_other" }),
      (e) => isSdkError(e, "sdk.identity_invalid"),
    );
  });
});
