/**
 * The supporting pieces: Luhn, the calling-code table (prefix-free, as E.164
 * guarantees), the MCC data from mcc-mnc-list, and key classification.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { keyContext } from "./context.ts";
import { CALLING_CODES, callingCode, phoneCallingCode } from "./country-codes.ts";
import { luhnCheckDigit, luhnValid } from "./luhn.ts";
import { homeNetwork, isKnownMcc } from "./mcc.ts";

describe("Luhn", () => {
  test("known IMEIs and card-test numbers", () => {
    assert.ok(luhnValid("490154203237518"));
    assert.ok(luhnValid("356938035643809"));
    assert.ok(luhnValid("79927398713"));
    assert.ok(!luhnValid("79927398710"));
    assert.equal(luhnCheckDigit("7992739871"), "3");
  });
});

describe("calling codes", () => {
  test("the table is prefix-free", () => {
    const codes = Object.keys(CALLING_CODES);
    for (const a of codes) for (const b of codes) if (a !== b) assert.ok(!b.startsWith(a), `${a} / ${b}`);
  });

  test("lookups", () => {
    assert.deepEqual(callingCode("4791234567"), { code: "47", country: "NO" });
    assert.deepEqual(callingCode("8821234567"), { code: "882" });
    assert.equal(callingCode("2812345"), null);
    assert.equal(phoneCallingCode("14165550123")?.country, "CA");
  });
});

describe("MCC data", () => {
  test("real and bogus MCCs", () => {
    assert.ok(isKnownMcc("460"));
    assert.ok(isKnownMcc("242"));
    assert.ok(!isKnownMcc("123"));
    assert.ok(!isKnownMcc("100"));
  });

  test("networks and countries", () => {
    assert.equal(homeNetwork("46000")?.country, "CN");
    assert.equal(homeNetwork("46000")?.mnc, "00");
    assert.equal(homeNetwork("310410")?.mnc, "410");
    assert.equal(homeNetwork("310410")?.country, "US");
    assert.equal(homeNetwork("50501")?.country, "AU");
    assert.equal(homeNetwork("12300"), null);
  });
});

describe("key context", () => {
  test("short words must be whole words", () => {
    assert.ok(keyContext("tel").phone);
    assert.ok(!keyContext("telemetry").phone);
    assert.ok(keyContext("gps_lat").gps === "lat");
    assert.ok(keyContext("latency").gps === null);
    assert.ok(keyContext("sn").serialWeak);
    assert.ok(!keyContext("threadid").advertising);
    assert.ok(!keyContext("hmac").mac);
  });

  test("no key is no context", () => {
    assert.equal(keyContext(undefined).any, false);
    assert.equal(keyContext("").any, false);
    assert.equal(keyContext("imei").any, true);
  });
});
