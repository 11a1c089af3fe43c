/**
 * Reading and checking a factory file, without touching the store: parse JSON
 * or CSV, validate every row against compiled schemas, then check the rows
 * against each other and against what is registered, and plan the writes.
 * Every problem is collected, with the line (CSV) or JSON pointer (JSON) of the
 * row, so that one run tells the factory everything that is wrong.
 */
import { extname } from "node:path";
import { deviceKeyId } from "@phonehome/sdk";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { CsvError, parse as parseCsv } from "csv-parse/sync";
import { parseInstant } from "../../core/calendar/index.ts";
import { type Config, regionOfMarket } from "../../core/config/index.ts";
import { PhoneHomeError, type Problem } from "../../core/errors/index.ts";
import type {
  BatchRecord,
  BuildRecord,
  DeviceRecord,
  ModelRecord,
  VariantRecord,
} from "./fleet.repository.ts";
import {
  CSV_COLUMNS,
  FactoryBatch,
  FactoryBuild,
  FactoryDevice,
  FactoryModel,
  FactoryVariant,
  SECTION_LIMITS,
  TIMESTAMP_PATTERN,
} from "./fleet.schema.ts";

/** The two shapes of factory file. */
export type FactoryFormat = "json" | "csv";

/** Warranty length when a model does not state one, in months. */
export const DEFAULT_WARRANTY_MONTHS = 24;

/** A row and where it came from: `factory.json:/devices/17` or `devices.csv:18`. */
export interface Located<T> {
  at: string;
  /** CSV rows are located by line; the field is named in the message instead of the path. */
  csv: boolean;
  row: T;
}

/** A factory file after parsing and per-row validation. Rows that failed their schema are left out. */
export interface ParsedFactory {
  file: string;
  format: FactoryFormat;
  models: Located<FactoryModel>[];
  variants: Located<FactoryVariant>[];
  builds: Located<FactoryBuild>[];
  batches: Located<FactoryBatch>[];
  devices: Located<FactoryDevice>[];
  /** Ids of rows that failed their schema, so that references to them are not reported a second time. */
  broken: { models: Set<string>; variants: Set<string>; builds: Set<string>; batches: Set<string> };
  problems: Problem[];
}

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
  devicesByKeyId: Map<string, DeviceRecord>;
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

/** The key of a variant in maps: variant ids are unique per model only. */
export function variantKey(model: string, id: string): string {
  return `${model}/${id}`;
}

/** Chooses JSON or CSV by the file's extension, else by its first character. */
export function detectFormat(file: string, text: string): FactoryFormat {
  const ext = extname(file).toLowerCase();
  if (ext === ".json") return "json";
  if (ext === ".csv") return "csv";
  return text
    .replace(/^\uFEFF/, "")
    .trimStart()
    .startsWith("{")
    ? "json"
    : "csv";
}

/** The error an unusable factory file raises: every problem, and the promise that nothing was written. */
export function importInvalid(file: string, problems: Problem[]): PhoneHomeError {
  const count = problems.length;
  return new PhoneHomeError(
    "fleet.import_invalid",
    `${file} has ${count} problem${count === 1 ? "" : "s"}; nothing was imported`,
    { problems },
  );
}

const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
const validators = {
  models: ajv.compile<FactoryModel>(FactoryModel),
  variants: ajv.compile<FactoryVariant>(FactoryVariant),
  builds: ajv.compile<FactoryBuild>(FactoryBuild),
  batches: ajv.compile<FactoryBatch>(FactoryBatch),
  devices: ajv.compile<FactoryDevice>(FactoryDevice),
};
type Section = keyof typeof validators;
const SECTIONS = Object.keys(validators) as Section[];

/** What identifies a row of each section, used to remember rows that failed their schema. */
const ROW_KEY: Record<Section, (row: Record<string, unknown>) => string | undefined> = {
  models: (r) => str(r.id),
  variants: (r) =>
    typeof r.model === "string" && typeof r.id === "string" ? variantKey(r.model, r.id) : undefined,
  builds: (r) => str(r.number),
  batches: (r) => str(r.id),
  devices: (r) => str(r.serial),
};

/**
 * Parses a factory file and validates each row against its schema. Throws
 * `fleet.import_invalid` at once when the file cannot be read as a whole
 * (not JSON, broken CSV quoting, a wrong CSV header); otherwise returns the
 * valid rows and the problems of the others.
 */
