/**
 * The fleet registry as the control plane's API shows it: models, variants,
 * builds, batches, devices, and the directory record a collector looks a
 * device up by. Each shape names its fields, so a column added to a table is
 * not published by accident.
 */
import { type Static, Type as T } from "@sinclair/typebox";
import { StringEnum } from "./string-enum.ts";

/**
 * Why a device key was revoked: a clone of the device was seen, the device was
 * stolen, its key leaked, or a service centre gave it a new key.
 */
export const REVOCATION_REASONS = ["cloned", "stolen", "key-compromised", "re-keyed"] as const;
/** Why a device key was revoked. */
export type RevocationReason = (typeof REVOCATION_REASONS)[number];

/** The reasons an operator states when revoking a key (`re-keyed` is a re-key's own). */
export const REVOKE_REASONS = ["cloned", "stolen", "key-compromised"] as const;

/** The reason of `POST /v1/fleet/devices/{serial}/revocation`. */
export const RevokeReasonSchema = StringEnum(REVOKE_REASONS, {
  description: "why: cloned, stolen or key-compromised (`re-keyed` is given by a re-key only)",
});

/** Longest note an operator may add to a revocation, in characters. */
export const MAX_REVOCATION_NOTE = 500;

/** A key's revocation as a collector learns it: why and when (RFC 3339). */
export const RevocationView = T.Object(
  {
    reason: StringEnum(REVOCATION_REASONS),
    at: T.String({ description: "when the key was revoked, RFC 3339" }),
  },
  { additionalProperties: false },
);

export const ModelView = T.Object(
  {
    id: T.String(),
    name: T.String(),
    warrantyMonths: T.Integer({ description: "warranty length in months" }),
  },
  { additionalProperties: false },
);

export const VariantView = T.Object(
  {
    model: T.String(),
    id: T.String(),
    region: T.String({ description: "the one region this variant's devices send their data to" }),
    description: T.String(),
  },
  { additionalProperties: false },
);

export const BuildView = T.Object(
  {
    number: T.String(),
    model: T.String(),
    variant: T.String(),
    releasedAt: T.Union([T.String({ description: "RFC 3339" }), T.Null()]),
  },
  { additionalProperties: false },
);

export const BatchView = T.Object(
  {
    id: T.String(),
    model: T.String(),
    variant: T.String(),
    market: T.String({ description: "ISO 3166-1 alpha-2 country the batch is sold in" }),
    build: T.String({ description: "build number the batch was flashed with" }),
    producedAt: T.String({ description: "RFC 3339" }),
    size: T.Integer(),
  },
  { additionalProperties: false },
);

export const DeviceView = T.Object(
  {
    serial: T.String(),
    keyId: T.String({ description: "the device pseudonym envelopes carry" }),
    publicKey: T.String({ description: "raw Ed25519 public key, base64url" }),
    model: T.String(),
    variant: T.String(),
    market: T.String(),
    batch: T.String(),
    provisionedAt: T.String({ description: "RFC 3339" }),
  },
  { additionalProperties: false },
);

export const DirectoryView = T.Object(
  {
    keyId: T.String({ description: "the key id asked about: the key that signed the envelope or token" }),
    deviceKey: T.String({
      description:
        "the key id the device's records are kept under in its region: its factory key's, which a re-key keeps",
    }),
    publicKey: T.String({
      description: "raw Ed25519 public key, base64url: verifies the envelope signature",
    }),
    serial: T.String(),
    model: T.String(),
    variant: T.String(),
    market: T.String(),
    batch: T.String(),
    build: T.String({ description: "the build the device's batch was flashed with" }),
    variantRegion: T.String({ description: "the region of the device's variant" }),
    warrantyMonths: T.Integer(),
    revoked: T.Union([RevocationView, T.Null()], {
      description: "null while the key is in force; once revoked, its envelopes and owner tokens are refused",
    }),
  },
  { additionalProperties: false },
);

/** One key a device has held, in the order they were registered (`GET /v1/fleet/devices/{serial}/keys`). */
export const DeviceKeyView = T.Object(
  {
    keyId: T.String(),
    publicKey: T.String({ description: "raw Ed25519 public key, base64url" }),
    registeredAt: T.String({ description: "RFC 3339" }),
    registeredBy: T.String({
      description: "`factory`, or who registered it at a re-key (operator:NAME, service)",
    }),
    revoked: T.Union([
      T.Object(
        {
          reason: StringEnum(REVOCATION_REASONS),
          at: T.String({ description: "RFC 3339" }),
          by: T.String({ description: "who revoked it" }),
          note: T.String({ description: "the operator's note, possibly empty" }),
        },
        { additionalProperties: false },
      ),
      T.Null(),
    ]),
  },
  { additionalProperties: false },
);

/** A device's keys, oldest first: the one in force (if any) and every revoked one. */
export const DeviceKeyHistoryView = T.Object(
  {
    serial: T.String(),
    deviceKey: T.String({ description: "the key id its region keeps its records under (its factory key's)" }),
    keys: T.Array(DeviceKeyView),
  },
  { additionalProperties: false },
);

/** `GET /v1/fleet/revocations`: keys revoked after a cursor, in the order they were revoked. */
export const RevocationFeedView = T.Object(
  {
    revocations: T.Array(
      T.Object(
        {
          keyId: T.String(),
          reason: StringEnum(REVOCATION_REASONS),
          at: T.String({ description: "RFC 3339" }),
        },
        { additionalProperties: false },
      ),
    ),
    next: T.String({
      description: "the cursor to ask `after` next time (unchanged when nothing was revoked)",
    }),
  },
  { additionalProperties: false },
);

export type Model = Static<typeof ModelView>;
export type Variant = Static<typeof VariantView>;
export type Build = Static<typeof BuildView>;
export type Batch = Static<typeof BatchView>;
export type Device = Static<typeof DeviceView>;
export type Directory = Static<typeof DirectoryView>;
export type Revocation = Static<typeof RevocationView>;
export type DeviceKey = Static<typeof DeviceKeyView>;
export type DeviceKeyHistory = Static<typeof DeviceKeyHistoryView>;
export type RevocationFeed = Static<typeof RevocationFeedView>;
