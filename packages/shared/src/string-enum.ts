/** A string schema of a fixed set of values, typed as their union. */
import { type SchemaOptions, type TUnsafe, Type as T } from "@sinclair/typebox";

/**
 * `{ "type": "string", "enum": [...] }`, as OpenAPI readers and Ajv expect it,
 * typed as the union of `values` (TypeBox's own union of literals would be an
 * `anyOf` of one-value enums).
 */
export function StringEnum<const V extends readonly string[]>(
  values: V,
  options: SchemaOptions = {},
): TUnsafe<V[number]> {
  return T.Unsafe<V[number]>({ ...options, type: "string", enum: [...values] });
}
