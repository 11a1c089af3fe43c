/**
 * The device's own identifiers, from a file the user keeps (YAML or JSON:
 * kind → value or list of values), found in traffic verbatim or as an MD5,
 * SHA-1 or SHA-256 digest written as hex (lower or upper case) or as base64
 * (standard or URL-safe) of the raw digest. Finding a hash of an IMEI is
 * finding the IMEI: a digest of a 15-digit number is reversed in seconds.
 *
 * All needles go into one regex, built once, so each value is scanned once
 * whatever the number of known identifiers.
 */
import { createHash } from "node:crypto";
import { parseDocument } from "yaml";
import type { IdentifierMatch } from "../types.ts";
import { eachMatch } from "./match.ts";

/** One identifier the user says the device has. */
export interface KnownIdentifier {
  kind: string;
  value: string;
}

/** What a needle stands for. */
interface Needle {
  detail: string;
  hashOf?: string;
}

/** Shorter values would match everywhere. */
const MIN_VALUE_LENGTH = 4;
const MAX_VALUE_LENGTH = 256;
const MAX_IDENTIFIERS = 1000;
const KIND = /^[a-z0-9][a-z0-9_.-]{0,31}$/;
const ALGORITHMS = ["md5", "sha1", "sha256"] as const;
const ALGORITHM_NAMES = { md5: "MD5", sha1: "SHA-1", sha256: "SHA-256" } as const;
const MAC_LIKE = /^[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}$/;

/**
 * Known identifiers of the device, matched verbatim and as MD5/SHA-1/SHA-256
 * digests (hex in either case, base64 and base64url of the raw digest).
 * Values shorter than 4 characters are ignored.
 */
export function knownIdentifiers(list: { kind: string; value: string }[]): {
  find(text: string): IdentifierMatch[];
} {
  const needles = new Map<string, Needle>();
  for (const { kind, value } of list) {
    const trimmed = value.trim();
    if (trimmed.length < MIN_VALUE_LENGTH) continue;
    addNeedles(needles, kind, trimmed);
  }
  if (needles.size === 0) return { find: () => [] };
  const pattern = needlePattern([...needles.keys()]);
  return { find: (text) => findNeedles(text, pattern, needles) };
}

/** The value as written and in the other forms a device may send it in, then the digests of each. */
function addNeedles(needles: Map<string, Needle>, kind: string, value: string): void {
  for (const form of writtenForms(value)) {
    if (!needles.has(form)) needles.set(form, { detail: `known ${kind}` });
  }
  for (const form of hashedForms(value)) {
    for (const algorithm of ALGORITHMS) {
      const digest = createHash(algorithm).update(form).digest();
      const hashOf = `${algorithm} of ${kind}`;
      const name = ALGORITHM_NAMES[algorithm];
      const hex = digest.toString("hex");
      setFirst(needles, hex, { detail: `${name} hex of known ${kind}`, hashOf });
      setFirst(needles, hex.toUpperCase(), { detail: `${name} HEX of known ${kind}`, hashOf });
      setFirst(needles, digest.toString("base64"), { detail: `${name} base64 of known ${kind}`, hashOf });
      setFirst(needles, digest.toString("base64url"), {
        detail: `${name} base64url of known ${kind}`,
        hashOf,
      });
    }
  }
}

function setFirst(needles: Map<string, Needle>, key: string, needle: Needle): void {
  if (!needles.has(key)) needles.set(key, needle);
}

/** Forms matched verbatim: as given, and for a MAC also other case and no separators. */
function writtenForms(value: string): string[] {
  if (!MAC_LIKE.test(value)) return [value];
  const bare = value.replace(/[:-]/g, "");
  const colons = value.replace(/-/g, ":");
  return unique([value, colons.toLowerCase(), colons.toUpperCase(), bare.toLowerCase(), bare.toUpperCase()]);
}

