/**
 * Planning a factory file's import, without touching the store: the parsed
 * rows checked against each other and against what is registered, every
 * problem collected with where it is, and the writes the import will make.
 */
import { deviceKeyId } from "@phonehome/sdk";
import { parseInstant } from "../../core/calendar/index.ts";
import { type Config, regionOfMarket } from "../../core/config/index.ts";
import type { Problem } from "../../core/errors/index.ts";
import type {
  BatchRecord,
  BuildRecord,
  DeviceRecord,
  ModelRecord,
  VariantRecord,
} from "./fleet.repository.ts";
import {
  type FactoryBatch,
  type FactoryBuild,
  type FactoryDevice,
  type FactoryModel,
  type FactoryVariant,
  TIMESTAMP_PATTERN,
} from "./fleet.schema.ts";
import { type Located, type ParsedFactory, variantKey } from "./fleet.parse.ts";

/** Warranty length when a model does not state one, in months. */
export const DEFAULT_WARRANTY_MONTHS = 24;

/** What the registry already holds of the things a file refers to. */
export interface RegisteredFleet {
  models: Map<string, ModelRecord>;
  /** By `variantKey(model, id)`. */
  variants: Map<string, VariantRecord>;
  builds: Map<string, BuildRecord>;
  batches: Map<string, BatchRecord>;
  /** Devices registered per batch. */
  devicesInBatch: Map<string, number>;
  devicesBySerial: Map<string, DeviceRecord>;
  /** Who holds each key id the file names, among every key ever registered (revoked ones too). */
  devicesByKeyId: Map<string, Pick<DeviceRecord, "serial">>;
}

/** Rows to insert, rows to update, and how many rows are registered already exactly as the file says. */
export interface Changes<T> {
  create: T[];
  update: T[];
  unchanged: number;
}

/** The writes an import will make. Devices are never updated: a factory record is fixed once written. */
export interface ImportPlan {
  models: Changes<ModelRecord>;
  variants: Changes<VariantRecord>;
  builds: Changes<BuildRecord>;
  batches: Changes<BatchRecord>;
  devices: { create: DeviceRecord[]; unchanged: number };
}

/** The ids a file refers to, which the registry is asked about before planning. */
export interface ReferencedIds {
  models: string[];
  variants: { model: string; id: string }[];
  builds: string[];
  batches: string[];
  serials: string[];
  keyIds: string[];
}

/** The ids a parsed file refers to, so the caller can fetch what the registry holds of them. */
export function referencedIds(parsed: ParsedFactory): ReferencedIds {
  const models = new Set<string>();
  const variants = new Map<string, { model: string; id: string }>();
  const builds = new Set<string>();
  const batches = new Set<string>();
  const variantOf = (model: string, id: string) => {
    models.add(model);
    variants.set(variantKey(model, id), { model, id });
  };
  for (const { row } of parsed.models) models.add(row.id);
  for (const { row } of parsed.variants) variantOf(row.model, row.id);
  for (const { row } of parsed.builds) {
    variantOf(row.model, row.variant);
    builds.add(row.number);
  }
  for (const { row } of parsed.batches) {
    variantOf(row.model, row.variant);
    builds.add(row.build);
    batches.add(row.id);
  }
  for (const { row } of parsed.devices) {
    variantOf(row.model, row.variant);
    batches.add(row.batch);
  }
  return {
    models: [...models],
    variants: [...variants.values()],
    builds: [...builds],
    batches: [...batches],
    serials: parsed.devices.map((d) => d.row.serial),
    keyIds: parsed.devices.map((d) => deviceKeyId(d.row.publicKey)),
  };
}

/**
 * Checks the rows against each other and against the registry, and plans the
 * writes. Returns every problem found; the plan is only to be carried out
 * when there are none.
 */
export function planImport(
  parsed: ParsedFactory,
  registered: RegisteredFleet,
  config: Pick<Config, "policy" | "regions">,
): { problems: Problem[]; plan: ImportPlan } {
  const planner = new ImportPlanner(parsed, registered, config);
  // In order: each kind refers only to kinds planned before it.
  planner.planModels(parsed.models);
  planner.planVariants(parsed.variants);
  planner.planBuilds(parsed.builds);
  planner.planBatches(parsed.batches);
  planner.planDevices(parsed.devices);
  return { problems: planner.problems, plan: planner.plan };
}

