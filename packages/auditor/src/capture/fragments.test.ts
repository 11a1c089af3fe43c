/**
 * FragmentReassembler on its own: duplicates ignored, fragments per datagram
 * bounded, the datagram put together once, when its last byte is in.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { FragmentReassembler } from "./fragments.ts";

const payload = Buffer.from(Array.from({ length: 64 }, (_, i) => i));

test("exact duplicates are ignored; the datagram comes back once, when the last byte is in", () => {
  const fragments = new FragmentReassembler();
  for (let i = 0; i < 20_000; i++) {
    assert.equal(fragments.add("d", 0, true, payload.subarray(0, 16), i), undefined);
  }
  assert.equal(fragments.add("d", 48, false, payload.subarray(48), 1), undefined); // the last, with a hole
  assert.equal(fragments.add("d", 32, true, payload.subarray(32, 48), 1), undefined);
  assert.equal(fragments.add("d", 48, false, payload.subarray(48), 1), undefined); // a duplicate of the last
  const whole = fragments.add("d", 16, true, payload.subarray(16, 32), 2);
  assert.deepEqual(whole, payload);
  assert.equal(fragments.add("d", 16, true, payload.subarray(16, 32), 2), undefined); // starts a new datagram
  assert.equal(fragments.dropped, 0);
});

test("overlapping fragments keep the bytes of the one that starts earlier, once all are in", () => {
  const fragments = new FragmentReassembler();
  assert.equal(fragments.add("o", 8, false, Buffer.alloc(24, "b"), 0), undefined);
  assert.equal(fragments.add("o", 16, true, Buffer.alloc(8, "c"), 0), undefined);
  assert.deepEqual(
    fragments.add("o", 0, true, Buffer.alloc(16, "a"), 0),
    Buffer.from("a".repeat(16) + "b".repeat(16)),
  );
});

test("beyond 8192 fragments a datagram takes no more: the rest are counted as dropped", () => {
  const fragments = new FragmentReassembler();
  // Distinct, overlapping fragments that never reach offset 0, so the datagram never completes.
  for (let i = 0; i < 9000; i++) {
    assert.equal(
      fragments.add("m", 8 + (i % 4000) * 8, true, Buffer.alloc(8 + Math.floor(i / 4000) * 8), 0),
      undefined,
    );
  }
  assert.equal(fragments.dropped, 9000 - 8192);
  assert.equal(fragments.add("m", 0, false, Buffer.alloc(8), 0), undefined); // no room left for it either
  assert.equal(fragments.dropped, 9001 - 8192);
});
