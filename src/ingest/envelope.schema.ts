/** The schema of an envelope's JSON form, compiled once at start by Fastify's Ajv. */
import { Type as T } from "@sinclair/typebox";

const B64URL = "^[A-Za-z0-9_-]+$";

/** An envelope as it arrives: every field bounded, nothing else allowed. */
export const EnvelopeSchema = T.Object(
  {
    v: T.Literal(1, { description: "envelope format version" }),
    collection: T.String({ pattern: "^[a-z][a-z0-9._-]{0,63}$", description: "collection name" }),
    schemaVersion: T.Integer({ minimum: 1, maximum: 100_000, description: "collection schema version" }),
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
      pattern: "^[0-9A-Za-z_.-]{1,64}$",
      description: "build number installed on the device",
    }),
    sentAt: T.String({
      pattern: "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?Z$",
      description: "when the device sent it, RFC 3339 UTC",
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
