/**
 * Presenters: the only shapes in which fleet records leave the system. Each
 * picks its fields by name, so a column added to a table is not published by
 * accident. The response schemas sit beside them and feed the OpenAPI document.
 */
import type { Batch, Build, Device, DeviceKeyHistory, Directory, Model, Variant } from "@phonehome/shared";
import type { KeyHistory } from "./device-keys.service.ts";
import type {
  BatchRecord,
  BuildRecord,
  DeviceRecord,
  DirectoryRecord,
  ModelRecord,
  VariantRecord,
} from "./fleet.repository.ts";
import type { ImportCounts, ImportSummary } from "./fleet.service.ts";

/** A model as the API shows it. */
export function presentModel(m: ModelRecord): Model {
  return { id: m.id, name: m.name, warrantyMonths: m.warrantyMonths };
}

/** A variant as the API shows it. */
export function presentVariant(v: VariantRecord): Variant {
  return { model: v.model, id: v.id, region: v.region, description: v.description };
}

/** A build as the API shows it. */
export function presentBuild(b: BuildRecord): Build {
  return { number: b.number, model: b.model, variant: b.variant, releasedAt: b.releasedAt };
}

/** A batch as the API shows it. */
export function presentBatch(b: BatchRecord): Batch {
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
export function presentDevice(d: DeviceRecord): Device {
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
export function presentDirectoryRecord(r: DirectoryRecord): Directory {
  return {
    keyId: r.keyId,
    deviceKey: r.deviceKey,
    publicKey: r.publicKey,
    serial: r.serial,
    model: r.model,
    variant: r.variant,
    market: r.market,
    batch: r.batch,
    build: r.build,
    variantRegion: r.variantRegion,
    warrantyMonths: r.warrantyMonths,
    revoked: r.revoked === null ? null : { reason: r.revoked.reason, at: r.revoked.at },
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

/** A device's keys as the API shows them: each key, when and by whom it was registered and revoked. */
export function presentKeyHistory(h: KeyHistory): DeviceKeyHistory {
  return {
    serial: h.serial,
    deviceKey: h.deviceKey,
    keys: h.keys.map((k) => ({
      keyId: k.keyId,
      publicKey: k.publicKey,
      registeredAt: k.registeredAt,
      registeredBy: k.registeredBy,
      revoked:
        k.revoked === null
          ? null
          : { reason: k.revoked.reason, at: k.revoked.at, by: k.revoked.by, note: k.revoked.note },
    })),
  };
}

/** The lines `phonehome fleet keys|revoke|rekey` print: each key, oldest first, and whether it is in force. */
export function formatKeyHistory(h: DeviceKeyHistory): string[] {
  return [
    `device ${h.serial} (records kept under ${h.deviceKey})`,
    ...h.keys.map((k) =>
      k.revoked === null
        ? `  ${k.keyId}  in force     since ${k.registeredAt} (${k.registeredBy})`
        : `  ${k.keyId}  revoked      ${k.revoked.at} ${k.revoked.reason} by ${k.revoked.by}` +
          (k.revoked.note === "" ? "" : ` — ${k.revoked.note}`),
    ),
  ];
}
