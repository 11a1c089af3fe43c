/**
 * MSISDNs: "+"-written international numbers with a real calling code, and
 * phone-shaped values under a phone key. Bare digit runs without a key are
 * never phone numbers.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { findIdentifiers } from "./index.ts";

const find = (text: string, key?: string) => findIdentifiers(text, { key });
const msisdns = (text: string, key?: string) => find(text, key).filter((match) => match.kind === "msisdn");

describe("MSISDN", () => {
  test("a + number in text: medium, with its country", () => {
    const [match] = msisdns("call +4791234567 today");
    assert.equal(match?.value, "+4791234567");
    assert.equal(match?.confidence, "medium");
    assert.equal(match?.country, "NO");
  });

  test("with separators, and under a phone key: high", () => {
    const [match] = msisdns("+47 912 34 567", "msisdn");
    assert.equal(match?.confidence, "high");
    assert.equal(match?.country, "NO");
    assert.equal(msisdns("+1 (416) 555-0123", "phone")[0]?.country, "CA");
  });

  test("NANP area codes and +7 are refined", () => {
    assert.equal(msisdns("+12025550123")[0]?.country, "US");
    assert.equal(msisdns("+18765550123")[0]?.country, "JM");
    assert.equal(msisdns("+79161234567")[0]?.country, "RU");
    assert.equal(msisdns("+77011234567")[0]?.country, "KZ");
    assert.equal(msisdns("+8613800138000")[0]?.country, "CN");
  });

  test("under a phone key: national format without country, 00 prefix with it", () => {
    for (const key of ["msisdn", "phone_number", "line1number", "tel", "mobile"]) {
      const [match] = msisdns("91234567", key);
      assert.equal(match?.confidence, "high", key);
      assert.equal(match?.country, undefined, key);
    }
    assert.equal(msisdns("004791234567", "msisdn")[0]?.country, "NO");
    assert.equal(msisdns("(650) 253-0000", "phone")[0]?.kind, "msisdn");
  });

  test('a key that is just "number" gives low confidence', () => {
    assert.equal(msisdns("91234567", "number")[0]?.confidence, "low");
  });

  test("bare digit runs without a key are not phone numbers", () => {
    for (const value of ["4791234567", "12025550123", "8613800138000", "1717171717"]) {
      assert.deepEqual(find(value), [], value);
    }
  });

  test("no real calling code, service codes and too few digits are rejected", () => {
    assert.deepEqual(msisdns("+2812345678"), []); // 28x is unassigned
    assert.deepEqual(msisdns("+80012345678"), []); // international freephone
    assert.deepEqual(msisdns("+4791234"), []);
    assert.deepEqual(msisdns("+0123456789"), []);
  });

  test("time zones, exponents and base64 are not phone numbers", () => {
    assert.deepEqual(find("2024-06-01T12:00:00+0200"), []);
    assert.deepEqual(find("1.5e+1234567890"), []);
    assert.deepEqual(msisdns("aGVsbG8+12345678901"), []);
  });

  test("the Android emulator's line number is a placeholder", () => {
    assert.deepEqual(msisdns("+15555215554", "line1number"), []);
    assert.deepEqual(msisdns("15555215554", "line1number"), []);
  });
});
