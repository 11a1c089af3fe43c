import type { Activation } from "@phonehome/shared";
import type { ActivationReceipt } from "./activation.repository.ts";

/** Shapes a stored activation for the device; the stored fields themselves are not echoed. */
export function presentActivation(
  row: ActivationReceipt,
  region: { id: string; storedIn: string },
): Activation {
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
