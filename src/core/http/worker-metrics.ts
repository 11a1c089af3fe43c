/**
 * `/metrics` when a service runs as several worker processes on one port
 * (`serve --workers N`): a scrape reaches one worker, which asks the primary
 * process, which gathers every worker's registry with prom-client's
 * AggregatorRegistry (counters and gauges summed) and answers. So a scrape
 * sees the whole service, e.g. `phonehome_lease_held` 1 when any worker holds
 * the lease.
 */
import cluster from "node:cluster";
import { randomUUID } from "node:crypto";
import { AggregatorRegistry, type Registry } from "prom-client";
import { PhoneHomeError } from "../errors/index.ts";

const ASK = "phonehome:metrics?";
const ANSWER = "phonehome:metrics!";
/** How long a worker waits for the gathered metrics. */
const GATHER_MS = 6000;

interface Ask {
  type: typeof ASK;
  id: string;
}
interface Answer {
  type: typeof ANSWER;
  id: string;
  text?: string;
  error?: string;
}

const unavailable = (message: string) => new PhoneHomeError("service.unavailable", message);

/**
 * In a worker: offers `registry` to the primary's gathering and returns how
 * `/metrics` reads every worker's metrics. Outside a worker: undefined.
 */
export function workerMetrics(registry: Registry): (() => Promise<string>) | undefined {
  if (!cluster.isWorker) return undefined;
  // Made for its side effect: in a worker, the constructor installs the answer to the primary's asks.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = randomUUID();
      const done = (message: unknown) => {
        const answer = message as Partial<Answer>;
        if (answer.type !== ANSWER || answer.id !== id) return;
        clearTimeout(timer);
        process.off("message", done);
        if (typeof answer.text === "string") resolve(answer.text);
        else
          reject(unavailable(`the workers' metrics could not be gathered: ${answer.error ?? "no answer"}`));
      };
      const timer = setTimeout(() => {
        process.off("message", done);
        reject(unavailable("the workers' metrics were not gathered in time"));
      }, GATHER_MS);
      process.on("message", done);
      process.send?.({ type: ASK, id } satisfies Ask);
    });
}

/** In the primary process: answers the workers' asks with every worker's metrics gathered. */
export function gatherWorkerMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on("message", (worker, message: Partial<Ask>) => {
    if (message.type !== ASK || typeof message.id !== "string") return;
    const id = message.id;
    aggregator
      .clusterMetrics()
      .then((text) => worker.send({ type: ANSWER, id, text } satisfies Answer))
      .catch((error: unknown) =>
        worker.send({ type: ANSWER, id, error: (error as Error).message } satisfies Answer),
      );
  });
}
