/**
 * Turns linted collection files into the `Dictionary` collectors use: one Ajv
 * validator per collection version, compiled once when the dictionary is
 * loaded and never per request, and the transforms each field declares.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { addCalendarFormats } from "../calendar/index.ts";
import { PhoneHomeError } from "../errors/index.ts";
import type { CheckedFile } from "./lint.ts";
import { escapePointer } from "./lint.ts";
import { outlasts, parseRetention, type Retention } from "../calendar/index.ts";
import type { Approval, FieldType, Transform } from "./schema.ts";
import type { LegalBasis } from "./taxonomy.ts";
import { coarsenNumber, coarsenTimestamp, pseudonymise } from "./transform.ts";

/** A value a payload field can carry. Timestamps are RFC 3339 strings. */
export type FieldValue = string | number | boolean;

/** A payload that passed validation: only declared fields, each within its bounds. */
export type Payload = Record<string, FieldValue>;

/** Why a payload was refused. `path` is a JSON pointer into the payload (`/serial`). */
export interface PayloadProblem {
  /** `undeclared`: a field the version does not declare; `invalid`: missing, mistyped or out of bounds. */
  kind: "undeclared" | "invalid";
  path: string;
  message: string;
}

/** The outcome of `validate`: the typed payload, or the problem to answer (undeclared fields first) and all others. */
export type ValidationResult =
  { ok: true; value: Payload } | { ok: false; problem: PayloadProblem; problems: PayloadProblem[] };

/** What `transform` needs from the region that stores the payload. */
export interface TransformContext {
  /** The region the payload is about to be stored in. Fields not allowed there are not stored. */
  region: string;
  /** The region's pseudonymisation secret (at least 16 bytes). */
  pseudonymSecret: Uint8Array;
}

/** One field, with every inherited setting resolved. */
export interface CompiledField {
  readonly name: string;
  readonly description: string;
  readonly type: FieldType;
  readonly required: boolean;
  readonly dataCategory: string;
  readonly purpose: string;
  readonly legalBasis: LegalBasis;
  readonly retention: Retention;
  readonly sensitivity: 1 | 2 | 3 | 4;
  readonly necessity: string | undefined;
  readonly regions: readonly string[];
  readonly transform: Transform;
  /** Bucket width of `coarsen` on a number. */
  readonly step: number | undefined;
}

/** One approved-or-not collection version, ready to validate and transform payloads. */
export interface CompiledCollection {
  readonly name: string;
  readonly version: number;
  readonly description: string;
  readonly purpose: string;
  readonly legalBasis: LegalBasis;
  readonly regions: readonly string[];
  /** How long a stored record is kept: the collection's retention, else its longest field retention. */
  readonly retention: Retention;
  readonly approval: Approval | undefined;
  /**
   * True when its approval record is signed by a listed reviewer who is not the author, over this
   * very version (see `approval.ts`). Collectors refuse the data of any other version.
   */
  readonly approved: boolean;
  /** Why it is not approved (undefined when it is). */
  readonly unapprovedBecause: string | undefined;
  /** True once the approval's `expires` day (UTC) is over: collectors refuse the version until it is renewed. */
  expiredAt(now: Date): boolean;
  /** The file it came from. */
  readonly source: string;
  readonly fields: readonly CompiledField[];
  /** The JSON Schema payloads are validated against. */
  readonly payloadSchema: Readonly<Record<string, unknown>>;
  /** When a record of this version stored at `from` must be gone (the `retention` applied). */
  expiresAt(from: Date): Date;
  /** True when the collection may be stored in region `regionId`. */
  allowedIn(regionId: string): boolean;
  /** Checks a payload against the declared fields; undeclared fields are refused. */
  validate(payload: unknown): ValidationResult;
  /** Applies each field's transform; returns only what may be stored in `ctx.region`. */
  transform(payload: Payload, ctx: TransformContext): Payload;
}

