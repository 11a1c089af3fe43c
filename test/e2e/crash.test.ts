/**
 * Acknowledge after commit, proven the hard way: a collector process is killed
 * with SIGKILL while a fleet is activating. Every activation a device saw
 * acknowledged is in the store after the kill, and the devices' queues deliver
 * the rest once the collector is back; nothing is stored twice.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createDeviceIdentity, type DeviceIdentity, isSdkError, PhoneHomeClient } from "@phonehome/sdk";
import { listActivations } from "../../src/collector/activation/activation.repository.ts";
import { buildConfig } from "../../src/core/config/index.ts";
import { type RunningControlPlane, startControlPlane } from "../../src/control-plane/control-plane.ts";
import { openDb, type StoreConfig } from "../../src/core/db/index.ts";
import { loadFleetTrust } from "../../src/core/keys/index.ts";
import { importFleet } from "../../src/control-plane/fleet/index.ts";
import { createLogger } from "../../src/core/log/index.ts";
import { oneBatchFactoryFile } from "../helpers/fleet.ts";
import { exited, freePort, startCollector } from "../helpers/processes.ts";
import { BACKENDS } from "../helpers/stores.ts";

const DEVICES = 150;

async function storedKeys(store: StoreConfig): Promise<string[]> {
  const db = await openDb(store);
  try {
    return (await listActivations(db, "", 100_000)).map((r) => r.deviceKey);
  } finally {
    await db.close();
  }
}

for (const backend of BACKENDS) {
  describe(`SIGKILL of a collector on ${backend.name}`, { skip: backend.skip }, () => {
    const dataDir = mkdtempSync(join(tmpdir(), "phonehome-crash-"));
    let controlPlane: RunningControlPlane;
    let regionStore: StoreConfig;
    const cleanups: (() => Promise<void>)[] = [];
    let configFile: string;
    let devices: DeviceIdentity[];

    before(async () => {
      const cp = await backend.fresh("crash-cp");
      const region = await backend.fresh("crash-global");
      cleanups.push(cp.cleanup, region.cleanup);
      regionStore = region.store;
      const asYaml = (s: StoreConfig) =>
        s.kind === "pglite" ? { dataDir: s.dataDir } : { url: s.url, schema: s.schema };
      const port = await freePort();
      const raw = {
        dataDir,
        logLevel: "warn",
        controlPlane: { listen: "127.0.0.1:0", store: asYaml(cp.store) },
        // Every region of the deployment is named (the policy and the dictionary refer to both); only global runs here.
        regions: [
          { id: "global", storedIn: "SG", listen: `127.0.0.1:${port}`, store: asYaml(region.store) },
          { id: "cn", storedIn: "CN", listen: "127.0.0.1:0", store: { dataDir: join(dataDir, "cn-unused") } },
        ],
      };
      const config = buildConfig(raw, dataDir);
      controlPlane = await startControlPlane(config, createLogger("silent"));
      configFile = join(dataDir, "collector.yaml");
      writeFileSync(configFile, JSON.stringify({ ...raw, controlPlane: { url: controlPlane.url } }));

      // The collector creates the region key at its first start; the factory then reads the descriptor.
      const first = (await startCollector(configFile)).child;
      const url = `http://127.0.0.1:${port}`;
      const announced = (await (await fetch(`${url}/v1/region`)).json()) as {
        kid: string;
        publicKey: string;
      };
      first.kill("SIGTERM");
      await exited(first);
      const home = {
        region: "global",
        storedIn: "SG",
        url,
        kid: announced.kid,
        publicKey: announced.publicKey,
      };
      const { roots } = await loadFleetTrust(dataDir);
      devices = Array.from({ length: DEVICES }, (_, i) =>
        createDeviceIdentity(
          {
            serial: `CR${String(i).padStart(8, "0")}`,
            model: "TA-1062",
            variant: "00WW",
            market: "NO",
            build: "00WW_3_39B_SP03",
          },
          home,
          roots,
        ),
      );
      await importFleet(controlPlane.db, config, {
        name: "crash-factory.json",
        text: oneBatchFactoryFile("B-CRASH-NO", devices),
      });
    });

    after(async () => {
      await controlPlane?.close();
      for (const c of cleanups) await c();
      rmSync(dataDir, { recursive: true, force: true });
    });

    test("every acknowledged activation survives the kill; the queues deliver the rest, each stored once", async () => {
      const queueOf = (d: DeviceIdentity) => join(dataDir, "queues", d.serial);
      const client = (d: DeviceIdentity) =>
        new PhoneHomeClient({
          identity: d,
          queueDir: queueOf(d),
          retry: { baseMs: 10, maxMs: 40, maxAttempts: 2 },
        });

      let collector = (await startCollector(configFile)).child;
      const acknowledged = new Set<string>();
      let killed = false;
      let next = 0;
      const worker = async () => {
        while (next < devices.length) {
          const device = devices[next++] as DeviceIdentity;
          try {
            await client(device).activate();
            acknowledged.add(device.keyId);
            if (acknowledged.size === 40 && !killed) {
              killed = true;
              collector.kill("SIGKILL");
            }
          } catch (error) {
            // After the kill the collector is gone: the activation stays queued on the device.
            assert.ok(isSdkError(error, "sdk.offline"), String(error));
          }
        }
      };
      await Promise.all(Array.from({ length: 12 }, worker));
      await exited(collector);
      assert.equal(collector.signalCode, "SIGKILL");
      assert.ok(acknowledged.size >= 40 && acknowledged.size < DEVICES, `acknowledged ${acknowledged.size}`);

      // The store, opened after the kill (crash recovery), holds every acknowledged activation.
      const afterKill = new Set(await storedKeys(regionStore));
      for (const key of acknowledged) assert.ok(afterKill.has(key), `acknowledged ${key} survived`);

      // The collector comes back; each device's queue (a new process: a new client on the same folder) delivers.
      collector = (await startCollector(configFile)).child;
      try {
        for (const device of devices) {
          const result = await client(device).flush();
          assert.equal(result.remaining, 0, `${device.serial} delivered its queue`);
          const state = await client(device).activationState();
          assert.equal(state.state, "activated", device.serial);
        }
      } finally {
        collector.kill("SIGTERM");
        await exited(collector);
      }
      const finalKeys = await storedKeys(regionStore);
      assert.equal(finalKeys.length, DEVICES, "every device stored");
      assert.equal(new Set(finalKeys).size, DEVICES, "none stored twice");
    });
  });
}
