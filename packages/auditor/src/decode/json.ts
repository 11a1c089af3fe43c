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

/**
 * Containers nested deeper than this are not walked: the values inside them
 * are not leaves. Real payloads nest a handful of levels; 200 000 nested "["
 * would otherwise cost a path step of 600 000 characters.
 */
export const MAX_JSON_DEPTH = 64;

/** A container being walked: its items (array) or entries (object), and the next to visit. */
interface Frame {
  step: string;
  key: string | undefined;
  depth: number;
  items: unknown[] | null;
  entries: [string, unknown][] | null;
  next: number;
}

/**
 * Every string, number and boolean in the document, depth first, in document
 * order, lazily (a caller that stops early builds no further paths). Walked
 * with an explicit stack, so nesting depth cannot overflow the call stack;
 * containers nested MAX_JSON_DEPTH levels deep or more are skipped.
 */
export function* jsonScalars(root: unknown): Generator<JsonScalar> {
  const top = scalar(root, "json", undefined);
  if (top !== null) {
    yield top;
    return;
  }
  const stack: Frame[] = [];
  pushContainer(stack, root, "json", undefined, 0);
  for (let frame = stack.at(-1); frame !== undefined; frame = stack.at(-1)) {
    const index = frame.next;
    frame.next += 1;
    let value: unknown;
    let step: string;
    let key: string | undefined;
    if (frame.items !== null) {
      if (index >= frame.items.length) {
        stack.pop();
        continue;
      }
      value = frame.items[index];
      step = `${frame.step}[${index}]`;
      key = frame.key;
    } else {
      const entry = frame.entries?.[index];
      if (entry === undefined) {
        stack.pop();
        continue;
      }
      value = entry[1];
      step = `${frame.step}${propertyStep(entry[0])}`;
      key = entry[0].toLowerCase();
    }
    const found = scalar(value, step, key);
    if (found !== null) yield found;
    else if (frame.depth + 1 < MAX_JSON_DEPTH) pushContainer(stack, value, step, key, frame.depth + 1);
  }
}

function scalar(value: unknown, step: string, key: string | undefined): JsonScalar | null {
  if (typeof value === "string" || typeof value === "boolean" || value instanceof JsonNumber) {
    return { step, key, value };
  }
  if (typeof value === "number") return { step, key, value: new JsonNumber(String(value)) };
  return null;
}

function pushContainer(
  stack: Frame[],
  value: unknown,
  step: string,
  key: string | undefined,
  depth: number,
): void {
  if (Array.isArray(value)) {
    stack.push({ step, key, depth, items: value, entries: null, next: 0 });
  } else if (value !== null && typeof value === "object") {
    stack.push({ step, key, depth, items: null, entries: Object.entries(value), next: 0 });
  }
}

function propertyStep(name: string): string {
  return IDENTIFIER.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
}
