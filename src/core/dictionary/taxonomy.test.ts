import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DATA_CATEGORIES, DATA_USES, isDataCategory, isDataUse, narrows } from "./taxonomy.ts";

describe("taxonomy", () => {
  for (const [label, names] of [
    ["data categories", DATA_CATEGORIES],
    ["data uses", DATA_USES],
  ] as const) {
    it(`${label} form a tree: every name's parent is declared`, () => {
      for (const name of Object.keys(names)) {
        const parent = name.split(".").slice(0, -1).join(".");
        if (parent !== "")
          assert.ok(Object.hasOwn(names, parent), `${name} has no declared parent ${parent}`);
      }
    });

    it(`${label}: extensions hang below a fideslang name, so tools that do not know them can fall back`, () => {
      for (const [name, entry] of Object.entries(names)) {
        if (!entry.extension) continue;
        const ancestors = name.split(".").map((_, i, parts) => parts.slice(0, i + 1).join("."));
        assert.ok(
          ancestors.some((a) => Object.hasOwn(names, a) && !names[a]?.extension),
          `${name} has no fideslang ancestor`,
        );
      }
    });
  }

  it("has the phone extensions, marked as such, and the fideslang names beside them", () => {
    for (const name of [
      "user.device.device_id.imei",
      "user.device.serial_number",
      "user.device.sim.iccid",
      "user.device.sim.imsi",
      "user.location.precise.cell_id",
    ]) {
      assert.ok(isDataCategory(name), name);
      assert.equal(DATA_CATEGORIES[name]?.extension, true, name);
    }
    for (const name of [
      "system.operations",
      "user.device",
      "user.location.precise",
      "user.device.device_id",
    ]) {
      assert.ok(isDataCategory(name), name);
      assert.equal(DATA_CATEGORIES[name]?.extension, undefined, name);
    }
    for (const name of [
      "essential.service",
      "essential.service.operations.support",
      "functional.service.improve",
    ]) {
      assert.ok(isDataUse(name), name);
    }
    assert.ok(!isDataCategory("toString"), "lookups do not see Object.prototype");
  });

  it("narrows only to descendants, by whole segments", () => {
    assert.ok(narrows("essential.service.operations", "essential.service"));
    assert.ok(narrows("essential.service", "essential.service"));
    assert.ok(!narrows("essential.services", "essential.service"));
    assert.ok(!narrows("essential", "essential.service"));
  });
});
