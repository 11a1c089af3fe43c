/** A consent decision, checked on the device before it goes anywhere. */
import type { ConsentMethod } from "@phonehome/shared";
import type { ConsentDecision } from "./client-types.ts";
import { SdkError } from "./errors.ts";

// The region's own rules (@phonehome/shared's LANGUAGE_PATTERN and CONSENT_METHODS), restated here
// because the SDK takes only types from that package; consent-decision.test.ts holds them equal.
export const LANGUAGE = /^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$/;
// Every method the region takes, each once: a method added there fails to compile here.
const METHODS: Record<ConsentMethod, true> = { "device-settings": true, "setup-wizard": true, portal: true };
export const CONSENT_METHODS = Object.keys(METHODS) as readonly string[];

/** Checks a consent decision before it goes anywhere; throws `sdk.options_invalid`. */
export function validateDecision(decision: ConsentDecision): ConsentDecision {
  const d = decision as unknown as Record<string, unknown>;
  const bad = (why: string): never => {
    throw new SdkError("sdk.options_invalid", `consent decision: ${why}`);
  };
  if (typeof d !== "object" || d === null) bad("must be an object");
  if (typeof d.granted !== "boolean") bad("granted must be true or false");
  const v = d.noticeVersion;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 999_999) {
    bad("noticeVersion must be a whole number from 1 to 999999");
  }
  if (typeof d.language !== "string" || !LANGUAGE.test(d.language))
    bad("language must be a BCP 47 tag like en");
  if (typeof d.method !== "string" || !CONSENT_METHODS.includes(d.method)) {
    bad(`method must be one of ${CONSENT_METHODS.join(", ")}`);
  }
  // Only the four fields: the route refuses anything else, and nothing else should leave the device.
  return {
    granted: decision.granted,
    noticeVersion: decision.noticeVersion,
    language: decision.language,
    method: decision.method,
  };
}
