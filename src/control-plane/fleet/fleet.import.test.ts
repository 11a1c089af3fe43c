import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { demoFleet, TEST_CONFIG, toCsv } from "../../../test/helpers/fleet.ts";
import { isPhoneHomeError, type Problem } from "../../core/errors/index.ts";
import { detectFormat, parseFactory } from "./fleet.parse.ts";
import { isRealTimestamp, planImport, type RegisteredFleet } from "./fleet.plan.ts";

function thrownProblems(fn: () => unknown): Problem[] {
  try {
    fn();
  } catch (error) {
    assert.ok(isPhoneHomeError(error, "fleet.import_invalid"), String(error));
    return error.problems ?? [];
  }
  assert.fail("expected fleet.import_invalid");
}

describe("factory file parsing", () => {
  it("tells JSON from CSV by extension, else by the first character", () => {
    assert.equal(detectFormat("f.JSON", "serial,model"), "json");
    assert.equal(detectFormat("f.csv", "{"), "csv");
    assert.equal(detectFormat("factory", '\uFEFF  {"models": []}'), "json");
    assert.equal(detectFormat("factory", "serial,model"), "csv");
  });

  it("refuses a file that cannot be read as a whole, saying where", () => {
    assert.match(
      thrownProblems(() => parseFactory("f.json", "{ nope"))[0]?.message ?? "",
      /is not valid JSON/,
    );
    assert.match(
      thrownProblems(() => parseFactory("f.json", "[]"))[0]?.message ?? "",
      /must be a JSON object/,
    );
    const quoting = thrownProblems(() => parseFactory("f.csv", 'serial,model\n"PH-1,TA-1062\n'));
    assert.equal(quoting[0]?.path, "f.csv:2");
    assert.deepEqual(
      thrownProblems(() => parseFactory("f.csv", "serial,model,market,market,colour\n")).map(
        (p) => p.message,
      ),
      [
        "column market appears twice",
        'unknown column "colour"; the columns are serial,model,variant,market,batch,publicKey',
        "column variant is missing",
        "column batch is missing",
        "column publicKey is missing",
      ],
    );
    assert.match(thrownProblems(() => parseFactory("f.csv", ""))[0]?.message ?? "", /is empty/);
  });

  it("collects the problems of every row and keeps the valid rows", () => {
    const { factory } = demoFleet(4);
    const doc = {
      ...factory,
      version: 2,
      owners: [],
      models: [{ id: "TA 1062", name: "" }, ...factory.models],
      builds: "00WW_3_39B_SP03",
    };
    const parsed = parseFactory("f.json", JSON.stringify(doc));
    assert.deepEqual(
      parsed.problems.map((p) => `${p.path} ${p.message}`),
      [
        'f.json:/owners unknown section "owners"',
        "f.json:/version version must be 1, the only factory file format",
        "f.json:/models/0/id id must be a model id: a letter or digit, then letters, digits, '.', '_' or '-', at most 64 characters (e.g. TA-1062), not \"TA 1062\"",
        'f.json:/models/0/name name must be a name of 1 to 200 characters, not ""',
        "f.json:/builds builds must be an array",
      ],
    );
    assert.equal(parsed.models.length, 1);
    assert.equal(parsed.devices.length, 4);
    assert.ok(parsed.broken.models.has("TA 1062"));
  });

  it("reports a CSV row by its line in the file, counting blank lines, with a byte-order mark", () => {
    const { factory } = demoFleet(2);
    const [header, first, second] = toCsv(factory.devices).split("\n");
    const text = `\uFEFF${header}\n\n${first}\n\n\n${second?.replace(/,[^,]+$/, ",short")}\n`;
    const parsed = parseFactory("d.csv", text);
    assert.equal(parsed.devices.length, 1);
    assert.equal(parsed.devices[0]?.at, "d.csv:3");
    assert.deepEqual(
      parsed.problems.map((p) => p.path),
      ["d.csv:6"],
    );
  });

  it("accepts only date-times that exist", () => {
    assert.ok(isRealTimestamp("2019-02-28T23:59:59Z"));
    assert.ok(isRealTimestamp("2020-02-29T08:00:00.123+08:00"));
    assert.ok(!isRealTimestamp("2019-02-29T08:00:00Z"));
    assert.ok(!isRealTimestamp("2019-13-01T08:00:00Z"));
    assert.ok(!isRealTimestamp("2019-01-01T24:00:00Z"));
    assert.ok(!isRealTimestamp("2019-01-01"));
  });
});

describe("docs/fleet.md", () => {
  it("shows factory files that import cleanly, JSON then CSV", () => {
    const doc = readFileSync(new URL("../../../docs/fleet.md", import.meta.url), "utf8");
    const block = (lang: string) => new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``).exec(doc)?.[1] ?? "";
    const json = parseFactory("example.json", block("json"));
    const empty: RegisteredFleet = {
      models: new Map(),
      variants: new Map(),
      builds: new Map(),
      batches: new Map(),
      devicesInBatch: new Map(),
      devicesBySerial: new Map(),
      devicesByKeyId: new Map(),
    };
    const planned = planImport(json, empty, TEST_CONFIG);
    assert.deepEqual([...json.problems, ...planned.problems], []);
    assert.equal(planned.plan.devices.create.length, 1);
    // The CSV example lists the same device: against the JSON's records it is a clean, unchanged row.
    const csv = parseFactory("example.csv", block("csv"));
    const [device] = planned.plan.devices.create;
    assert.ok(device);
    const registered: RegisteredFleet = {
      ...empty,
      batches: new Map(planned.plan.batches.create.map((b) => [b.id, b])),
      devicesInBatch: new Map([[device.batch, 1]]),
      devicesBySerial: new Map([[device.serial, device]]),
      devicesByKeyId: new Map([[device.keyId, device]]),
    };
    const again = planImport(csv, registered, TEST_CONFIG);
    assert.deepEqual([...csv.problems, ...again.problems], []);
    assert.equal(again.plan.devices.unchanged, 1);
  });
});
