/**
 * Reading a factory file: JSON or CSV parsed, every row validated against
 * compiled schemas, each problem collected with the line (CSV) or JSON pointer
 * (JSON) of its row, so that one run tells the factory everything that is
 * wrong. Planning the import is fleet.plan.ts.
 */
import { extname } from "node:path";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { CsvError, parse as parseCsv } from "csv-parse/sync";
import { PhoneHomeError, type Problem } from "../../core/errors/index.ts";
import {
  CSV_COLUMNS,
  FactoryBatch,
  FactoryBuild,
  FactoryDevice,
  FactoryModel,
  FactoryVariant,
  SECTION_LIMITS,
} from "./fleet.schema.ts";

export type FactoryFormat = "json" | "csv";

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

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function suffix(name: string | undefined): string {
  return name === undefined ? "" : `/${name}`;
}
