/**
 * Small helpers shared by the recognisers: collecting matches without
 * duplicates, visiting a possible match, lowering a confidence, scanning with a shared global regex, and
 * the junk-digit tests (all one digit, counting up or down) that rule out
 * placeholders and counters.
 */
import type { Confidence, IdentifierMatch } from "../types.ts";

/** Adds `match` unless the same kind and value is already in `found`. */
export function addMatch(found: IdentifierMatch[], match: IdentifierMatch | null): void {
  if (match === null) return;
  for (const existing of found) {
    if (existing.kind === match.kind && existing.value === match.value) return;
  }
  found.push(match);
}

/** True when some match already reports exactly `value`, whatever its kind. */
export function hasValue(found: IdentifierMatch[], value: string): boolean {
  return found.some((match) => match.value === value);
}

/** Calls `visit` with the match, when there is one. */
export function visitIf(match: IdentifierMatch | null, visit: (match: IdentifierMatch) => void): void {
  if (match !== null) visit(match);
}

/** One step less sure. */
export function lower(confidence: Confidence): Confidence {
  return confidence === "high" ? "medium" : "low";
}

/**
 * Calls `visit` for every match of a global regex. The regexes are module
 * constants shared by all calls; scanning is synchronous, so resetting
 * `lastIndex` first is enough.
 */
export function eachMatch(pattern: RegExp, text: string, visit: (match: RegExpExecArray) => void): void {
  pattern.lastIndex = 0;
  for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) visit(match);
}

/** True when every character is an ASCII digit (and there is at least one). */
export function isDigits(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 48 || code > 57) return false;
  }
  return true;
}

/** True when every character is the same one: "000000000000000", "ffffffff". */
export function isOneCharacter(text: string): boolean {
  const first = text[0];
  for (let i = 1; i < text.length; i++) if (text[i] !== first) return false;
  return true;
}

/**
 * True when the digits count up or down by one throughout ("123456789012345",
 * "987654321098765"), wrapping 9↔0; the last digit (a check digit) is ignored.
 */
export function isSequential(digits: string): boolean {
  const body = digits.slice(0, -1);
  return stepsBy(body, 1) || stepsBy(body, 9);
}

function stepsBy(digits: string, step: number): boolean {
  for (let i = 1; i < digits.length; i++) {
    if ((digits.charCodeAt(i - 1) - 48 + step) % 10 !== digits.charCodeAt(i) - 48) return false;
  }
  return true;
}

/** The length of the longest run of one repeated character. */
export function longestRepeat(text: string): number {
  let longest = text.length > 0 ? 1 : 0;
  let current = 1;
  for (let i = 1; i < text.length; i++) {
    current = text[i] === text[i - 1] ? current + 1 : 1;
    if (current > longest) longest = current;
  }
  return longest;
}

/** True for digits that no real identifier has: one repeated digit, or counting up or down. */
export function isJunkDigits(digits: string): boolean {
  return isOneCharacter(digits) || isSequential(digits);
}
