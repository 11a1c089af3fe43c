/**
 * The factory file: what a factory hands the fleet registry. Every field has
 * a `description`, which the import uses to say what a bad value should be.
 */
import { type Static, Type as T } from "@sinclair/typebox";

/** Ids of models, variants, builds, batches and serials: safe in paths, CSV and URLs. */
export const ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";

/** A raw 32-byte Ed25519 key in canonical base64url: 43 characters, the last one carrying 2 zero bits. */
export const PUBLIC_KEY_PATTERN = "^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$";

/** The device pseudonym: `dk_` and 20 bytes of SHA-256 of the public key, base64url. */
export const KEY_ID_PATTERN = "^dk_[A-Za-z0-9_-]{27}$";

/** RFC 3339 date-time with an explicit offset. */
export const TIMESTAMP_PATTERN =
  "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$";

const id = (what: string, example: string) =>
  T.String({
    pattern: ID_PATTERN,
    description: `a ${what}: a letter or digit, then letters, digits, '.', '_' or '-', at most 64 characters (e.g. ${example})`,
  });

export const ModelId = id("model id", "TA-1062");
export const VariantId = id("variant id", "00WW");
export const BuildNumber = id("build number", "00WW_3_39B_SP03");
export const BatchId = id("batch id", "B-2019-NO-0007");
/** Serial numbers as the activation collection declares them: 8-20 capital letters and digits. */
export const SERIAL_PATTERN = "^[A-Z0-9]{8,20}$";
export const Serial = T.String({
  pattern: SERIAL_PATTERN,
  description: "a serial number: 8 to 20 capital letters and digits (e.g. PH7P0000123)",
});
export const Market = T.String({
  pattern: "^[A-Z]{2}$",
  description: "an ISO 3166-1 alpha-2 country code in capitals (e.g. NO)",
});
export const RegionId = T.String({
  pattern: "^[a-z][a-z0-9-]{0,30}$",
  description: "a region id (e.g. global)",
});
export const PublicKey = T.String({
  pattern: PUBLIC_KEY_PATTERN,
  description: "a raw 32-byte Ed25519 public key in base64url without padding (43 characters)",
});
export const KeyId = T.String({
  pattern: KEY_ID_PATTERN,
  description: "a device key id (dk_ and 27 characters)",
});
export const Timestamp = T.String({
  pattern: TIMESTAMP_PATTERN,
  description: "an RFC 3339 date-time with an offset (e.g. 2019-01-15T08:00:00Z)",
});

/** A product. */
export const FactoryModel = T.Object(
  {
    id: ModelId,
    name: T.String({ minLength: 1, maxLength: 200, description: "a name of 1 to 200 characters" }),
    warrantyMonths: T.Optional(
      T.Integer({ minimum: 0, maximum: 240, description: "a number of months from 0 to 240 (default 24)" }),
    ),
  },
  { additionalProperties: false },
);

/** A software variant of a model, bound to one region. */
export const FactoryVariant = T.Object(
  {
    id: VariantId,
    model: ModelId,
    region: RegionId,
    description: T.Optional(T.String({ maxLength: 500, description: "a text of at most 500 characters" })),
  },
  { additionalProperties: false },
);

/** A software release of a variant. */
export const FactoryBuild = T.Object(
  {
    number: BuildNumber,
    model: ModelId,
    variant: VariantId,
    releasedAt: T.Optional(T.Union([Timestamp, T.Null()], { description: "an RFC 3339 date-time, or null" })),
  },
  { additionalProperties: false },
);

/** Devices produced together for one market with one build. */
export const FactoryBatch = T.Object(
  {
    id: BatchId,
    model: ModelId,
    variant: VariantId,
    market: Market,
    build: BuildNumber,
    producedAt: Timestamp,
    size: T.Integer({
      minimum: 1,
      maximum: 10_000_000,
      description: "a whole number of devices from 1 to 10,000,000",
    }),
  },
  { additionalProperties: false },
);

/** One device as provisioned: the public half of its key pair, never the private one. */
export const FactoryDevice = T.Object(
  {
    serial: Serial,
    model: ModelId,
    variant: VariantId,
    market: Market,
    batch: BatchId,
    publicKey: PublicKey,
  },
  { additionalProperties: false },
);

/** Most rows a section of one factory file may hold. */
export const SECTION_LIMITS = {
  models: 10_000,
  variants: 10_000,
  builds: 100_000,
  batches: 100_000,
  devices: 2_000_000,
} as const;

/** The whole factory document (JSON form). Every section is optional. */
export const FactoryDocument = T.Object(
  {
    version: T.Optional(T.Literal(1, { description: "the factory file format version, 1" })),
    models: T.Optional(T.Array(FactoryModel, { maxItems: SECTION_LIMITS.models })),
    variants: T.Optional(T.Array(FactoryVariant, { maxItems: SECTION_LIMITS.variants })),
    builds: T.Optional(T.Array(FactoryBuild, { maxItems: SECTION_LIMITS.builds })),
    batches: T.Optional(T.Array(FactoryBatch, { maxItems: SECTION_LIMITS.batches })),
    devices: T.Optional(T.Array(FactoryDevice, { maxItems: SECTION_LIMITS.devices })),
  },
  { additionalProperties: false },
);

/** The columns of a CSV factory file, which lists devices only. */
export const CSV_COLUMNS = ["serial", "model", "variant", "market", "batch", "publicKey"] as const;

export type FactoryModel = Static<typeof FactoryModel>;
export type FactoryVariant = Static<typeof FactoryVariant>;
export type FactoryBuild = Static<typeof FactoryBuild>;
export type FactoryBatch = Static<typeof FactoryBatch>;
export type FactoryDevice = Static<typeof FactoryDevice>;
export type FactoryDocument = Static<typeof FactoryDocument>;
