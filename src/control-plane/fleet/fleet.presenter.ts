/**
 * Presenters: the only shapes in which fleet records leave the system. Each
 * picks its fields by name, so a column added to a table is not published by
 * accident. The response schemas sit beside them and feed the OpenAPI document.
 */
import { type Static, Type as T } from "@sinclair/typebox";
import type {
  BatchRecord,
  BuildRecord,
  DeviceRecord,
  DirectoryRecord,
  ModelRecord,
  VariantRecord,
} from "./fleet.repository.ts";
import type { ImportCounts, ImportSummary } from "./fleet.service.ts";

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

export type ModelView = Static<typeof ModelView>;
export type VariantView = Static<typeof VariantView>;
export type BuildView = Static<typeof BuildView>;
export type BatchView = Static<typeof BatchView>;
export type DeviceView = Static<typeof DeviceView>;
export type DirectoryView = Static<typeof DirectoryView>;

/** A model as the API shows it. */
export function presentModel(m: ModelRecord): ModelView {
  return { id: m.id, name: m.name, warrantyMonths: m.warrantyMonths };
}

/** A variant as the API shows it. */
export function presentVariant(v: VariantRecord): VariantView {
  return { model: v.model, id: v.id, region: v.region, description: v.description };
}

/** A build as the API shows it. */
export function presentBuild(b: BuildRecord): BuildView {
  return { number: b.number, model: b.model, variant: b.variant, releasedAt: b.releasedAt };
}

/** A batch as the API shows it. */
export function presentBatch(b: BatchRecord): BatchView {
  return {
    id: b.id,
    model: b.model,
    variant: b.variant,
    market: b.market,
    build: b.build,
    producedAt: b.producedAt,
    size: b.size,
  };
}

/** A device's factory record as the API shows it. */
export function presentDevice(d: DeviceRecord): DeviceView {
  return {
    serial: d.serial,
    keyId: d.keyId,
    publicKey: d.publicKey,
    model: d.model,
    variant: d.variant,
    market: d.market,
    batch: d.batch,
    provisionedAt: d.provisionedAt,
  };
}

/** A directory record as collectors receive it. */
export function presentDirectoryRecord(r: DirectoryRecord): DirectoryView {
  return {
    keyId: r.keyId,
    publicKey: r.publicKey,
    serial: r.serial,
    model: r.model,
    variant: r.variant,
    market: r.market,
    batch: r.batch,
    build: r.build,
    variantRegion: r.variantRegion,
    warrantyMonths: r.warrantyMonths,
  };
}

/** The lines `phonehome fleet import` prints after a successful import. */
export function formatImportSummary(s: ImportSummary): string[] {
  const counts = (c: ImportCounts) => `${c.created} new, ${c.updated} updated, ${c.unchanged} unchanged`;
  return [
    `imported ${s.file} (${s.format.toUpperCase()})`,
    `  models    ${counts(s.models)}`,
    `  variants  ${counts(s.variants)}`,
    `  builds    ${counts(s.builds)}`,
    `  batches   ${counts(s.batches)}`,
    `  devices   ${s.devices.created} new, ${s.devices.unchanged} unchanged`,
  ];
}
