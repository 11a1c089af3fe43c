/**
 * A throwaway PostgreSQL cluster of the test's own, for the tests that cut,
 * stop, freeze or kill the database: `initdb` into a temporary folder and
 * `pg_ctl` on a free loopback port, so that the shared server the other tests
 * use is never touched. Run as root (CI), the cluster's processes run as the
 * `postgres` user, as PostgreSQL refuses to run as root.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chownSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { freePort } from "./processes.ts";

/** Where Debian puts PostgreSQL 15's server programs. */
export const PG_BIN = process.env.PHONEHOME_TEST_PG_BIN ?? "/usr/lib/postgresql/15/bin";

/** A running (or stopped) cluster of the test's own. */
export interface PgCluster {
  /** The URL of its `test` database. */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Starts it again after `stop`, and waits until it takes connections. */
  start(): Promise<void>;
  /** `pg_ctl stop` in the given mode: `fast` (clean) or `immediate` (as a crash). */
  stop(mode: "fast" | "immediate"): Promise<void>;
  /** SIGSTOP to the postmaster and every backend: the server holds its sockets and answers nothing. */
  freeze(): void;
  /** SIGCONT to the same processes. */
  thaw(): void;
  /** `pg_terminate_backend` on every other connection to `test`; resolves with how many were ended. */
  terminateConnections(): Promise<number>;
  /** Stops it (immediately) and removes its folder. */
  destroy(): Promise<void>;
}

const asRoot = process.getuid?.() === 0;

/** Runs a server program, as the `postgres` user when we are root. */
function run(program: string, args: readonly string[]): string {
  const [cmd, argv] = asRoot
    ? ["runuser", ["-u", "postgres", "--", join(PG_BIN, program), ...args]]
    : [join(PG_BIN, program), [...args]];
  return execFileSync(cmd, argv, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 });
}

/** The postmaster's pid and its children's (the backends and auxiliary processes). */
function serverPids(dataDir: string): number[] {
  const pid = Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
  const children = spawnSync("pgrep", ["-P", String(pid)], { encoding: "utf8" })
    .stdout.split("\n")
    .filter((l) => l.trim() !== "")
    .map(Number);
  return [pid, ...children];
}

/**
 * Creates and starts a cluster with a `test` database. `settings` are
 * `postgresql.conf` parameters given on the command line.
 */
export async function startPgCluster(settings: Record<string, string> = {}): Promise<PgCluster> {
  const dataDir = mkdtempSync(join(tmpdir(), "phonehome-pg-"));
  if (asRoot) {
    const pw = execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim();
    const gid = execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim();
    chownSync(dataDir, Number(pw), Number(gid));
  }
  const port = await freePort();
  run("initdb", ["-D", dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "-N"]);
  const options = [
    `-p ${port}`,
    `-k ${dataDir}`,
    "-c listen_addresses=127.0.0.1",
    "-c fsync=off",
    "-c max_connections=100",
    ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`),
  ].join(" ");
  const log = join(dataDir, "server.log");
  const url = `postgres://postgres@127.0.0.1:${port}/test`;
  const start = async () => {
    run("pg_ctl", ["-D", dataDir, "-o", options, "-l", log, "-w", "-t", "60", "start"]);
  };
  await start();
  const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
  await admin.connect();
  await admin.query("CREATE DATABASE test");
  await admin.end();

  return {
    url,
    port,
    dataDir,
    start,
    stop: async (mode) => {
      run("pg_ctl", ["-D", dataDir, "-m", mode, "-w", "-t", "60", "stop"]);
    },
    freeze: () => {
      for (const pid of serverPids(dataDir)) process.kill(pid, "SIGSTOP");
    },
    thaw: () => {
      for (const pid of serverPids(dataDir)) process.kill(pid, "SIGCONT");
    },
    terminateConnections: async () => {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
      await client.connect();
      try {
        const { rows } = await client.query<{ n: number }>(
          `SELECT count(*)::integer AS n FROM
             (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
               WHERE datname = 'test' AND pid <> pg_backend_pid() AND backend_type = 'client backend') t`,
        );
        return rows[0]?.n ?? 0;
      } finally {
        await client.end();
      }
    },
    destroy: async () => {
      try {
        for (const pid of serverPids(dataDir)) process.kill(pid, "SIGCONT");
      } catch {
        // Not running: nothing to wake.
      }
      try {
        run("pg_ctl", ["-D", dataDir, "-m", "immediate", "-w", "-t", "60", "stop"]);
      } catch {
        // Already stopped.
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
