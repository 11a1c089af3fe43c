/**
 * Anchors: the control plane writes each region's audit head into its own
 * chain, on a timer and on request. A region's log rewritten or cut short
 * after an anchor then no longer holds the anchored entry with that hash —
 * `audit-log verify --region R --anchored` checks exactly that — and the
 * anchor itself cannot be removed without breaking the control plane's chain.
 */
import { fromEveryRegion, type RegionRef } from "../regions/index.ts";
import type { Db } from "../../core/db/index.ts";
import { appendAudit, lastAnchor } from "../../core/audit-log/index.ts";
import type { ChainHead } from "../../core/audit-log/index.ts";
import type { LeasedJob } from "../../core/leases/index.ts";

/** The name of the anchoring's lease and runs. */
export const ANCHOR_JOB = "audit-anchors";

/** Anchoring every region's head as a leased job, once every `seconds` (0: only on request). */
export function anchorJob(db: Db, regions: () => readonly RegionRef[], seconds: number): LeasedJob {
  return {
    name: ANCHOR_JOB,
    periodMs: seconds * 1000,
    run: async ({ signal }) => {
      await anchorRegionHeads(db, regions(), new Date(), signal);
    },
  };
}

/** What an anchoring round did. */
export interface AnchorResult {
  anchored: { region: string; seq: number; hash: string }[];
  /** Regions whose head is what was anchored last, or empty. */
  unchanged: string[];
  missing: { region: string; reason: string }[];
}

/** Reads every region's head (public) and anchors each that moved since its last anchor; stops before a write once `signal` aborts. */
export async function anchorRegionHeads(
  db: Db,
  regions: readonly RegionRef[],
  now = new Date(),
  signal?: AbortSignal,
): Promise<AnchorResult> {
  const heads = await fromEveryRegion(regions, async (region) => {
    const response = await fetch(`${region.url}/v1/audit-log/head`, { signal: AbortSignal.timeout(30_000) });
    if (!response.ok) throw new Error(`answered ${response.status}`);
    return (await response.json()) as ChainHead;
  });
  const result: AnchorResult = { anchored: [], unchanged: [], missing: heads.missing };
  for (const { region, value: head } of heads.answers) {
    // A leased run whose lease ran out while it asked writes nothing more: another replica anchors now.
    signal?.throwIfAborted();
    const moved = await db.transaction(async (tx) => {
      const last = await lastAnchor(tx, region);
      if (head.seq === 0 || (last !== null && last.seq === head.seq && last.hash === head.hash)) return false;
      await appendAudit(
        tx,
        {
          actor: "system:audit",
          action: "audit.anchored",
          subject: region,
          reason: null,
          detail: { seq: head.seq, hash: head.hash, at: head.at },
        },
        now,
      );
      return true;
    });
    if (moved) result.anchored.push({ region, seq: head.seq, hash: head.hash });
    else result.unchanged.push(region);
  }
  return result;
}
