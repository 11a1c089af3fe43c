/**
 * The load generator of `npm run bench`: a fixed number of keep-alive
 * HTTP/1.1 connections, each sending the next request as soon as the previous answer
 * has arrived (closed loop), for a fixed time or until the bodies run out.
 * Every request's latency is recorded, in milliseconds.
 */
import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { connect, type Socket } from "node:net";

/** What one load run measured. */
export interface LoadResult {
  /** Requests answered (any status). */
  requests: number;
  /** Requests answered 2xx. */
  ok: number;
  /** Non-2xx answers and transport errors: must be 0 for a valid phonehome run. */
  errors: number;
  /** Answers by status code; `error` counts transport failures. */
  statuses: Record<string, number>;
  /** First few error descriptions, for the report. */
  samples: string[];
  /** Wall time from the first request to the last answer, in milliseconds. */
  elapsedMs: number;
  /** Latency of every answered request, in milliseconds, sorted ascending. */
  latencies: Float64Array;
  /** True when the run ended because `next` had no more bodies, before the time was up. */
  exhausted: boolean;
}

/** Which HTTP client sends the load. */
export type ClientKind = "raw" | "http";

/** How to run load. */
export interface LoadOptions {
  url: URL;
  /** The next request body, or undefined when there are no more. */
  next: () => Buffer | undefined;
  durationMs: number;
  /** Connections, each with at most one request in flight. */
  concurrency: number;
  /**
   * `raw` (default): a minimal HTTP/1.1 client on `node:net`, cheap enough that
   * one core of load saturates a bare Fastify route on another core. `http`:
   * `node:http` with a keep-alive agent, which on a 2-core machine runs out of
   * CPU before a bare route does (so the bare rate it measures is the client's).
   */
  client?: ClientKind;
}

/** An answer: status and body text. */
interface Answer {
  status: number;
  text: string;
}

/** One keep-alive connection that carries one request at a time. */
interface Connection {
  post(body: Buffer): Promise<Answer>;
  close(): void;
}

/** A `node:http` connection (through a keep-alive agent shared by all of them). */
function httpConnection(agent: Agent, url: URL): Connection {
  return {
    post: (body) =>
      new Promise((resolve, reject) => {
        const req = request(
          {
            agent,
            host: url.hostname,
            port: url.port,
            path: url.pathname,
            method: "POST",
            headers: { "content-type": "application/json", "content-length": body.length },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (chunk: Buffer) => chunks.push(chunk));
            res.on("end", () =>
              resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
            );
            res.on("error", reject);
          },
        );
        req.on("error", reject);
        req.end(body);
      }),
    close: () => {},
  };
}

const HEAD_END = Buffer.from("\r\n\r\n");

/**
 * A bare HTTP/1.1 connection on `node:net`. It understands exactly what both
 * servers under test send: a status line, headers, and a body of
 * `Content-Length` bytes. Anything else (chunked encoding, no length, a closed
 * socket) fails the request, and the connection is replaced.
 */
function rawConnection(url: URL): Connection {
  const head = (length: number) =>
    Buffer.from(
      `POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${length}\r\n\r\n`,
      "latin1",
    );
  let socket: Socket | undefined;
  let buffered: Buffer = Buffer.alloc(0);
  let waiting: { resolve: (a: Answer) => void; reject: (e: Error) => void } | undefined;

  const fail = (error: Error) => {
    const w = waiting;
    waiting = undefined;
    socket?.destroy();
    socket = undefined;
    buffered = Buffer.alloc(0);
    w?.reject(error);
  };
  const onData = (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    const end = buffered.indexOf(HEAD_END);
    if (end < 0) return;
    const lines = buffered.subarray(0, end).toString("latin1").split("\r\n");
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "")?.[1]);
    let length = Number.NaN;
    for (const line of lines) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).toLowerCase();
      if (name === "content-length") length = Number(line.slice(colon + 1).trim());
      if (name === "transfer-encoding") return fail(new Error("chunked answers are not supported"));
    }
    if (!Number.isInteger(status) || !Number.isInteger(length)) return fail(new Error("malformed answer"));
    if (buffered.length < end + 4 + length) return;
    const text = buffered.subarray(end + 4, end + 4 + length).toString("utf8");
    if (buffered.length > end + 4 + length) return fail(new Error("answer without a request"));
    buffered = Buffer.alloc(0);
    const w = waiting;
    waiting = undefined;
    w?.resolve({ status, text });
  };
  const open = (): Socket => {
    const s = connect({ host: url.hostname, port: Number(url.port), noDelay: true });
    s.on("data", onData);
    s.on("error", (error) => fail(error));
    s.on("close", () => {
      if (socket === s) socket = undefined;
      if (waiting) fail(new Error("connection closed before the answer"));
    });
    return s;
  };
  return {
    post: (body) =>
      new Promise((resolve, reject) => {
        waiting = { resolve, reject };
        socket ??= open();
        socket.cork();
        socket.write(head(body.length));
        socket.write(body);
        socket.uncork();
      }),
    close: () => {
      socket?.destroy();
      socket = undefined;
    },
  };
}