export function parseFactory(file: string, text: string, format = detectFormat(file, text)): ParsedFactory {
  const parsed: ParsedFactory = {
    file,
    format,
    models: [],
    variants: [],
    builds: [],
    batches: [],
    devices: [],
    broken: { models: new Set(), variants: new Set(), builds: new Set(), batches: new Set() },
    problems: [],
  };
  const body = text.replace(/^\uFEFF/, "");
  if (format === "json") parseJson(parsed, body);
  else parseCsvDevices(parsed, body);
  return parsed;
}

function parseJson(parsed: ParsedFactory, text: string): void {
  const { file } = parsed;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw importInvalid(file, [{ path: file, message: `is not valid JSON: ${(error as Error).message}` }]);
  }
  if (!isRecord(doc)) {
    throw importInvalid(file, [
      {
        path: file,
        message: "must be a JSON object with the sections models, variants, builds, batches, devices",
      },
    ]);
  }
  for (const key of Object.keys(doc)) {
    if (key !== "version" && !(SECTIONS as string[]).includes(key)) {
      parsed.problems.push({ path: `${file}:/${key}`, message: `unknown section ${JSON.stringify(key)}` });
    }
  }
  if (doc.version !== undefined && doc.version !== 1) {
    parsed.problems.push({
      path: `${file}:/version`,
      message: "version must be 1, the only factory file format",
    });
  }
  for (const section of SECTIONS) {
    const items = doc[section];
    if (items === undefined) continue;
    if (!Array.isArray(items)) {
      parsed.problems.push({ path: `${file}:/${section}`, message: `${section} must be an array` });
      continue;
    }
    if (items.length > SECTION_LIMITS[section]) {
      parsed.problems.push({
        path: `${file}:/${section}`,
        message: `${section} has ${items.length} rows; one file holds at most ${SECTION_LIMITS[section]}`,
      });
      continue;
    }
    items.forEach((item: unknown, index: number) => {
      accept(parsed, section, item, { at: `${file}:/${section}/${index}`, csv: false });
    });
  }
}

function parseCsvDevices(parsed: ParsedFactory, text: string): void {
  const { file } = parsed;
  let records: { record: string[]; info: { lines: number } }[];
  try {
    // With `info`, csv-parse returns `{ record, info }` per row; its typings do not model that option.
    records = parseCsv(text, {
      info: true,
      skip_empty_lines: true,
      relax_column_count: true,
      trim: true,
    }) as unknown as typeof records;
  } catch (error) {
    if (error instanceof CsvError) {
      const line = (error as CsvError & { lines?: number }).lines;
      throw importInvalid(file, [
        { path: line === undefined ? file : `${file}:${line}`, message: error.message },
      ]);
    }
    throw error;
  }
  const [header, ...rows] = records;
  if (header === undefined) {
    throw importInvalid(file, [
      { path: file, message: `is empty; a CSV factory file starts with the header ${CSV_COLUMNS.join(",")}` },
    ]);
  }
  const headerProblems: Problem[] = [];
  const at1 = `${file}:${header.info.lines}`;
  header.record.forEach((name, i) => {
    if (!(CSV_COLUMNS as readonly string[]).includes(name)) {
      headerProblems.push({
        path: at1,
        message: `unknown column ${JSON.stringify(name)}; the columns are ${CSV_COLUMNS.join(",")}`,
      });
    } else if (header.record.indexOf(name) !== i) {
      headerProblems.push({ path: at1, message: `column ${name} appears twice` });
    }
  });
  for (const name of CSV_COLUMNS) {
    if (!header.record.includes(name))
      headerProblems.push({ path: at1, message: `column ${name} is missing` });
  }
  if (headerProblems.length > 0) throw importInvalid(file, headerProblems);
  if (rows.length > SECTION_LIMITS.devices) {
    throw importInvalid(file, [
      { path: file, message: `has ${rows.length} devices; one file holds at most ${SECTION_LIMITS.devices}` },
    ]);
  }
  const width = header.record.length;
  for (const { record, info } of rows) {
    const at = `${file}:${info.lines}`;
    if (record.length !== width) {
      parsed.problems.push({ path: at, message: `has ${record.length} fields; the header has ${width}` });
      continue;
    }
    const device: Record<string, string> = {};
    header.record.forEach((name, i) => {
      device[name] = record[i] ?? "";
    });
    accept(parsed, "devices", device, { at, csv: true });
  }
}

