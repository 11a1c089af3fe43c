import type { StoredActivation } from "./activation.repository.ts";

/** What a device is told about its activation: when it began, where it is kept, and the warranty. */
export interface ActivationView {
  device: string;
  eventId: string;
  region: string;
  storedIn: string;
  schemaVersion: number;
  activatedAt: string;
  warrantyUntil: string;
}

/** Shapes a stored activation for the device; the stored fields themselves are not echoed. */
export function presentActivation(
  row: StoredActivation,
  region: { id: string; storedIn: string },
): ActivationView {
  return {
    device: row.deviceKey,
    eventId: row.eventId,
    region: region.id,
    storedIn: region.storedIn,
    schemaVersion: row.schemaVersion,
    activatedAt: new Date(row.activatedAt).toISOString(),
    warrantyUntil: new Date(row.warrantyUntil).toISOString(),
  };
}
