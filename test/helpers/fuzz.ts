/**
 * fast-check arbitraries for fuzzing the services: values shaped by a route's
 * JSON Schema but hostile at the leaves (NUL, unpaired surrogates, huge and
 * fractional numbers, dates at the calendar's edges, long strings, wrong
 * types, deep nesting, unicode edge cases), and whole requests built from an
 * `Operation` of the OpenAPI documents.
 */
import fc from "fast-check";
import type { JsonSchema, Operation } from "./routes.ts";

/** Strings that have broken parsers, stores and calendars before. */
export const HOSTILE_STRINGS: readonly string[] = [
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\ud800",
  "\udfff\ud800",
  "x\ud83d",
  "\u202e\u2066",
  "\ufeff",
  "\uffff",
  "👩‍👩‍👧‍👦",
  "é",
  "\r\n",
  "%00",
  "%",
  "\\",
  "../../../../etc/passwd",
  "' OR 1=1 --",
  '"; DROP TABLE activations; --',
  "${jndi:ldap://x}",
  "<script>alert(1)</script>",
  "NaN",
  "-0",
  "1e309",
  "99999999999999999999999",
  "2016-12-31T23:59:60Z",
  "2026-02-30T00:00:00Z",
  "2026-02-30T25:61:61Z",
  "0000-01-01T00:00:00Z",
  "0001-01-01T00:00:00Z",
  "9999-12-31T23:59:59.999Z",
  "10000-01-01T00:00:00Z",
  "-000001-01-01T00:00:00Z",
  "2026-01-01T00:00:00+24:00",
  "2026-01-01 00:00:00",
  "2026-02-30",
  "0000-00-00",
  "0000-01-01",
  "2024-02-29",
  "1970-01-01T00:00:00Z",
  "__proto__",
  "constructor",
  "x".repeat(300),
  "y".repeat(70_000),
];

/** Numbers past every bound a column or a Date has. */
export const HOSTILE_NUMBERS: readonly number[] = [
  0,
  -0,
  -1,
  1.5,
  2 ** 31,
  -(2 ** 31) - 1,
  3_000_000_000,
  2 ** 53,
  -(2 ** 63),
  1e308,
  -1e308,
  5e-324,
  8.64e15 + 1,
];

const hostileString = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }) },
);

const hostileNumber = fc.oneof(
  fc.constantFrom(...HOSTILE_NUMBERS),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
);

/** Any JSON value, nested up to a few levels, or one nested thousands deep. */
const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: hostileString },
  { weight: 2, arbitrary: hostileNumber },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 100, max: 3000 }).map((depth) => {
      let value: unknown = "deep";
      for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { d: value };
      return value;
    }),
  },
);

/** A value of the schema's shape when it can be, with hostile leaves; anything at all some of the time. */
export function valueOf(schema: JsonSchema | undefined, depth = 0): fc.Arbitrary<unknown> {
  if (schema === undefined || depth > 6) return anyJson;
  return fc.oneof({ weight: 6, arbitrary: shaped(schema, depth) }, { weight: 1, arbitrary: anyJson });
}

function types(schema: JsonSchema): string[] {
  if (Array.isArray(schema.type)) return schema.type;
  return schema.type === undefined ? [] : [schema.type];
}

function patterned(pattern: string): fc.Arbitrary<string> {
  // A bound such as {22,1400000} would let a match grow to megabytes: a few dozen more than the least do.
  const bounded = pattern.replace(
    /\{(\d+),(\d{3,})\}/g,
    (_, least: string) => `{${least},${Number(least) + 40}}`,
  );
  try {
    return fc.stringMatching(new RegExp(bounded));
  } catch {
    return hostileString;
  }
}