/** Validates one row against its section's schema: keeps it, or records its problems and its id as broken. */
function accept(
  parsed: ParsedFactory,
  section: Section,
  item: unknown,
  where: { at: string; csv: boolean },
): void {
  const validate = validators[section] as ValidateFunction<unknown>;
  if (validate(item)) {
    (parsed[section] as Located<unknown>[]).push({ ...where, row: item });
    return;
  }
  parsed.problems.push(...describeErrors(validate.errors ?? [], where));
  if (isRecord(item) && section !== "devices") {
    const key = ROW_KEY[section](item);
    if (key !== undefined) parsed.broken[section].add(key);
  }
}

/** Turns Ajv's errors into one problem per offending field, worded from the schema's descriptions. */
function describeErrors(errors: ErrorObject[], where: { at: string; csv: boolean }): Problem[] {
  const byField = new Map<string, ErrorObject>();
  for (const error of errors) {
    const params = error.params as { missingProperty?: string; additionalProperty?: string };
    const pointer = error.instancePath + suffix(params.missingProperty ?? params.additionalProperty);
    const seen = byField.get(pointer);
    // A union reports each branch and then itself; its own error carries the useful description.
    if (seen === undefined || error.keyword === "anyOf") byField.set(pointer, error);
  }
  return [...byField.entries()].map(([pointer, error]) => {
    const params = error.params as { missingProperty?: string; additionalProperty?: string };
    const field = pointer.split("/").pop() || "row";
    let message: string;
    if (error.keyword === "required") message = `${field} is required`;
    else if (error.keyword === "additionalProperties")
      message = `unknown field ${JSON.stringify(params.additionalProperty)}`;
    else if (pointer === "" && error.keyword === "type") message = "must be an object";
    else {
      const description = (error.parentSchema as { description?: unknown } | undefined)?.description;
      message =
        typeof description === "string"
          ? `${field} must be ${description}`
          : `${field} ${error.message ?? "is invalid"}`;
      if (typeof error.data === "string" && error.data.length <= 80)
        message += `, not ${JSON.stringify(error.data)}`;
    }
    return { path: where.csv ? where.at : where.at + pointer, message };
  });
}

