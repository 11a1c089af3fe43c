import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, it } from "node:test";
import {
  type Doc,
  REGIONS,
  SHIPPED_DICTIONARY,
  sampleDoc,
  tempDictionary,
} from "../../../test/helpers/dictionary.ts";
import { isPhoneHomeError } from "../errors/index.ts";
import {
  type CompiledCollection,
  type Dictionary,
  loadDictionary,
  type Payload,
  pseudonymise,
} from "./index.ts";
import { coarsenNumber } from "./transform.ts";

const shipped = loadDictionary(SHIPPED_DICTIONARY, { regions: REGIONS }).dictionary;

const fixture = tempDictionary();
after(fixture.cleanup);
const unapproved: Doc = sampleDoc({ version: 2 });
delete unapproved.approval;
const unbounded: Doc = sampleDoc({ version: 3 });
delete unbounded.retention;
for (const [name, f] of Object.entries(unbounded.fields)) f.retention = name === "cell" ? "P2Y" : "P30D";
fixture.write("sample/v1.yaml", sampleDoc());
fixture.write("sample/v2.yaml", unapproved);
fixture.write("sample/v3.yaml", unbounded);
const samples: Dictionary = loadDictionary(fixture.dir, { regions: REGIONS }).dictionary;

function collection(dictionary: Dictionary, name: string, version: number): CompiledCollection {
  const found = dictionary.get(name, version);
  assert.ok(found, `${name} v${version} exists`);
  return found;
}

const activation = collection(shipped, "activation", 1);
const sample = collection(samples, "sample", 1);

const goodActivation = {
  serial: "PNX7P1234567",
  model: "TA-1046",
  variant: "00WW",
  market: "NO",
  build: "00WW_3_39B_SP03",
  activatedAt: "2019-02-21T23:30:00-02:00",
};

function validated(c: CompiledCollection, payload: unknown): Payload {
  const result = c.validate(payload);
  assert.ok(result.ok, `valid: ${JSON.stringify(result)}`);
  return result.value;
}

function refusal(c: CompiledCollection, payload: unknown) {
  const result = c.validate(payload);
  assert.ok(!result.ok, "the payload is refused");
  return result;
}

const secretGlobal = randomBytes(32);
const secretCn = randomBytes(32);

describe("the compiled dictionary", () => {
  it("finds versions, knows approval, regions and retention", () => {
    assert.ok(shipped.has("activation"));
    assert.ok(shipped.has("uep.diagnostics"));
    assert.ok(!shipped.has("uep.location"));
    assert.equal(shipped.get("activation", 2), undefined);
    assert.deepEqual(samples.versions("sample"), [1, 2, 3]);
    assert.equal(activation.approved, true);
    assert.equal(collection(samples, "sample", 2).approved, false);
    assert.ok(activation.allowedIn("global") && activation.allowedIn("cn"));
    assert.ok(!activation.allowedIn("eu"));
    const from = new Date("2019-02-21T00:00:00Z");
    assert.deepEqual(
      shipped.retentionFor("activation", 1)?.expiresAt(from),
      new Date("2024-02-21T00:00:00Z"),
    );
    assert.deepEqual(activation.expiresAt(from), new Date("2024-02-21T00:00:00Z"));
    assert.equal(shipped.retentionFor("activation", 9), undefined);
  });

  it("keeps a record as long as its longest field when the collection declares no retention", () => {
    const v3 = collection(samples, "sample", 3);
    assert.equal(v3.retention.duration, "P2Y");
    assert.equal(v3.fields.find((f) => f.name === "model")?.retention.duration, "P30D");
  });

  it("resolves inherited settings on each field", () => {
    const cell = sample.fields.find((f) => f.name === "cell");
    const model = sample.fields.find((f) => f.name === "model");
    assert.deepEqual(cell?.regions, ["global"]);
    assert.deepEqual(model?.regions, ["global", "cn"]);
    assert.equal(model?.purpose, "essential.service.operations.support");
    assert.equal(model?.legalBasis, "contract");
    assert.equal(model?.required, true);
    assert.equal(cell?.required, false);
  });
});