function shaped(schema: JsonSchema, depth: number): fc.Arbitrary<unknown> {
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives && alternatives.length > 0)
    return fc.oneof(...alternatives.map((s) => valueOf(s, depth + 1)));
  if (schema.const !== undefined) return fc.oneof(fc.constant(schema.const), hostileString);
  if (schema.enum && schema.enum.length > 0) return fc.oneof(fc.constantFrom(...schema.enum), hostileString);
  const kinds = types(schema);
  const kind = kinds.find((k) => k !== "null") ?? (schema.properties ? "object" : undefined);
  switch (kind) {
    case "string": {
      const fine =
        schema.pattern !== undefined
          ? patterned(schema.pattern)
          : schema.format === "date-time"
            ? fc
                .date({ min: new Date(0), max: new Date(Date.UTC(2100, 0)), noInvalidDate: true })
                .map((d) => d.toISOString())
            : fc.string({ maxLength: Math.min(schema.maxLength ?? 40, 40) });
      return fc.oneof({ weight: 3, arbitrary: fine }, { weight: 2, arbitrary: hostileString });
    }
    case "integer":
    case "number": {
      const min = schema.minimum ?? -1e6;
      const max = schema.maximum ?? 1e6;
      const fine =
        kind === "integer"
          ? fc.integer({ min: Math.ceil(min), max: Math.floor(max) })
          : fc.double({ min, max, noNaN: true });
      return fc.oneof({ weight: 3, arbitrary: fine }, { weight: 2, arbitrary: hostileNumber });
    }
    case "boolean":
      return fc.oneof(fc.boolean(), anyJson);
    case "array": {
      const items = valueOf(schema.items, depth + 1);
      const minLength = schema.minItems ?? 0;
      const maxLength = Math.min(schema.maxItems ?? 5, minLength + 5);
      return fc.oneof(
        { weight: 4, arbitrary: fc.array(items, { minLength, maxLength }) },
        { weight: 1, arbitrary: fc.array(items, { maxLength: 3 }) },
      );
    }
    case "object": {
      const props = schema.properties ?? {};
      const required = new Set(schema.required ?? []);
      const keys = Object.keys(props);
      const record = fc.record(
        Object.fromEntries(keys.map((k) => [k, valueOf(props[k], depth + 1)])) as Record<
          string,
          fc.Arbitrary<unknown>
        >,
        { requiredKeys: keys.filter((k) => required.has(k)) },
      );
      const extra = fc.dictionary(hostileString, anyJson, { maxKeys: 2 });
      return fc.oneof(
        { weight: 4, arbitrary: record },
        { weight: 1, arbitrary: fc.tuple(record, extra).map(([a, b]) => ({ ...b, ...a })) },
        { weight: 1, arbitrary: extra },
      );
    }
    default:
      return anyJson;
  }
}

/** The credentials a fuzzed request may carry. */
export interface Credentials {
  serviceToken: string;
  /** Operator session tokens, one per role signed in. */
  sessions: readonly string[];
  /** Mints a fresh owner token of a provisioned device. */
  ownerToken: () => Promise<string>;
}

/** How a generated request authenticates: the bearer token is made when the request is sent. */
export type Auth = "none" | "service" | "session" | "owner" | "garbage";

/** One generated request. */
export interface FuzzRequest {
  op: Operation;
  params: Record<string, string>;
  query: [string, string][];
  auth: Auth;
  session: number;
  /** How the body is sent: JSON of `body`, raw text under a content type, or none. */
  body:
    | { kind: "json"; value: unknown }
    | { kind: "raw"; contentType: string | undefined; text: string }
    | { kind: "none" };
}

const queryValue = (schema: JsonSchema): fc.Arbitrary<string> =>
  valueOf(schema).map((v) => (typeof v === "string" ? v : (JSON.stringify(v) ?? "")));

/**
 * Requests for `op`: schema-shaped and hostile parameters, query and body, any credentials and
 * content type. `known` names values of path parameters that exist in the system (a device's
 * serial, an incident's id), drawn half the time, so that requests reach past "not found".
 */
export function requestOf(
  op: Operation,
  known: Readonly<Record<string, readonly string[]>> = {},
): fc.Arbitrary<FuzzRequest> {
  const param = (name: string, schema: JsonSchema) => {
    const values = known[name] ?? [];
    return values.length === 0
      ? queryValue(schema)
      : fc.oneof(fc.constantFrom(...values), queryValue(schema));
  };
  const params = fc.record(
    Object.fromEntries(op.pathParams.map((p) => [p.name, param(p.name, p.schema)])) as Record<
      string,
      fc.Arbitrary<string>
    >,
  );
  const declared = fc.array(
    fc
      .constantFrom(...(op.query.length > 0 ? op.query : [{ name: "q", schema: {}, required: false }]))
      .chain((q) => queryValue(q.schema).map((v): [string, string] => [q.name, v])),
    { maxLength: 3 },
  );
  const stray = fc.array(fc.tuple(hostileString, hostileString), { maxLength: 1 });
  const query = fc.tuple(declared, stray).map(([a, b]) => [...a, ...b]);
  const body: fc.Arbitrary<FuzzRequest["body"]> = fc.oneof(
    {
      weight: op.body ? 6 : 1,
      arbitrary: valueOf(op.body).map((value) => ({ kind: "json" as const, value })),
    },
    { weight: 1, arbitrary: fc.constant({ kind: "none" as const }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("raw" as const),
        contentType: fc.constantFrom(
          undefined,
          "text/plain",
          "application/x-www-form-urlencoded",
          "application/json; charset=utf-16",
          "application/json",
          "multipart/form-data; boundary=x",
          "application/xml",
        ),
        text: fc.oneof(
          fc.constantFrom(
            "{",
            "[1,",
            '{"a":1}{',
            "null",
            "\u0000",
            '{"__proto__":{"x":1}}',
            '{"constructor":{"prototype":{}}}',
          ),
          fc.string({ unit: "binary", maxLength: 60 }),
        ),
      }),
    },
  );
  return fc.record({
    op: fc.constant(op),
    params,
    query,
    auth: fc.constantFrom<Auth>("none", "service", "session", "owner", "garbage"),
    session: fc.nat(),
    body,
  });
}