/** Every collection version of the dictionary. */
export interface Dictionary {
  readonly collections: readonly CompiledCollection[];
  /** True when any version of `name` exists. */
  has(name: string): boolean;
  /** One version, or undefined. Check `approved` and `allowedIn` before accepting data for it. */
  get(name: string, version: number): CompiledCollection | undefined;
  /** The versions of `name`, ascending. */
  versions(name: string): readonly number[];
  /** How long a record of `name` version `version` is kept, or undefined for an unknown version. */
  retentionFor(name: string, version: number): Retention | undefined;
}

// RFC 3339 allows a few more characters than any timestamp needs (nanoseconds, offsets).
const TIMESTAMP_MAX_LENGTH = 40;

/** Builds the dictionary from files that passed `lintFiles` without errors. Compiles every validator now. */
export function compileDictionary(files: readonly CheckedFile[]): Dictionary {
  const ajv = addCalendarFormats(new Ajv({ allErrors: true, strict: true }));
  const collections = files
    .map((file) => compileCollection(ajv, file))
    .sort((a, b) => a.name.localeCompare(b.name) || a.version - b.version);
  const byKey = new Map(collections.map((c) => [`${c.name}@${c.version}`, c]));
  return Object.freeze({
    collections: Object.freeze(collections),
    has: (name: string) => collections.some((c) => c.name === name),
    get: (name: string, version: number) => byKey.get(`${name}@${version}`),
    versions: (name: string) => collections.filter((c) => c.name === name).map((c) => c.version),
    retentionFor: (name: string, version: number) => byKey.get(`${name}@${version}`)?.retention,
  });
}

function compileCollection(ajv: Ajv, file: CheckedFile): CompiledCollection {
  const { source, doc } = file;
  const collectionRetention = doc.retention === undefined ? null : parseRetention(doc.retention);
  const fields: CompiledField[] = Object.entries(doc.fields).map(([name, f]) => {
    const retention = parseRetention(f.retention ?? doc.retention ?? "");
    // Lint guarantees a retention on every field; this only guards a caller that skipped it.
    if (retention === null) {
      throw new PhoneHomeError("dictionary.invalid", `${source.label}: field ${name} has no retention`);
    }
    return Object.freeze({
      name,
      description: f.description,
      type: f.type,
      required: f.required ?? true,
      dataCategory: f.dataCategory,
      purpose: f.purpose ?? doc.purpose,
      legalBasis: f.legalBasis ?? doc.legalBasis,
      retention,
      sensitivity: f.sensitivity as 1 | 2 | 3 | 4,
      necessity: f.necessity,
      regions: Object.freeze([...(f.regions ?? doc.regions)]),
      transform: f.transform,
      step: f.step,
    });
  });
  const retention = collectionRetention ?? longest(fields.map((f) => f.retention));

  const properties: Record<string, Record<string, unknown>> = {};
  for (const [name, f] of Object.entries(doc.fields)) {
    const bounds = {
      minLength: f.minLength,
      maxLength: f.maxLength,
      pattern: f.pattern,
      minimum: f.minimum,
      maximum: f.maximum,
      enum: f.enum,
    };
    const schema: Record<string, unknown> =
      f.type === "timestamp"
        ? { type: "string", format: "date-time", maxLength: TIMESTAMP_MAX_LENGTH }
        : { type: f.type, ...Object.fromEntries(Object.entries(bounds).filter(([, v]) => v !== undefined)) };
    schema.description = f.description;
    properties[name] = schema;
  }
  const payloadSchema = Object.freeze({
    type: "object",
    properties,
    required: fields.filter((f) => f.required).map((f) => f.name),
    additionalProperties: false,
  });
  const check: ValidateFunction<Payload> = ajv.compile<Payload>(payloadSchema);
  const regions = new Set(doc.regions);
  const label = `${doc.collection} v${doc.version}`;

  // The first instant after the approval's last day (UTC); never for an approval without an end.
  const approvalEnds =
    doc.approval?.expires === undefined
      ? Number.POSITIVE_INFINITY
      : Date.parse(doc.approval.expires) + 86_400_000;
  return Object.freeze({
    name: doc.collection,
    version: doc.version,
    description: doc.description,
    purpose: doc.purpose,
    legalBasis: doc.legalBasis,
    regions: Object.freeze([...doc.regions]),
    retention,
    approval: doc.approval,
    approved: file.approval.approved,
    unapprovedBecause: file.approval.approved ? undefined : file.approval.why,
    // Checked for every envelope: the end is worked out once, here.
    expiredAt: (now: Date) => now.getTime() >= approvalEnds,
    source: source.label,
    fields: Object.freeze(fields),
    payloadSchema,
    expiresAt: (from: Date) => retention.expiresAt(from),
    allowedIn: (regionId: string) => regions.has(regionId),
    validate(payload: unknown): ValidationResult {
      // Timestamps are checked by the calendar's format: a day the calendar has, no leap second.
      if (check(payload)) return { ok: true, value: payload };
      const problems = (check.errors ?? []).map((e) => payloadProblem(e, label));
      problems.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === "undeclared" ? -1 : 1));
      const [problem = { kind: "invalid", path: "", message: "the payload is invalid" }] = problems;
      return { ok: false, problem, problems };
    },
    transform(payload: Payload, ctx: TransformContext): Payload {
      // Collectors check `allowedIn` first; this keeps a slip from storing data where it may not live.
      if (!regions.has(ctx.region)) {
        throw new PhoneHomeError(
          "collection.unapproved",
          `${label} may not be stored in region ${ctx.region}`,
        );
      }
      const out: Payload = {};
      for (const field of fields) {
        const value = payload[field.name];
        if (value === undefined || field.transform === "drop" || !field.regions.includes(ctx.region)) {
          continue;
        }
        out[field.name] = applyTransform(field, value, ctx);
      }
      return out;
    },
  });
}

