/**
 * The fleet registry's operations, free of HTTP and of the command line:
 * importing a factory file, and the reads the API and the collectors need.
 */
import { appendAudit, currentActor } from "../../core/audit-log/index.ts";
import { readFile } from "node:fs/promises";
import type { Config } from "../../core/config/index.ts";
import type { Db, Queryable } from "../../core/db/index.ts";
import { PhoneHomeError, type Problem } from "../../core/errors/index.ts";
import {
  type FactoryFormat,
  importInvalid,
  inFileOrder,
  type ParsedFactory,
  parseFactory,
  variantKey,
} from "./fleet.parse.ts";
import { type ImportPlan, planImport, type RegisteredFleet, referencedIds } from "./fleet.plan.ts";
import {
  type BatchRecord,
  batchExists,
  countDevicesByBatch,
  type DeviceRecord,
  type DirectoryRecord,
  findBatches,
  findBuilds,
  findDeviceBySerial,
  findDevicesByKeyIds,
  findDevicesBySerialsOrKeyIds,
  findKeyHolders,
  findModels,
  findVariants,
  insertDevices,
  listBatches,
  listDevices,
  lockFleetImport,
  upsertBatches,
  upsertBuilds,
  upsertModels,
  upsertVariants,
} from "./fleet.repository.ts";

/** A factory file already in memory: its name (used in problem paths) and its text. */
export interface FactorySource {
  name: string;
  text: string;
}

/** How an import goes. */
export interface ImportOptions {
  /** Called after validation and after each chunk of devices is written: devices done, devices in the file. */
  onProgress?: (done: number, total: number) => void;
  /** Devices per INSERT statement. */
  chunkSize?: number;
  /** Who imports, for the audit log (default: the service token's holder). */
  actor?: string;
}

/** Rows created, updated and found unchanged, for one kind of record. */
export interface ImportCounts {
  created: number;
  updated: number;
  unchanged: number;
}

/** What an import did. Importing the same file twice reports every row unchanged the second time. */
export interface ImportSummary {
  file: string;
  format: FactoryFormat;
  models: ImportCounts;
  variants: ImportCounts;
  builds: ImportCounts;
  batches: ImportCounts;
  devices: { created: number; unchanged: number };
}

/** Most problems one failed import lists; the rest are counted in a last line. */
export const MAX_LISTED_PROBLEMS = 1000;

const DEFAULT_CHUNK = 1000;
// Registry look-ups of a file's serials and keys are split so that no parameter grows without bound.
const LOOKUP_CHUNK = 5000;

/**
 * Imports a factory file (a path, or a name and text) in one transaction:
 * everything is validated before anything is written, and on any problem
 * nothing is written and `fleet.import_invalid` lists every problem.
 */
export async function importFleet(
  db: Db,
  config: Pick<Config, "policy" | "regions">,
  file: string | FactorySource,
  options: ImportOptions = {},
): Promise<ImportSummary> {
  const source = typeof file === "string" ? await readSource(file) : file;
  const parsed = parseFactory(source.name, source.text);
  const chunkSize = Math.max(1, options.chunkSize ?? DEFAULT_CHUNK);
  return db.transaction(async (tx) => {
    await lockFleetImport(tx);
    const registered = await loadRegistered(tx, parsed);
    const { problems, plan } = planImport(parsed, registered, config);
    const all = inFileOrder(source.name, [...parsed.problems, ...problems]);
    if (all.length > 0) throw importInvalid(source.name, capped(source.name, all));
    await writePlan(tx, plan, parsed.devices.length, chunkSize, options.onProgress);
    const summary = summarise(source.name, parsed.format, plan);
    await appendAudit(tx, {
      actor: options.actor ?? currentActor(),
      action: "fleet.imported",
      subject: source.name,
      reason: null,
      detail: { ...summary },
    });
    return summary;
  });
}

async function readSource(path: string): Promise<FactorySource> {
  try {
    return { name: path, text: await readFile(path, "utf8") };
  } catch (error) {
    throw importInvalid(path, [{ path, message: `cannot be read: ${(error as Error).message}` }]);
  }
}

/** Fetches what the registry holds of everything the file refers to. */
async function loadRegistered(tx: Queryable, parsed: ParsedFactory): Promise<RegisteredFleet> {
  const ids = referencedIds(parsed);
  // One connection carries the transaction, so the look-ups run one after another.
  const models = await findModels(tx, ids.models);
  const variants = await findVariants(tx, ids.variants);
  const builds = await findBuilds(tx, ids.builds);
  const batches = await findBatches(tx, ids.batches);
  const devicesInBatch = await countDevicesByBatch(tx, ids.batches);
  const devices: DeviceRecord[] = [];
  const keyHolders: { keyId: string; serial: string }[] = [];
  for (let i = 0; i < ids.serials.length; i += LOOKUP_CHUNK) {
    const found = await findDevicesBySerialsOrKeyIds(
      tx,
      ids.serials.slice(i, i + LOOKUP_CHUNK),
      ids.keyIds.slice(i, i + LOOKUP_CHUNK),
    );
    devices.push(...found);
    // A key a re-key registered, or one since revoked, is never another device's factory key.
    keyHolders.push(...(await findKeyHolders(tx, ids.keyIds.slice(i, i + LOOKUP_CHUNK))));
  }
  return {
    models: new Map(models.map((m) => [m.id, m])),
    variants: new Map(variants.map((v) => [variantKey(v.model, v.id), v])),
    builds: new Map(builds.map((b) => [b.number, b])),
    batches: new Map(batches.map((b) => [b.id, b])),
    devicesInBatch,
    devicesBySerial: new Map(devices.map((d) => [d.serial, d])),
    devicesByKeyId: new Map(keyHolders.map((k) => [k.keyId, { serial: k.serial }])),
  };
}

