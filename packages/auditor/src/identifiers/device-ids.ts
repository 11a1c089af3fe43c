/**
 * Software-assigned device identifiers, recognised only under a key that
 * names them, because their shapes (16 hex characters, UUIDs, short
 * alphanumerics) are everywhere: the Android ID (SSAID, 64-bit, 16 hex), the
 * advertising IDs (GAID/AAID, IDFA, OAID: UUIDs; some OAID vendors use 32 or
 * 64 hex), and hardware serial numbers.
 */
import type { IdentifierMatch } from "../types.ts";
import type { KeyContext } from "./context.ts";
import { eachMatch, isDigits, isOneCharacter } from "./match.ts";

/** The Android 2.2 bug: one ANDROID_ID shared by many devices. */
const SHARED_ANDROID_ID = "9774d56d682e549c";

/** A UUID, 8-4-4-4-12 hex, with boundaries. */
const UUID =
  /(?<![0-9A-Za-z-])[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![0-9A-Za-z-])/g;

/** The all-zero UUID: what devices send when the user has limited ad tracking. */
const ZERO_UUID = /^[0-]+$/;

/** Serial numbers that are defaults, not a device's own. */
const SERIAL_PLACEHOLDERS = new Set(["0123456789abcdef", "0123456789", "1234567890", "123456789", "unknown"]);

/** An Android ID or a dash-less advertising ID in a hex token, under a key that names it. */
export function recogniseDeviceHex(token: string, context: KeyContext): IdentifierMatch | null {
  if (isOneCharacter(token)) return null;
  if (token.length === 16 && (context.androidId || context.deviceId)) return androidId(token, context);
  if (context.advertising && (token.length === 32 || token.length === 64)) {
    return {
      kind: "advertising-id",
      value: token,
      confidence: "medium",
      detail: `${token.length} hex, no dashes`,
    };
  }
  return null;
}

function androidId(token: string, context: KeyContext): IdentifierMatch {
  if (token.toLowerCase() === SHARED_ANDROID_ID) {
    return {
      kind: "android-id",
      value: token,
      confidence: "low",
      detail: "the Android 2.2 ID shared by many devices",
    };
  }
  const confidence = context.androidId ? "high" : "medium";
  const detail = context.androidId ? "64-bit Android ID (SSAID)" : "16 hex under a device-id key";
  return { kind: "android-id", value: token, confidence, detail };
}

/** Advertising-ID UUIDs in `text`, under an advertising key; the all-zero placeholder is skipped. */
export function scanAdvertisingIds(
  text: string,
  context: KeyContext,
  visit: (match: IdentifierMatch) => void,
): void {
  if (!context.advertising || text.length < 36) return;
  eachMatch(UUID, text, (found) => {
    if (ZERO_UUID.test(found[0])) return;
    visit({
      kind: "advertising-id",
      value: found[0],
      confidence: "high",
      detail: "UUID under an advertising-ID key",
    });
  });
}

/**
 * A serial number: the whole value under a serial key, 6–20 letters and
 * digits with at least one digit, not a placeholder.
 */
export function recogniseSerial(value: string, context: KeyContext): IdentifierMatch | null {
  if (!context.serial || value.length < 6 || value.length > 20) return null;
  if (!/^[A-Za-z0-9]+$/.test(value) || !/\d/.test(value)) return null;
  if (isOneCharacter(value) || SERIAL_PLACEHOLDERS.has(value.toLowerCase())) return null;
  if (isDigits(value) && /^0+$/.test(value.slice(1))) return null;
  const confidence = context.serialWeak ? "medium" : "high";
  return { kind: "serial", value, confidence, detail: "under a serial-number key" };
}
