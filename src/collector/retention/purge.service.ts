/**
 * Purges: retention (everything past its declared retention) and surgical
 * (one field, or the rows of one collection version, collected by mistake).
 * A purge is planned as steps, each counted first; then every step walks its
 * rows in (expiry, key) order, chunk by chunk, each chunk one statement, so a
 * large purge never holds one huge transaction. A dry run walks the same rows
 * in the same order without removing them, so it reports the same counts and
 * the same digest. Every run, dry or not, is recorded in `purge_runs`.
 */
import { appendAudit } from "../../core/audit-log/index.ts";
import { createHash } from "node:crypto";
import type { Db } from "../../core/db/index.ts";
import type { Dictionary } from "../../core/dictionary/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import {
  DETACH_PATIENCE,
  type DetachPatience,
  detachDiagnosticsPartition,
  dropDiagnosticsPartition,
  listDiagnosticsPartitions,
  PARTITIONED_TABLE,
} from "./partitions.ts";
import {
  countSelected,
  deleteSelectedChunk,
  insertPurgeRun,
  readSelectedKeys,
  removeFieldChunk,
  startOf,
  type RowKey,
  type Selection,
  updatePurgeRun,
  withPurgeLock,
  type ExpiringTable,
} from "./purge.repository.ts";
import { type DeviceTable, expiringTables, tableStoring } from "../device-data/index.ts";

/** Rows per statement: small enough that a chunk's locks and WAL stay short, large enough to be quick. */
export const DEFAULT_CHUNK_SIZE = 5000;

/** One thing a purge does to one table. */
export interface PurgeStep {
  /** The table's name. */
  table: string;
  /** `drop-partition`: a whole month of expired diagnostics; `delete-rows`: rows one by one; `remove-field`: one field out of `data`. */
  action: "drop-partition" | "delete-rows" | "remove-field";
  /** The partition a `drop-partition` step drops. */
  partition?: string;
  /** The collection whose rows the step touches, when it is about one. */
  collection?: string;
  version?: number;
  /** The field a `remove-field` step removes. */
  field?: string;
  /** How many rows it touches (rows removed, or rows the field is removed from), counted when planned. */
  due: number;
}

/** Per table: rows deleted (partitions included), rows a field was removed from, partitions dropped. */
export interface TableTotals {
  rows: number;
  fields: number;
  partitions: string[];
}

/** What a purge would do now. */
export interface PurgePlan {
  kind: "retention" | "surgical";
  /** The instant the purge is computed against. */
  asOf: Date;
  steps: PurgeStep[];
  tables: Record<string, TableTotals>;
  /** Rows touched over all steps. */
  total: number;
}

/** What a step did. */
export interface StepOutcome extends PurgeStep {
  /** Rows it removed (or, in a dry run, would have). */
  removed: number;
  /** True when a partition stayed busy past the lock timeout and was left for the next run. */
  skipped: boolean;
  /** Why a skipped step was skipped, in words (how long and how often the detach tried). */
  skippedBecause?: string;
}

/** What a purge did, as recorded in `purge_runs`. */
export interface PurgeResult {
  runId: number;
  kind: "retention" | "surgical";
  dryRun: boolean;
  asOf: Date;
  steps: StepOutcome[];
  tables: Record<string, TableTotals>;
  removed: number;
  /** SHA-256 (hex) over the removed rows' keys, one line each, in the order removed (docs/retention.md). */
  sha256: string;
}

/** How a purge runs. */
export interface RunOptions extends PurgeScope {
  /** Count and record what would go, remove nothing. */
  dryRun?: boolean;
  /** Rows per statement (default 5,000). */
  chunkSize?: number;
  /** Called after every chunk with rows done and rows due. */
  onProgress?: (done: number, total: number) => void;
  /** Stops the run between chunks (a collector shutting down); the record stays unfinished. */
  signal?: AbortSignal;
  /** Who asked, for the audit log (default `system:retention`, the schedule). */
  actor?: string;
  /** How long detaching an expired partition may wait for the table, and how (default `DETACH_PATIENCE`). */
  detachPatience?: Readonly<DetachPatience>;
}