async function writePlan(
  tx: Queryable,
  plan: ImportPlan,
  total: number,
  chunkSize: number,
  onProgress: ImportOptions["onProgress"],
): Promise<void> {
  // Parents before children: the foreign keys check every reference as it is written.
  await upsertModels(tx, [...plan.models.create, ...plan.models.update]);
  await upsertVariants(tx, [...plan.variants.create, ...plan.variants.update]);
  await upsertBuilds(tx, [...plan.builds.create, ...plan.builds.update]);
  await upsertBatches(tx, [...plan.batches.create, ...plan.batches.update]);
  let done = plan.devices.unchanged;
  onProgress?.(done, total);
  const rows = plan.devices.create;
  for (let i = 0; i < rows.length; i += chunkSize) {
    done += await insertDevices(tx, rows.slice(i, i + chunkSize));
    onProgress?.(done, total);
  }
}

function summarise(file: string, format: FactoryFormat, plan: ImportPlan): ImportSummary {
  const counts = (c: { create: unknown[]; update: unknown[]; unchanged: number }): ImportCounts => ({
    created: c.create.length,
    updated: c.update.length,
    unchanged: c.unchanged,
  });
  return {
    file,
    format,
    models: counts(plan.models),
    variants: counts(plan.variants),
    builds: counts(plan.builds),
    batches: counts(plan.batches),
    devices: { created: plan.devices.create.length, unchanged: plan.devices.unchanged },
  };
}

function capped(file: string, problems: Problem[]): Problem[] {
  if (problems.length <= MAX_LISTED_PROBLEMS) return problems;
  const rest = problems.length - MAX_LISTED_PROBLEMS;
  return [
    ...problems.slice(0, MAX_LISTED_PROBLEMS),
    { path: file, message: `and ${rest} more problem${rest === 1 ? "" : "s"} not listed` },
  ];
}

/** A page of devices and the cursor of the next page (null on the last). */
export interface DevicePage {
  devices: DeviceRecord[];
  next: string | null;
}

/** A page of batches and the cursor of the next page (null on the last). */
export interface BatchPage {
  batches: BatchRecord[];
  next: string | null;
}

/** Devices in serial order, `limit` at a time after the serial `after`; `fleet.not_found` for an unknown batch. */
export async function pageDevices(
  q: Queryable,
  query: { batch?: string | undefined; limit: number; after?: string | undefined },
): Promise<DevicePage> {
  // One row more than asked tells whether another page follows, without a count.
  const rows = await listDevices(q, { ...query, limit: query.limit + 1 });
  if (rows.length === 0 && query.batch !== undefined && !(await batchExists(q, query.batch))) {
    throw new PhoneHomeError("fleet.not_found", `no batch ${query.batch} is registered`, {
      path: "/querystring/batch",
    });
  }
  const devices = rows.slice(0, query.limit);
  return { devices, next: rows.length > query.limit ? (devices.at(-1)?.serial ?? null) : null };
}

/** Batches in id order, `limit` at a time after the id `after`. */
export async function pageBatches(
  q: Queryable,
  query: { limit: number; after?: string | undefined },
): Promise<BatchPage> {
  const rows = await listBatches(q, { ...query, limit: query.limit + 1 });
  const batches = rows.slice(0, query.limit);
  return { batches, next: rows.length > query.limit ? (batches.at(-1)?.id ?? null) : null };
}

/** The device with this serial; `fleet.not_found` when none is registered. */
export async function getDevice(q: Queryable, serial: string): Promise<DeviceRecord> {
  const device = await findDeviceBySerial(q, serial);
  if (device === undefined) {
    throw new PhoneHomeError("fleet.not_found", `no device ${serial} is registered`, {
      path: "/params/serial",
    });
  }
  return device;
}

/** Directory records for the given device key ids, in one query; unknown ids are left out. */
export async function lookupDirectory(q: Queryable, keyIds: readonly string[]): Promise<DirectoryRecord[]> {
  return findDevicesByKeyIds(q, [...new Set(keyIds)]);
}

// The whole-catalogue reads need no logic of their own; the routes reach them through the service.
export { listBuilds, listModels, listVariants } from "./fleet.repository.ts";
