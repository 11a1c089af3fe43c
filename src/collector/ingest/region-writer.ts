/**
 * The region's write path: every accepted activation, diagnostics batch and refusal goes
 * through one group committer, so a busy collector writes a few large
 * transactions instead of many small ones, and answers only after commit.
 */
import type { Db, Queryable } from "../../core/db/index.ts";
import type { WriteStep } from "../device-data/index.ts";
import { type GroupCommitOptions, GroupCommitter } from "./group-commit.ts";
import {
  addLedgerCounts,
  type LedgerEntry,
  type MisroutingSighting,
  recordMisrouting,
} from "./ledger.repository.ts";

/** Where a counted message came from, for the ledger. */
export type LedgerContext = Omit<LedgerEntry, "outcome" | "reason">;

/** A record for one of the writer's steps (an activation, a diagnostics batch), and where it came from. */
export interface StepItem {
  kind: string;
  step: WriteStep<unknown, unknown>;
  value: unknown;
  ledger: LedgerContext;
}

/** A refusal, counted in the ledger (and, when misrouted, in the misrouting alerts). */
export interface RefusalItem {
  kind: "refusal";
  ledger: LedgerEntry;
  misrouting?: MisroutingSighting;
}

/** One piece of work for the region's writer. */
export type WriteItem = StepItem | RefusalItem;

/** What the writer answers, after commit: the step's result (none for a refusal) and the ledger entry it was counted under. */
export interface WriteResult {
  result: unknown;
  counted: LedgerEntry;
}

/** The group committer of a region's store. */
export type RegionWriter = GroupCommitter<WriteItem, WriteResult>;

/**
 * Builds the group committer of a region's store over the steps of the
 * collector's list of tables; each flush runs the steps in that order.
 */
export function createRegionWriter(
  db: Db,
  steps: readonly WriteStep<unknown, unknown>[],
  options: GroupCommitOptions,
): RegionWriter {
  return new GroupCommitter(db, regionFlush(steps), options);
}

/** Writes `value` through `step` in the next group commit; answers after commit. */
export async function writeThrough<I, R>(
  writer: RegionWriter,
  step: WriteStep<I, R>,
  value: I,
  ledger: LedgerContext,
): Promise<{ result: R; counted: LedgerEntry }> {
  const written = await writer.submit(stepItem(step, value, ledger));
  return written as { result: R; counted: LedgerEntry };
}

/** The writer's item for `value`, written through `step`. */
export function stepItem<I, R>(step: WriteStep<I, R>, value: I, ledger: LedgerContext): StepItem {
  return { kind: step.kind, step: step as WriteStep<unknown, unknown>, value, ledger };
}

/** Writes one batch of mixed work in the caller's transaction: each step's items, then the ledger. */
export function regionFlush(
  steps: readonly WriteStep<unknown, unknown>[],
): (tx: Queryable, items: readonly WriteItem[]) => Promise<WriteResult[]> {
  return async (tx, items) => {
    // Before anything is written: an item no step of this writer takes fails its commit, and nothing of it.
    for (const item of items) {
      if ("step" in item && !steps.includes(item.step))
        throw new Error(`no step of this writer writes ${item.kind}`);
    }
    const now = new Date();
    const results: (WriteResult | undefined)[] = new Array(items.length);
    const ledger: LedgerEntry[] = [];
    const sightings: MisroutingSighting[] = [];
    for (const step of steps) {
      const mine = items.flatMap((item, at) => ("step" in item && item.step === step ? [{ item, at }] : []));
      if (mine.length === 0) continue;
      const written = await step.write(
        tx,
        mine.map((m) => m.item.value),
      );
      if (written.length !== mine.length) {
        throw new Error(
          `the ${step.kind} step answered ${written.length} items for the ${mine.length} it was given`,
        );
      }
      for (const [i, { item, at }] of mine.entries()) {
        const w = written[i];
        if (w === undefined) throw new Error(`the ${step.kind} step left item ${i} unanswered`);
        const counted = { ...item.ledger, outcome: w.outcome, reason: w.reason };
        ledger.push(counted);
        results[at] = { result: w.result, counted };
      }
    }
    for (const [at, item] of items.entries()) {
      if ("step" in item) continue;
      if (item.misrouting) sightings.push(item.misrouting);
      ledger.push(item.ledger);
      results[at] = { result: undefined, counted: item.ledger };
    }
    await addLedgerCounts(tx, ledger, now);
    await recordMisrouting(tx, sightings, now);
    return results as WriteResult[];
  };
}
