/**
 * The shape of one collection-version file (`dictionary/<collection>/v<N>.yaml`).
 * Only the shape and the bounds live here; the rules that look across fields,
 * files and the configuration are in `lint.ts`.
 */
import { type Static, Type as T } from "@sinclair/typebox";
import { DURATION_PATTERN } from "../calendar/index.ts";
import { LEGAL_BASES } from "./taxonomy.ts";

/** Field types a collection can declare. `timestamp` is an RFC 3339 date-time with an offset. */
export const FIELD_TYPES = ["string", "integer", "number", "boolean", "timestamp"] as const;
/** A field's type. */
export type FieldType = (typeof FIELD_TYPES)[number];

/** What happens to a field's value before it is stored. */
export const TRANSFORMS = ["keep", "pseudonymise", "coarsen", "drop"] as const;
/** A field's transform. */
export type Transform = (typeof TRANSFORMS)[number];

// Collection names travel in the envelope's clear header, whose schema accepts
// `^[a-z][a-z0-9._-]{0,63}$`; these are a subset (dot-separated words).
const COLLECTION_NAME = "^[a-z][a-z0-9_-]*(\\.[a-z][a-z0-9_-]*)*$";
/** Field names: lower camelCase, as they appear in payloads. */
export const FIELD_NAME_PATTERN = "^[a-z][a-zA-Z0-9]{0,63}$";
const TAXONOMY_NAME = T.String({
  pattern: "^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)*$",
  maxLength: 128,
  description: "a dotted taxonomy name such as user.device.serial_number",
});
// The same syntax as the configuration's region ids.
const REGION_ID = T.String({
  pattern: "^[a-z][a-z0-9-]{0,30}$",
  description: "a region id such as global or cn",
});
const REGIONS = T.Array(REGION_ID, { minItems: 1, maxItems: 32, uniqueItems: true });
const LEGAL_BASIS = T.Union(LEGAL_BASES.map((b) => T.Literal(b)));
const RETENTION = T.String({
  pattern: DURATION_PATTERN,
  maxLength: 24,
  description: "an ISO 8601 duration such as P5Y, P18M or P90D",
});
const TEXT = (maxLength: number) => T.String({ minLength: 1, maxLength });

/** One declared field. Bounds sit beside the type, as in JSON Schema; `lint.ts` checks they fit it. */
export const FieldSchema = T.Object(
  {
    description: TEXT(1000),
    type: T.Union(FIELD_TYPES.map((t) => T.Literal(t))),
    required: T.Optional(T.Boolean({ description: "default true" })),
    minLength: T.Optional(T.Integer({ minimum: 0, maximum: 65_536 })),
    maxLength: T.Optional(T.Integer({ minimum: 1, maximum: 65_536 })),
    pattern: T.Optional(TEXT(512)),
    minimum: T.Optional(T.Number()),
    maximum: T.Optional(T.Number()),
    enum: T.Optional(
      T.Array(T.Union([T.String({ maxLength: 256 }), T.Number()]), {
        minItems: 1,
        maxItems: 1000,
        uniqueItems: true,
      }),
    ),
    step: T.Optional(T.Number({ exclusiveMinimum: 0, description: "bucket width for `coarsen` on numbers" })),
    dataCategory: TAXONOMY_NAME,
    purpose: T.Optional(TAXONOMY_NAME),
    legalBasis: T.Optional(LEGAL_BASIS),
    retention: T.Optional(RETENTION),
    sensitivity: T.Integer({ minimum: 1, maximum: 4 }),
    necessity: T.Optional(TEXT(2000)),
    regions: T.Optional(REGIONS),
    transform: T.Union(TRANSFORMS.map((t) => T.Literal(t))),
  },
  { additionalProperties: false },
);
/** One declared field, as written. */
export type FieldDeclaration = Static<typeof FieldSchema>;

/**
 * Who approved a collection version, and their signature (see `approval.ts`). Only a record whose
 * signature verifies, by a reviewer who is not the author, makes the version approved.
 */
export const ApprovalSchema = T.Object(
  {
    reviewer: TEXT(200),
    author: T.Optional(TEXT(200)),
    date: T.String({ format: "date", maxLength: 10 }),
    reference: TEXT(500),
    sha256: T.Optional(
      T.String({
        pattern: "^[0-9a-f]{64}$",
        description:
          "what was approved: SHA-256 of the RFC 8785 canonical JSON of the version without its approval record",
      }),
    ),
    expires: T.Optional(
      T.String({
        format: "date",
        maxLength: 10,
        description:
          "the last day (UTC) the approval holds; after it collectors refuse the version until a review renews it",
      }),
    ),
    signature: T.Optional(
      T.String({
        pattern: "^[A-Za-z0-9_-]{86}$",
        description: "the reviewer's Ed25519 signature of the approval statement, base64url",
      }),
    ),
  },
  { additionalProperties: false },
);
/** An approval record. */
export type Approval = Static<typeof ApprovalSchema>;

/** One collection version, as written in its YAML file. */
export const CollectionFileSchema = T.Object(
  {
    collection: T.String({
      pattern: COLLECTION_NAME,
      maxLength: 64,
      description: "a collection name: lower-case words joined by dots, such as uep.diagnostics",
    }),
    version: T.Integer({ minimum: 1, maximum: 9999 }),
    description: TEXT(4000),
    purpose: TAXONOMY_NAME,
    legalBasis: LEGAL_BASIS,
    regions: REGIONS,
    retention: T.Optional(RETENTION),
    approval: T.Optional(ApprovalSchema),
    fields: T.Record(T.String({ pattern: FIELD_NAME_PATTERN }), FieldSchema, {
      minProperties: 1,
      maxProperties: 200,
      additionalProperties: false,
    }),
  },
  { additionalProperties: false },
);
/** One collection version, as written. */
export type CollectionFile = Static<typeof CollectionFileSchema>;
