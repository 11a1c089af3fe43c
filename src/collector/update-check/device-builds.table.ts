/**
 * The device_builds table, described once: the build each device last
 * reported, written by the update check itself (one row a device, replaced at
 * each check), shown to its owner, deleted by an erasure, expired by the
 * update-check collection's retention.
 */
import { deletedEntry, type DeviceTable } from "../device-data/index.ts";
import { eraseDeviceBuild, findDeviceBuild } from "./device-builds.repository.ts";

export const deviceBuildsTable: DeviceTable = {
  name: "device_builds",
  holds: "collected",
  stores: (collection) => collection === "update.check",
  owner: {
    async all(q, device, dictionary) {
      const reported = await findDeviceBuild(q, device.key);
      if (reported === null) return [];
      return [
        {
          collection: dictionary.get("update.check", reported.schemaVersion),
          collectionName: "update.check",
          schemaVersion: reported.schemaVersion,
          data: { build: reported.build },
          storedAt: reported.receivedAt,
          expiresAt: reported.expiresAt,
          facts: { batch: reported.batch, market: reported.market },
        },
      ];
    },
  },
  async erase(tx, { device }) {
    const reported = await eraseDeviceBuild(tx, device.key);
    return {
      deleted: [
        deletedEntry(
          "device_builds",
          reported === null ? [] : [[device.key, reported.expiresAt.toISOString()]],
        ),
      ],
      kept: [],
    };
  },
  expiry: {
    keys: [{ column: "device_key", type: "text" }],
    collection: "'update.check'",
    fieldClock: "received_at",
  },
};