/** What a purge works from: the dictionary, and the region's device tables (each says how its rows expire). */
export interface PurgeScope {
  dictionary: Dictionary;
  tables: readonly DeviceTable[];
}

/** A surgical purge: one collection (one version, or all), optionally one field, received in [from, to). */
export interface SurgicalRequest {
  collection: string;
  version?: number | undefined;
  field?: string | undefined;
  from: Date;
  to: Date;
  /** Why: kept in the record. */
  reason: string;
}

interface Planned extends PurgeStep {
  /** The table the step walks. */
  walks: ExpiringTable;
  selection: Selection;
  /** `drop-partition` only: false when a run detached it and stopped before dropping it. */
  attached?: boolean;
}

/** Counts what retention would remove at `now`: per table, partitions that can go whole, rows, and fields past their own retention. */
export async function planPurge(db: Db, now: Date, options: PurgeScope): Promise<PurgePlan> {
  return toPlan("retention", now, await retentionSteps(db, now, options), options.tables);
}

/**
 * Removes what is past its retention at `now` (or, with `dryRun`, only
 * records what would go) and records the run. Throws `store.locked` when
 * another process of the region is purging.
 */
export async function runPurge(db: Db, now: Date, options: RunOptions): Promise<PurgeResult> {
  return locked(db, async () => {
    const steps = await retentionSteps(db, now, options);
    return execute(db, { kind: "retention", asOf: now, reason: null, scope: null }, steps, options);
  });
}

/** Counts what a surgical purge would remove; throws `purge.invalid` for a request the dictionary cannot mean. */
export async function planSurgicalPurge(
  db: Db,
  now: Date,
  request: SurgicalRequest,
  options: PurgeScope,
): Promise<PurgePlan> {
  const checked = checkSurgicalRequest(options.dictionary, request);
  return toPlan("surgical", now, await surgicalSteps(db, options.tables, checked), options.tables);
}

/**
 * Removes one field, or whole rows, of one collection (version) received in
 * [from, to), across every device of the region; records the run with the
 * reason. `now` is only the record's time.
 */
export async function runSurgicalPurge(
  db: Db,
  now: Date,
  request: SurgicalRequest,
  options: RunOptions,
): Promise<PurgeResult> {
  const checked = checkSurgicalRequest(options.dictionary, request);
  return locked(db, async () => {
    const steps = await surgicalSteps(db, options.tables, checked);
    const scope = {
      collection: checked.collection,
      version: checked.version ?? null,
      field: checked.field ?? null,
      from: checked.from.toISOString(),
      to: checked.to.toISOString(),
    };
    return execute(db, { kind: "surgical", asOf: now, reason: checked.reason, scope }, steps, options);
  });
}

async function locked<T>(db: Db, fn: () => Promise<T>): Promise<T> {
  const held = await withPurgeLock(db, fn);
  if (held === null) {
    throw new PhoneHomeError(
      "store.locked",
      "another purge of this region is running; try again when it ends",
    );
  }
  return held.value;
}

/** A table of the list as purges walk it. */
function walked(table: DeviceTable): ExpiringTable {
  if (table.expiry === null) throw new Error(`table ${table.name} does not expire`);
  return { name: table.name, expiry: table.expiry };
}

