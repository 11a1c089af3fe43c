/**
 * Every route a running service publishes in its `/openapi.json`, as tests
 * that drive all of them (the fuzzer, the text-at-the-boundary test) need it:
 * method, path template, parameters and body schema, `$ref`s resolved.
 */

/** A JSON Schema as the OpenAPI documents carry it (only what the tests read). */
export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  $ref?: string;
}

/** One operation of a service. */
export interface Operation {
  /** Which service publishes it (a label for messages). */
  service: string;
  /** The service's base URL. */
  base: string;
  method: string;
  /** The path template, `{name}` for a parameter. */
  path: string;
  pathParams: { name: string; schema: JsonSchema }[];
  query: { name: string; schema: JsonSchema; required: boolean }[];
  /** The JSON body's schema, or undefined when the route takes none. */
  body: JsonSchema | undefined;
  /** The security schemes the document names (`serviceToken`, `ownerToken`). */
  security: string[];
}

interface OpenApiDocument {
  paths: Record<string, Record<string, OpenApiOperation>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

interface OpenApiOperation {
  parameters?: { in: string; name: string; required?: boolean; schema: JsonSchema }[];
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
  security?: Record<string, unknown>[];
}

/** `schema` with every `#/components/schemas/…` reference replaced by what it names. */
function resolved(schema: JsonSchema, doc: OpenApiDocument, depth = 0): JsonSchema {
  if (depth > 20) return {};
  if (schema.$ref !== undefined) {
    const name = schema.$ref.replace(/^#\/components\/schemas\//, "");
    const target = doc.components?.schemas?.[name];
    return target === undefined ? {} : resolved(target, doc, depth + 1);
  }
  const out: JsonSchema = { ...schema };
  if (schema.properties) {
    out.properties = Object.fromEntries(
      Object.entries(schema.properties).map(([k, v]) => [k, resolved(v, doc, depth + 1)]),
    );
  }
  if (schema.items) out.items = resolved(schema.items, doc, depth + 1);
  if (typeof schema.additionalProperties === "object") {
    out.additionalProperties = resolved(schema.additionalProperties, doc, depth + 1);
  }
  if (schema.anyOf) out.anyOf = schema.anyOf.map((s) => resolved(s, doc, depth + 1));
  if (schema.oneOf) out.oneOf = schema.oneOf.map((s) => resolved(s, doc, depth + 1));
  return out;
}

/** Reads `${base}/openapi.json` and lists its operations. */
export async function operationsOf(service: string, base: string): Promise<Operation[]> {
  const doc = (await (await fetch(`${base}/openapi.json`)).json()) as OpenApiDocument;
  const out: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const params = op.parameters ?? [];
      const json = op.requestBody?.content?.["application/json"]?.schema;
      out.push({
        service,
        base,
        method: method.toUpperCase(),
        path,
        pathParams: params
          .filter((p) => p.in === "path")
          .map((p) => ({ name: p.name, schema: resolved(p.schema, doc) })),
        query: params
          .filter((p) => p.in === "query")
          .map((p) => ({ name: p.name, schema: resolved(p.schema, doc), required: p.required === true })),
        body: json === undefined ? undefined : resolved(json, doc),
        security: (op.security ?? []).flatMap((s) => Object.keys(s)),
      });
    }
  }
  return out;
}

/** The operation's URL with its path parameters filled in (each encoded) and `query` appended. */
export function urlOf(op: Operation, params: Record<string, string>, query: [string, string][] = []): string {
  const path = op.path.replace(/\{([^}]+)\}/g, (_, name: string) => encodeURIComponent(params[name] ?? "x"));
  const search = new URLSearchParams(query).toString();
  return `${op.base}${path}${search ? `?${search}` : ""}`;
}

/** Whether the route takes an envelope (its validation errors are `envelope.invalid`, counted by the intake). */
export function takesEnvelope(op: Operation): boolean {
  const props = op.body?.properties;
  return props !== undefined && "ct" in props && "sig" in props && "enc" in props;
}
