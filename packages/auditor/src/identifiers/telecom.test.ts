/**
 * IMEI, IMEISV, IMSI and ICCID through findIdentifiers: valid values found
 * with the right kind, country and confidence; a wrong check digit, a bogus
 * MCC or calling code, counters and placeholders not reported (or only with
 * low confidence when there is no key to go by).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { findIdentifiers } from "./index.ts";
import { luhnCheckDigit, withLuhn } from "./luhn.ts";

const find = (text: string, key?: string) => findIdentifiers(text, { key });
const kinds = (text: string, key?: string) => find(text, key).map((match) => match.kind);

/** A wrong check digit for the same body. */
const breakLuhn = (valid: string) => valid.slice(0, -1) + String((Number(valid.slice(-1)) + 1) % 10);

describe("IMEI", () => {
  const imei = withLuhn("49015420323751"); // 490154203237518

  test("the check digit is computed as the standard says", () => {
    assert.equal(imei, "490154203237518");
    assert.equal(luhnCheckDigit("35693803564380"), "9");
  });

  test("a Luhn-valid IMEI under an imei key is high confidence", () => {
    const [match] = find(imei, "imei");
    assert.equal(match?.kind, "imei");
    assert.equal(match?.value, imei);
    assert.equal(match?.confidence, "high");
    assert.match(match?.detail ?? "", /Luhn valid/);
  });

  test("deviceid, device_id and meid keys raise confidence too", () => {
    for (const key of ["deviceid", "device_id", "meid"])
      assert.equal(find(imei, key)[0]?.confidence, "high", key);
  });

  test("without a key, a Luhn-valid IMEI with a real reporting body is medium", () => {
    const [match] = find(`{"d":"${withLuhn("35693803564380")}"}`);
    assert.equal(match?.kind, "imei");
    assert.equal(match?.confidence, "medium");
  });

  test("found inside text, with digit boundaries", () => {
    assert.deepEqual(kinds(`imei=${imei}&x=1`), ["imei"]);
    assert.deepEqual(kinds(`device ${imei}, model X`), ["imei"]);
  });

  test("a wrong check digit is not an IMEI, or only low confidence under an imei key", () => {
    const wrong = breakLuhn(imei);
    assert.ok(!kinds(wrong).includes("imei"));
    assert.deepEqual(find(wrong, "deviceid"), []);
    const [match] = find(wrong, "imei");
    assert.equal(match?.confidence, "low");
  });

  test("a 15-digit run inside a longer run, a hash or a fraction is not an IMEI", () => {
    assert.deepEqual(find(`12${imei}`), []);
    assert.deepEqual(find(`${imei}9`), []);
    assert.deepEqual(find(`ab${imei}cd`), []);
    assert.deepEqual(find(`0.${imei}3`), []);
    assert.deepEqual(
      find(`+${imei}`).filter((match) => match.kind === "imei"),
      [],
    );
  });

  test("all-same, sequential and counter-like values are not IMEIs", () => {
    for (const value of [
      "000000000000000",
      "111111111111111",
      withLuhn("12345678901234"),
      withLuhn("10000000000001"),
    ]) {
      assert.deepEqual(find(value), [], value);
    }
    assert.deepEqual(find("000000000000000", "imei"), []);
  });

  test("the Android emulator's IMEI is a placeholder", () => {
    assert.deepEqual(find("358240051111110", "imei"), []);
  });

  test("14 digits under an imei key: an IMEI without its check digit", () => {
    const [match] = find("49015420323751", "imei");
    assert.equal(match?.kind, "imei");
    assert.equal(match?.confidence, "medium");
    assert.deepEqual(find("49015420323751"), []);
  });
});

describe("IMEISV", () => {
  const imeisv = "3569380356438001"; // TAC 35693803, serial 564380, SVN 01

  test("16 digits under an imeisv or sv key", () => {
    for (const key of ["imeisv", "imei_sv", "sv"]) {
      const [match] = find(imeisv, key);
      assert.equal(match?.kind, "imeisv", key);
      assert.equal(match?.confidence, "high", key);
      // The detail names no digits: the SVN is beyond what the evidence (the TAC) shows.
      assert.equal(match?.detail, "16 digits: TAC, serial, software version");
    }
  });

  test("under a device-id key only with a real reporting body", () => {
    assert.equal(find(imeisv, "deviceid")[0]?.kind, "imeisv");
    assert.notEqual(find("2024060112345678", "deviceid")[0]?.kind, "imeisv");
  });

  test("never without a key: 16 digits are microsecond timestamps and card-like ids", () => {
    assert.deepEqual(find(imeisv), []);
    assert.deepEqual(find("1717171717171717"), []);
    assert.deepEqual(find("1717171717171717", "ts"), []);
  });
});