async function retentionSteps(db: Db, now: Date, scope: PurgeScope): Promise<Planned[]> {
  const steps: Planned[] = [];
  const expired = (exceptRanges: { from: Date; to: Date }[]): Selection => ({
    kind: "expired",
    now,
    exceptRanges,
  });
  const deleteExpired = (table: DeviceTable): Planned => ({
    table: table.name,
    walks: walked(table),
    action: "delete-rows",
    selection: expired([]),
    due: 0,
  });
  const expiring = expiringTables(scope.tables);
  // Collected records first, each table in the list's order.
  for (const table of expiring.filter((t) => t.holds === "collected")) {
    if (!table.expiry?.partitioned) {
      steps.push(deleteExpired(table));
      continue;
    }
    if (table.name !== PARTITIONED_TABLE) throw new Error(`only ${PARTITIONED_TABLE} is kept in partitions`);
    // A partition whose whole month lies before `now` goes whole; a detached one was already on its way out.
    const droppable = (await listDiagnosticsPartitions(db)).filter((p) => !p.attached || p.to <= now);
    for (const p of droppable) {
      steps.push({
        table: table.name,
        walks: walked(table),
        action: "drop-partition",
        partition: p.name,
        attached: p.attached,
        selection: { kind: "partition", name: p.name },
        due: 0,
      });
    }
    const ranges = droppable.filter((p) => p.attached).map((p) => ({ from: p.from, to: p.to }));
    steps.push({
      table: table.name,
      walks: walked(table),
      action: "delete-rows",
      selection: expired(ranges),
      due: 0,
    });
  }
  // Fields kept shorter than their record: removed from `data` when their own retention ends.
  for (const collection of scope.dictionary.collections) {
    for (const field of collection.fields) {
      if (field.transform === "drop" || field.retention.duration === collection.retention.duration) continue;
      const table = tableStoring(scope.tables, collection.name);
      steps.push({
        table: table.name,
        walks: walked(table),
        action: "remove-field",
        collection: collection.name,
        version: collection.version,
        field: field.name,
        selection: {
          kind: "field-expired",
          now,
          collection: collection.name,
          version: collection.version,
          field: field.name,
          retention: field.retention.duration,
        },
        due: 0,
      });
    }
  }
  // Proof records whose retention (stamped when they stopped being current) has run out.
  for (const table of expiring.filter((t) => t.holds === "proof")) {
    steps.push(deleteExpired(table));
  }
  for (const step of steps) step.due = await countSelected(db, step.walks, step.selection);
  return steps;
}

const FIELD_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const MAX_REASON = 1000;

/** Checks a surgical request against the dictionary; throws `purge.invalid` naming what is wrong, else returns it tidied. */
export function checkSurgicalRequest(dictionary: Dictionary, request: SurgicalRequest): SurgicalRequest {
  const invalid = (path: string, message: string) => new PhoneHomeError("purge.invalid", message, { path });
  const reason = request.reason.trim();
  if (reason.length === 0)
    throw invalid("/reason", "a surgical purge needs a reason; it is kept in the record");
  if (reason.length > MAX_REASON)
    throw invalid("/reason", `the reason is longer than ${MAX_REASON} characters`);
  const { from, to, collection, version, field } = request;
  if (Number.isNaN(from.getTime())) throw invalid("/from", "from is not a valid instant");
  if (Number.isNaN(to.getTime())) throw invalid("/to", "to is not a valid instant");
  if (from.getTime() >= to.getTime()) {
    throw invalid(
      "/to",
      `the window is empty: from (${from.toISOString()}) must be before to (${to.toISOString()})`,
    );
  }
  if (!dictionary.has(collection)) {
    const known = [...new Set(dictionary.collections.map((c) => c.name))].join(", ");
    throw invalid("/collection", `the dictionary has no collection ${collection} (it has: ${known})`);
  }
  const versions = dictionary.versions(collection);
  if (version !== undefined && !versions.includes(version)) {
    throw invalid("/version", `${collection} has no version ${version} (it has: ${versions.join(", ")})`);
  }
  if (field !== undefined) {
    const inScope = dictionary.collections.filter(
      (c) => c.name === collection && (version === undefined || c.version === version),
    );
    const declared = new Set(inScope.flatMap((c) => c.fields.map((f) => f.name)));
    if (!FIELD_NAME.test(field) || !declared.has(field)) {
      const where = version === undefined ? `any version of ${collection}` : `${collection} v${version}`;
      throw invalid(
        "/field",
        `${JSON.stringify(field)} was never declared by ${where} (declared: ${[...declared].sort().join(", ")}); ` +
          "only a declared field can have been stored",
      );
    }
  }
  return { collection, version, field, from, to, reason };
}

