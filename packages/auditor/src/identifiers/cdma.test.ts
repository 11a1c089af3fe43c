/**
 * MEID and ESN: reported only under a key that names them (or "deviceid" for
 * a hex MEID), validated by range, never for bare hex of the same length.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { findIdentifiers } from "./index.ts";

const find = (text: string, key?: string) => findIdentifiers(text, { key });

describe("MEID", () => {
  test("14 hex digits with regional code A0–FF under a meid key", () => {
    const [match] = find("A10000009296F2", "meid");
    assert.equal(match?.kind, "meid");
    assert.equal(match?.confidence, "high");
    assert.match(match?.detail ?? "", /regional code A1/);
  });

  test("under deviceid (Android on CDMA) with medium confidence", () => {
    assert.equal(find("a10000009296f2", "deviceid")[0]?.confidence, "medium");
  });

  test("the 18-digit decimal form: manufacturer ≥ 2684354560 and a 24-bit serial", () => {
    // A10000009296F2 → 0xA1000000 = 2701131776, 0x9296F2 = 09606898.
    const [match] = find("270113177609606898", "meid");
    assert.equal(match?.kind, "meid");
    assert.deepEqual(find("123456789012345678", "meid"), []);
    assert.deepEqual(find("270113177699999999", "meid"), []);
  });

  test("regional code below A0 in hex is not a MEID", () => {
    assert.deepEqual(find("9F0000009296F2", "meid"), []);
  });

  test("not without a key: 14 hex characters are a hash fragment", () => {
    assert.deepEqual(find("A10000009296F2"), []);
    assert.deepEqual(find("A10000009296F2", "hash"), []);
  });
});

describe("ESN", () => {
  test("8 hex digits under an esn key", () => {
    const [match] = find("1f3c9a2b", "esn");
    assert.equal(match?.kind, "esn");
    assert.equal(match?.confidence, "high");
  });

  test("under a meid key too: CDMA software mixes the two up", () => {
    assert.equal(find("1f3c9a2b", "meid")[0]?.kind, "esn");
  });

  test("a pseudo-ESN (80…) is medium and says so", () => {
    const [match] = find("80a1b2c3", "esn");
    assert.equal(match?.confidence, "medium");
    assert.match(match?.detail ?? "", /pseudo-ESN/);
  });

  test("the 11-digit decimal form: 3-digit manufacturer ≤ 255, 8-digit serial ≤ 16777215", () => {
    assert.equal(find("03112345678", "esn")[0]?.kind, "esn");
    assert.deepEqual(find("31112345678", "esn"), []);
  });

  test("not without a key, nor for placeholders", () => {
    assert.deepEqual(find("1f3c9a2b"), []);
    assert.deepEqual(find("1f3c9a2b", "etag"), []);
    assert.deepEqual(find("00000000", "esn"), []);
    assert.deepEqual(find("ffffffff", "esn"), []);
  });
});
