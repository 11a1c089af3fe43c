/**
 * Values that look like identifiers and are not: timestamps, counters and
 * order ids, versions, UUIDs and hex hashes without a telling key, and the
 * placeholders devices send when an identifier is withheld. None may be
 * reported with more than low confidence; most not at all.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { findIdentifiers } from "./index.ts";

const find = (text: string, key?: string) => findIdentifiers(text, { key });
const confident = (text: string, key?: string) =>
  find(text, key).filter((match) => match.confidence !== "low");

describe("look-alikes", () => {
  test("unix timestamps in ms (13 digits) and s (10 digits), µs and ns", () => {
    for (const value of ["1717171717171", "1717171717", "1717171717171717", "1717171717171717171"]) {
      assert.deepEqual(find(value), [], value);
      assert.deepEqual(find(value, "timestamp"), [], value);
      assert.deepEqual(find(`{"ts":${value},"n":1}`), [], value);
    }
  });

  test("15- and 16-digit counters and order ids", () => {
    for (const value of [
      "202406010000123",
      "100000000000017",
      "123456789012345",
      "2024060100001234",
      "4111111111111111",
      "000000000000001",
    ]) {
      assert.deepEqual(confident(value), [], value);
      assert.deepEqual(confident(value, "order_id"), [], value);
    }
  });

  test("every Luhn-invalid 15-digit run is rejected without a key", () => {
    let reportedAsImei = 0;
    for (let n = 0; n < 2000; n++) {
      const value = String(356938035640000 + n * 7);
      const matches = find(value);
      if (matches.some((match) => match.kind === "imei")) reportedAsImei++;
    }
    // Only Luhn-valid ones can be IMEIs: one in ten.
    assert.ok(reportedAsImei > 150 && reportedAsImei < 250, String(reportedAsImei));
  });

  test("phone-number-like counters without a key", () => {
    for (const value of ["4791234567", "12025550123", "447700900123", "8613800138000"]) {
      assert.deepEqual(find(value), [], value);
      assert.deepEqual(find(`count=${value}`), [], value);
    }
  });

  test("version strings", () => {
    for (const value of ["1.2.3.4", "v1.2.3.4", "2.0.1.5", "10.0.19041.1", "14.4.1.1000"]) {
      assert.deepEqual(find(value), [], value);
      assert.deepEqual(find(value, "version"), [], value);
    }
  });

  test("UUIDs without a key context", () => {
    for (const key of [undefined, "id", "request_id", "session", "deviceid"]) {
      assert.deepEqual(find("550e8400-e29b-41d4-a716-446655440000", key), [], key);
    }
  });

  test("16-hex hashes and longer digests without a key context", () => {
    assert.deepEqual(find("9f86d081884c7d65"), []);
    assert.deepEqual(find("9f86d081884c7d65", "hash"), []);
    assert.deepEqual(find("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"), []);
    assert.deepEqual(
      find("e3b0c442490154203237518fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
      [],
    );
  });

  test("placeholders", () => {
    assert.deepEqual(find("000000000000000", "imei"), []);
    assert.deepEqual(find("02:00:00:00:00:00", "wifi_mac"), []);
    assert.deepEqual(find("00000000-0000-0000-0000-000000000000", "gaid"), []);
    assert.deepEqual(find("unknown", "serial"), []);
    assert.deepEqual(find("0.0", "latitude"), []);
    assert.deepEqual(find("2147483647", "cellid"), []);
  });

  test("ordinary text and short values cost nothing and find nothing", () => {
    for (const value of ["", "a", "true", "Hello, world", "en-US", "200", "application/json"]) {
      assert.deepEqual(find(value), [], value);
    }
  });
});
