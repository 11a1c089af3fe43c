/**
 * The audit log's hash chain, pure. An entry's hash is SHA-256 over the RFC
 * 8785 canonical JSON of its sequence number, time, actor, action, subject,
 * reason, detail and the previous entry's hash (64 zeros before the first).
 * Verifying walks the entries in order and names the first that does not fit.
 */
import { createHash } from "node:crypto";
import { type AuditEntry, entryText, GENESIS } from "@phonehome/shared";

export { type AuditEntry, type AuditFacts, entryText, GENESIS } from "@phonehome/shared";

/** The hash of an entry with these contents. */
export function entryHash(entry: Omit<AuditEntry, "hash">): string {
  return createHash("sha256").update(entryText(entry)).digest("hex");
}

/** The last entry of a chain: what is published so that a later rewrite shows. */
export interface ChainHead {
  seq: number;
  hash: string;
  at: string | null;
}

/** What `verifyChain` found. */
export interface ChainVerdict {
  ok: boolean;
  entries: number;
  head: ChainHead;
  /** The first entry that does not fit, and why. */
  broken?: { seq: number; problem: string };
}

/**
 * Walks `entries` (in sequence order) and checks each: its number follows the
 * last, its `prevHash` is the last one's hash, its hash is its contents'.
 * With `expect`, the chain must also hold that entry with that hash (a head
 * published earlier: a chain cut short or rewritten before it shows).
 */
export async function verifyChain(
  entries: AsyncIterable<AuditEntry>,
  expect?: { seq: number; hash: string },
): Promise<ChainVerdict> {
  let count = 0;
  let last: ChainHead = { seq: 0, hash: GENESIS, at: null };
  const fail = (seq: number, problem: string): ChainVerdict => ({
    ok: false,
    entries: count,
    head: last,
    broken: { seq, problem },
  });
  for await (const e of entries) {
    if (e.seq !== last.seq + 1) {
      return e.seq > last.seq + 1
        ? fail(last.seq + 1, `entry ${last.seq + 1} is missing (the next entry is ${e.seq})`)
        : fail(e.seq, `entry ${e.seq} comes after entry ${last.seq}`);
    }
    if (e.prevHash !== last.hash) {
      return fail(
        e.seq,
        `entry ${e.seq} does not follow entry ${last.seq}: its previous hash is not that entry's hash`,
      );
    }
    if (entryHash(e) !== e.hash) {
      return fail(e.seq, `entry ${e.seq} was changed: its contents do not hash to its hash`);
    }
    count += 1;
    last = { seq: e.seq, hash: e.hash, at: e.at };
    if (expect !== undefined && e.seq === expect.seq && e.hash !== expect.hash) {
      return fail(e.seq, `entry ${e.seq} is not the one published (hash ${expect.hash.slice(0, 12)}…)`);
    }
  }
  if (expect !== undefined && last.seq < expect.seq) {
    return fail(
      last.seq + 1,
      `the chain ends at entry ${last.seq}, before the published entry ${expect.seq}`,
    );
  }
  return { ok: true, entries: count, head: last };
}
