import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { generateDeviceKeys } from "@phonehome/sdk";
import { buildConfig } from "../config/index.ts";
import { type RunningControlPlane, startControlPlane } from "../../control-plane/control-plane.ts";
import { importFleet, revokeDevice } from "../../control-plane/fleet/index.ts";
import { isPhoneHomeError } from "../errors/index.ts";
import { createLogger } from "../log/index.ts";
import {
  cachedDirectory,
  type DirectoryRecord,
  httpLookup,
  httpRevocations,
  type LookupMany,
  type ReadRevocations,
} from "./index.ts";

/** A record for key `keyId` (the fields other than the key do not matter to the cache). */
function record(keyId: string): DirectoryRecord {
  return {
    keyId,
    deviceKey: keyId,
    publicKey: `pk-${keyId}`,
    serial: `S-${keyId}`,
    model: "TA-1062",
    variant: "00WW",
    market: "NO",
    batch: "B-1",
    build: "00WW_3_39B_SP03",
    variantRegion: "global",
    warrantyMonths: 24,
    revoked: null,
  };
}

/** A lookup over the given known keys that records every call it gets. */
function fakeLookup(known: Iterable<string>) {
  const records = new Map([...known].map((k) => [k, record(k)]));
  const calls: string[][] = [];
  let failWith: Error | undefined;
  const lookupMany: LookupMany = async (keys) => {
    calls.push([...keys]);
    await new Promise((resolve) => setImmediate(resolve));
    if (failWith) throw failWith;
    return keys.flatMap((k) => {
      const r = records.get(k);
      return r ? [r] : [];
    });
  };
  return {
    lookupMany,
    calls,
    add: (key: string) => records.set(key, record(key)),
    fail: (error: Error | undefined) => {
      failWith = error;
    },
  };
}