/** Inputs hashed: as given, and in lower and upper case (hex identifiers are hashed in either). */
function hashedForms(value: string): string[] {
  return unique([...writtenForms(value), value.toLowerCase(), value.toUpperCase()]);
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

/** One alternation, longest first, each needle whole (not inside a longer run of letters or digits). */
function needlePattern(needles: string[]): RegExp {
  const alternatives = needles.sort((a, b) => b.length - a.length).map(escapeRegExp);
  return new RegExp(`(?<![0-9A-Za-z])(?:${alternatives.join("|")})(?![0-9A-Za-z])`, "g");
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

function findNeedles(text: string, pattern: RegExp, needles: Map<string, Needle>): IdentifierMatch[] {
  const found: IdentifierMatch[] = [];
  const seen = new Set<string>();
  eachMatch(pattern, text, (match) => {
    const value = match[0];
    const needle = needles.get(value);
    if (needle === undefined || seen.has(value)) return;
    seen.add(value);
    const result: IdentifierMatch = { kind: "known", value, confidence: "high", detail: needle.detail };
    if (needle.hashOf !== undefined) result.hashOf = needle.hashOf;
    found.push(result);
  });
  return found;
}

/**
 * Parses the known-identifiers file: YAML or JSON mapping kind → value or
 * list of values (`imei: ["356938035643809"]`, `serial: PH123`). Every
 * scalar is read as text (YAML's failsafe schema), so long numbers keep all
 * their digits and leading zeros. Throws an Error naming the problem.
 */
export function parseKnownIdentifiers(text: string): KnownIdentifier[] {
  const document = parseDocument(text, { schema: "failsafe", uniqueKeys: true, prettyErrors: true });
  const [error] = document.errors;
  if (error !== undefined) throw new Error(`known identifiers: not valid YAML or JSON: ${error.message}`);
  const root: unknown = document.toJS();
  if (root === null || root === undefined || root === "") return [];
  if (typeof root !== "object" || Array.isArray(root)) {
    throw new Error(
      'known identifiers: expected a mapping of kind to value or list of values, e.g. `imei: ["…"]`',
    );
  }
  const identifiers: KnownIdentifier[] = [];
  for (const [rawKind, values] of Object.entries(root)) {
    const kind = checkKind(rawKind);
    for (const [index, value] of valuesOf(kind, values).entries()) {
      identifiers.push({ kind, value: checkValue(kind, index, value) });
    }
  }
  if (identifiers.length > MAX_IDENTIFIERS) {
    throw new Error(
      `known identifiers: ${identifiers.length} values; at most ${MAX_IDENTIFIERS} are supported`,
    );
  }
  return dedupe(identifiers);
}

function checkKind(rawKind: string): string {
  const kind = rawKind.trim().toLowerCase();
  if (!KIND.test(kind)) {
    throw new Error(
      `known identifiers: kind "${rawKind}" must be a short name of letters, digits, "_", "." or "-"`,
    );
  }
  return kind;
}

function valuesOf(kind: string, values: unknown): unknown[] {
  if (Array.isArray(values)) return values;
  if (typeof values === "string") return [values];
  throw new Error(`known identifiers: "${kind}" must be a value or a list of values, not a mapping`);
}

function checkValue(kind: string, index: number, value: unknown): string {
  const where = `known identifiers: ${kind} value #${index + 1}`;
  if (typeof value !== "string") throw new Error(`${where} must be text or a number, not a list or mapping`);
  const trimmed = value.trim();
  if (trimmed.length < MIN_VALUE_LENGTH) {
    throw new Error(
      `${where} is too short (at least ${MIN_VALUE_LENGTH} characters, or it would match everywhere)`,
    );
  }
  if (trimmed.length > MAX_VALUE_LENGTH)
    throw new Error(`${where} is longer than ${MAX_VALUE_LENGTH} characters`);
  return trimmed;
}

function dedupe(identifiers: KnownIdentifier[]): KnownIdentifier[] {
  const seen = new Set<string>();
  return identifiers.filter(({ kind, value }) => {
    const key = `${kind}\u0000${value}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
