/**
 * JSON for the decoder: parsed so that numbers keep their source text (an
 * ICCID written as a bare number has 19–20 digits, beyond a double's
 * precision), and walked to its scalars with a path like `json.a.b[0].c`.
 */

/** A JSON number as written in the source. */
export class JsonNumber {
  readonly source: string;

  constructor(source: string) {
    this.source = source;
  }
}

/** A scalar reached in a JSON document, with its path step and nearest property name. */
export interface JsonScalar {
  /** `json.a.b[0].c`; names that are not identifiers are quoted: `json["a b"]`. */
  step: string;
  /** The nearest property name, lower-cased; undefined at the top of an array. */
  key: string | undefined;
  value: string | JsonNumber | boolean;
}

/** Digit runs this long cannot round-trip through a double; only then is the slower reviver used. */
const LONG_NUMBER = /\d{16}/;
const IDENTIFIER = /^[A-Za-z_$][\w$-]*$/;

/** The parsed value when the text is a JSON object, array or string; else undefined. Never throws. */
export function parseJson(text: string): unknown {
  const trimmed = text.trim();
  const first = trimmed[0];
  if (first !== "{" && first !== "[" && first !== '"') return undefined;
  try {
    return LONG_NUMBER.test(trimmed) ? JSON.parse(trimmed, keepNumberSource) : JSON.parse(trimmed);
  } catch {
    return undefined;
  }
}

/** A reviver using the source-text-access context (V8 ≥ 11.4) to keep numbers exact. */
function keepNumberSource(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value === "number" && context?.source !== undefined) return new JsonNumber(context.source);
  return value;
}

/** Every string, number and boolean in the document, depth first, in document order. */
export function jsonScalars(root: unknown): JsonScalar[] {
  const out: JsonScalar[] = [];
  collect(root, "json", undefined, out);
  return out;
}

function collect(value: unknown, step: string, key: string | undefined, out: JsonScalar[]): void {
  if (typeof value === "string" || typeof value === "boolean" || value instanceof JsonNumber) {
    out.push({ step, key, value });
  } else if (typeof value === "number") {
    out.push({ step, key, value: new JsonNumber(String(value)) });
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => collect(item, `${step}[${i}]`, key, out));
  } else if (value !== null && typeof value === "object") {
    for (const [name, item] of Object.entries(value)) {
      collect(item, `${step}${propertyStep(name)}`, name.toLowerCase(), out);
    }
  }
}

function propertyStep(name: string): string {
  return IDENTIFIER.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
}