async function surgicalSteps(
  db: Db,
  tables: readonly DeviceTable[],
  request: SurgicalRequest,
): Promise<Planned[]> {
  const table = tableStoring(tables, request.collection);
  const selection: Selection = {
    kind: "window",
    collection: request.collection,
    version: request.version,
    field: request.field,
    from: request.from,
    to: request.to,
  };
  const step: Planned = {
    table: table.name,
    walks: walked(table),
    action: request.field === undefined ? "delete-rows" : "remove-field",
    collection: request.collection,
    ...(request.version === undefined ? {} : { version: request.version }),
    ...(request.field === undefined ? {} : { field: request.field }),
    selection,
    due: await countSelected(db, walked(table), selection),
  };
  return [step];
}

function publicStep(step: Planned): PurgeStep {
  const { selection: _selection, attached: _attached, walks: _walks, ...rest } = step;
  return rest;
}

function emptyTotals(tables: readonly DeviceTable[]): Record<string, TableTotals> {
  const empty = (): TableTotals => ({ rows: 0, fields: 0, partitions: [] });
  return Object.fromEntries(expiringTables(tables).map((t) => [t.name, empty()]));
}

function addTo(totals: Record<string, TableTotals>, step: PurgeStep, count: number): void {
  const t = totals[step.table];
  if (t === undefined) throw new Error(`a purge step walks ${step.table}, which the list does not hold`);
  if (step.action === "remove-field") t.fields += count;
  else t.rows += count;
  if (step.action === "drop-partition" && step.partition !== undefined) t.partitions.push(step.partition);
}

function toPlan(
  kind: PurgePlan["kind"],
  asOf: Date,
  steps: Planned[],
  list: readonly DeviceTable[],
): PurgePlan {
  const tables = emptyTotals(list);
  for (const step of steps) addTo(tables, step, step.due);
  return {
    kind,
    asOf,
    steps: steps.map(publicStep),
    tables,
    total: steps.reduce((n, s) => n + s.due, 0),
  };
}

/** One line of the digest: table, expiry, key columns, and the field for a field removal; tab-separated. */
function digestLine(step: PurgeStep, row: RowKey): string {
  const parts = [step.table, row.expiresAt, ...row.key];
  if (step.action === "remove-field" && step.field !== undefined) parts.push(step.field);
  return `${parts.join("\t")}\n`;
}

