/**
 * `serve --workers N`: the primary process forks N workers that each run the
 * service and share its listening port (node:cluster; connections are dealt
 * round robin), restarts a worker that dies, gathers their metrics for
 * `/metrics`, and on SIGTERM or SIGINT stops them all, each draining its
 * connections first.
 */
import cluster, { type Worker } from "node:cluster";
import { availableParallelism } from "node:os";
import { gatherWorkerMetrics } from "../../core/http/index.ts";
import type { Logger } from "../../core/log/index.ts";

/** What a worker tells the primary once it listens. */
const LISTENING = "phonehome:listening";

/** The default number of workers: one per core for a PostgreSQL store; an embedded store takes one process only. */
export function defaultWorkers(storeKind: "pglite" | "postgres"): number {
  return storeKind === "pglite" ? 1 : availableParallelism();
}

/** In a worker: tells the primary the service listens at `url` (printed once by the primary). */
export function reportListening(url: string): void {
  if (cluster.isWorker) process.send?.({ type: LISTENING, url });
}

/** How long the primary waits for its workers to stop before it kills them. */
const STOP_MS = 30_000;
/** A worker that dies sooner than this after it started counts as crashing at start. */
const EARLY_MS = 5000;

/**
 * In the primary: runs `count` workers until SIGTERM or SIGINT. Resolves with
 * the exit code: 0 after a clean stop, or the first worker's code when
 * every worker failed before any listened (a bad configuration, a store that
 * cannot be reached: the worker said why).
 */
export async function runWorkers(
  count: number,
  logger: Logger,
  onListening: (url: string) => void,
): Promise<number> {
  const listeningWorkers = new Set<Worker>();
  gatherWorkerMetrics(() => [...listeningWorkers].filter((w) => w.isConnected()));
  let stopping = false;
  let listened = false;
  let failedAtStart = 0;
  let result = 0;
  const started = new Map<Worker, number>();
  /** Restarts in a row of workers that died soon after starting: the delay doubles with each, up to 30 s. */
  let earlyDeaths = 0;

  const fork = () => {
    const worker = cluster.fork();
    started.set(worker, Date.now());
    worker.on("message", (message: { type?: unknown; url?: unknown }) => {
      if (message.type !== LISTENING || typeof message.url !== "string") return;
      listeningWorkers.add(worker);
      earlyDeaths = 0;
      if (!listened) onListening(message.url);
      listened = true;
    });
  };

  return new Promise<number>((resolve) => {
    const finishIfDone = () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) resolve(result);
    };
    cluster.on("exit", (worker, code, signal) => {
      const lived = Date.now() - (started.get(worker) ?? 0);
      started.delete(worker);
      listeningWorkers.delete(worker);
      if (stopping) return finishIfDone();
      if (!listened) {
        // Nothing listens yet: a worker that fails now would fail again; stop them all and say so.
        failedAtStart += 1;
        if (failedAtStart === 1) {
          stopping = true;
          for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGTERM");
          logger.error({ code, signal }, "a worker failed to start; stopping");
          result = code === 0 || code === null ? 1 : code;
          return finishIfDone();
        }
        return undefined;
      }
      earlyDeaths = lived < EARLY_MS ? earlyDeaths + 1 : 0;
      const delay = earlyDeaths === 0 ? 0 : Math.min(30_000, 250 * 2 ** (earlyDeaths - 1));
      logger.error(
        { pid: worker.process.pid, code, signal, restartInMs: delay },
        "a worker died; starting another",
      );
      setTimeout(() => {
        if (!stopping) fork();
      }, delay).unref();
      return undefined;
    });
    const stop = () => {
      if (stopping) return;
      stopping = true;
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      if (workers.length === 0) return resolve(0);
      // The signal itself, not worker.kill(): each worker closes its service as a lone `serve` would, draining first.
      for (const w of workers) w.process.kill("SIGTERM");
      setTimeout(() => {
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGKILL");
      }, STOP_MS).unref();
      return undefined;
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    // SIGHUP re-reads the service-token files (docs/operations.md): passed on to every worker, never the primary's end.
    const hangUp = () => {
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGHUP");
    };
    process.on("SIGHUP", hangUp);
    for (let i = 0; i < count; i += 1) fork();
  });
}

/** In a worker whose service has closed: lets go of the channel to the primary, so that the process ends. */
export function leaveWorkers(): void {
  // worker.disconnect(), not process.disconnect(): the latter makes node:cluster end the worker with code 0 at once.
  if (cluster.isWorker && process.connected) cluster.worker?.disconnect();
}

/** True in a worker process of `serve --workers N`. */
export function isWorker(): boolean {
  return cluster.isWorker;
}
