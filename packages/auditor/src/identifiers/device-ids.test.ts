/**
 * Android ID, advertising IDs and serial numbers: found under the keys that
 * name them, never as bare hex or UUIDs, placeholders skipped.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { findIdentifiers } from "./index.ts";

const find = (text: string, key?: string) => findIdentifiers(text, { key });

describe("Android ID", () => {
  test("16 hex under android_id or ssaid: high", () => {
    for (const key of ["android_id", "androidid", "ssaid"]) {
      const [match] = find("5f2b8c1d9e0a7b34", key);
      assert.equal(match?.kind, "android-id", key);
      assert.equal(match?.confidence, "high", key);
    }
  });

  test("16 hex under deviceid: medium", () => {
    assert.equal(find("5f2b8c1d9e0a7b34", "deviceid")[0]?.confidence, "medium");
  });

  test("the shared Android 2.2 ID is low; all-zero is skipped", () => {
    assert.equal(find("9774d56d682e549c", "android_id")[0]?.confidence, "low");
    assert.deepEqual(find("0000000000000000", "android_id"), []);
  });

  test("16 hex without a key is a hash fragment", () => {
    assert.deepEqual(find("5f2b8c1d9e0a7b34"), []);
    assert.deepEqual(find("5f2b8c1d9e0a7b34", "trace_id"), []);
  });
});

describe("advertising ID", () => {
  const gaid = "38400000-8cf0-11bd-b23e-10b96e4ef00d";

  test("a UUID under an advertising key: high", () => {
    for (const key of ["gaid", "adid", "aaid", "advertising_id", "idfa", "oaid", "ifa"]) {
      const [match] = find(gaid, key);
      assert.equal(match?.kind, "advertising-id", key);
      assert.equal(match?.confidence, "high", key);
    }
  });

  test("32 hex without dashes under an advertising key: medium", () => {
    assert.equal(find(gaid.replace(/-/g, ""), "idfa")[0]?.confidence, "medium");
  });

  test("the all-zero UUID (limit ad tracking) is ignored", () => {
    assert.deepEqual(find("00000000-0000-0000-0000-000000000000", "idfa"), []);
  });

  test("UUIDs without an advertising key are not reported", () => {
    assert.deepEqual(find(gaid), []);
    assert.deepEqual(find(gaid, "request_id"), []);
    assert.deepEqual(find(gaid, "threadid"), []);
    assert.deepEqual(find(`session ${gaid} started`), []);
  });
});

describe("serial number", () => {
  test("6–20 letters and digits under a serial key", () => {
    for (const key of ["serial", "serialno", "ro.serialno", "serial_number"]) {
      const [match] = find("PH1234567", key);
      assert.equal(match?.kind, "serial", key);
      assert.equal(match?.confidence, "high", key);
    }
    assert.equal(find("R58M12ABCDE", "sn")[0]?.confidence, "medium");
  });

  test("too short, too long, no digit, punctuation and placeholders are not serials", () => {
    assert.deepEqual(find("PH123", "serial"), []);
    assert.deepEqual(find("PH12345678901234567890", "serial"), []);
    assert.deepEqual(find("unknown", "serial"), []);
    assert.deepEqual(find("ABCDEFGH", "serial"), []);
    assert.deepEqual(find("PH-1234", "serial"), []);
    assert.deepEqual(find("0123456789ABCDEF", "ro.serialno"), []);
    assert.deepEqual(find("00000000", "serial"), []);
  });

  test("not without a serial key", () => {
    assert.deepEqual(find("PH1234567"), []);
    assert.deepEqual(find("PH1234567", "model"), []);
  });

  test("an ICCID under simserial is an ICCID, not also a serial", () => {
    const found = find("89470800000000000000", "simserial");
    assert.deepEqual(
      found.map((match) => match.kind),
      ["iccid"],
    );
  });
});
