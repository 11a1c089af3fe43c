/**
 * User Experience Program diagnostics on the device: the event shape, its
 * local validation, and the owner's consent as the device knows it.
 *
 * Events are checked here, when they are recorded, against the fields of
 * `uep.diagnostics` v1 (a copy of `dictionary/uep.diagnostics/v1.yaml`: the
 * SDK stands alone). The collector refuses a whole batch for one bad event, so
 * a bad event must fail on its own, at once, in the caller's hands.
 *
 * The consent state lives in `consent.json` in the queue directory, written
 * atomically; a missing or unreadable file means "unknown", which holds
 * events and sends nothing: the safe side.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { SdkError } from "./errors.ts";
import { writeFileAtomic } from "./files.ts";

/** The path diagnostics batches are POSTed to. */
export const DIAGNOSTICS_PATH = "/v1/diagnostics";
/** The collection (and the consent purpose) of diagnostics events. */
export const DIAGNOSTICS_COLLECTION = "uep.diagnostics";
/** The schema version of the payload the SDK seals. */
export const DIAGNOSTICS_SCHEMA_VERSION = 1;
/** Name of the file, in the queue directory, that holds the consent state. */
export const CONSENT_FILE = "consent.json";
/** Most events a collector accepts in one envelope. */
export const MAX_BATCH_EVENTS = 500;

/** The owner's decision as the device knows it; only `granted` lets events leave the device. */
export type ConsentState = "granted" | "refused" | "withdrawn" | "unknown";

/** Every consent state, for validation. */
export const CONSENT_STATES: readonly ConsentState[] = ["granted", "refused", "withdrawn", "unknown"];

/** The consent state with when and why it was set. */
export interface ConsentRecord {
  state: ConsentState;
  /** When it was set, RFC 3339 UTC; absent when never set. */
  changedAt?: string;
  /**
   * Who set it: `owner` through `setConsent`, or `collector` when the collector answered
   * `consent.required` to a batch while the device believed `granted` (the state went back to `unknown`).
   */
  cause?: "owner" | "collector";
}

/** The figures of one `uep.diagnostics` v1 event. `build` defaults to the identity's build. */
export interface DiagnosticsData {
  /** Build number the figures were measured on. */
  build?: string;
  /** Remaining battery capacity against design capacity, whole percent, 0..100. */
  batteryHealthPercent: number;
  /** Charge cycles, 0..100000 (the collector coarsens to tens). */
  batteryCycles: number;
  /** Application crashes since the previous event, 0..100000. */
  crashCount: number;
  /** Application-not-responding events since the previous event, 0..100000. */
  anrCount: number;
  /** Thermal throttling events since the previous event, 0..100000. */
  thermalEvents: number;
}

/** One event exactly as it goes into a sealed batch. */
export interface DiagnosticsEvent {
  /** UUID (v4, lower case); the collector stores an event once by it. */
  id: string;
  /** When it happened on the device, RFC 3339 UTC: the original time, kept however late it is sent. */
  at: string;
  data: Required<DiagnosticsData>;
}

// Mirrors dictionary/uep.diagnostics/v1.yaml: integer fields and their bounds.
const INTEGER_FIELDS: Record<string, { min: number; max: number }> = {
  batteryHealthPercent: { min: 0, max: 100 },
  batteryCycles: { min: 0, max: 100_000 },
  crashCount: { min: 0, max: 100_000 },
  anrCount: { min: 0, max: 100_000 },
  thermalEvents: { min: 0, max: 100_000 },
};
const BUILD = /^[0-9A-Z]{2}[A-Z]{2,3}_[0-9A-Z]{1,8}(_[0-9A-Z]{1,8}){0,5}$/;
const BUILD_MAX = 48;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Checks one event against `uep.diagnostics` v1 and returns it in wire form; throws `sdk.event_invalid`
 * naming the field (an undeclared field, a wrong type, a value out of range, a time in the future).
 */
export function validateDiagnosticsEvent(
  id: string,
  data: unknown,
  at: Date,
  now: number,
  defaultBuild: string,
): DiagnosticsEvent {
  const bad = (field: string, why: string): never => {
    throw new SdkError("sdk.event_invalid", `${DIAGNOSTICS_COLLECTION} event ${field}: ${why}`);
  };
  if (!UUID.test(id)) bad("id", "must be a lower-case UUID");
  if (!(at instanceof Date) || !Number.isFinite(at.getTime())) bad("at", "must be a valid Date");
  // Epoch 0 .. now: the collector refuses an event from the future, and with it the whole batch.
  if (at.getTime() < 0) bad("at", "lies before 1970");
  if (at.getTime() > now) bad("at", `${at.toISOString()} lies in the future`);
  if (typeof data !== "object" || data === null || Array.isArray(data)) bad("data", "must be an object");
  const d = data as Record<string, unknown>;
  for (const key of Object.keys(d)) {
    // Anything not declared would have the collector refuse the batch; and it must not leave the device.
    if (key !== "build" && !(key in INTEGER_FIELDS)) bad(`data.${key}`, "is not a declared field");
  }
  const build = d.build === undefined ? defaultBuild : d.build;
  if (typeof build !== "string" || build.length > BUILD_MAX || !BUILD.test(build)) {
    bad("data.build", "must be a build number like 00WW_3_39B_SP03");
  }
  const out: Record<string, unknown> = { build };
  for (const [field, { min, max }] of Object.entries(INTEGER_FIELDS)) {
    const v = d[field];
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      bad(`data.${field}`, `must be a whole number from ${min} to ${max}`);
    }
    out[field] = v;
  }
  return { id, at: at.toISOString(), data: out as Required<DiagnosticsData> };
}

/** `value` as an event the device wrote itself (read back from its encrypted files), or undefined if it is not one. */
export function asDiagnosticsEvent(value: unknown): DiagnosticsEvent | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const e = value as Record<string, unknown>;
  if (typeof e.id !== "string" || typeof e.at !== "string" || typeof e.data !== "object" || e.data === null) {
    return undefined;
  }
  return value as DiagnosticsEvent;
}

/** Throws `sdk.options_invalid` unless `state` is a consent state. */
export function assertConsentState(state: unknown): asserts state is ConsentState {
  if (typeof state !== "string" || !(CONSENT_STATES as readonly string[]).includes(state)) {
    throw new SdkError(
      "sdk.options_invalid",
      `consent state must be one of ${CONSENT_STATES.join(", ")}, not ${JSON.stringify(state)}`,
    );
  }
}

/** Reads the consent state from `dir`; anything missing or malformed reads as `unknown` (events are held). */
export async function readConsent(dir: string): Promise<ConsentRecord> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(join(dir, CONSENT_FILE), "utf8"));
  } catch {
    return { state: "unknown" };
  }
  if (typeof parsed !== "object" || parsed === null) return { state: "unknown" };
  const p = parsed as Record<string, unknown>;
  if (typeof p.state !== "string" || !(CONSENT_STATES as readonly string[]).includes(p.state)) {
    return { state: "unknown" };
  }
  return {
    state: p.state as ConsentState,
    ...(typeof p.changedAt === "string" ? { changedAt: p.changedAt } : {}),
    ...(p.cause === "owner" || p.cause === "collector" ? { cause: p.cause } : {}),
  };
}

/** Writes the consent state to `dir` atomically (temp file, fsync, rename). */
export async function writeConsent(dir: string, record: ConsentRecord): Promise<void> {
  const body = { purpose: DIAGNOSTICS_COLLECTION, ...record };
  await writeFileAtomic(join(dir, CONSENT_FILE), `${JSON.stringify(body)}\n`, 0o600);
}
