/** Activation: the first accepted activation of a device starts its warranty; repeats return it unchanged. */
import type { Envelope } from "@phonehome/sdk";
import { admitEnvelope, type IntakeContext, writeThrough } from "../ingest/index.ts";
import { activationWrites } from "./activation.table.ts";
import type { ActivationReceipt } from "./activation.repository.ts";

/** The outcome of an activation request. */
export interface ActivationOutcome {
  activation: ActivationReceipt;
  /** True when the device had already activated: nothing new was stored. */
  replayed: boolean;
}

/** Checks, stores (after commit) and answers one activation envelope. */
export async function activate(
  ctx: IntakeContext,
  envelope: Envelope,
  now = new Date(),
): Promise<ActivationOutcome> {
  const accepted = await admitEnvelope(ctx, envelope, "activation", now);
  // The warranty starts on the day the region first accepted the activation, by
  // the collector's clock, which a device cannot set back. Only the day is kept.
  const day = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  const { result } = await writeThrough(
    ctx.writer,
    activationWrites,
    {
      deviceKey: accepted.device.deviceKey,
      eventId: envelope.eventId,
      schemaVersion: envelope.schemaVersion,
      data: accepted.data,
      activatedAt: day,
      warrantyUntil: addMonths(day, accepted.device.warrantyMonths),
      expiresAt: accepted.collection.expiresAt(now),
    },
    accepted.ledger,
  );
  return { activation: result.stored, replayed: result.replayed };
}

/** `date` plus whole calendar months, in UTC; the day is clamped to the month's last day. */
export function addMonths(date: Date, months: number): Date {
  const out = new Date(date.getTime());
  const day = out.getUTCDate();
  out.setUTCDate(1);
  out.setUTCMonth(out.getUTCMonth() + months);
  const last = new Date(Date.UTC(out.getUTCFullYear(), out.getUTCMonth() + 1, 0)).getUTCDate();
  out.setUTCDate(Math.min(day, last));
  return out;
}