/** Runs closed-loop load against `url` and returns what was measured. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
  const newConnection = () =>
    options.client === "http" ? httpConnection(agent, options.url) : rawConnection(options.url);
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const samples: string[] = [];
  let ok = 0;
  let errors = 0;
  let exhausted = false;
  const count = (key: string, sample?: string) => {
    statuses[key] = (statuses[key] ?? 0) + 1;
    if (sample !== undefined && samples.length < 5) samples.push(sample);
  };

  const started = performance.now();
  const deadline = started + options.durationMs;
  const worker = async () => {
    const connection = newConnection();
    try {
      while (performance.now() < deadline) {
        const body = options.next();
        if (body === undefined) {
          exhausted = true;
          return;
        }
        const t0 = performance.now();
        try {
          const { status, text } = await connection.post(body);
          latencies.push(performance.now() - t0);
          if (status >= 200 && status < 300) {
            ok += 1;
            count(String(status));
          } else {
            errors += 1;
            count(String(status), `${status} ${text.slice(0, 200)}`);
          }
        } catch (error) {
          errors += 1;
          count("error", error instanceof Error ? error.message : String(error));
        }
      }
    } finally {
      connection.close();
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const elapsedMs = performance.now() - started;
  agent.destroy();
  return {
    requests: latencies.length,
    ok,
    errors,
    statuses,
    samples,
    elapsedMs,
    latencies: Float64Array.from(latencies).sort(),
    exhausted,
  };
}

/** Several runs of the same kind as one: counts and times added, latencies pooled. */
export function mergeLoad(runs: readonly LoadResult[]): LoadResult {
  const statuses: Record<string, number> = {};
  for (const run of runs) {
    for (const [status, n] of Object.entries(run.statuses)) statuses[status] = (statuses[status] ?? 0) + n;
  }
  const latencies = new Float64Array(runs.reduce((n, r) => n + r.latencies.length, 0));
  let at = 0;
  for (const run of runs) {
    latencies.set(run.latencies, at);
    at += run.latencies.length;
  }
  return {
    requests: runs.reduce((n, r) => n + r.requests, 0),
    ok: runs.reduce((n, r) => n + r.ok, 0),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    statuses,
    samples: runs.flatMap((r) => r.samples).slice(0, 5),
    elapsedMs: runs.reduce((n, r) => n + r.elapsedMs, 0),
    latencies: latencies.sort(),
    exhausted: runs.some((r) => r.exhausted),
  };
}

/** The q-quantile (0..1) of sorted values, nearest rank; NaN when empty. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/** CPU time (user + system) a process has used so far, in milliseconds; null where /proc is missing. */
export function processCpuMs(pid: number): number | null {
  try {
    // Fields after the command name (which may hold spaces, so cut at the last ')'): utime is 14th, stime 15th overall.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    // Linux reports in clock ticks of USER_HZ, 100 per second on every mainstream architecture.
    return Number.isFinite(ticks) ? ticks * 10 : null;
  } catch {
    return null;
  }
}