async function execute(
  db: Db,
  run: {
    kind: PurgeResult["kind"];
    asOf: Date;
    reason: string | null;
    scope: Record<string, unknown> | null;
  },
  steps: Planned[],
  options: RunOptions,
): Promise<PurgeResult> {
  const dryRun = options.dryRun ?? false;
  const chunk = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(chunk) || chunk < 1)
    throw new RangeError("chunkSize must be a positive whole number");
  const runId = await insertPurgeRun(db, {
    kind: run.kind,
    dryRun,
    asOf: run.asOf,
    reason: run.reason,
    scope: run.scope,
  });
  const total = steps.reduce((n, s) => n + s.due, 0);
  const hash = createHash("sha256");
  const outcomes: StepOutcome[] = [];
  let done = 0;
  const summary = () => {
    const tables = emptyTotals(options.tables);
    for (const o of outcomes) if (!o.skipped) addTo(tables, o, o.removed);
    return { tables, counts: { tables, steps: outcomes } };
  };
  try {
    for (const step of steps) {
      options.signal?.throwIfAborted();
      const outcome: StepOutcome = { ...publicStep(step), removed: 0, skipped: false };
      outcomes.push(outcome);
      const take = (rows: RowKey[]) => {
        for (const row of rows) hash.update(digestLine(step, row));
        outcome.removed += rows.length;
        done += rows.length;
        options.onProgress?.(done, Math.max(total, done));
      };
      await runStep(db, step, {
        dryRun,
        chunk,
        take,
        signal: options.signal,
        outcome,
        patience: options.detachPatience ?? DETACH_PATIENCE,
      });
      await updatePurgeRun(db, runId, { counts: summary().counts, removed: done });
    }
  } catch (error) {
    // The record keeps what went before the failure; it stays unfinished (no digest, no finish time).
    await updatePurgeRun(db, runId, { counts: summary().counts, removed: done }).catch(() => {});
    throw error;
  }
  const sha256 = hash.digest("hex");
  const { tables, counts } = summary();
  await db.transaction(async (tx) => {
    await updatePurgeRun(tx, runId, { counts, removed: done, sha256 });
    // A dry run removes nothing: its record in purge_runs is enough.
    if (!dryRun) {
      await appendAudit(tx, {
        actor: options.actor ?? "system:retention",
        action: `purge.${run.kind}`,
        subject: String(runId),
        reason: run.reason,
        detail: { asOf: run.asOf.toISOString(), removed: done, sha256, scope: run.scope },
      });
    }
  });
  return { runId, kind: run.kind, dryRun, asOf: run.asOf, steps: outcomes, tables, removed: done, sha256 };
}

async function runStep(
  db: Db,
  step: Planned,
  ctx: {
    dryRun: boolean;
    chunk: number;
    take: (rows: RowKey[]) => void;
    signal: AbortSignal | undefined;
    outcome: StepOutcome;
    patience: Readonly<DetachPatience>;
  },
): Promise<void> {
  const { dryRun, chunk, take, signal, patience } = ctx;
  // Reads end at a short page; removals end at an empty chunk (rows removed meanwhile by
  // someone else, e.g. an owner's erasure, can make a chunk short without it being the last).
  const walk = async (next: (after: RowKey) => Promise<RowKey[]>, reads: boolean) => {
    let after = startOf(step.walks);
    for (;;) {
      signal?.throwIfAborted();
      const rows = await next(after);
      const last = rows.at(-1);
      if (last === undefined) return;
      take(rows);
      after = last;
      if (reads && rows.length < chunk) return;
    }
  };
  switch (step.action) {
    case "drop-partition": {
      const name = step.partition ?? "";
      if (!dryRun && step.attached !== false) {
        const detach = await detachDiagnosticsPartition(db, name, patience, signal);
        if (!detach.detached) {
          ctx.outcome.skipped = true;
          ctx.outcome.skippedBecause =
            `diagnostics_events stayed locked by other transactions for ${(detach.elapsedMs / 1000).toFixed(1)} s ` +
            `(${detach.attempts} attempts of at most ${patience.attemptMs} ms each, so that ingest never ` +
            "waited behind them longer); the partition is left for the next run";
          return;
        }
      }
      // Detached, the partition takes no new rows: its keys are read for the digest, then it goes whole.
      await walk((after) => readSelectedKeys(db, step.walks, step.selection, after, chunk), true);
      if (!dryRun) await dropDiagnosticsPartition(db, name);
      return;
    }
    case "delete-rows":
      await walk(
        (after) =>
          dryRun
            ? readSelectedKeys(db, step.walks, step.selection, after, chunk)
            : deleteSelectedChunk(db, step.walks, step.selection, after, chunk),
        dryRun,
      );
      return;
    case "remove-field": {
      const field = step.field ?? "";
      await walk(
        (after) =>
          dryRun
            ? readSelectedKeys(db, step.walks, step.selection, after, chunk)
            : removeFieldChunk(db, step.walks, step.selection, field, after, chunk),
        dryRun,
      );
      return;
    }
  }
}
