/**
 * The fleet registry as the control plane's API shows it: models, variants,
 * builds, batches, devices, and the directory record a collector looks a
 * device up by. Each shape names its fields, so a column added to a table is
 * not published by accident.
 */
import { type Static, Type as T } from "@sinclair/typebox";

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
    keyId: T.String(),
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
  },
  { additionalProperties: false },
);

export type Model = Static<typeof ModelView>;
export type Variant = Static<typeof VariantView>;
export type Build = Static<typeof BuildView>;
export type Batch = Static<typeof BatchView>;
export type Device = Static<typeof DeviceView>;
export type Directory = Static<typeof DirectoryView>;