describe("IMSI", () => {
  test("China Mobile under an imsi key: high, country CN", () => {
    const [match] = find("460001234567890", "imsi");
    assert.equal(match?.kind, "imsi");
    assert.equal(match?.confidence, "high");
    assert.equal(match?.country, "CN");
    assert.match(match?.detail ?? "", /MCC 460/);
  });

  test("Telenor Norway and T-Mobile US give their countries", () => {
    assert.equal(find("242011234567890", "imsi")[0]?.country, "NO");
    assert.equal(find("310260123456789", "sim_imsi")[0]?.country, "US");
    assert.equal(find("310260123456789", "subscriberid")[0]?.kind, "imsi");
  });

  test("14-digit IMSIs are accepted under an imsi key", () => {
    assert.equal(find("24201123456789", "imsi")[0]?.kind, "imsi");
  });

  test("a real MCC with an unknown MNC is medium", () => {
    const [match] = find("202991234567890", "imsi");
    assert.equal(match?.confidence, "medium");
    assert.equal(match?.country, "GR");
  });

  test("a bogus MCC is never an IMSI", () => {
    assert.deepEqual(find("123451234567890", "imsi"), []);
    assert.deepEqual(find("100991234567890", "imsi"), []);
  });

  test("test networks (MCC 001) are IMSIs without a country", () => {
    const [match] = find("001010123456789", "imsi");
    assert.equal(match?.kind, "imsi");
    assert.equal(match?.country, undefined);
    assert.equal(match?.confidence, "medium");
  });

  test("without a key: only a known network, low confidence", () => {
    const [match] = find("242011234567891");
    assert.equal(match?.kind, "imsi");
    assert.equal(match?.confidence, "low");
    assert.deepEqual(find("202991234567891"), []);
  });

  test("Luhn-valid and MCC-plausible: the key decides, IMEI without one", () => {
    const both = "460001234567890"; // Luhn valid and China Mobile
    assert.equal(find(both, "imsi")[0]?.kind, "imsi");
    assert.match(find(both, "imsi")[0]?.detail ?? "", /Luhn/);
    assert.equal(find(both, "imei")[0]?.kind, "imei");
    const noted = withLuhn("35002112345678"); // RBI 35, and MCC 350 (Bermuda) MNC 02 a known network
    const [match] = find(noted);
    assert.equal(match?.kind, "imei");
    assert.match(match?.detail ?? "", /also shaped like an IMSI/);
  });

  test("the emulator's IMSI is a placeholder", () => {
    assert.deepEqual(find("310260000000000", "imsi"), []);
  });
});

describe("ICCID", () => {
  const norway = withLuhn("894708000000000000"); // 19 digits, +47

  test("Norwegian ICCID under an iccid key: high, country NO", () => {
    const [match] = find(norway, "iccid");
    assert.equal(match?.kind, "iccid");
    assert.equal(match?.confidence, "high");
    assert.equal(match?.country, "NO");
    assert.match(match?.detail ?? "", /\+47/);
  });

  test("the brief's example without a check digit is still an ICCID under a key", () => {
    const [match] = find("8947080000000000000", "sim1iccid");
    assert.equal(match?.country, "NO");
    assert.equal(match?.confidence, "high");
  });

  test("without a key: Luhn-valid 19–20 digits are medium, others low", () => {
    assert.equal(find(norway)[0]?.confidence, "medium");
    assert.equal(find(breakLuhn(norway))[0]?.confidence, "low");
  });

  test("simserial (Android's getSimSerialNumber) is an ICCID key", () => {
    assert.equal(find(norway, "simserialnumber")[0]?.kind, "iccid");
  });

  test("countries: 8901 is +1 US, 89302 + a Canadian MNC is CA, 8986 is CN, 8944 is GB", () => {
    assert.equal(find(withLuhn("890126012345678901"), "iccid")[0]?.country, "US");
    assert.equal(find(withLuhn("893027201234567890"), "iccid")[0]?.country, "CA");
    assert.equal(find(withLuhn("898600123456789012"), "iccid")[0]?.country, "CN");
    assert.equal(find(withLuhn("894410123456789012"), "iccid")[0]?.country, "GB");
  });

  test("global IoT SIMs (+882/+883) are ICCIDs without a country", () => {
    const [match] = find(withLuhn("898830123456789012"), "iccid");
    assert.equal(match?.kind, "iccid");
    assert.equal(match?.country, undefined);
  });

  test("the F filler is kept in the value", () => {
    const [match] = find("894708000000000000F", "iccid");
    assert.equal(match?.value, "894708000000000000F");
    assert.equal(match?.country, "NO");
    assert.equal(find("894708000000000000f")[0]?.kind, "iccid");
  });

  test("no calling code after 89, or no 89, is not an ICCID", () => {
    assert.deepEqual(find(withLuhn("892800000000000000"), "iccid"), []);
    assert.deepEqual(find(withLuhn("884708000000000000"), "iccid"), []);
  });

  test("nanosecond timestamps (19 digits) are not ICCIDs", () => {
    assert.deepEqual(find("1717171717171717171"), []);
  });
});
