/**
 * What a proposed collection version changes, for its reviewer: a list of
 * changes in words, each marked when it asks for more (a new collection, a new
 * field, a wider retention, a new region, a higher sensitivity, weaker
 * protection), and the unified diff of the two versions as YAML.
 */
import { createTwoFilesPatch } from "diff";
import { stringify } from "yaml";
import type { CollectionFile, FieldDeclaration } from "../../core/dictionary/index.ts";
import { CollectionFileSchema, FieldSchema } from "../../core/dictionary/index.ts";
import { outlasts, parseRetention } from "../../core/calendar/index.ts";

/** A version without its approval record: what is proposed and reviewed. */
export type VersionContent = Omit<CollectionFile, "approval">;

/** One change, in words. */
export interface Change {
  kind:
    | "collection.new"
    | "renewal"
    | "field.added"
    | "field.removed"
    | "retention.wider"
    | "retention.shorter"
    | "region.added"
    | "region.removed"
    | "sensitivity.higher"
    | "sensitivity.lower"
    | "changed";
  /** A JSON pointer into the proposed version (or the base, for what was removed). */
  path: string;
  text: string;
  /** True when the change asks for more data, keeps it longer or wider, or protects it less. */
  widens: boolean;
}

// Less protection first: a value kept in clear is more than a pseudonym, which is more than a day or a bucket.
const PROTECTION: Readonly<Record<string, number>> = { drop: 0, coarsen: 1, pseudonymise: 2, keep: 3 };

/** The changes from `base` (the version it follows, or null for a new collection) to `proposed`. */
export function changesBetween(base: VersionContent | null, proposed: VersionContent): Change[] {
  const changes: Change[] = [];
  const add = (kind: Change["kind"], path: string, text: string, widens: boolean) =>
    changes.push({ kind, path, text, widens });
  if (base === null) {
    add(
      "collection.new",
      "",
      `new collection ${proposed.collection} (${Object.keys(proposed.fields).length} fields, purpose ${proposed.purpose}, legal basis ${proposed.legalBasis}, regions ${proposed.regions.join(", ")}, retention ${proposed.retention ?? "per field"})`,
      true,
    );
    for (const [name, field] of Object.entries(proposed.fields)) {
      add("field.added", `/fields/${name}`, `field ${name}: ${describeField(field)}`, true);
    }
    return changes;
  }
  for (const key of ["description", "purpose", "legalBasis"] as const) {
    if (base[key] !== proposed[key]) {
      add(
        "changed",
        `/${key}`,
        `${key}: ${quote(base[key])} → ${quote(proposed[key])}`,
        key !== "description",
      );
    }
  }
  compareRetention(base.retention, proposed.retention, "/retention", "retention", add);
  compareRegions(base.regions, proposed.regions, "/regions", "the collection", add);

  for (const [name, field] of Object.entries(proposed.fields)) {
    const at = `/fields/${name}`;
    const before = base.fields[name];
    if (before === undefined) {
      add("field.added", at, `new field ${name}: ${describeField(field)}`, true);
      continue;
    }
    if (before.sensitivity !== field.sensitivity) {
      const higher = field.sensitivity > before.sensitivity;
      add(
        higher ? "sensitivity.higher" : "sensitivity.lower",
        `${at}/sensitivity`,
        `${higher ? "higher" : "lower"} sensitivity of ${name}: ${before.sensitivity} → ${field.sensitivity}`,
        higher,
      );
    }
    if (before.transform !== field.transform) {
      const weaker = (PROTECTION[field.transform] ?? 3) > (PROTECTION[before.transform] ?? 3);
      add(
        "changed",
        `${at}/transform`,
        `${name} is stored ${transformWords(field.transform)} instead of ${transformWords(before.transform)}`,
        weaker,
      );
    }
    if (before.dataCategory !== field.dataCategory) {
      add(
        "changed",
        `${at}/dataCategory`,
        `data category of ${name}: ${before.dataCategory} → ${field.dataCategory}`,
        true,
      );
    }
    // A field that inherits its collection's retention changes with it, which is said once, above.
    if (before.retention !== undefined || field.retention !== undefined) {
      compareRetention(
        before.retention ?? base.retention,
        field.retention ?? proposed.retention,
        `${at}/retention`,
        `retention of ${name}`,
        add,
      );
    }
    if (field.regions !== undefined || before.regions !== undefined) {
      compareRegions(
        before.regions ?? base.regions,
        field.regions ?? proposed.regions,
        `${at}/regions`,
        name,
        add,
      );
    }
    for (const key of Object.keys({ ...before, ...field }) as (keyof FieldDeclaration)[]) {
      if (["sensitivity", "transform", "dataCategory", "retention", "regions"].includes(key)) continue;
      if (JSON.stringify(before[key]) !== JSON.stringify(field[key])) {
        add(
          "changed",
          `${at}/${key}`,
          `${key} of ${name}: ${quote(before[key])} → ${quote(field[key])}`,
          key !== "description",
        );
      }
    }
  }
  for (const name of Object.keys(base.fields)) {
    if (!(name in proposed.fields)) add("field.removed", `/fields/${name}`, `field ${name} removed`, false);
  }
  return changes;
}

