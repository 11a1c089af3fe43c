/**
 * The region's write path: every accepted activation, diagnostics batch and refusal goes
 * through one group committer, so a busy collector writes a few large
 * transactions instead of many small ones, and answers only after commit.
 */
import {
  type ActivationRow,
  findActivations,
  insertActivations,
  type StoredActivation,
} from "../activation/activation.repository.ts";
import type { Db, Queryable } from "../../core/db/index.ts";
import {
  type DiagnosticsRow,
  eventKey,
  insertDiagnosticsEvents,
} from "../diagnostics/diagnostics.repository.ts";
import { lockConsentsInForce } from "../diagnostics/consent-check.repository.ts";
import { type GroupCommitOptions, GroupCommitter } from "./group-commit.ts";
import {
  addLedgerCounts,
  type LedgerEntry,
  type MisroutingSighting,
  recordMisrouting,
} from "./ledger.repository.ts";

/** Where a counted message came from, for the ledger. */
export type LedgerContext = Omit<LedgerEntry, "outcome" | "reason">;

/** A diagnostics batch, stored only if its device's consent holds inside the storing transaction. */
export interface DiagnosticsItem {
  kind: "diagnostics";
  deviceKey: string;
  /** The consent purpose the batch needs. */
  purpose: string;
  /** Notice versions whose "yes" is valid for the current notice. */
  noticeVersions: number[];
  rows: Omit<DiagnosticsRow, "consentReceipt">[];
  ledger: LedgerContext;
}

/** One piece of work for the region's writer. */
export type WriteItem =
  | { kind: "activation"; row: ActivationRow; ledger: LedgerContext }
  | DiagnosticsItem
  | { kind: "refusal"; ledger: LedgerEntry; misrouting?: MisroutingSighting };

/** What the writer answers, after commit; `counted` is the ledger entry the item was counted under. */
export type WriteResult = { counted: LedgerEntry } & (
  | { kind: "activation"; stored: StoredActivation; replayed: boolean }
  | { kind: "diagnostics"; consented: boolean; stored: number }
  | { kind: "refusal" }
);

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

  // Diagnostics: the consent in force is read (and share-locked) in this transaction,
  // so a withdrawal either commits first (and the batch is refused) or waits and erases it.
  const batches = items.filter((i): i is DiagnosticsItem => i.kind === "diagnostics");
  const consents = await lockConsentsInForce(
    tx,
    batches.map((b) => ({ deviceKey: b.deviceKey, purpose: b.purpose })),
  );
  const diagnosticsRows: DiagnosticsRow[] = [];
  const consentedBatches = new Set<DiagnosticsItem>();
  for (const b of batches) {
    const consent = consents.get(`${b.deviceKey}\u0000${b.purpose}`);
    if (!consent || !b.noticeVersions.includes(consent.noticeVersion)) continue;
    consentedBatches.add(b);
    for (const row of b.rows) diagnosticsRows.push({ ...row, consentReceipt: consent.receiptId });
  }
  const newEvents = await insertDiagnosticsEvents(tx, diagnosticsRows);
  // A device may appear twice in one batch: only its first item is "stored".
  const firstSeen = new Set<string>();
  const count = (entry: LedgerEntry): LedgerEntry => {
    ledger.push(entry);
    return entry;
  };
  const counted = (item: { ledger: LedgerContext }, fresh: boolean) =>
    count({ ...item.ledger, outcome: fresh ? "stored" : "replayed", reason: fresh ? "stored" : "replayed" });
  const results = items.map((item): WriteResult => {
    if (item.kind === "refusal") {
      if (item.misrouting) sightings.push(item.misrouting);
      return { kind: "refusal", counted: count(item.ledger) };
    }
    if (item.kind === "diagnostics") {
      if (!consentedBatches.has(item)) {
        const refused = count({ ...item.ledger, outcome: "refused", reason: "consent.required" });
        return { kind: "diagnostics", consented: false, stored: 0, counted: refused };
      }
      // An event two batches of one flush both carry counts for the first.
      let stored = 0;
      for (const row of item.rows) if (newEvents.delete(eventKey(row))) stored += 1;
      return { kind: "diagnostics", consented: true, stored, counted: counted(item, stored > 0) };
    }
    const row = stored.get(item.row.deviceKey);
    if (!row) throw new Error(`activation of ${item.row.deviceKey} is neither inserted nor found`);
    const fresh = inserted.has(item.row.deviceKey) && !firstSeen.has(item.row.deviceKey);
    firstSeen.add(item.row.deviceKey);
    return { kind: "activation", stored: row, replayed: !fresh, counted: counted(item, fresh) };
  });
  await addLedgerCounts(tx, ledger, now);
  await recordMisrouting(tx, sightings, now);
  return results;
}
