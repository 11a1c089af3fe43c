/**
 * Which failures of the store mean "the store cannot be reached right now" —
 * a connection refused, reset or cut by the server, a failover under way, a
 * timeout, a store that is read-only or out of connections — as opposed to a
 * fault of the statement itself. The first kind is answered `503
 * service.unavailable` with `Retry-After` (the device keeps its record and
 * sends it again); it is never the fault of one request among others.
 */
import { PhoneHomeError } from "../errors/index.ts";

/** Socket errors of the connection to the store. */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/**
 * SQLSTATEs of a store that is going away or cannot take work now: class 08
 * (connection exception), 57P01-57P05 (shut down by an administrator, crash,
 * cannot connect now, database dropped, idle session timeout), 57014 (a
 * statement timeout cancelled the query), class 53 (out of connections,
 * memory or disk), 25006 (a read-only transaction: a standby not yet promoted)
 * and class 40 (serialisation failure or deadlock: the same work may pass now).
 */
function transientState(code: string): boolean {
  return (
    code.startsWith("08") ||
    /^57P0[1-5]$/.test(code) ||
    code === "57014" ||
    code.startsWith("53") ||
    code === "25006" ||
    code.startsWith("40")
  );
}

/**
 * Messages node-postgres and pg-pool give without a code when the connection
 * ends, cannot be made in time, or a query gets no answer in time.
 */
const DRIVER_MESSAGES = [
  "Connection terminated",
  "connection timeout",
  "timeout exceeded when trying to connect",
  "Query read timeout",
  "Client has encountered a connection error and is not queryable",
  "Client was closed and is not queryable",
  "Cannot use a pool after calling end on the pool",
  "the store did not answer in time",
];

/** True when `error` says the store is unreachable or cannot take work now, not that the statement is wrong. */
export function isStoreUnavailable(error: unknown): boolean {
  if (error instanceof PhoneHomeError) return error.code === "service.unavailable";
  if (typeof error !== "object" || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (
    typeof code === "string" &&
    (NETWORK_CODES.has(code) || (/^[0-9A-Z]{5}$/.test(code) && transientState(code)))
  )
    return true;
  return typeof message === "string" && DRIVER_MESSAGES.some((m) => message.includes(m));
}

/**
 * `error` as the store's failure to answer: a `service.unavailable` when it is
 * one (the cause kept for the log), else `error` itself.
 */
export function asStoreError(error: unknown): unknown {
  if (error instanceof PhoneHomeError || !isStoreUnavailable(error)) return error;
  const code = (error as { code?: unknown }).code;
  return new PhoneHomeError(
    "service.unavailable",
    `the store cannot be reached right now${typeof code === "string" ? ` (${code})` : ""}; nothing was acknowledged, try again`,
    { cause: error },
  );
}
