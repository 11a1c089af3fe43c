/**
 * The scheduled key job (a leased job: one replica runs it per period,
 * `keys.checkIntervalSeconds`): records the seal keys that have ended, rotates
 * the receipt key when it is older than `keys.lifetime`, and rotates the seal
 * key when the key in force is older than that and no next key is published —
 * signing with the embedded root when it is in the data directory and is the
 * root in use. Without it the rotation is reported as due (a log line, and
 * `phonehome_region_key_rotation_due` on every replica's /metrics) for an
 * operator to run `phonehome keys rotate` with the offline root.
 */
import type { LeasedJob } from "../../core/leases/index.ts";
import type { Logger } from "../../core/log/index.ts";
import type { RegionKeyRing } from "./key-ring.ts";
import {
  prepareRotation,
  recordEndedKeys,
  type RegionKeysContext,
  refreshStaleDescriptor,
  rotateReceiptKey,
  signAndPublish,
  usableEmbeddedRoot,
} from "./region-keys.service.ts";

/** The name of the key job's lease and runs. */
export const REGION_KEYS_JOB = "region-keys";

/** Which of the region's keys are due for rotation at `now`, as this replica's key set says. */
export function rotationDue(
  ring: RegionKeyRing,
  lifetimeMs: number,
  now = new Date(),
): { seal: boolean; receipts: boolean } {
  const live = ring.liveKeys(now);
  const inForce = ring.keyInForce(now);
  // No key in force at all: overdue.
  const seal =
    inForce === undefined ||
    (!live.some((k) => Date.parse(k.notBefore) > Date.parse(inForce.notBefore)) &&
      now.getTime() - Date.parse(inForce.notBefore) >= lifetimeMs);
  const receipts = ring.receiptKeys().at(-1);
  return {
    seal,
    receipts: receipts !== undefined && now.getTime() - receipts.notBefore.getTime() >= lifetimeMs,
  };
}

/** The leased job that keeps a region's keys. */
export function regionKeysJob(options: {
  keys: RegionKeysContext;
  ring: RegionKeyRing;
  periodMs: number;
  logger: Logger;
  clock?: () => Date;
}): LeasedJob {
  const { keys, ring, logger } = options;
  const clock = options.clock ?? (() => new Date());
  return {
    name: REGION_KEYS_JOB,
    periodMs: options.periodMs,
    run: async () => {
      const now = clock();
      await ring.reload();
      for (const kid of await recordEndedKeys(keys, now)) logger.info({ kid }, "region seal key ended");
      const due = rotationDue(ring, keys.policy.lifetimeMs, now);
      if (due.receipts) {
        const { kid } = await rotateReceiptKey(keys, now);
        logger.info({ kid }, "receipt key rotated (scheduled); the earlier ones stay published");
      }
      const root = await usableEmbeddedRoot(keys.dataDir);
      if (due.seal) {
        if (root === undefined) {
          logger.warn(
            { region: keys.region.id },
            "the region's seal key is due for rotation: run `phonehome keys rotate --region R --root-key FILE` with the offline root",
          );
        } else {
          const prepared = await prepareRotation(keys, {}, now);
          await signAndPublish(keys, prepared, root, now);
          logger.info({ kid: prepared.kid }, "seal key rotated (scheduled, signed by the embedded root)");
        }
      } else if (root !== undefined) {
        // Keys that ended drop out of the descriptor at its next signing; the embedded root re-signs now.
        await refreshStaleDescriptor(keys, ring.descriptor, now);
      }
      await ring.reload();
    },
  };
}
