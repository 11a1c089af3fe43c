/**
 * GPS coordinates (pairs, or one number under a lat/lon key) with precision
 * from the decimals, and cell identities under cell keys.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { findIdentifiers } from "./index.ts";

const find = (text: string, key?: string) => findIdentifiers(text, { key });

describe("GPS", () => {
  test("a lat,lon pair with 4 decimals is high, with the precision in the detail", () => {
    const [match] = find("pos=59.9139,10.7522");
    assert.equal(match?.kind, "gps");
    assert.equal(match?.value, "59.9139,10.7522");
    assert.equal(match?.confidence, "high");
    assert.match(match?.detail ?? "", /4 decimals ≈ 11 m/);
  });

  test("precision: 5 decimals ≈ 1 m, 3 medium, 2 low (medium under a location key)", () => {
    assert.match(find("59.91391, 10.75224")[0]?.detail ?? "", /5 decimals ≈ 1 m/);
    assert.equal(find("59.914,10.752")[0]?.confidence, "medium");
    assert.equal(find("59.91,10.75")[0]?.confidence, "low");
    assert.equal(find("59.91,10.75", "location")[0]?.confidence, "medium");
  });

  test("one number under a latitude or longitude key", () => {
    const cases: [string, string][] = [
      ["lat", "59.9139"],
      ["latitude", "-33.8688"],
      ["lng", "151.2093"],
      ["gps_lon", "10.7522"],
    ];
    for (const [key, value] of cases) {
      const [match] = find(value, key);
      assert.equal(match?.kind, "gps", key);
      assert.equal(match?.confidence, "high", key);
    }
  });

  test("Google's latitudeE7 integers", () => {
    assert.equal(find("599139000", "latitudee7")[0]?.kind, "gps");
  });

  test("out of range, integers, one decimal, zeros and trailing-zero values do not count", () => {
    assert.deepEqual(find("95.1234", "lat"), []);
    assert.deepEqual(find("190.1234", "lon"), []);
    assert.deepEqual(find("59", "lat"), []);
    assert.deepEqual(find("59.9", "lat"), []);
    assert.deepEqual(find("0.0", "lat"), []);
    assert.deepEqual(find("10.50", "lat"), []);
    assert.deepEqual(find("0.00,0.00"), []);
    assert.deepEqual(find("95.1234,10.7522"), []);
  });

  test("lists of numbers and versions are not pairs; lone numbers need a lat/lon key", () => {
    assert.deepEqual(find("[1.2345,2.3456,3.4567]"), []);
    assert.deepEqual(find("1.2.3.4,5.6.7.8"), []);
    assert.deepEqual(find("59.9139"), []);
    assert.deepEqual(find("12.57", "gps_accuracy"), []);
    assert.deepEqual(find("12.3456", "latency"), []);
  });
});

describe("cell identity", () => {
  test("a 28-bit ECI under an eci or cellid key: medium", () => {
    for (const key of ["eci", "cellid", "cell_id", "ci", "cid"]) {
      const [match] = find("26543232", key);
      assert.equal(match?.kind, "cell-id", key);
      assert.equal(match?.confidence, "medium", key);
    }
  });

  test("a lac-ci pair is high", () => {
    const [match] = find("4601-12345", "cell");
    assert.equal(match?.kind, "cell-id");
    assert.equal(match?.confidence, "high");
    assert.equal(find("4601:12345", "lac_ci")[0]?.kind, "cell-id");
  });

  test("LAC and TAC alone are low; eNB and NCI ranges are checked", () => {
    assert.equal(find("4601", "lac")[0]?.confidence, "low");
    assert.equal(find("12345", "tac")[0]?.kind, "cell-id");
    assert.deepEqual(find("70000", "lac"), []);
    assert.equal(find("1048575", "enb")[0]?.kind, "cell-id"); // 2^20 − 1, the largest eNB id
    assert.equal(find("104857", "enb")[0]?.kind, "cell-id");
    assert.deepEqual(find("2097152", "enb"), []);
    assert.equal(find("68719476734", "nci")[0]?.kind, "cell-id");
  });

  test("out-of-range, unknown markers and tiny values are skipped", () => {
    assert.deepEqual(find("268435456", "eci"), []);
    assert.deepEqual(find("2147483647", "cellid"), []);
    assert.deepEqual(find("65535", "lac"), []);
    assert.deepEqual(find("0", "cid"), []);
    assert.deepEqual(find("7", "ci"), []);
  });

  test("only with key context", () => {
    assert.deepEqual(find("26543232"), []);
    assert.deepEqual(find("4601-12345"), []);
    assert.deepEqual(find("26543232", "count"), []);
  });
});
