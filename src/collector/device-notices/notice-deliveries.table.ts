/**
 * The notice_deliveries table, described once: which incident notices a
 * device was sent and when it got them. Proof that the owner was told: an
 * erasure keeps it, and it expires `retention.records` after each was sent.
 */
import type { DeviceTable } from "../device-data/index.ts";
import { findDeviceNotices } from "./device-notices.repository.ts";

export const noticeDeliveriesTable: DeviceTable = {
  name: "notice_deliveries",
  holds: "proof",
  stores: () => false,
  async erase(tx, { device, recordsRetention }) {
    const notices = await findDeviceNotices(tx, device.key);
    return {
      deleted: [],
      kept: [
        {
          collection: "notice_deliveries",
          count: notices.length,
          reason: `notices of incidents sent to the device and when it got them: the proof that the owner was told, kept for ${recordsRetention.duration} after each was sent; no payload is kept with it`,
          legalBasis: "legal_obligation",
          until: notices.reduce<string | null>(
            (last, n) => (last === null || n.expiresAt > last ? n.expiresAt : last),
            null,
          ),
        },
      ],
    };
  },
  expiry: {
    keys: [
      { column: "device_key", type: "text" },
      { column: "notice", type: "text" },
    ],
    collection: null,
    fieldClock: null,
  },
};