/** Sorts problems into the order of the file (by line, or by section and row), so they read top to bottom. */
export function inFileOrder(file: string, problems: readonly Problem[]): Problem[] {
  const position = (path: string): [number, number] => {
    const rest = path.startsWith(`${file}:`) ? path.slice(file.length + 1) : "";
    if (/^[0-9]+$/.test(rest)) return [Number(rest), 0];
    const [, section = "", row = ""] = rest.split("/");
    return [SECTIONS.indexOf(section as Section), /^[0-9]+$/.test(row) ? Number(row) : -1];
  };
  // Array sort is stable: problems at the same place keep the order in which they were found.
  return problems
    .map((problem) => ({ problem, at: position(problem.path) }))
    .sort((a, b) => a.at[0] - b.at[0] || a.at[1] - b.at[1])
    .map((p) => p.problem);
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
  const problems: Problem[] = [];
  const report = (where: Located<unknown>, field: string, message: string) => {
    problems.push({ path: where.csv ? where.at : `${where.at}/${field}`, message });
  };
  const plan: ImportPlan = {
    models: { create: [], update: [], unchanged: 0 },
    variants: { create: [], update: [], unchanged: 0 },
    builds: { create: [], update: [], unchanged: 0 },
    batches: { create: [], update: [], unchanged: 0 },
    devices: { create: [], unchanged: 0 },
  };
  // What the registry will hold if the import goes through: the registered rows, overlaid by the file's.
  const models = new Map(registered.models);
  const variants = new Map(registered.variants);
  const builds = new Map(registered.builds);
  const batches = new Map(registered.batches);
  // Rows with a problem of their own: what refers to them is not reported again, so one bad batch
  // gives one problem, not one per device.
  const skip = {
    models: new Set(parsed.broken.models),
    variants: new Set(parsed.broken.variants),
    builds: new Set(parsed.broken.builds),
    batches: new Set(parsed.broken.batches),
  };
  const regionIds = config.regions.map((r) => r.id);

  const once = new Map<string, string>();
  const duplicate = (kind: string, id: string, where: Located<unknown>, field: string): boolean => {
    const first = once.get(`${kind}\u0000${id}`);
    if (first === undefined) {
      once.set(`${kind}\u0000${id}`, where.at);
      return false;
    }
    report(where, field, `${kind} ${id} is listed twice in the file (first at ${first})`);
    return true;
  };
  const variantKnown = (
    where: Located<unknown>,
    model: string,
    variant: string,
  ): VariantRecord | undefined => {
    const key = variantKey(model, variant);
    const found = variants.get(key);
    if (found !== undefined || skip.variants.has(key) || skip.models.has(model)) return found;
    if (!models.has(model)) report(where, "model", `model ${model} is neither in this file nor registered`);
    else
      report(where, "variant", `variant ${variant} of model ${model} is neither in this file nor registered`);
    return undefined;
  };

  for (const where of parsed.models) {
    const { row } = where;
    if (duplicate("model", row.id, where, "id")) continue;
    const next: ModelRecord = {
      id: row.id,
      name: row.name,
      warrantyMonths: row.warrantyMonths ?? DEFAULT_WARRANTY_MONTHS,
    };
    classify(
      plan.models,
      next,
      registered.models.get(row.id),
      (a, b) => a.name === b.name && a.warrantyMonths === b.warrantyMonths,
    );
    models.set(row.id, next);
  }

  for (const where of parsed.variants) {
    const { row } = where;
    const key = variantKey(row.model, row.id);
    if (duplicate("variant", `${row.id} of model ${row.model}`, where, "id")) continue;
    let ok = true;
    if (!models.has(row.model)) {
      if (!skip.models.has(row.model))
        report(where, "model", `model ${row.model} is neither in this file nor registered`);
      ok = false;
    }
    if (!regionIds.includes(row.region)) {
      report(
        where,
        "region",
        `region ${row.region} is not configured (the regions are ${regionIds.join(", ")})`,
      );
      ok = false;
    }
    const old = registered.variants.get(key);
    if (old !== undefined && old.region !== row.region) {
      report(
        where,
        "region",
        `variant ${row.id} of model ${row.model} is registered in region ${old.region}; a variant's region cannot change`,
      );
      continue;
    }
    if (!ok) {
      skip.variants.add(key);
      continue;
    }
    const next: VariantRecord = {
      model: row.model,
      id: row.id,
      region: row.region,
      description: row.description ?? "",
    };
    classify(plan.variants, next, old, (a, b) => a.description === b.description);
    variants.set(key, next);
  }

  for (const where of parsed.builds) {
    const { row } = where;
    if (duplicate("build", row.number, where, "number")) continue;
    const releasedAt = row.releasedAt ?? null;
    let ok = variantKnown(where, row.model, row.variant) !== undefined;
    if (releasedAt !== null && !isRealTimestamp(releasedAt)) {
      report(where, "releasedAt", `releasedAt ${releasedAt} is not a real date and time`);
      ok = false;
    }
    const old = registered.builds.get(row.number);
    if (old !== undefined && (old.model !== row.model || old.variant !== row.variant)) {
      report(
        where,
        "variant",
        `build ${row.number} is registered as a build of variant ${old.variant} of model ${old.model}; it cannot move`,
      );
      continue;
    }
    if (!ok) {
      skip.builds.add(row.number);
      continue;
    }
    const next: BuildRecord = { number: row.number, model: row.model, variant: row.variant, releasedAt };
    classify(plan.builds, next, old, (a, b) => sameTime(a.releasedAt, b.releasedAt));
    builds.set(row.number, next);
  }

  for (const where of parsed.batches) {
    const { row } = where;
    if (duplicate("batch", row.id, where, "id")) continue;
    let ok = true;
    const variant = variantKnown(where, row.model, row.variant);
    if (variant === undefined) ok = false;
    const build = builds.get(row.build);
    if (build === undefined) {
      if (!skip.builds.has(row.build))
        report(where, "build", `build ${row.build} is neither in this file nor registered`);
      ok = false;
    } else if (build.model !== row.model || build.variant !== row.variant) {
      report(
        where,
        "build",
        `build ${row.build} is a build of variant ${build.variant} of model ${build.model}, not of this batch's variant ${row.variant} of ${row.model}`,
      );
      ok = false;
    }
    if (variant !== undefined) {
      // The incident: a batch for one market flashed with the variant of another region.
      const marketRegion = regionOfMarket(config, row.market);
      if (marketRegion !== variant.region) {
        report(
          where,
          "market",
          `market ${row.market} belongs to region ${marketRegion}, but variant ${row.variant} of model ${row.model} belongs to region ${variant.region}: its devices would send their data to the wrong region`,
        );
        ok = false;
      }
    }
    if (!isRealTimestamp(row.producedAt)) {
      report(where, "producedAt", `producedAt ${row.producedAt} is not a real date and time`);
      ok = false;
    }
    const old = registered.batches.get(row.id);
    if (
      old !== undefined &&
      (old.model !== row.model ||
        old.variant !== row.variant ||
        old.market !== row.market ||
        old.build !== row.build ||
        !sameTime(old.producedAt, row.producedAt))
    ) {
      report(
        where,
        "id",
        `batch ${row.id} is registered as ${old.model} ${old.variant} for ${old.market} with build ${old.build}, produced at ${old.producedAt}; only its size can change`,
      );
      continue;
    }
    const registeredDevices = registered.devicesInBatch.get(row.id) ?? 0;
    if (registeredDevices > row.size) {
      report(
        where,
        "size",
        `size ${row.size} is less than the ${registeredDevices} devices registered in batch ${row.id}`,
      );
      ok = false;
    }
    if (!ok) {
      skip.batches.add(row.id);
      batches.delete(row.id);
      continue;
    }
    // A registered batch keeps its stored production time; only the size can change.
    const next: BatchRecord = { ...row, producedAt: old?.producedAt ?? row.producedAt };
    classify(plan.batches, next, old, (a, b) => a.size === b.size);
    batches.set(row.id, next);
  }

  const added = new Map<string, number>();
  const overfull = new Set<string>();
  for (const where of parsed.devices) {
    const { row } = where;
    const keyId = deviceKeyId(row.publicKey);
    if (duplicate("serial", row.serial, where, "serial")) continue;
    if (duplicate("public key", row.publicKey, where, "publicKey")) continue;
    const batch = batches.get(row.batch);
    let ok = true;
    if (batch === undefined) {
      if (!skip.batches.has(row.batch))
        report(where, "batch", `batch ${row.batch} is neither in this file nor registered`);
      ok = false;
    } else {
      for (const field of ["model", "variant", "market"] as const) {
        if (row[field] !== batch[field]) {
          report(
            where,
            field,
            `${field} ${row[field]} differs from ${batch[field]}, the ${field} of batch ${batch.id}`,
          );
          ok = false;
        }
      }
    }
    const bySerial = registered.devicesBySerial.get(row.serial);
    if (bySerial !== undefined) {
      if (bySerial.keyId !== keyId) {
        report(
          where,
          "publicKey",
          `device ${row.serial} is registered with another key (${bySerial.keyId}); a device's key cannot change`,
        );
      } else if (
        bySerial.batch !== row.batch ||
        bySerial.model !== row.model ||
        bySerial.variant !== row.variant
      ) {
        report(
          where,
          "batch",
          `device ${row.serial} is registered in batch ${bySerial.batch}; a device cannot move`,
        );
      } else if (ok) plan.devices.unchanged += 1;
      continue;
    }
    const byKey = registered.devicesByKeyId.get(keyId);
    if (byKey !== undefined) {
      report(
        where,
        "publicKey",
        `this public key is registered to device ${byKey.serial}; every device has its own key`,
      );
      continue;
    }
    if (!ok || batch === undefined) continue;
    const count = (added.get(batch.id) ?? 0) + 1;
    added.set(batch.id, count);
    const total = (registered.devicesInBatch.get(batch.id) ?? 0) + count;
    if (total > batch.size && !overfull.has(batch.id)) {
      overfull.add(batch.id);
      report(
        where,
        "batch",
        `batch ${batch.id} holds at most ${batch.size} devices (its size); this would be device number ${total}`,
      );
    }
    plan.devices.create.push({
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
  return { problems, plan };
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

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function suffix(name: string | undefined): string {
  return name === undefined ? "" : `/${name}`;
}
