/**
 * The embedded shape: every configured region and the control plane in one
 * process, each region with its own store. Used by `phonehome up`, the tests
 * and the benchmarks.
 */
import type { Config } from "../../core/config/index.ts";
import { type RunningControlPlane, startControlPlane } from "../../control-plane/index.ts";
import { loadNotices } from "../../collector/consent/index.ts";
import { type Dictionary, loadDictionary } from "../../core/dictionary/index.ts";
import { inProcessUpdates } from "./in-process-updates.ts";
import { cachedDirectory, type DeviceDirectory } from "../../core/directory/index.ts";
import { findDevicesByKeyIds, revocationFeed } from "../../control-plane/fleet/index.ts";
import type { Logger } from "../../core/log/index.ts";
import { type RunningRegion, startRegion } from "../../collector/index.ts";
import { livePeers } from "../../core/web-apps/index.ts";

/** A running system. */
export interface RunningSystem {
  controlPlane: RunningControlPlane;
  regions: RunningRegion[];
  dictionary: Dictionary;
  /** Stops every service, regions first, so that their write paths flush. */
  close(): Promise<void>;
}

/** Loads and compiles the dictionary named by the configuration; throws `dictionary.invalid` with every problem. */
export function dictionaryOf(config: Config, logger?: Logger): Dictionary {
  const { dictionary, warnings } = loadDictionary(config.dictionaryDir, {
    regions: config.regions.map((r) => r.id),
  });
  for (const w of warnings) logger?.warn({ path: w.path }, `dictionary: ${w.message}`);
  return dictionary;
}

/** Starts the control plane and every region in this process. */
export async function startSystem(config: Config, logger: Logger): Promise<RunningSystem> {
  const dictionary = dictionaryOf(config, logger);
  const notices = loadNotices(config.noticesDir, dictionary);
  const peers = livePeers(config);
  const controlPlane = await startControlPlane(config, logger, peers);
  peers.set("control-plane", controlPlane.url);
  const directory: DeviceDirectory = cachedDirectory((keys) => findDevicesByKeyIds(controlPlane.db, keys), {
    revocations: (after) => revocationFeed(controlPlane.db, after),
  });
  const regions: RunningRegion[] = [];
  try {
    for (const region of config.regions) {
      const running = await startRegion({
        config,
        region,
        dictionary,
        directory,
        logger,
        notices,
        updates: inProcessUpdates(controlPlane.db),
        peers,
      });
      peers.set(running.id, running.url);
      regions.push(running);
      controlPlane.regionUrls.set(running.id, running.url);
    }
  } catch (error) {
    await Promise.allSettled(regions.map((r) => r.close()));
    await controlPlane.close();
    throw error;
  }
  return {
    controlPlane,
    regions,
    dictionary,
    close: async () => {
      await Promise.allSettled(regions.map((r) => r.close()));
      await controlPlane.close();
    },
  };
}
