/**
 * A PostgreSQL URL that names several hosts, as libpq writes it
 * (`postgres://user@db-a:5432,db-b:5432/phonehome?target_session_attrs=read-write`):
 * the store is whichever of them is the primary. node-postgres connects to
 * one host only, so the store finds the writable host itself — at start, and
 * again whenever the store stops answering (a failover) — and points its pool
 * there. docs/operations.md says when to use this and when a front (HAProxy
 * on Patroni's health checks, a managed service's endpoint) is better.
 */
import pg from "pg";
import { PhoneHomeError } from "../errors/index.ts";

const MULTI = /^(postgres(?:ql)?:\/\/)(?:([^@/?#]*)@)?([^/?#]*)(.*)$/s;

/**
 * The URL once per host, in the order given, without `target_session_attrs`
 * (phonehome always asks for the writable host; node-postgres knows no such
 * parameter). A URL of one host comes back as it is.
 */
export function splitHosts(url: string): string[] {
  const match = MULTI.exec(url);
  if (match === null) return [url];
  const [, scheme = "", auth, hosts = "", rest = ""] = match;
  const list = hosts.split(",");
  if (list.length === 1) return [url];
  if (list.some((h) => h.trim() === "")) {
    throw new PhoneHomeError("config.invalid", "a store URL names an empty host in its list of hosts", {
      path: "store.url",
    });
  }
  const tail = withoutSessionAttrs(rest);
  return list.map((host) => `${scheme}${auth === undefined ? "" : `${auth}@`}${host.trim()}${tail}`);
}

/** `/db?a=1&target_session_attrs=read-write&b=2` → `/db?a=1&b=2`. */
function withoutSessionAttrs(rest: string): string {
  const q = rest.indexOf("?");
  if (q < 0) return rest;
  const kept = rest
    .slice(q + 1)
    .split("&")
    .filter((p) => p !== "" && !p.startsWith("target_session_attrs="));
  return kept.length === 0 ? rest.slice(0, q) : `${rest.slice(0, q)}?${kept.join("&")}`;
}

/** What asking one host found. */
export interface HostAnswer {
  url: string;
  /** "primary", "standby", or why it could not be asked. */
  state: "primary" | "standby" | "unreachable";
  detail?: string;
}

/** Asks every host at once whether it is a primary (`pg_is_in_recovery()` false). */
export async function askHosts(urls: readonly string[], connectMs: number): Promise<HostAnswer[]> {
  return Promise.all(
    urls.map(async (url): Promise<HostAnswer> => {
      const client = new pg.Client({
        connectionString: url,
        connectionTimeoutMillis: connectMs,
        query_timeout: connectMs,
      });
      client.on("error", () => {});
      try {
        await client.connect();
        const { rows } = await client.query<{ standby: boolean }>("SELECT pg_is_in_recovery() AS standby");
        return { url, state: rows[0]?.standby === false ? "primary" : "standby" };
      } catch (error) {
        return { url, state: "unreachable", detail: (error as Error).message };
      } finally {
        await client.end().catch(() => {});
      }
    }),
  );
}

/** A host as it may be printed: host and port, never the password. */
export function hostOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}${u.port === "" ? "" : `:${u.port}`}`;
  } catch {
    return "a configured host";
  }
}

/** More than one host says it is a primary: the store takes no writes until one is fenced. */
export class SeveralPrimaries extends PhoneHomeError {}

/**
 * The one host that is a primary; `service.unavailable` naming what each host
 * answered when none is, or when more than one is: an old primary back up
 * beside the promoted standby would take writes the new one never sees, so
 * the store takes none until one of them is fenced.
 */
export async function findPrimary(urls: readonly string[], connectMs: number): Promise<string> {
  const answers = await askHosts(urls, connectMs);
  const primaries = answers.filter((a) => a.state === "primary");
  if (primaries.length === 1 && primaries[0] !== undefined) return primaries[0].url;
  const said = answers
    .map((a) => `${hostOf(a.url)} ${a.state}${a.detail === undefined ? "" : ` (${a.detail})`}`)
    .join(", ");
  if (primaries.length === 0) {
    throw new PhoneHomeError("service.unavailable", `no primary among the store's hosts: ${said}`);
  }
  throw new SeveralPrimaries(
    "service.unavailable",
    `more than one primary among the store's hosts (${said}); writes wait until one is fenced`,
  );
}

/**
 * The URL of the store's one primary: `url` itself when it names one host,
 * else the host `findPrimary` finds (for work that needs one server: a
 * backup's snapshot and the pg_dump that shares it, a restore).
 */
export async function resolvePrimary(url: string, connectMs: number): Promise<string> {
  const hosts = splitHosts(url);
  return hosts.length === 1 ? url : findPrimary(hosts, connectMs);
}
