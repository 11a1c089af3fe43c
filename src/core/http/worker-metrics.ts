/**
 * `/metrics` when a service runs as several worker processes on one port
 * (`serve --workers N`): a scrape reaches one worker, which asks the primary
 * process; the primary asks every worker that listens for its registry (as
 * JSON, a few seconds at most each), adds them up with prom-client's
 * `AggregatorRegistry.aggregate` (counters and gauges summed unless a metric
 * names another way), and answers. So a scrape sees the whole service, e.g.
 * `phonehome_lease_held` 1 when any worker holds the lease, also while a
 * worker is being replaced (one that is still starting is left out).
 */
import cluster, { type Worker } from "node:cluster";
import { randomUUID } from "node:crypto";
import {
  AggregatorRegistry,
  type MetricObjectWithValues,
  type MetricValue,
  type Registry,
} from "prom-client";
import { PhoneHomeError } from "../errors/index.ts";

/** A worker asks the primary for everyone's metrics; the primary answers with the text. */
const ASK = "phonehome:metrics?";
const ANSWER = "phonehome:metrics!";
/** The primary asks one worker for its registry; the worker answers with it as JSON. */
const ASK_ONE = "phonehome:registry?";
const ANSWER_ONE = "phonehome:registry!";
/** How long a worker waits for the gathered metrics. */
const GATHER_MS = 6000;
/** How long the primary waits for one worker's registry. */
const ONE_MS = 3000;

interface Message {
  type: string;
  id: string;
  text?: string;
  error?: string;
  json?: MetricObjectWithValues<MetricValue<string>>[];
}

const unavailable = (message: string) => new PhoneHomeError("service.unavailable", message);

/** The next message of `type` and `id` on `on`, or undefined after `ms`. */
function answerOf(
  on: NodeJS.Process | Worker,
  type: string,
  id: string,
  ms: number,
): Promise<Message | undefined> {
  return new Promise((resolve) => {
    const done = (message: unknown) => {
      const m = message as Partial<Message>;
      if (m.type !== type || m.id !== id) return;
      clearTimeout(timer);
      on.off("message", done);
      resolve(m as Message);
    };
    const timer = setTimeout(() => {
      on.off("message", done);
      resolve(undefined);
    }, ms);
    on.on("message", done);
  });
}

/**
 * In a worker: answers the primary's asks for `registry`, and returns how
 * `/metrics` reads every worker's metrics. Outside a worker: undefined.
 */
export function workerMetrics(registry: Registry): (() => Promise<string>) | undefined {
  if (!cluster.isWorker) return undefined;
  process.on("message", (message: Partial<Message>) => {
    if (message.type !== ASK_ONE || typeof message.id !== "string") return;
    const id = message.id;
    registry
      .getMetricsAsJSON()
      .then((json) => process.send?.({ type: ANSWER_ONE, id, json } satisfies Message))
      .catch(() => process.send?.({ type: ANSWER_ONE, id, json: [] } satisfies Message));
  });
  return async () => {
    const id = randomUUID();
    const answer = answerOf(process, ANSWER, id, GATHER_MS);
    process.send?.({ type: ASK, id } satisfies Message);
    const m = await answer;
    if (typeof m?.text === "string") return m.text;
    throw unavailable(`the workers' metrics could not be gathered: ${m?.error ?? "no answer in time"}`);
  };
}

/**
 * In the primary process: answers the workers' asks with the metrics of every
 * worker that `listening` names, added up.
 */
export function gatherWorkerMetrics(listening: () => readonly Worker[]): void {
  cluster.on("message", (asker, message: Partial<Message>) => {
    if (message.type !== ASK || typeof message.id !== "string") return;
    const id = message.id;
    const gather = async (): Promise<string> => {
      const parts = await Promise.all(
        listening().map((worker) => {
          const one = randomUUID();
          const answer = answerOf(worker, ANSWER_ONE, one, ONE_MS);
          worker.send({ type: ASK_ONE, id: one } satisfies Message);
          return answer;
        }),
      );
      const registries = parts.flatMap((p) => (p?.json === undefined ? [] : [p.json]));
      return AggregatorRegistry.aggregate(registries).metrics();
    };
    gather()
      .then((text) => asker.send({ type: ANSWER, id, text } satisfies Message))
      .catch((error: unknown) =>
        asker.send({ type: ANSWER, id, error: (error as Error).message } satisfies Message),
      );
  });
}
