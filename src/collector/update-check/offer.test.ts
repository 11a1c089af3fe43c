/** Which update a device is offered, across variants, lineages, withdrawals and rollouts. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type AskingDevice,
  chooseUpdate,
  cohortOf,
  type PlanBuild,
  type PlanRollout,
  type UpdatePlan,
} from "./offer.ts";

const build = (number: string, releasedAt: string | null, extra: Partial<PlanBuild> = {}): PlanBuild => ({
  number,
  model: "TA-1062",
  variant: number.slice(0, 4),
  lineage: number.split("_").slice(0, 3).join("_"),
  releasedAt,
  withdrawn: false,
  rollout: null,
  ...extra,
});

const WW: AskingDevice = { deviceKey: "dk_worldwide_device_aaaaaaaaaaaa", model: "TA-1062", variant: "00WW" };
const CN: AskingDevice = { deviceKey: "dk_china_device_bbbbbbbbbbbbbbbb", model: "TA-1062", variant: "00CN" };

const plan = (...builds: PlanBuild[]): UpdatePlan => ({ builds });

describe("chooseUpdate", () => {
  const base = [
    build("00WW_3_39B_SP02", "2019-01-10T00:00:00Z"),
    build("00WW_3_39B_SP03", "2019-02-20T00:00:00Z"),
    build("00WW_3_22C_SP04", "2019-01-05T00:00:00Z"),
    build("00WW_3_22C_SP05", "2019-02-21T00:00:00Z"),
    build("00CN_3_39B_SP02", "2019-01-10T00:00:00Z"),
    build("00CN_3_39B_SP04", "2019-03-01T00:00:00Z"),
  ];

  it("offers the newest released build of the device's own variant and lineage", () => {
    assert.deepEqual(chooseUpdate(plan(...base), WW, "00WW_3_39B_SP02"), {
      update: { build: "00WW_3_39B_SP03", lineage: "00WW_3_39B", rollout: null },
      reason: "newer build",
    });
    assert.equal(chooseUpdate(plan(...base), WW, "00WW_3_22C_SP04").update?.build, "00WW_3_22C_SP05");
    assert.equal(chooseUpdate(plan(...base), CN, "00CN_3_39B_SP02").update?.build, "00CN_3_39B_SP04");
  });

  it("never offers another variant's build, even a newer one of the same lineage name", () => {
    const withForeign = plan(
      ...base,
      build("00CN_3_39B_SP09", "2020-01-01T00:00:00Z", { variant: "00WW", model: "TA-9999" }),
    );
    assert.equal(chooseUpdate(withForeign, WW, "00WW_3_39B_SP03").update, null);
    assert.deepEqual(chooseUpdate(plan(...base), WW, "00CN_3_39B_SP02"), {
      update: null,
      reason: "build of another variant",
    });
  });

  it("never offers a downgrade: an older build released later than nothing, and the newest installed, get nothing", () => {
    assert.deepEqual(chooseUpdate(plan(...base), WW, "00WW_3_39B_SP03"), {
      update: null,
      reason: "up to date",
    });
    // Released earlier than what the device runs: not offered, whatever its number says.
    const older = plan(...base, build("00WW_3_39B_SP09", "2019-01-01T00:00:00Z"));
    assert.equal(chooseUpdate(older, WW, "00WW_3_39B_SP03").update, null);
  });

  it("never offers a withdrawn build; the newest one that is not withdrawn instead", () => {
    const withdrawn = plan(...base, build("00WW_3_39B_SP04", "2019-03-01T00:00:00Z", { withdrawn: true }));
    assert.equal(chooseUpdate(withdrawn, WW, "00WW_3_39B_SP02").update?.build, "00WW_3_39B_SP03");
    assert.equal(chooseUpdate(withdrawn, WW, "00WW_3_39B_SP03").update, null);
  });

  it("says why when it cannot judge", () => {
    assert.equal(chooseUpdate(plan(...base), WW, "00WW_9_99Z_SP01").reason, "unknown build");
    assert.equal(
      chooseUpdate(plan(...base, build("00WW_3_40A_SP01", null)), WW, "00WW_3_40A_SP01").reason,
      "build never released",
    );
    assert.equal(
      chooseUpdate(
        plan(...base, build("00WW_3_40A_SP02", "2019-01-01T00:00:00Z", { lineage: null })),
        WW,
        "00WW_3_40A_SP02",
      ).reason,
      "build without lineage",
    );
  });

  describe("under a rollout", () => {
    const devices = Array.from({ length: 2000 }, (_, i): AskingDevice => ({
      deviceKey: `dk_device_${i}`,
      model: "TA-1062",
      variant: "00WW",
    }));
    const rolling = (rollout: PlanRollout) =>
      plan(...base, build("00WW_3_39B_SP04", "2019-03-01T00:00:00Z", { rollout }));
    const offered = (p: UpdatePlan) =>
      devices.filter((d) => chooseUpdate(p, d, "00WW_3_39B_SP03").update?.build === "00WW_3_39B_SP04");

    it("reaches about the stage's share of devices, always the same ones, growing as the stage grows", () => {
      const at10 = offered(rolling({ id: 7, state: "active", percentage: 10, stage: 0 }));
      const at50 = offered(rolling({ id: 7, state: "active", percentage: 50, stage: 1 }));
      assert.ok(at10.length > 120 && at10.length < 280, `10 % of 2000 gave ${at10.length}`);
      assert.ok(at50.length > 880 && at50.length < 1120, `50 % of 2000 gave ${at50.length}`);
      const in50 = new Set(at50.map((d) => d.deviceKey));
      assert.ok(
        at10.every((d) => in50.has(d.deviceKey)),
        "a device in the first stage stays in the next",
      );
      assert.equal(
        offered(rolling({ id: 7, state: "active", percentage: 100, stage: 2 })).length,
        devices.length,
      );
      assert.equal(
        offered(rolling({ id: 7, state: "complete", percentage: 100, stage: 2 })).length,
        devices.length,
      );
    });

    it("offers nothing new while paused or halted; devices outside the stage get the older released build", () => {
      for (const state of ["paused", "halted"] as const) {
        assert.equal(offered(rolling({ id: 7, state, percentage: 50, stage: 1 })).length, 0);
      }
      const outside = devices.find((d) => cohortOf(7, d.deviceKey) >= 10);
      assert.ok(outside);
      assert.deepEqual(
        chooseUpdate(
          rolling({ id: 7, state: "active", percentage: 10, stage: 0 }),
          outside,
          "00WW_3_39B_SP02",
        ).update?.build,
        "00WW_3_39B_SP03",
      );
      assert.deepEqual(
        chooseUpdate(
          rolling({ id: 7, state: "active", percentage: 10, stage: 0 }),
          outside,
          "00WW_3_39B_SP03",
        ),
        {
          update: null,
          reason: "not in the rollout yet",
        },
      );
    });

    it("puts a device in independent cohorts for different rollouts", () => {
      const same = devices.filter(
        (d) => cohortOf(1, d.deviceKey) < 10 === cohortOf(2, d.deviceKey) < 10,
      ).length;
      assert.ok(same < devices.length, "the same 10 % would get every first stage");
    });
  });
});