const keys = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}${i}`);

describe("cachedDirectory", () => {
  it("merges the lookups of one tick into one call, asking each key once", async () => {
    const fake = fakeLookup(["a", "b", "c"]);
    const directory = cachedDirectory(fake.lookupMany);
    const answers = await Promise.all(["a", "b", "a", "x", "c", "b"].map((k) => directory.lookup(k)));
    assert.deepEqual(fake.calls, [["a", "b", "x", "c"]]);
    assert.deepEqual(answers, [record("a"), record("b"), record("a"), null, record("c"), record("b")]);
  });

  it("makes a separate call for lookups of a later tick", async () => {
    const fake = fakeLookup(["a", "b"]);
    const directory = cachedDirectory(fake.lookupMany);
    await directory.lookup("a");
    await directory.lookup("b");
    assert.deepEqual(fake.calls, [["a"], ["b"]]);
  });

  it("splits a tick's keys into calls of at most maxBatch", async () => {
    const all = keys("k", 25);
    const fake = fakeLookup(all);
    const directory = cachedDirectory(fake.lookupMany, { maxBatch: 10 });
    const answers = await Promise.all(all.map((k) => directory.lookup(k)));
    assert.deepEqual(
      fake.calls.map((c) => c.length),
      [10, 10, 5],
    );
    assert.deepEqual(fake.calls.flat(), all);
    assert.deepEqual(
      answers.map((a) => a?.keyId),
      all,
    );
  });

  it("keeps a hit for ttlMs, then asks again", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: 1_000_000 });
    const fake = fakeLookup(["a"]);
    const directory = cachedDirectory(fake.lookupMany, { ttlMs: 30_000 });
    assert.deepEqual(await directory.lookup("a"), record("a"));
    t.mock.timers.tick(29_999);
    assert.deepEqual(await directory.lookup("a"), record("a"));
    assert.equal(fake.calls.length, 1);
    t.mock.timers.tick(2);
    assert.deepEqual(await directory.lookup("a"), record("a"));
    assert.deepEqual(fake.calls, [["a"], ["a"]]);
  });

  it("keeps a miss for at most 5 s even with a long ttl, so a device imported meanwhile is found", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: 1_000_000 });
    const fake = fakeLookup(["hit"]);
    const directory = cachedDirectory(fake.lookupMany, { ttlMs: 60_000 });
    assert.deepEqual(await Promise.all([directory.lookup("hit"), directory.lookup("late")]), [
      record("hit"),
      null,
    ]);
    fake.add("late");
    t.mock.timers.tick(4_999);
    assert.equal(await directory.lookup("late"), null);
    assert.equal(fake.calls.length, 1);
    t.mock.timers.tick(2);
    assert.deepEqual(await directory.lookup("late"), record("late"));
    // The hit is still cached: only the miss was asked again.
    assert.deepEqual(await directory.lookup("hit"), record("hit"));
    assert.deepEqual(fake.calls, [["hit", "late"], ["late"]]);
  });

  it("keeps a miss no longer than a ttl shorter than 5 s", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: 1_000_000 });
    const fake = fakeLookup([]);
    const directory = cachedDirectory(fake.lookupMany, { ttlMs: 100 });
    assert.equal(await directory.lookup("m"), null);
    t.mock.timers.tick(99);
    assert.equal(await directory.lookup("m"), null);
    assert.equal(fake.calls.length, 1);
    t.mock.timers.tick(2);
    assert.equal(await directory.lookup("m"), null);
    assert.equal(fake.calls.length, 2);
  });

  it("rejects every waiter of a chunk whose lookup throws with service.unavailable, caches nothing of it, and answers other chunks", async () => {
    const all = keys("k", 4);
    const fake = fakeLookup(all);
    const directory = cachedDirectory(fake.lookupMany, { maxBatch: 2 });
    const down = new Error("control plane down");
    let calls = 0;
    const flaky: LookupMany = async (chunk) => {
      calls += 1;
      if (calls === 1) throw down;
      return fake.lookupMany(chunk);
    };
    const flakyDirectory = cachedDirectory(flaky, { maxBatch: 2 });
    const outcomes = await Promise.allSettled(
      ["k0", "k1", "k0", "k2", "k3"].map((k) => flakyDirectory.lookup(k)),
    );
    const unavailable = (reason: unknown) =>
      isPhoneHomeError(reason, "service.unavailable") && reason.cause === down ? "unavailable" : reason;
    assert.deepEqual(
      outcomes.map((o) => (o.status === "rejected" ? unavailable(o.reason) : o.value)),
      ["unavailable", "unavailable", "unavailable", record("k2"), record("k3")],
    );
    // The failure was not cached: the next lookup asks again and succeeds.
    assert.deepEqual(await flakyDirectory.lookup("k0"), record("k0"));
    assert.deepEqual(fake.calls, [["k2", "k3"], ["k0"]]);

    fake.fail(down);
    await assert.rejects(
      Promise.all([directory.lookup("k0"), directory.lookup("k1")]),
      (error) => unavailable(error) === "unavailable",
    );
    fake.fail(undefined);
    assert.deepEqual(await directory.lookup("k1"), record("k1"));
  });

  it("answers a device it found before from its expired entry while the lookup fails", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: 1_000_000 });
    const fake = fakeLookup(["known"]);
    const directory = cachedDirectory(fake.lookupMany, { ttlMs: 1000 });
    assert.deepEqual(await directory.lookup("known"), record("known"));
    assert.equal(await directory.lookup("stranger"), null);
    t.mock.timers.tick(10_000);
    fake.fail(new Error("control plane down"));
    // Factory records do not change: the device keeps working; a key never found is told to come back.
    assert.deepEqual(await directory.lookup("known"), record("known"));
    await assert.rejects(directory.lookup("stranger"), (error) =>
      isPhoneHomeError(error, "service.unavailable"),
    );
    await assert.rejects(directory.lookup("new"), (error) => isPhoneHomeError(error, "service.unavailable"));
    assert.equal(fake.calls.length, 5, "each expired or unknown key was asked again");
  });

  it("keeps at most maxEntries answers, dropping the oldest first", async () => {
    const fake = fakeLookup(["a", "b", "c", "d"]);
    const directory = cachedDirectory(fake.lookupMany, { maxEntries: 3 });
    await Promise.all(["a", "b", "c"].map((k) => directory.lookup(k)));
    await directory.lookup("d");
    assert.equal(fake.calls.length, 2);
    // b, c and d are cached; a was the oldest and is gone.
    await Promise.all(["b", "c", "d"].map((k) => directory.lookup(k)));
    assert.equal(fake.calls.length, 2);
    assert.deepEqual(await directory.lookup("a"), record("a"));
    assert.deepEqual(fake.calls, [["a", "b", "c"], ["d"], ["a"]]);
    // Asking for a again pushed out b, the oldest left.
    await Promise.all(["c", "d", "a"].map((k) => directory.lookup(k)));
    assert.equal(fake.calls.length, 3);
    await directory.lookup("b");
    assert.deepEqual(fake.calls.at(-1), ["b"]);
  });
});

/** A revocation feed over a list the test appends to, counting its reads; `failing` makes it throw. */
function fakeFeed() {
  const revoked: { keyId: string; reason: "cloned" | "stolen"; at: string }[] = [];
  let reads = 0;
  let failing = false;
  const read: ReadRevocations = async (after) => {
    reads += 1;
    await new Promise((resolve) => setImmediate(resolve));
    if (failing) throw new Error("the control plane is down");
    const from = after === undefined ? revoked.length : Number(after);
    return { revocations: after === undefined ? [] : revoked.slice(from), next: String(revoked.length) };
  };
  return {
    read,
    revoke: (keyId: string) => revoked.push({ keyId, reason: "cloned", at: new Date().toISOString() }),
    reads: () => reads,
    fail: (on: boolean) => {
      failing = on;
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("cachedDirectory with the revocation feed", () => {
  it("marks a cached record revoked once the bound has passed, without asking for the record again", async () => {
    const fake = fakeLookup(["a", "b"]);
    const feed = fakeFeed();
    const directory = cachedDirectory(fake.lookupMany, { revocations: feed.read, revocationsEveryMs: 50 });
    assert.equal((await directory.lookup("a"))?.revoked, null);
    assert.equal((await directory.lookup("b"))?.revoked, null);
    feed.revoke("a");
    // Within the bound the cache answers as it was; past it, the feed is read before the answer.
    assert.equal((await directory.lookup("a"))?.revoked, null);
    await sleep(60);
    assert.equal((await directory.lookup("a"))?.revoked?.reason, "cloned");
    assert.equal((await directory.lookup("b"))?.revoked, null);
    assert.deepEqual(fake.calls, [["a"], ["b"]], "the records were asked once each");
  });

  it("reads the feed at most once per bound, however many lookups wait for it", async () => {
    const fake = fakeLookup(keys("k", 20));
    const feed = fakeFeed();
    const directory = cachedDirectory(fake.lookupMany, {
      revocations: feed.read,
      revocationsEveryMs: 10_000,
    });
    await Promise.all(keys("k", 20).map((k) => directory.lookup(k)));
    await Promise.all(keys("k", 20).map((k) => directory.lookup(k)));
    // The first read takes the cursor, then asks after it: two calls, once.
    assert.equal(feed.reads(), 2);
  });

  it("lays a revocation the feed told over an answer that was under way while it was read", async () => {
    const feed = fakeFeed();
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow: LookupMany = async (ks) => {
      await gate;
      return ks.map((k) => record(k));
    };
    const directory = cachedDirectory(slow, { revocations: feed.read, revocationsEveryMs: 20 });
    const pending = directory.lookup("a");
    await sleep(30);
    feed.revoke("a");
    // Another lookup past the bound reads the feed while the answer for "a" is still under way.
    const reading = directory.lookup("b");
    await sleep(10);
    release();
    await pending;
    await reading;
    assert.equal((await directory.lookup("a"))?.revoked?.reason, "cloned");
  });

  it("answers from the cache when the feed cannot be read, and catches up once it can", async () => {
    const fake = fakeLookup(["a"]);
    const feed = fakeFeed();
    const directory = cachedDirectory(fake.lookupMany, { revocations: feed.read, revocationsEveryMs: 20 });
    assert.equal((await directory.lookup("a"))?.revoked, null);
    feed.fail(true);
    feed.revoke("a");
    await sleep(30);
    assert.equal((await directory.lookup("a"))?.revoked, null, "a stale answer, not an error");
    feed.fail(false);
    await sleep(30);
    assert.equal((await directory.lookup("a"))?.revoked?.reason, "cloned");
  });
});

describe("httpLookup against a real control plane", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "phonehome-directory-"));
  const storeDir = mkdtempSync(join(tmpdir(), "phonehome-directory-store-"));
  let controlPlane: RunningControlPlane;
  const no = [generateDeviceKeys(), generateDeviceKeys()];
  const cn = generateDeviceKeys();
  const serials = ["DIRTEST0001", "DIRTEST0002", "DIRTEST0003"];

  before(async () => {
    const config = buildConfig(
      { dataDir, logLevel: "silent", controlPlane: { listen: "127.0.0.1:0", store: { dataDir: storeDir } } },
      dataDir,
    );
    controlPlane = await startControlPlane(config, createLogger("silent"));
    const factory = {
      version: 1,
      models: [{ id: "TA-1062", name: "Test phone", warrantyMonths: 36 }],
      variants: [
        { id: "00WW", model: "TA-1062", region: "global", description: "worldwide" },
        { id: "00CN", model: "TA-1062", region: "cn", description: "China" },
      ],
      builds: [
        { number: "00WW_3_39B_SP03", model: "TA-1062", variant: "00WW", releasedAt: null },
        { number: "00CN_3_39B_SP03", model: "TA-1062", variant: "00CN", releasedAt: null },
      ],
      batches: [
        {
          id: "B-DIR-NO",
          model: "TA-1062",
          variant: "00WW",
          market: "NO",
          build: "00WW_3_39B_SP03",
          producedAt: "2019-03-01T08:00:00Z",
          size: 2,
        },
        {
          id: "B-DIR-CN",
          model: "TA-1062",
          variant: "00CN",
          market: "CN",
          build: "00CN_3_39B_SP03",
          producedAt: "2019-03-02T08:00:00Z",
          size: 1,
        },
      ],
      devices: [
        {
          serial: serials[0],
          model: "TA-1062",
          variant: "00WW",
          market: "NO",
          batch: "B-DIR-NO",
          publicKey: no[0]?.publicKey,
        },
        {
          serial: serials[1],
          model: "TA-1062",
          variant: "00WW",
          market: "NO",
          batch: "B-DIR-NO",
          publicKey: no[1]?.publicKey,
        },
        {
          serial: serials[2],
          model: "TA-1062",
          variant: "00CN",
          market: "CN",
          batch: "B-DIR-CN",
          publicKey: cn.publicKey,
        },
      ],
    };
    const summary = await importFleet(controlPlane.db, config, {
      name: "factory.json",
      text: JSON.stringify(factory),
    });
    assert.deepEqual(summary.devices, { created: 3, unchanged: 0 });
  });
  after(async () => {
    await controlPlane?.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(storeDir, { recursive: true, force: true });
  });

  it("finds registered devices with the service token and leaves unknown keys out", async () => {
    const [first, second] = no;
    assert.ok(first && second);
    const unknown = generateDeviceKeys().keyId;
    const lookup = httpLookup(controlPlane.url, controlPlane.serviceToken);
    const found = await lookup([first.keyId, unknown, cn.keyId]);
    assert.deepEqual(
      [...found].sort((a, b) => a.serial.localeCompare(b.serial)),
      [
        {
          keyId: first.keyId,
          deviceKey: first.keyId,
          publicKey: first.publicKey,
          serial: serials[0],
          model: "TA-1062",
          variant: "00WW",
          market: "NO",
          batch: "B-DIR-NO",
          build: "00WW_3_39B_SP03",
          variantRegion: "global",
          warrantyMonths: 36,
          revoked: null,
        },
        {
          keyId: cn.keyId,
          deviceKey: cn.keyId,
          publicKey: cn.publicKey,
          serial: serials[2],
          model: "TA-1062",
          variant: "00CN",
          market: "CN",
          batch: "B-DIR-CN",
          build: "00CN_3_39B_SP03",
          variantRegion: "cn",
          warrantyMonths: 36,
          revoked: null,
        },
      ],
    );
    assert.deepEqual(await lookup([unknown]), []);
  });

  it("throws with a wrong token, and with none", async () => {
    const [first] = no;
    assert.ok(first);
    await assert.rejects(
      httpLookup(controlPlane.url, `${controlPlane.serviceToken}x`)([first.keyId]),
      /the control plane answered 401 to a directory lookup/,
    );
    await assert.rejects(
      httpLookup(controlPlane.url, "")([first.keyId]),
      /the control plane answered 401 to a directory lookup/,
    );
  });

  it("serves a cached directory whose default batch fits the control plane's limit", async () => {
    const directory = cachedDirectory(httpLookup(controlPlane.url, controlPlane.serviceToken));
    const strangers = Array.from({ length: 700 }, () => generateDeviceKeys().keyId);
    const [first, second] = no;
    assert.ok(first && second);
    const answers = await Promise.all(
      [first.keyId, ...strangers, second.keyId].map((k) => directory.lookup(k)),
    );
    assert.equal(answers[0]?.serial, serials[0]);
    assert.equal(answers.at(-1)?.serial, serials[1]);
    assert.equal(answers.filter((a) => a === null).length, strangers.length);
  });

  it("reads the revocation feed, and a cached directory refuses a key revoked after it was cached", async () => {
    const [, second] = no;
    assert.ok(second);
    const feed = httpRevocations(controlPlane.url, controlPlane.serviceToken);
    const start = await feed(undefined);
    assert.deepEqual(start.revocations, []);
    const directory = cachedDirectory(httpLookup(controlPlane.url, controlPlane.serviceToken), {
      revocations: feed,
      revocationsEveryMs: 100,
    });
    assert.equal((await directory.lookup(second.keyId))?.revoked, null);
    await revokeDevice(controlPlane.db, serials[1] ?? "", { reason: "stolen" }, "operator:test");
    const page = await feed(start.next);
    assert.deepEqual(
      page.revocations.map((r) => [r.keyId, r.reason]),
      [[second.keyId, "stolen"]],
    );
    await sleep(110);
    assert.equal((await directory.lookup(second.keyId))?.revoked?.reason, "stolen");
    await assert.rejects(
      httpRevocations(controlPlane.url, "wrong-token-wrong-token")(undefined),
      /the control plane answered 401 to a revocation feed read/,
    );
  });
});
