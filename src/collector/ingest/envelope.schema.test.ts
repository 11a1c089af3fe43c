import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { Ajv } from "ajv";
import { addCalendarFormats } from "../../core/calendar/index.ts";
import { countableHeader, EnvelopeSchema } from "./envelope.schema.ts";

const good = {
  v: 1,
  collection: "activation",
  schemaVersion: 1,
  eventId: randomUUID(),
  device: `dk_${"A".repeat(27)}`,
  region: "global",
  kid: `rk_${"B".repeat(27)}`,
  build: "00WW_3_39B_SP03",
  sentAt: "2026-01-31T10:00:00.123Z",
  enc: "C".repeat(43),
  ct: "D".repeat(40),
  sig: "E".repeat(86),
};

describe("the envelope schema", () => {
  const check = addCalendarFormats(new Ajv({ strict: false })).compile(EnvelopeSchema);

  it("takes a well-formed header", () => {
    assert.ok(check(good), JSON.stringify(check.errors));
  });

  it("refuses text the store cannot hold in every field, as the boundary leaves envelope bodies to it", () => {
    for (const [field, value] of Object.entries(good)) {
      if (typeof value !== "string") continue;
      for (const bad of ["\u0000", "\ud800"]) {
        const middle = Math.floor(value.length / 2);
        const changed = { ...good, [field]: `${value.slice(0, middle)}${bad}${value.slice(middle)}` };
        assert.ok(!check(changed), `${field} with ${JSON.stringify(bad)}`);
      }
    }
    assert.ok(!check({ ...good, "x\u0000": "y" }));
  });

  it("refuses a sentAt the calendar does not have", () => {
    for (const sentAt of ["2026-02-30T10:00:00Z", "2016-12-31T23:59:60Z", "2026-01-31T24:00:00Z"]) {
      assert.ok(!check({ ...good, sentAt }), sentAt);
    }
  });
});

describe("countableHeader", () => {
  it("keeps what the schema allows", () => {
    assert.deepEqual(countableHeader(good), {
      collection: "activation",
      schemaVersion: 1,
      build: "00WW_3_39B_SP03",
    });
  });

  it("keeps '' or 0 for anything else, so the ledger can always hold it", () => {
    for (const body of [
      { collection: "activ\u0000ation", schemaVersion: 3_000_000_000, build: "00WW\u0000" },
      { collection: ["activation"], schemaVersion: "1", build: 7 },
      { collection: "A".repeat(65), schemaVersion: 1.5, build: "x".repeat(65) },
      { collection: "\ud800", schemaVersion: -1, build: "" },
      { schemaVersion: 0 },
      null,
      "a string",
      [1, 2],
    ]) {
      assert.deepEqual(
        countableHeader(body),
        { collection: "", schemaVersion: 0, build: "" },
        JSON.stringify(body),
      );
    }
  });
});