/** The state of one import's planning: the problems found, the writes planned, the registry as it will be. */
class ImportPlanner {
  readonly problems: Problem[] = [];
  readonly plan: ImportPlan = {
    models: { create: [], update: [], unchanged: 0 },
    variants: { create: [], update: [], unchanged: 0 },
    builds: { create: [], update: [], unchanged: 0 },
    batches: { create: [], update: [], unchanged: 0 },
    devices: { create: [], unchanged: 0 },
  };
  // What the registry will hold if the import goes through: the registered rows, overlaid by the file's.
  private readonly models: Map<string, ModelRecord>;
  private readonly variants: Map<string, VariantRecord>;
  private readonly builds: Map<string, BuildRecord>;
  private readonly batches: Map<string, BatchRecord>;
  // Rows with a problem of their own: what refers to them is not reported again, so one bad batch
  // gives one problem, not one per device.
  private readonly skip: {
    models: Set<string>;
    variants: Set<string>;
    builds: Set<string>;
    batches: Set<string>;
  };
  private readonly regionIds: string[];
  private readonly once = new Map<string, string>();
  private readonly registered: RegisteredFleet;
  private readonly config: Pick<Config, "policy" | "regions">;

  constructor(
    parsed: ParsedFactory,
    registered: RegisteredFleet,
    config: Pick<Config, "policy" | "regions">,
  ) {
    this.registered = registered;
    this.config = config;
    this.models = new Map(registered.models);
    this.variants = new Map(registered.variants);
    this.builds = new Map(registered.builds);
    this.batches = new Map(registered.batches);
    this.skip = {
      models: new Set(parsed.broken.models),
      variants: new Set(parsed.broken.variants),
      builds: new Set(parsed.broken.builds),
      batches: new Set(parsed.broken.batches),
    };
    this.regionIds = config.regions.map((r) => r.id);
  }

  private report(where: Located<unknown>, field: string, message: string): void {
    this.problems.push({ path: where.csv ? where.at : `${where.at}/${field}`, message });
  }

  /** True (and reported) when `id` of `kind` was listed before in the file. */
  private duplicate(kind: string, id: string, where: Located<unknown>, field: string): boolean {
    const first = this.once.get(`${kind}\u0000${id}`);
    if (first === undefined) {
      this.once.set(`${kind}\u0000${id}`, where.at);
      return false;
    }
    this.report(where, field, `${kind} ${id} is listed twice in the file (first at ${first})`);
    return true;
  }

  /** The variant as the registry will hold it; reported when it is neither in the file nor registered. */
  private variantKnown(where: Located<unknown>, model: string, variant: string): VariantRecord | undefined {
    const key = variantKey(model, variant);
    const found = this.variants.get(key);
    if (found !== undefined || this.skip.variants.has(key) || this.skip.models.has(model)) return found;
    if (!this.models.has(model))
      this.report(where, "model", `model ${model} is neither in this file nor registered`);
    else
      this.report(
        where,
        "variant",
        `variant ${variant} of model ${model} is neither in this file nor registered`,
      );
    return undefined;
  }

  /** Models: new, changed (name, warranty) or as registered. */
  planModels(rows: readonly Located<FactoryModel>[]): void {
    for (const where of rows) {
      const { row } = where;
      if (this.duplicate("model", row.id, where, "id")) continue;
      const next: ModelRecord = {
        id: row.id,
        name: row.name,
        warrantyMonths: row.warrantyMonths ?? DEFAULT_WARRANTY_MONTHS,
      };
      classify(
        this.plan.models,
        next,
        this.registered.models.get(row.id),
        (a, b) => a.name === b.name && a.warrantyMonths === b.warrantyMonths,
      );
      this.models.set(row.id, next);
    }
  }