function applyTransform(field: CompiledField, value: FieldValue, ctx: TransformContext): FieldValue {
  switch (field.transform) {
    case "pseudonymise":
      if (typeof value === "boolean") break;
      return pseudonymise(ctx.pseudonymSecret, field.dataCategory, value);
    case "coarsen":
      if (field.type === "timestamp" && typeof value === "string") return coarsenTimestamp(value);
      if (typeof value === "number" && field.step !== undefined) return coarsenNumber(value, field.step);
      break;
    case "keep":
      return value;
    case "drop":
      break;
  }
  // Lint rules out every other combination; storing the raw value here would defeat the declaration.
  throw new PhoneHomeError("internal", `cannot ${field.transform} field ${field.name} of type ${field.type}`);
}

function payloadProblem(e: ErrorObject, label: string): PayloadProblem {
  if (e.keyword === "additionalProperties") {
    const name = String((e.params as { additionalProperty: string }).additionalProperty);
    return {
      kind: "undeclared",
      path: `/${escapePointer(name)}`,
      message: `${name} is not a field of ${label}`,
    };
  }
  if (e.keyword === "required") {
    const name = String((e.params as { missingProperty: string }).missingProperty);
    return { kind: "invalid", path: `/${escapePointer(name)}`, message: `${name} is required by ${label}` };
  }
  if (e.instancePath === "") {
    return { kind: "invalid", path: "", message: "the payload must be a JSON object" };
  }
  return {
    kind: "invalid",
    path: e.instancePath,
    message: `${e.instancePath.slice(1)} ${e.message ?? "is invalid"}`,
  };
}

function longest(retentions: readonly Retention[]): Retention {
  const [first, ...rest] = retentions;
  if (first === undefined) throw new RangeError("a collection declares at least one field");
  return rest.reduce((a, b) => (outlasts(b, a) ? b : a), first);
}
