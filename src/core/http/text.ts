/**
 * Text that PostgreSQL cannot store as it was sent: U+0000, which neither
 * `text` nor `jsonb` takes, and a UTF-16 surrogate without its pair, which
 * `jsonb` refuses and the way into `text` turns into U+FFFD. Every route
 * refuses such text at the boundary, in keys as in values, before anything is
 * stored, and so does the intake inside an opened payload
 * (docs/decisions/0026).
 */

/** Where the first unstorable text in `value` is (a JSON pointer below it) and what is wrong with it. */
export interface UnstorableText {
  path: string;
  /** Says what is wrong, to follow the path in a message: "contains U+0000 …". */
  problem: string;
}

function pointerPart(key: string | number): string {
  return String(key).replaceAll("~", "~0").replaceAll("/", "~1");
}

function problemOf(text: string): string | undefined {
  if (text.includes("\u0000")) return "contains U+0000 (NUL), which cannot be stored";
  if (!text.isWellFormed()) return "contains a UTF-16 surrogate without its pair, which is not a character";
  return undefined;
}

/**
 * The first string or key in `value` (parsed JSON, a query or path
 * parameters) that cannot be stored as sent, or undefined when there is none.
 * Walks without recursion, so that no nesting depth can exhaust the stack.
 *
 * Nearly every value has none: a first walk only looks, and the walk that
 * builds JSON pointers (a string per node) runs only when it found something.
 */
export function findUnstorableText(value: unknown): UnstorableText | undefined {
  return hasUnstorableText(value) ? locateUnstorableText(value) : undefined;
}

/** Whether any string or key in `value` cannot be stored as sent. */
function hasUnstorableText(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === "string") {
      if (problemOf(v) !== undefined) return true;
    } else if (Array.isArray(v)) {
      for (const inner of v) stack.push(inner);
    } else if (typeof v === "object" && v !== null) {
      for (const key in v) {
        if (!Object.hasOwn(v, key)) continue;
        if (problemOf(key) !== undefined) return true;
        stack.push((v as Record<string, unknown>)[key]);
      }
    }
  }
  return false;
}

/** Where the first unstorable text in `value` is, in the order a reader meets it. */
function locateUnstorableText(value: unknown): UnstorableText | undefined {
  const stack: { value: unknown; path: string }[] = [{ value, path: "" }];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const { value: v, path } = next;
    if (typeof v === "string") {
      const problem = problemOf(v);
      if (problem) return { path, problem };
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], path: `${path}/${i}` });
    } else if (typeof v === "object" && v !== null) {
      const entries = Object.entries(v);
      for (const [key] of entries) {
        const problem = problemOf(key);
        if (problem) return { path: `${path}/${pointerPart(key)}`, problem: `has a name that ${problem}` };
      }
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, inner] = entries[i] as [string, unknown];
        stack.push({ value: inner, path: `${path}/${pointerPart(key)}` });
      }
    }
  }
  return undefined;
}