/**
 * The unified diff of the two versions written as YAML, keys in the order the
 * dictionary's format lists them (a stored document keeps no key order), so
 * that only what changed shows.
 */
export function unifiedDiff(base: VersionContent | null, proposed: VersionContent): string {
  const name = (v: VersionContent) => `${v.collection}/v${v.version}.yaml`;
  const yaml = (v: VersionContent) => stringify(inFormatOrder(v), { lineWidth: 100 });
  return createTwoFilesPatch(
    base === null ? "/dev/null" : name(base),
    name(proposed),
    base === null ? "" : yaml(base),
    yaml(proposed),
    undefined,
    undefined,
    { context: 3 },
  );
}

/** The version with its keys, and each field's, in the order of the format (`schema.ts`). */
export function inFormatOrder(v: VersionContent): VersionContent {
  const order = <T extends object>(value: T, keys: readonly string[]): T => {
    const rank = (k: string) => (keys.includes(k) ? keys.indexOf(k) : keys.length);
    return Object.fromEntries(Object.entries(value).sort(([a], [b]) => rank(a) - rank(b))) as T;
  };
  const fieldKeys = Object.keys(FieldSchema.properties);
  const fields = Object.fromEntries(Object.entries(v.fields).map(([name, f]) => [name, order(f, fieldKeys)]));
  return { ...order(v, Object.keys(CollectionFileSchema.properties)), fields };
}

function compareRetention(
  before: string | undefined,
  after: string | undefined,
  path: string,
  what: string,
  add: (kind: Change["kind"], path: string, text: string, widens: boolean) => void,
): void {
  if (before === after) return;
  const a = before === undefined ? null : parseRetention(before);
  const b = after === undefined ? null : parseRetention(after);
  // An undeclared retention falls back to another (the collection's or the longest field's): say so, and let the reviewer judge.
  const wider = a === null || (b !== null && outlasts(b, a));
  add(
    wider ? "retention.wider" : "retention.shorter",
    path,
    `${wider ? "wider" : "shorter"} ${what}: ${before ?? "(not declared)"} → ${after ?? "(not declared)"}`,
    wider,
  );
}

function compareRegions(
  before: readonly string[],
  after: readonly string[],
  path: string,
  what: string,
  add: (kind: Change["kind"], path: string, text: string, widens: boolean) => void,
): void {
  for (const region of after.filter((r) => !before.includes(r))) {
    add("region.added", path, `${what} may now be stored in region ${region}`, true);
  }
  for (const region of before.filter((r) => !after.includes(r))) {
    add("region.removed", path, `${what} is no longer stored in region ${region}`, false);
  }
}

function describeField(f: FieldDeclaration): string {
  return `${f.type}, ${f.dataCategory}, sensitivity ${f.sensitivity}, stored ${transformWords(f.transform)}${f.retention === undefined ? "" : `, kept ${f.retention}`}${f.required === false ? ", optional" : ""}`;
}

function transformWords(t: string): string {
  return t === "keep"
    ? "as sent"
    : t === "drop"
      ? "never (dropped)"
      : t === "coarsen"
        ? "coarsened"
        : "as a pseudonym";
}

function quote(v: unknown): string {
  return v === undefined ? "(none)" : JSON.stringify(v);
}
