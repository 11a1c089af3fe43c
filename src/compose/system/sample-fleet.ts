/**
 * The sample fleet `phonehome up` provisions on first start: factory records in
 * the control plane, and for each device an identity file (its keys, its home
 * region's descriptor and the fleet roots) as the factory would flash it, so that `simulate`
 * and the SDK examples have devices to switch on.
 */
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { type RegionDescriptor, saveIdentity } from "@phonehome/sdk";
import { type Config, regionOfMarket } from "../../core/config/index.ts";
import { loadFleetTrust } from "../../core/keys/index.ts";
import {
  countDevices,
  demoIdentities,
  generateDemoFleet,
  importFleet,
} from "../../control-plane/fleet/index.ts";
import type { RunningRegion } from "../../collector/index.ts";
import type { RunningSystem } from "./system.ts";

/** What the demo provisioning did. */
export interface DemoOutcome {
  created: boolean;
  devices: number;
  /** Folder of the devices' identity files. */
  dir: string;
}

/** The descriptor a factory flashes into devices of `region`. */
export function descriptorOf(region: RunningRegion): RegionDescriptor {
  return {
    region: region.id,
    storedIn: region.intake.region.storedIn,
    url: region.url,
    kid: region.intake.keys.kid,
    publicKey: region.intake.keys.publicKey,
  };
}

/** Provisions the demo fleet when the registry is empty; otherwise reports what is there. */
export async function provisionDemoFleet(config: Config, system: RunningSystem): Promise<DemoOutcome> {
  const dir = join(config.dataDir, "demo", "devices");
  const existing = await countDevices(system.controlPlane.db);
  if (existing > 0 || config.demo.devices === 0) {
    return { created: false, devices: existing, dir };
  }
  const fleet = generateDemoFleet({
    devices: config.demo.devices,
    regionOfMarket: (market) => regionOfMarket(config, market),
  });
  await importFleet(system.controlPlane.db, config, {
    name: "demo-factory.json",
    text: JSON.stringify(fleet.factory),
  });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // The factory gives devices the roots of the fleet trust, whose signature on a descriptor they accept.
  const { roots } = await loadFleetTrust(config.dataDir);
  const identities = demoIdentities(
    fleet,
    (device) => {
      const region = system.regions.find((r) => r.id === regionOfMarket(config, device.market));
      return region && descriptorOf(region);
    },
    roots,
  );
  for (const identity of identities) await saveIdentity(join(dir, `${identity.serial}.json`), identity);
  return { created: true, devices: readdirSync(dir).length, dir };
}
