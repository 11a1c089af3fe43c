/**
 * The marker of an acknowledged activation (`activated.json` in the queue
 * directory): which activation the collector acknowledged, when, and its
 * answer. The queue and the idempotent server remain the truth; the marker
 * spares a device asking again.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ACTIVATION_MARKER, type ActivationAnswer, type ActivationState } from "./client-types.ts";
import { writeFileAtomic } from "./files.ts";

/** Records that activation `eventId` was acknowledged at `at` with `answer`. */
export async function writeActivationMarker(
  dir: string,
  eventId: string,
  at: Date,
  answer: unknown,
): Promise<void> {
  const marker = { eventId, acknowledgedAt: at.toISOString(), answer };
  await writeFileAtomic(join(dir, ACTIVATION_MARKER), `${JSON.stringify(marker)}\n`, 0o600);
}

/** The acknowledged activation the marker in `dir` records, or undefined when there is none readable. */
export async function readActivationMarker(dir: string): Promise<ActivationState | undefined> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(join(dir, ACTIVATION_MARKER), "utf8"));
  } catch {
    // Missing or unreadable: the queue (and the idempotent server) remain the truth.
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const m = parsed as Record<string, unknown>;
  if (typeof m.eventId !== "string" || typeof m.acknowledgedAt !== "string") return undefined;
  return {
    state: "activated",
    eventId: m.eventId,
    acknowledgedAt: m.acknowledgedAt,
    answer: asActivationAnswer(m.answer),
  };
}

export function asActivationAnswer(value: unknown): ActivationAnswer {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as ActivationAnswer)
    : {};
}
