/**
 * The region's write path: every accepted activation and every refusal goes
 * through one group committer, so a busy collector writes a few large
 * transactions instead of many small ones, and answers only after commit.
 */
import {
  type ActivationRow,
  findActivations,
  insertActivations,
  type StoredActivation,
} from "../activation/activation.repository.ts";
import type { Db, Queryable } from "../db/index.ts";
import { type GroupCommitOptions, GroupCommitter } from "./group-commit.ts";
import {
  addLedgerCounts,
  type LedgerEntry,
  type MisroutingSighting,
  recordMisrouting,
} from "./ledger.repository.ts";

/** Where a counted message came from, for the ledger. */
export type LedgerContext = Omit<LedgerEntry, "outcome" | "reason">;

/** One piece of work for the region's writer. */
export type WriteItem =
  | { kind: "activation"; row: ActivationRow; ledger: LedgerContext }
  | { kind: "refusal"; ledger: LedgerEntry; misrouting?: MisroutingSighting };

/** What the writer answers, after commit. */
export type WriteResult =
  { kind: "activation"; stored: StoredActivation; replayed: boolean } | { kind: "refusal" };

/** Builds the group committer of a region's store. */
export function createRegionWriter(
  db: Db,
  options: GroupCommitOptions,
): GroupCommitter<WriteItem, WriteResult> {
  return new GroupCommitter(db, flushRegionBatch, options);
}

/** Writes one batch of mixed work in the caller's transaction. */
export async function flushRegionBatch(tx: Queryable, items: readonly WriteItem[]): Promise<WriteResult[]> {
  const now = new Date();
  const activations = items.flatMap((i) => (i.kind === "activation" ? [i.row] : []));
  const inserted = await insertActivations(tx, activations);
  const stored = new Map(
    (await findActivations(tx, [...new Set(activations.map((a) => a.deviceKey))])).map((a) => [
      a.deviceKey,
      a,
    ]),
  );
  const ledger: LedgerEntry[] = [];
  const sightings: MisroutingSighting[] = [];
  // A device may appear twice in one batch: only its first item is "stored".
  const firstSeen = new Set<string>();
  const results = items.map((item): WriteResult => {
    if (item.kind === "refusal") {
      ledger.push(item.ledger);
      if (item.misrouting) sightings.push(item.misrouting);
      return { kind: "refusal" };
    }
    const row = stored.get(item.row.deviceKey);
    if (!row) throw new Error(`activation of ${item.row.deviceKey} is neither inserted nor found`);
    const fresh = inserted.has(item.row.deviceKey) && !firstSeen.has(item.row.deviceKey);
    firstSeen.add(item.row.deviceKey);
    ledger.push({
      ...item.ledger,
      outcome: fresh ? "stored" : "replayed",
      reason: fresh ? "stored" : "replayed",
    });
    return { kind: "activation", stored: row, replayed: !fresh };
  });
  await addLedgerCounts(tx, ledger, now);
  await recordMisrouting(tx, sightings, now);
  return results;
}