  /** Variants: of a known model, in a configured region; a registered variant's region never changes. */
  planVariants(rows: readonly Located<FactoryVariant>[]): void {
    for (const where of rows) {
      const { row } = where;
      const key = variantKey(row.model, row.id);
      if (this.duplicate("variant", `${row.id} of model ${row.model}`, where, "id")) continue;
      let ok = true;
      if (!this.models.has(row.model)) {
        if (!this.skip.models.has(row.model))
          this.report(where, "model", `model ${row.model} is neither in this file nor registered`);
        ok = false;
      }
      if (!this.regionIds.includes(row.region)) {
        this.report(
          where,
          "region",
          `region ${row.region} is not configured (the regions are ${this.regionIds.join(", ")})`,
        );
        ok = false;
      }
      const old = this.registered.variants.get(key);
      if (old !== undefined && old.region !== row.region) {
        this.report(
          where,
          "region",
          `variant ${row.id} of model ${row.model} is registered in region ${old.region}; a variant's region cannot change`,
        );
        continue;
      }
      if (!ok) {
        this.skip.variants.add(key);
        continue;
      }
      const next: VariantRecord = {
        model: row.model,
        id: row.id,
        region: row.region,
        description: row.description ?? "",
      };
      classify(this.plan.variants, next, old, (a, b) => a.description === b.description);
      this.variants.set(key, next);
    }
  }

  /** Builds: of a known variant, released at a real time; a registered build never moves to another variant. */
  planBuilds(rows: readonly Located<FactoryBuild>[]): void {
    for (const where of rows) {
      const { row } = where;
      if (this.duplicate("build", row.number, where, "number")) continue;
      const releasedAt = row.releasedAt ?? null;
      let ok = this.variantKnown(where, row.model, row.variant) !== undefined;
      if (releasedAt !== null && !isRealTimestamp(releasedAt)) {
        this.report(where, "releasedAt", `releasedAt ${releasedAt} is not a real date and time`);
        ok = false;
      }
      const old = this.registered.builds.get(row.number);
      if (old !== undefined && (old.model !== row.model || old.variant !== row.variant)) {
        this.report(
          where,
          "variant",
          `build ${row.number} is registered as a build of variant ${old.variant} of model ${old.model}; it cannot move`,
        );
        continue;
      }
      if (!ok) {
        this.skip.builds.add(row.number);
        continue;
      }
      const next: BuildRecord = { number: row.number, model: row.model, variant: row.variant, releasedAt };
      classify(this.plan.builds, next, old, (a, b) => sameTime(a.releasedAt, b.releasedAt));
      this.builds.set(row.number, next);
    }
  }

  /** Batches: of a known variant and one of its builds, for a market of the variant's region (the incident); a registered batch changes only its size. */
  planBatches(rows: readonly Located<FactoryBatch>[]): void {
    for (const where of rows) {
      const { row } = where;
      if (this.duplicate("batch", row.id, where, "id")) continue;
      let ok = true;
      const variant = this.variantKnown(where, row.model, row.variant);
      if (variant === undefined) ok = false;
      const build = this.builds.get(row.build);
      if (build === undefined) {
        if (!this.skip.builds.has(row.build))
          this.report(where, "build", `build ${row.build} is neither in this file nor registered`);
        ok = false;
      } else if (build.model !== row.model || build.variant !== row.variant) {
        this.report(
          where,
          "build",
          `build ${row.build} is a build of variant ${build.variant} of model ${build.model}, not of this batch's variant ${row.variant} of ${row.model}`,
        );
        ok = false;
      }
      if (variant !== undefined) {
        // The incident: a batch for one market flashed with the variant of another region.
        const marketRegion = regionOfMarket(this.config, row.market);
        if (marketRegion !== variant.region) {
          this.report(
            where,
            "market",
            `market ${row.market} belongs to region ${marketRegion}, but variant ${row.variant} of model ${row.model} belongs to region ${variant.region}: its devices would send their data to the wrong region`,
          );
          ok = false;
        }
      }
      if (!isRealTimestamp(row.producedAt)) {
        this.report(where, "producedAt", `producedAt ${row.producedAt} is not a real date and time`);
        ok = false;
      }
      const old = this.registered.batches.get(row.id);
      if (
        old !== undefined &&
        (old.model !== row.model ||
          old.variant !== row.variant ||
          old.market !== row.market ||
          old.build !== row.build ||
          !sameTime(old.producedAt, row.producedAt))
      ) {
        this.report(
          where,
          "id",
          `batch ${row.id} is registered as ${old.model} ${old.variant} for ${old.market} with build ${old.build}, produced at ${old.producedAt}; only its size can change`,
        );
        continue;
      }
      const registeredDevices = this.registered.devicesInBatch.get(row.id) ?? 0;
      if (registeredDevices > row.size) {
        this.report(
          where,
          "size",
          `size ${row.size} is less than the ${registeredDevices} devices registered in batch ${row.id}`,
        );
        ok = false;
      }
      if (!ok) {
        this.skip.batches.add(row.id);
        this.batches.delete(row.id);
        continue;
      }
      // A registered batch keeps its stored production time; only the size can change.
      const next: BatchRecord = { ...row, producedAt: old?.producedAt ?? row.producedAt };
      classify(this.plan.batches, next, old, (a, b) => a.size === b.size);
      this.batches.set(row.id, next);
    }
  }

