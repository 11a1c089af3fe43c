/**
 * Retention inside a running collector: the diagnostics partitions for the
 * months ahead are made when the region starts, and once per interval the
 * replica holding the region's `retention` lease purges what has expired,
 * then makes the partitions of the months that have come into reach
 * (core/leases). Stopping aborts a purge under way at its next chunk.
 */
import type { DeviceTable } from "../device-data/index.ts";
import type { LeasedJob } from "../../core/leases/index.ts";
import type { Db } from "../../core/db/index.ts";
import type { Dictionary } from "../../core/dictionary/index.ts";
import { isPhoneHomeError } from "../../core/errors/index.ts";
import type { Logger } from "../../core/log/index.ts";
import { ensureDiagnosticsPartitions, partitionMonthsAhead } from "./partitions.ts";
import { runPurge } from "./purge.service.ts";

/** The name of the retention job's lease and runs. */
export const RETENTION_JOB = "retention";

/** What the region's retention needs. */
export interface RetentionOptions {
  dictionary: Dictionary;
  /** The region's device tables: how each one's rows expire. */
  tables: readonly DeviceTable[];
  /** Time between purges, in milliseconds (the leased job's period). */
  intervalMs: number;
  logger: Logger;
  /** The clock purges run against; tests inject one. */
  clock?: () => Date;
}

/**
 * Makes the partitions of the months ahead now (every replica at its start;
 * creating one is locked, so two replicas never make the same), and returns
 * the leased job that purges what has expired once per interval, then makes
 * the partitions of the months that have come into reach. A failure is logged
 * and retried at the next period: it never stops the collector.
 */
export async function prepareRetention(db: Db, options: RetentionOptions): Promise<LeasedJob> {
  const { dictionary, tables, logger } = options;
  const clock = options.clock ?? (() => new Date());
  const ensure = async (now: Date) => {
    const created = await ensureDiagnosticsPartitions(db, now, partitionMonthsAhead(tables, dictionary, now));
    for (const p of created) {
      logger.info({ partition: p.name, moved: p.moved }, "diagnostics partition created");
    }
  };
  try {
    await ensure(clock());
  } catch (error) {
    // Without the partition, this month's events land in the default partition: slower to expire, never lost.
    logger.warn(
      { err: error },
      "could not create the diagnostics partitions ahead; retrying at the next purge",
    );
  }
  return {
    name: RETENTION_JOB,
    periodMs: options.intervalMs,
    run: async ({ signal }) => {
      const now = clock();
      try {
        const result = await runPurge(db, now, { dictionary, tables, signal });
        const log = result.removed > 0 ? logger.info.bind(logger) : logger.debug.bind(logger);
        log(
          { purgeRun: result.runId, removed: result.removed, tables: result.tables, sha256: result.sha256 },
          "retention purge",
        );
        for (const step of result.steps.filter((s) => s.skipped)) {
          logger.warn(
            { purgeRun: result.runId, partition: step.partition, reason: step.skippedBecause },
            "retention purge skipped a partition; it is tried again at the next purge",
          );
        }
        await ensure(now);
      } catch (error) {
        if (signal.aborted) throw error;
        if (isPhoneHomeError(error, "store.locked")) {
          // An operator's `purge` or a purge through the API is under way; this period's work is theirs.
          logger.debug("retention purge skipped: another purge of the region is under way");
          return;
        }
        logger.error({ err: error }, "retention purge failed; retrying at the next interval");
        throw error;
      }
    },
  };
}
