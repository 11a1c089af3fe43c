/**
 * Retention inside a running collector: the diagnostics partitions for the
 * months ahead are made when the region starts, and on a timer the region
 * purges what has expired, then makes the partitions of the months that have
 * come into reach. The timer never keeps the process alive, and stopping
 * waits for a purge under way to reach its next chunk.
 */
import type { DeviceTable } from "../device-data/index.ts";
import type { Db } from "../../core/db/index.ts";
import type { Dictionary } from "../../core/dictionary/index.ts";
import { isPhoneHomeError } from "../../core/errors/index.ts";
import type { Logger } from "../../core/log/index.ts";
import { ensureDiagnosticsPartitions, partitionMonthsAhead } from "./partitions.ts";
import { runPurge } from "./purge.service.ts";

/** What the region's retention needs. */
export interface RetentionOptions {
  dictionary: Dictionary;
  /** The region's device tables: how each one's rows expire. */
  tables: readonly DeviceTable[];
  /** Time between purges, in milliseconds. */
  intervalMs: number;
  logger: Logger;
  /** The clock purges run against; tests inject one. */
  clock?: () => Date;
}

/** The region's running retention. */
export interface RunningRetention {
  /** Stops the timer and waits for a purge under way to stop (between chunks). */
  stop(): Promise<void>;
}

/**
 * Makes the partitions of the months ahead now, then purges every `intervalMs`
 * (the first purge one interval after the start). A failure is logged and
 * retried at the next interval: it never stops the collector.
 */
export async function startRetention(db: Db, options: RetentionOptions): Promise<RunningRetention> {
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

  const abort = new AbortController();
  let running: Promise<void> | undefined;
  const tick = () => {
    if (running !== undefined || abort.signal.aborted) return;
    running = (async () => {
      const now = clock();
      try {
        const result = await runPurge(db, now, { dictionary, tables, signal: abort.signal });
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
        if (abort.signal.aborted) return;
        if (isPhoneHomeError(error, "store.locked")) {
          logger.debug("retention purge skipped: another process of the region is purging");
          return;
        }
        logger.error({ err: error }, "retention purge failed; retrying at the next interval");
      }
    })().finally(() => {
      running = undefined;
    });
  };
  const timer = setInterval(tick, options.intervalMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      abort.abort();
      await running;
    },
  };
}
