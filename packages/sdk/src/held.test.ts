import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import type { DiagnosticsEvent } from "./diagnostics.ts";
import { isSdkError } from "./errors.ts";
import { HeldEvents } from "./held.ts";
import { generateDeviceKeys } from "./identity.ts";
import { tempDir } from "../test/helpers.ts";

function event(n: number): DiagnosticsEvent {
  return {
    id: randomUUID(),
    at: new Date(Date.UTC(2026, 2, 1, 8, n)).toISOString(),
    data: {
      build: "00WW_3_39B_SP03",
      batteryHealthPercent: 97,
      batteryCycles: 123,
      crashCount: n,
      anrCount: 0,
      thermalEvents: 1,
    },
  };
}

describe("held diagnostics events", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const { privateKey } = generateDeviceKeys();
  beforeEach(async () => {
    const t = await tempDir();
    dir = join(t.dir, "held");
    cleanup = t.cleanup;
  });
  afterEach(() => cleanup());

  it("keeps order across a restart and encrypts every file (mode 0600, directory 0700)", async () => {
    const held = new HeldEvents({ dir, devicePrivateKey: privateKey });
    const events = [event(0), event(1), event(2)];
    for (const e of events) await held.add(e);
    const restarted = new HeldEvents({ dir, devicePrivateKey: privateKey });
    assert.deepEqual(
      (await restarted.oldest(10)).map((h) => h.event),
      events,
    );
    assert.deepEqual(
      (await restarted.oldest(2)).map((h) => h.event.id),
      [events[0]?.id, events[1]?.id],
    );
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    for (const f of await readdir(dir)) {
      assert.equal((await stat(join(dir, f))).mode & 0o777, 0o600);
      const text = await readFile(join(dir, f), "utf8");
      for (const clear of ["00WW_3_39B_SP03", "2026-03-01", events[0]?.id ?? "", "crashCount"]) {
        assert.equal(text.includes(clear), false, clear);
      }
    }
  });

  it("drops the oldest events when the count bound is reached and says how many", async () => {
    const held = new HeldEvents({ dir, devicePrivateKey: privateKey, maxEvents: 2 });
    assert.equal((await held.add(event(0))).dropped.events, 0);
    assert.equal((await held.add(event(1))).dropped.events, 0);
    const third = await held.add(event(2));
    assert.equal(third.dropped.events, 1);
    assert.ok(third.dropped.bytes > 0);
    assert.deepEqual(
      (await held.oldest(10)).map((h) => h.event.data.crashCount),
      [1, 2],
    );
  });

  it("removes by id and clears, counting what it cleared", async () => {
    const held = new HeldEvents({ dir, devicePrivateKey: privateKey });
    for (let i = 0; i < 4; i++) await held.add(event(i));
    const [first] = await held.oldest(1);
    assert.ok(first);
    await held.remove([first.id]);
    assert.equal((await held.stats()).events, 3);
    const cleared = await held.clear();
    assert.equal(cleared.events, 3);
    assert.deepEqual(await held.stats(), { events: 0, bytes: 0 });
  });

  it("quarantines a file that was tampered with, or written under another device key", async () => {
    const corrupt: string[] = [];
    const held = new HeldEvents({ dir, devicePrivateKey: privateKey, onCorrupt: (f) => corrupt.push(f) });
    await held.add(event(0));
    await held.add(event(1));
    await held.add(event(2));
    const [a, b] = (await readdir(dir)).sort();
    assert.ok(a && b);
    const record = JSON.parse(await readFile(join(dir, a), "utf8"));
    record.ct = `${record.ct.startsWith("A") ? "B" : "A"}${record.ct.slice(1)}`;
    await writeFile(join(dir, a), JSON.stringify(record));
    const other = new HeldEvents({
      dir: join(dir, "..", "other"),
      devicePrivateKey: generateDeviceKeys().privateKey,
    });
    await other.add(event(9));
    const [foreign] = await readdir(join(dir, "..", "other"));
    await writeFile(join(dir, b), await readFile(join(dir, "..", "other", foreign ?? ""), "utf8"));

    assert.deepEqual(
      (await held.oldest(10)).map((h) => h.event.data.crashCount),
      [2],
    );
    assert.deepEqual(corrupt.sort(), [a, b]);
    assert.ok((await readdir(dir)).includes(`${a}.corrupt`));
  });

  it("rejects nonsensical bounds", () => {
    for (const bounds of [{ maxEvents: 0 }, { maxEvents: 1.5 }, { maxBytes: 4095 }]) {
      assert.throws(
        () => new HeldEvents({ dir, devicePrivateKey: privateKey, ...bounds }),
        (e) => isSdkError(e, "sdk.options_invalid"),
      );
    }
  });
});
