import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Ajv } from "ajv";
import fc from "fast-check";
import { addCalendarFormats, parseDay, parseInstant } from "./index.ts";

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

describe("calendar", () => {
  it("reads an instant exactly, with or without an offset and digits of a second", () => {
    assert.equal(parseInstant("2019-02-28T23:59:59Z")?.toISOString(), "2019-02-28T23:59:59.000Z");
    assert.equal(parseInstant("2020-02-29T08:00:00.123+08:00")?.toISOString(), "2020-02-29T00:00:00.123Z");
    assert.equal(parseInstant("2026-01-01T00:00:00.987654321Z")?.toISOString(), "2026-01-01T00:00:00.987Z");
    assert.equal(parseInstant("0001-01-01T00:00:00Z")?.toISOString(), "0001-01-01T00:00:00.000Z");
    assert.equal(parseInstant("9999-12-31T23:59:59.999Z")?.toISOString(), "9999-12-31T23:59:59.999Z");
    assert.equal(parseInstant("2000-01-01T00:30:00-23:59")?.toISOString(), "2000-01-02T00:29:00.000Z");
  });

  it("refuses a day the calendar does not have, a leap second, and a time out of range", () => {
    for (const text of [
      "2026-02-30T00:00:00Z", // JavaScript would make it 2 March
      "2025-02-29T00:00:00Z",
      "1900-02-29T00:00:00Z", // not a leap year (divisible by 100)
      "2026-04-31T00:00:00Z",
      "2026-13-01T00:00:00Z",
      "2026-00-10T00:00:00Z",
      "2026-01-00T00:00:00Z",
      "2016-12-31T23:59:60Z", // a leap second: Unix time has none
      "2026-02-30T25:61:61Z",
      "2026-01-01T24:00:00Z",
      "2026-01-01T00:60:00Z",
      "2026-01-01T00:00:00+24:00",
      "2026-01-01T00:00:00+05:60",
      "0000-01-01T00:00:00Z", // PostgreSQL has no year 0
      "0001-01-01T00:00:00+00:01", // year 0 once the offset is applied
      "9999-12-31T23:59:59-00:01", // year 10000
      "2026-01-01 00:00:00Z",
      "2026-01-01t00:00:00z",
      "2026-01-01T00:00:00",
      "2026-01-01T00:00:00.1234567890Z",
      "+002026-01-01T00:00:00Z",
      "2026-01-01T00:00:00Z\n",
      "",
    ]) {
      assert.equal(parseInstant(text), undefined, text);
    }
  });

  it("agrees with Date.parse on every instant it accepts, and refuses every day past the month's end", () => {
    const instant = fc.record({
      year: fc.integer({ min: 1, max: 9999 }),
      month: fc.integer({ min: 1, max: 12 }),
      day: fc.integer({ min: 1, max: 31 }),
      hour: fc.integer({ min: 0, max: 23 }),
      minute: fc.integer({ min: 0, max: 59 }),
      second: fc.integer({ min: 0, max: 59 }),
      fraction: fc.option(fc.stringMatching(/^\d{1,9}$/), { nil: undefined }),
      offset: fc.option(fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(instant, (i) => {
        const zone =
          i.offset === undefined
            ? "Z"
            : `${i.offset < 0 ? "-" : "+"}${pad(Math.floor(Math.abs(i.offset) / 60))}:${pad(Math.abs(i.offset) % 60)}`;
        const text =
          `${pad(i.year, 4)}-${pad(i.month)}-${pad(i.day)}T${pad(i.hour)}:${pad(i.minute)}:${pad(i.second)}` +
          `${i.fraction === undefined ? "" : `.${i.fraction}`}${zone}`;
        const parsed = parseInstant(text);
        const dayExists = parseDay(text.slice(0, 10)) !== undefined;
        if (!dayExists) assert.equal(parsed, undefined, text);
        if (parsed === undefined) {
          // Refused only for a day that does not exist, or a year outside 1-9999 after the offset.
          const ms = Date.parse(text);
          assert.ok(
            !dayExists ||
              ms < Date.parse("0001-01-01T00:00:00Z") ||
              ms > Date.parse("9999-12-31T23:59:59.999Z"),
            text,
          );
          return;
        }
        // Date.parse reads the fraction's first three digits too.
        assert.equal(parsed.getTime(), Date.parse(text.replace(/(\.\d{3})\d+/, "$1")), text);
      }),
      { numRuns: 2000 },
    );
  });

  it("reads a day the calendar has, and only that", () => {
    assert.equal(parseDay("2024-02-29")?.toISOString(), "2024-02-29T00:00:00.000Z");
    assert.equal(parseDay("0001-01-01")?.toISOString(), "0001-01-01T00:00:00.000Z");
    for (const text of [
      "2026-02-30",
      "2023-02-29",
      "0000-01-01",
      "2026-1-01",
      "2026-01-01T00:00:00Z",
      "20260101",
    ]) {
      assert.equal(parseDay(text), undefined, text);
    }
  });

  it("takes over Ajv's date-time and date formats", () => {
    const ajv = addCalendarFormats(new Ajv({ strict: true }));
    const instant = ajv.compile({ type: "string", format: "date-time" });
    const day = ajv.compile({ type: "string", format: "date" });
    assert.ok(instant("2026-02-28T10:00:00Z"));
    assert.ok(!instant("2026-02-30T10:00:00Z"));
    assert.ok(!instant("2016-12-31T23:59:60Z"));
    assert.ok(day("2026-02-28"));
    assert.ok(!day("2026-02-30"));
  });
});