  /** Devices: in a known batch whose model, variant and market they share, each with its own key, no more than the batch's size; a registered device never changes. */
  planDevices(rows: readonly Located<FactoryDevice>[]): void {
    const added = new Map<string, number>();
    const overfull = new Set<string>();
    for (const where of rows) {
      const { row } = where;
      const keyId = deviceKeyId(row.publicKey);
      if (this.duplicate("serial", row.serial, where, "serial")) continue;
      if (this.duplicate("public key", row.publicKey, where, "publicKey")) continue;
      const batch = this.batches.get(row.batch);
      let ok = true;
      if (batch === undefined) {
        if (!this.skip.batches.has(row.batch))
          this.report(where, "batch", `batch ${row.batch} is neither in this file nor registered`);
        ok = false;
      } else {
        for (const field of ["model", "variant", "market"] as const) {
          if (row[field] !== batch[field]) {
            this.report(
              where,
              field,
              `${field} ${row[field]} differs from ${batch[field]}, the ${field} of batch ${batch.id}`,
            );
            ok = false;
          }
        }
      }
      const bySerial = this.registered.devicesBySerial.get(row.serial);
      if (bySerial !== undefined) {
        if (bySerial.keyId !== keyId) {
          this.report(
            where,
            "publicKey",
            `device ${row.serial} is registered with another key (${bySerial.keyId}); a device's key cannot change`,
          );
        } else if (
          bySerial.batch !== row.batch ||
          bySerial.model !== row.model ||
          bySerial.variant !== row.variant
        ) {
          this.report(
            where,
            "batch",
            `device ${row.serial} is registered in batch ${bySerial.batch}; a device cannot move`,
          );
        } else if (ok) this.plan.devices.unchanged += 1;
        continue;
      }
      const byKey = this.registered.devicesByKeyId.get(keyId);
      if (byKey !== undefined) {
        this.report(
          where,
          "publicKey",
          `this public key is registered to device ${byKey.serial}; every device has its own key`,
        );
        continue;
      }
      if (!ok || batch === undefined) continue;
      const count = (added.get(batch.id) ?? 0) + 1;
      added.set(batch.id, count);
      const total = (this.registered.devicesInBatch.get(batch.id) ?? 0) + count;
      if (total > batch.size && !overfull.has(batch.id)) {
        overfull.add(batch.id);
        this.report(
          where,
          "batch",
          `batch ${batch.id} holds at most ${batch.size} devices (its size); this would be device number ${total}`,
        );
      }
      this.plan.devices.create.push({
        serial: row.serial,
        keyId,
        publicKey: row.publicKey,
        model: row.model,
        variant: row.variant,
        market: row.market,
        batch: row.batch,
        // The factory provisions a device's key when its batch is produced.
        provisionedAt: batch.producedAt,
      });
    }
  }
}

function classify<T>(changes: Changes<T>, next: T, old: T | undefined, same: (a: T, b: T) => boolean): void {
  if (old === undefined) changes.create.push(next);
  else if (same(old, next)) changes.unchanged += 1;
  else changes.update.push(next);
}

const TIMESTAMP = new RegExp(TIMESTAMP_PATTERN);

/** True when an RFC 3339 string of the factory file's form names a date and time that exists (src/calendar). */
export function isRealTimestamp(value: string): boolean {
  return TIMESTAMP.test(value) && parseInstant(value) !== undefined;
}

function sameTime(a: string | null, b: string | null): boolean {
  if (a === null || b === null) return a === b;
  return Date.parse(a) === Date.parse(b);
}
