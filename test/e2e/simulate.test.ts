/**
 * A simulated launch with mixed markets, through the real SDK and HTTP: every
 * stored activation lies in the region of its device's market, and the
 * incident's devices are stopped on the device or by the collector.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { regionOfMarket } from "../../src/core/config/index.ts";
import { runSimulation, type SimulationSummary } from "../../src/compose/simulate/simulate.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { startTestSystem, type TestSystem } from "../helpers/system.ts";

const run = promisify(execFile);
const BIN = new URL("../../bin/phonehome.ts", import.meta.url).pathname;

for (const backend of BACKENDS) {
  describe(`simulate on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestSystem;
    const runs: SimulationSummary[] = [];
    before(async () => {
      t = await startTestSystem(backend);
    });
    after(async () => {
      await t?.close();
    });
    const simulate = async (options: { devices: number; wrongRegion: number; legacyClient: boolean }) => {
      const summary = await runSimulation({
        controlPlaneUrl: t.system.controlPlane.url,
        serviceToken: t.system.controlPlane.serviceToken,
        roots: t.roots,
        markets: ["NO", "FI", "CN", "DE", "SG"],
        concurrency: 8,
        workDir: join(t.dataDir, `sim-${runs.length}`),
        ...options,
      });
      runs.push(summary);
      return summary;
    };

    test("devices provisioned for another region are refused by their SDK; the rest activate at home", async () => {
      const s = await simulate({ devices: 60, wrongRegion: 4, legacyClient: false });
      assert.equal(s.wrongRegionSerials.length, 4);
      assert.deepEqual(s.refused, { "sdk.market_region_mismatch": 4 });
      assert.equal((s.activated.global ?? 0) + (s.activated.cn ?? 0), 56);
      assert.equal(s.activated.cn, 12, "every CN device activated in cn");
    });

    test("the incident's client, which skips the checks, is refused by the collector and counted", async () => {
      const s = await simulate({ devices: 20, wrongRegion: 3, legacyClient: true });
      assert.deepEqual(s.refused, { "region.misrouted": 3 });
      const cn = t.system.regions.find((r) => r.id === "cn");
      const alerts = (await (
        await fetch(`${cn?.url}/v1/alerts/misrouting`, {
          headers: { authorization: `Bearer ${t.system.controlPlane.serviceToken}` },
        })
      ).json()) as {
        alerts: { batch: string; build: string; count: number }[];
      };
      const ofThisRun = alerts.alerts.filter((a) => s.batches.some((b) => b.id === a.batch));
      assert.equal(
        ofThisRun.reduce((n, a) => n + a.count, 0),
        3,
      );
      for (const a of ofThisRun) {
        assert.equal(
          a.build,
          s.batches.find((b) => b.id === a.batch)?.build,
          "the alert names the batch's build",
        );
      }
    });

    test("the CLI runs a simulation against the running system and prints its summary", async () => {
      const config = join(t.dataDir, "cli.yaml");
      writeFileSync(config, `dataDir: ${t.dataDir}\ncontrolPlane:\n  url: ${t.system.controlPlane.url}\n`);
      const { stdout, stderr } = await run(
        process.execPath,
        [BIN, "--config", config, "simulate", "--devices", "10", "--markets", "NO,CN", "--json"],
        { timeout: 60_000 },
      );
      const summary = JSON.parse(stdout) as { devices: number; activated: Record<string, number> };
      assert.equal(summary.devices, 10);
      assert.deepEqual(summary.activated, { global: 5, cn: 5 });
      assert.match(stderr, /devices 100% \(10\/10\)/);
    });

    test("reading every store: no device's row lies outside its market's region, and none is stored twice", async () => {
      const market = new Map(runs.flatMap((s) => s.fleet.map((d) => [d.keyId, d.market] as const)));
      const wrong = new Set(runs.flatMap((s) => s.wrongRegionSerials));
      const stored = await t.activationsByRegion();
      let rows = 0;
      const seen = new Set<string>();
      for (const [region, activations] of stored) {
        for (const row of activations) {
          rows += 1;
          assert.ok(!seen.has(row.deviceKey), "stored once");
          seen.add(row.deviceKey);
          const m = market.get(row.deviceKey) ?? String(row.data.market);
          assert.equal(regionOfMarket(t.config, m), region, `${row.deviceKey} (${m}) stored in ${region}`);
          assert.equal(row.data.market, m);
        }
      }
      const expected = runs.reduce((n, s) => n + s.devices, 0) - wrong.size + 10; // + the CLI run
      assert.equal(rows, expected);
      for (const s of runs) {
        for (const d of s.fleet) {
          if (s.wrongRegionSerials.includes(d.serial))
            assert.ok(!seen.has(d.keyId), `${d.serial} stored nowhere`);
        }
      }
    });
  });
}
