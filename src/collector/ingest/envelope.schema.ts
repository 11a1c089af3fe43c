/** The schema of an envelope's JSON form, compiled once at start by Fastify's Ajv. */
import { Type as T } from "@sinclair/typebox";

const B64URL = "^[A-Za-z0-9_-]+$";
const COLLECTION = "^[a-z][a-z0-9._-]{0,63}$";
const BUILD = "^[0-9A-Za-z_.-]{1,64}$";
const SCHEMA_VERSIONS = { minimum: 1, maximum: 100_000 };

/** An envelope as it arrives: every field bounded, nothing else allowed. */
export const EnvelopeSchema = T.Object(
  {
    v: T.Literal(1, { description: "envelope format version" }),
    collection: T.String({ pattern: COLLECTION, description: "collection name" }),
    schemaVersion: T.Integer({ ...SCHEMA_VERSIONS, description: "collection schema version" }),
    eventId: T.String({
      pattern: "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
      description: "UUID of this message; a retry reuses it",
    }),
    device: T.String({ pattern: "^dk_[A-Za-z0-9_-]{27}$", description: "id of the device's factory key" }),
    region: T.String({
      pattern: "^[a-z][a-z0-9-]{0,30}$",
      description: "home region the device was provisioned for",
    }),
    kid: T.String({
      pattern: "^rk_[A-Za-z0-9_-]{27}$",
      description: "id of the region key the payload is sealed to",
    }),
    build: T.String({
      pattern: BUILD,
      description: "build number installed on the device",
    }),
    sentAt: T.String({
      pattern: "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?Z$",
      // The pattern fixes the form; the format, that the calendar has that day and time (src/calendar).
      format: "date-time",
      description: "when the device sent it, RFC 3339 UTC (no leap second)",
    }),
    enc: T.String({ pattern: B64URL, minLength: 43, maxLength: 43, description: "HPKE encapsulated key" }),
    // Bounds in the pattern, not minLength/maxLength: Ajv counts those by code point, a second walk
    // over a ciphertext that is most of the body (the pattern alone makes it ASCII).
    ct: T.String({
      pattern: "^[A-Za-z0-9_-]{22,1400000}$",
      description: "HPKE ciphertext, 22 to 1,400,000 characters",
    }),
    sig: T.String({ pattern: B64URL, minLength: 86, maxLength: 86, description: "Ed25519 signature" }),
  },
  { additionalProperties: false, $id: "Envelope", description: "A sealed, signed message from a device" },
);

/**
 * Route options of every endpoint that takes an envelope: a body that fails
 * the schema is the intake's to count and answer (`envelope.invalid`), and the
 * schema's patterns already refuse any text the store could not hold.
 */
export const ENVELOPE_ROUTE = { attachValidation: true, config: { bodyTextCheckedBySchema: true } } as const;

const collectionPattern = new RegExp(COLLECTION);
const buildPattern = new RegExp(BUILD);

/**
 * What the ingest ledger may keep of the header of an envelope that failed its
 * schema: each field only when it is what the schema allows there (so every
 * value is one the ledger's columns can hold, whatever was sent), else '' or 0.
 */
export function countableHeader(body: unknown): { collection: string; schemaVersion: number; build: string } {
  const b = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
  const { collection, schemaVersion, build } = b;
  return {
    collection: typeof collection === "string" && collectionPattern.test(collection) ? collection : "",
    schemaVersion:
      Number.isInteger(schemaVersion) &&
      Number(schemaVersion) >= SCHEMA_VERSIONS.minimum &&
      Number(schemaVersion) <= SCHEMA_VERSIONS.maximum
        ? Number(schemaVersion)
        : 0,
    build: typeof build === "string" && buildPattern.test(build) ? build : "",
  };
}
