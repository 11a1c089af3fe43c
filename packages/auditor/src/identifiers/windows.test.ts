/**
 * Long texts: findIdentifiers scans texts over 1 MiB in overlapping windows,
 * so that 40 MB of one character class cannot overflow V8's regex stack, an
 * identifier across a cut is found once, and a fragment cut out of a longer
 * run at a window's edge is not taken for an identifier.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SCAN_OVERLAP, SCAN_WINDOW, scanWindows } from "./find.ts";
import { findIdentifiers, knownIdentifiers } from "./index.ts";

const IMEI = "490154203237518";

/** `filler` repeated to `length` characters, with `inset` written over it at `at`. */
function textWith(length: number, inset: string, at: number, filler = "ab "): string {
  const base = filler.repeat(Math.ceil(length / filler.length)).slice(0, length);
  return `${base.slice(0, at)} ${inset} ${base.slice(at + inset.length + 2)}`;
}

describe("findIdentifiers on long texts", () => {
  test("40 MB of one character class does not throw", () => {
    for (const text of ["A".repeat(40e6), "0".repeat(40e6)]) {
      for (const key of [undefined, "imei", "meid", "mac", "latlng", "ip"]) {
        assert.deepEqual(findIdentifiers(text, { key }), [], `key ${key}`);
      }
      assert.deepEqual(knownIdentifiers([{ kind: "imei", value: IMEI }]).find(text), []);
    }
  });

  test("windows of 1 MiB share 128 characters and cover the text", () => {
    const text = "x".repeat(SCAN_WINDOW * 2 + 5);
    const windows = [...scanWindows(text)];
    assert.deepEqual(
      windows.map((w) => [w.text.length, w.cutBefore, w.cutAfter]),
      [
        [SCAN_WINDOW, false, true],
        [SCAN_WINDOW, true, true],
        [2 * SCAN_OVERLAP + 5, true, false],
      ],
    );
  });

  test("an identifier across a window cut is found, once", () => {
    for (const offset of [-20, -8, -2, 0, 3]) {
      const text = textWith(3 * SCAN_WINDOW, IMEI, SCAN_WINDOW + offset);
      const found = findIdentifiers(text, {});
      assert.deepEqual(
        found.map((m) => [m.kind, m.value]),
        [["imei", IMEI]],
        `offset ${offset}`,
      );
    }
    const both = `${IMEI} ${"ab ".repeat(SCAN_WINDOW)} ${IMEI} user@mail.co`;
    assert.deepEqual(
      findIdentifiers(both, {}).map((m) => m.value),
      [IMEI, "user@mail.co"],
    );
  });

  test("a fragment of a longer run at a window's edge is not an identifier", () => {
    // 40 digits: no identifier, but the 15 digits before (or after) a cut are a valid IMEI.
    const endsAtCut = `${IMEI}${"1234567890".repeat(2)}12345`;
    const text1 = textWith(2 * SCAN_WINDOW, endsAtCut, SCAN_WINDOW - IMEI.length - 1);
    assert.equal(text1.slice(SCAN_WINDOW - IMEI.length, SCAN_WINDOW), IMEI);
    assert.deepEqual(findIdentifiers(text1, {}), []);
    const startsAtCut = `${"1234567890".repeat(2)}12345${IMEI}`;
    const secondStart = SCAN_WINDOW - SCAN_OVERLAP;
    const text2 = textWith(2 * SCAN_WINDOW, startsAtCut, secondStart - 25 - 1);
    assert.equal(text2.slice(secondStart, secondStart + IMEI.length), IMEI);
    assert.deepEqual(findIdentifiers(text2, {}), []);
    // The same IMEI standing alone elsewhere in the text is still found.
    const text3 = `${IMEI} ${text1}`;
    assert.deepEqual(
      findIdentifiers(text3, {}).map((m) => m.value),
      [IMEI],
    );
  });
});