describe("validate", () => {
  it("accepts a payload within its declared bounds and returns it typed", () => {
    assert.deepEqual(validated(activation, goodActivation), goodActivation);
  });

  it("refuses an undeclared field, naming it, before any other problem", () => {
    const result = refusal(activation, { ...goodActivation, serial: "lower-case", imsi: "244910123456789" });
    assert.deepEqual(result.problem, {
      kind: "undeclared",
      path: "/imsi",
      message: "imsi is not a field of activation v1",
    });
    assert.ok(result.problems.some((p) => p.kind === "invalid" && p.path === "/serial"));
  });

  it("refuses values out of bounds, of the wrong type, or missing", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ ...goodActivation, serial: "PNX7P1234567890123456" }, "/serial"],
      [{ ...goodActivation, serial: "pnx7p1234567" }, "/serial"],
      [{ ...goodActivation, market: "NOR" }, "/market"],
      [{ ...goodActivation, variant: "WW" }, "/variant"],
      [{ ...goodActivation, build: "00WW 3 39B" }, "/build"],
      [{ ...goodActivation, activatedAt: "2019-02-21T10:00:00" }, "/activatedAt"],
      [{ ...goodActivation, activatedAt: "2019-12-31T23:59:60Z" }, "/activatedAt"],
      [{ ...goodActivation, model: 1046 }, "/model"],
      [{ ...goodActivation, activatedAt: undefined }, "/activatedAt"],
    ];
    for (const [payload, path] of cases) {
      const { problem } = refusal(activation, JSON.parse(JSON.stringify(payload)));
      assert.equal(problem.kind, "invalid", JSON.stringify(payload));
      assert.equal(problem.path, path, JSON.stringify(payload));
    }
    assert.deepEqual(refusal(sample, { ...validSample(), battery: 101 }).problem.path, "/battery");
    assert.equal(refusal(activation, ["not", "an", "object"]).problem.path, "");
  });
});

function validSample(): Record<string, unknown> {
  return {
    serial: "ABCDEFGH12",
    model: "TA-1046",
    seenAt: "2026-03-01T00:30:00+01:00",
    battery: 87,
    charging: true,
    cell: "242-01-1234-5678",
  };
}

describe("transform", () => {
  it("pseudonymises an identifier the same way within a region and differently across regions", () => {
    const payload = validated(activation, goodActivation);
    const global1 = activation.transform(payload, { region: "global", pseudonymSecret: secretGlobal });
    const global2 = activation.transform(payload, { region: "global", pseudonymSecret: secretGlobal });
    const cn = activation.transform(payload, { region: "cn", pseudonymSecret: secretCn });
    assert.match(String(global1.serial), /^ps_[A-Za-z0-9_-]{43}$/);
    assert.equal(global1.serial, global2.serial);
    assert.notEqual(global1.serial, cn.serial);
    assert.equal(
      global1.serial,
      pseudonymise(secretGlobal, "user.device.serial_number", goodActivation.serial),
    );
    assert.notEqual(
      pseudonymise(secretGlobal, "user.device.serial_number", "X1"),
      pseudonymise(secretGlobal, "user.device.device_id.imei", "X1"),
      "categories are kept apart",
    );
    assert.ok(!JSON.stringify(global1).includes(goodActivation.serial), "the serial itself is not stored");
  });

  it("coarsens timestamps to the UTC day and keeps what it should", () => {
    const stored = activation.transform(validated(activation, goodActivation), {
      region: "global",
      pseudonymSecret: secretGlobal,
    });
    assert.equal(stored.activatedAt, "2019-02-22T00:00:00.000Z", "23:30 at -02:00 is the next day in UTC");
    assert.equal(stored.model, "TA-1046");
    assert.equal(stored.build, "00WW_3_39B_SP03");
  });

  it("coarsens numbers to their step, drops dropped fields and fields not allowed in the region", () => {
    const payload = validated(sample, validSample());
    const global = sample.transform(payload, { region: "global", pseudonymSecret: secretGlobal });
    assert.equal(global.battery, 80);
    assert.equal(global.seenAt, "2026-02-28T00:00:00.000Z", "00:30 at +01:00 is the day before in UTC");
    assert.ok(!("charging" in global), "drop: not stored");
    assert.match(String(global.cell), /^ps_/);
    const cn = sample.transform(payload, { region: "cn", pseudonymSecret: secretCn });
    assert.ok(!("cell" in cn), "cell is allowed in global only");
    assert.deepEqual(Object.keys(cn).sort(), ["battery", "model", "seenAt", "serial"]);
  });

  it("stores nothing in a region the collection is not allowed in", () => {
    assert.throws(
      () =>
        activation.transform(validated(activation, goodActivation), {
          region: "eu",
          pseudonymSecret: secretGlobal,
        }),
      (error: unknown) => isPhoneHomeError(error, "collection.unapproved"),
    );
  });

  it("rounds number buckets without binary artefacts", () => {
    assert.equal(coarsenNumber(0.3, 0.1), 0.3);
    assert.equal(coarsenNumber(0.79, 0.25), 0.75);
    assert.equal(coarsenNumber(-1, 10), -10);
    assert.equal(coarsenNumber(1234, 100), 1200);
  });

  it("refuses a short pseudonymisation secret", () => {
    assert.throws(() => pseudonymise(randomBytes(8), "user.device", "x"), RangeError);
  });
});
