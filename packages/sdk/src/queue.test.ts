import assert from "node:assert/strict";
import { readdir, readFile, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import type { Envelope } from "./envelope.ts";
import { isSdkError } from "./errors.ts";
import { DiskQueue } from "./queue.ts";
import { tempDir } from "../test/helpers.ts";

// The queue never looks inside a seal, so any well-formed envelope will do.
function envelope(eventId: string, collection = "activation", ct = "Y2lwaGVy"): Envelope {
  return {
    v: 1,
    collection,
    schemaVersion: 1,
    eventId,
    device: "dk_test",
    region: "global",
    kid: "rk_test",
    build: "00WW_3_39B_SP03",
    sentAt: "2026-03-01T08:00:00.000Z",
    enc: "ZW5j",
    ct,
    sig: "c2ln",
  };
}

describe("on-disk queue", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    const t = await tempDir();
    dir = join(t.dir, "queue");
    cleanup = t.cleanup;
  });
  afterEach(() => cleanup());

  it("keeps order, and a new object on the same directory (a restart) sees the same messages", async () => {
    const q = new DiskQueue({ dir });
    for (let i = 1; i <= 12; i++) await q.enqueue("/v1/activations", envelope(`e${i}`));
    const restarted = new DiskQueue({ dir });
    const ids = (await restarted.list()).map((m) => m.envelope.eventId);
    assert.deepEqual(
      ids,
      Array.from({ length: 12 }, (_, i) => `e${i + 1}`),
    );
    assert.equal((await restarted.list())[0]?.path, "/v1/activations");
    // Removing the head keeps the rest in order, and new messages go after the tail.
    const head = (await restarted.list())[0];
    assert.ok(head);
    assert.equal(await restarted.remove(head.id), true);
    assert.equal(await restarted.remove(head.id), false);
    await restarted.enqueue("/v1/activations", envelope("e13"));
    assert.deepEqual(
      (await new DiskQueue({ dir }).list()).map((m) => m.envelope.eventId),
      Array.from({ length: 12 }, (_, i) => `e${i + 2}`),
    );
  });

  it("stores the exact envelope, so a retry resends the same bytes", async () => {
    const q = new DiskQueue({ dir });
    const env = envelope("same");
    await q.enqueue("/v1/activations", env);
    const [m] = await new DiskQueue({ dir }).list();
    assert.deepEqual(m?.envelope, env);
  });

  it("refuses a message that may not be dropped when maxMessages is reached, changing nothing", async () => {
    const q = new DiskQueue({ dir, maxMessages: 2 });
    await q.enqueue("/v1/activations", envelope("a"));
    await q.enqueue("/v1/activations", envelope("b"));
    const before = await readdir(dir);
    await assert.rejects(
      q.enqueue("/v1/activations", envelope("c")),
      (e) => isSdkError(e, "sdk.queue_full") && e.eventId === "c",
    );
    assert.deepEqual(await readdir(dir), before);
    assert.deepEqual((await q.stats()).messages, 2);
  });

  it("evicts the oldest droppable messages to make room, never a kept one", async () => {
    const q = new DiskQueue({ dir, maxMessages: 3 });
    await q.enqueue("/v1/diagnostics", envelope("d1", "uep.diagnostics"), { droppable: true });
    await q.enqueue("/v1/activations", envelope("act"));
    await q.enqueue("/v1/diagnostics", envelope("d2", "uep.diagnostics"), { droppable: true });
    const r1 = await q.enqueue("/v1/diagnostics", envelope("d3", "uep.diagnostics"), { droppable: true });
    assert.deepEqual(
      r1.evicted.map((m) => m.envelope.eventId),
      ["d1"],
    );
    // A kept message may also push out droppable ones.
    const r2 = await q.enqueue("/v1/activations", envelope("act2"));
    assert.deepEqual(
      r2.evicted.map((m) => m.envelope.eventId),
      ["d2"],
    );
    assert.deepEqual(
      (await q.list()).map((m) => m.envelope.eventId),
      ["act", "d3", "act2"],
    );
    await q.enqueue("/v1/activations", envelope("act3"));
    assert.deepEqual(
      (await q.list()).map((m) => m.envelope.eventId),
      ["act", "act2", "act3"],
    );
    // Now only kept messages remain: even a droppable one is refused.
    await assert.rejects(
      q.enqueue("/v1/diagnostics", envelope("d4", "uep.diagnostics"), { droppable: true }),
      (e) => isSdkError(e, "sdk.queue_full"),
    );
  });

  it("keeps a message's encrypted contents beside it, and spares the message a split is made from", async () => {
    const q = new DiskQueue({ dir, maxMessages: 2 });
    const contents = { iv: "aXY", ct: "Y3Q", tag: "dGFn" };
    const { message: batch } = await q.enqueue("/v1/diagnostics", envelope("b1", "uep.diagnostics"), {
      droppable: true,
      events: 4,
      contents,
    });
    await q.enqueue("/v1/diagnostics", envelope("b2", "uep.diagnostics"), { droppable: true });
    assert.deepEqual((await new DiskQueue({ dir }).list())[0]?.contents, contents);
    assert.equal((await q.list())[1]?.contents, undefined);
    // Full: the next message evicts the oldest droppable one, but not the one it spares.
    const { evicted } = await q.enqueue("/v1/diagnostics", envelope("p1", "uep.diagnostics"), {
      droppable: true,
      spare: batch.id,
    });
    assert.deepEqual(
      evicted.map((m) => m.envelope.eventId),
      ["b2"],
    );
    assert.deepEqual(
      (await q.list()).map((m) => m.envelope.eventId),
      ["b1", "p1"],
    );
  });

  it("bounds the bytes on disk", async () => {
    const big = "A".repeat(2000);
    const probe = new DiskQueue({ dir });
    const { message } = await probe.enqueue("/v1/activations", envelope("size", "activation", big));
    assert.ok(message.bytes > 2000);
    await probe.remove(message.id);
    const q = new DiskQueue({ dir, maxBytes: message.bytes * 2 + 10 });
    await q.enqueue("/v1/activations", envelope("x1", "activation", big));
    await q.enqueue("/v1/activations", envelope("x2", "activation", big));
    await assert.rejects(q.enqueue("/v1/activations", envelope("x3", "activation", big)), (e) =>
      isSdkError(e, "sdk.queue_full"),
    );
    const stats = await q.stats();
    assert.equal(stats.messages, 2);
    assert.ok(stats.bytes <= q.maxBytes);
    // A single message larger than the whole bound can never fit.
    const tiny = new DiskQueue({ dir: join(dir, "tiny"), maxBytes: 100 });
    await assert.rejects(tiny.enqueue("/v1/activations", envelope("huge", "activation", big)), (e) =>
      isSdkError(e, "sdk.queue_full"),
    );
  });

  it("ignores a half-written temp file left by a crash, and later removes it", async () => {
    const q = new DiskQueue({ dir });
    await q.enqueue("/v1/activations", envelope("whole"));
    // What a crash between write and rename leaves: a truncated temp file.
    const torn = join(dir, ".tmp-000000000002-k.json.abcdef");
    await writeFile(torn, '{"format":1,"path":"/v1/activ');
    const restarted = new DiskQueue({ dir });
    assert.deepEqual(
      (await restarted.list()).map((m) => m.envelope.eventId),
      ["whole"],
    );
    assert.equal((await restarted.stats()).messages, 1);
    const old = new Date(Date.now() - 3_600_000);
    await utimes(torn, old, old);
    await restarted.enqueue("/v1/activations", envelope("next"));
    assert.equal(
      (await readdir(dir)).some((f) => f.startsWith(".tmp-")),
      false,
    );
    assert.deepEqual(
      (await restarted.list()).map((m) => m.envelope.eventId),
      ["whole", "next"],
    );
  });

  it("leaves no temp file behind and writes messages with mode 0600", async () => {
    const q = new DiskQueue({ dir });
    await q.enqueue("/v1/activations", envelope("m"));
    const files = await readdir(dir);
    assert.deepEqual(files, ["000000000001-k.json"]);
    assert.equal((await stat(join(dir, "000000000001-k.json"))).mode & 0o777, 0o600);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    const text = await readFile(join(dir, "000000000001-k.json"), "utf8");
    assert.equal(JSON.parse(text).envelope.eventId, "m");
  });

  it("quarantines a corrupt message file instead of blocking the queue", async () => {
    const corrupt: string[] = [];
    const q = new DiskQueue({ dir, onCorrupt: (file) => corrupt.push(file) });
    await q.enqueue("/v1/activations", envelope("a"));
    await writeFile(join(dir, "000000000002-k.json"), "not json");
    await q.enqueue("/v1/activations", envelope("c"));
    assert.deepEqual(
      (await q.list()).map((m) => m.envelope.eventId),
      ["a", "c"],
    );
    assert.deepEqual(corrupt, ["000000000002-k.json"]);
    assert.ok((await readdir(dir)).includes("000000000002-k.json.corrupt"));
  });

  it("takes only collector paths as targets, never a URL", async () => {
    const q = new DiskQueue({ dir });
    for (const path of [
      "https://evil.example/v1/activations",
      "//evil.example/v1/x",
      "/v1/../admin",
      "v1/activations",
      "/v2/x",
    ]) {
      await assert.rejects(q.enqueue(path, envelope("p")), (e) => isSdkError(e, "sdk.queue_invalid"), path);
    }
    assert.equal((await q.stats()).messages, 0);
  });

  it("serialises concurrent enqueues without losing or reordering any", async () => {
    const q = new DiskQueue({ dir });
    await Promise.all(Array.from({ length: 20 }, (_, i) => q.enqueue("/v1/activations", envelope(`c${i}`))));
    assert.deepEqual(
      (await q.list()).map((m) => m.envelope.eventId),
      Array.from({ length: 20 }, (_, i) => `c${i}`),
    );
  });

  it("rejects nonsensical bounds", () => {
    assert.throws(
      () => new DiskQueue({ dir, maxMessages: 0 }),
      (e) => isSdkError(e, "sdk.options_invalid"),
    );
    assert.throws(
      () => new DiskQueue({ dir, maxBytes: 1.5 }),
      (e) => isSdkError(e, "sdk.options_invalid"),
    );
  });
});
