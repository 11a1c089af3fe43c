import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isPositive, outlasts, parseRetention, type Retention } from "./retention.ts";

function parse(text: string): Retention {
  const retention = parseRetention(text);
  assert.ok(retention, `${text} parses`);
  return retention;
}

const day = (iso: string) => new Date(`${iso}T00:00:00Z`);

describe("retention", () => {
  it("adds calendar years and months in UTC, clamping to the month's last day", () => {
    assert.deepEqual(parse("P5Y").expiresAt(day("2020-02-29")), day("2025-02-28"));
    assert.deepEqual(parse("P1M").expiresAt(day("2021-01-31")), day("2021-02-28"));
    assert.deepEqual(parse("P18M").expiresAt(day("2019-08-31")), day("2021-02-28"));
    assert.deepEqual(
      parse("P2Y6M").expiresAt(new Date("2019-02-21T13:45:00Z")),
      new Date("2021-08-21T13:45:00Z"),
    );
  });

  it("adds weeks and days as whole UTC days", () => {
    assert.deepEqual(parse("P90D").expiresAt(day("2026-01-01")), day("2026-04-01"));
    assert.deepEqual(parse("P2W").expiresAt(day("2026-02-20")), day("2026-03-06"));
    assert.deepEqual(parse("P1Y1D").expiresAt(day("2026-12-31")), day("2028-01-01"));
  });

  it("accepts only calendar ISO 8601 durations", () => {
    for (const text of ["5y", "90d", "P", "PT1H", "P1.5Y", "P1D1Y", "p1y", "P-1D", " P1Y"]) {
      assert.equal(parseRetention(text), null, text);
    }
  });

  it("compares retentions and refuses zero", () => {
    assert.ok(outlasts(parse("P13M"), parse("P1Y")));
    assert.ok(!outlasts(parse("P1Y"), parse("P12M")));
    assert.ok(!outlasts(parse("P30D"), parse("P1M")), "January has 31 days");
    assert.ok(!isPositive(parse("P0D")));
    assert.ok(isPositive(parse("P1D")));
  });
});
