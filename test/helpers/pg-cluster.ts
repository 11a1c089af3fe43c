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

/** A primary and its synchronous standby, each a cluster of the test's own. */
export interface PgPair {
  readonly primary: PgCluster;
  /** The standby's URL and port (promoted, it is the primary). */
  readonly standby: { readonly url: string; readonly port: number };
  /** A URL naming both hosts, primary first, asking for the writable one (libpq's syntax). */
  readonly url: string;
  /** `pg_ctl promote` on the standby; resolves once it takes writes. */
  promote(): Promise<void>;
  /** Stops and removes both. */
  destroy(): Promise<void>;
}

/**
 * Streaming replication set up as an operator would: `initdb` the primary,
 * `pg_basebackup -R` of it into the standby's folder, the standby started
 * with its application name, the primary's `synchronous_standby_names` set to
 * it, and resolved only once the primary reports it as `sync`: from then on a
 * commit the primary acknowledges is on the standby's disk too.
 */
export async function startPgPair(): Promise<PgPair> {
  // Synchronous once the standby is there: a commit before that (CREATE DATABASE) would wait for ever.
  const primary = await startPgCluster({
    wal_level: "replica",
    max_wal_senders: "5",
    synchronous_commit: "on",
    // Promotion leaves the standby on a new timeline; the old primary is not brought back in these tests.
    wal_keep_size: "64MB",
  });
  const dataDir = mkdtempSync(join(tmpdir(), "phonehome-pg-standby-"));
  if (asRoot) {
    const pw = execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim();
    const gid = execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim();
    chownSync(dataDir, Number(pw), Number(gid));
  }
  run("pg_basebackup", [
    "-h",
    "127.0.0.1",
    "-p",
    String(primary.port),
    "-U",
    "postgres",
    "-D",
    dataDir,
    "-R",
    "-X",
    "stream",
    // A spread checkpoint would take minutes; the primary has nothing else to do.
    "--checkpoint=fast",
  ]);
  const port = await freePort();
  const conninfo = `host=127.0.0.1 port=${primary.port} user=postgres application_name=standby1`;
  const options = [
    `-p ${port}`,
    `-k ${dataDir}`,
    "-c listen_addresses=127.0.0.1",
    "-c fsync=off",
    "-c max_connections=100",
    "-c hot_standby=on",
    `-c "primary_conninfo=${conninfo}"`,
  ].join(" ");
  const log = join(dataDir, "server.log");
  run("pg_ctl", ["-D", dataDir, "-o", options, "-l", log, "-w", "-t", "60", "start"]);
  const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${primary.port}/postgres` });
  await admin.connect();
  try {
    await admin.query("ALTER SYSTEM SET synchronous_standby_names = 'standby1'");
    await admin.query("SELECT pg_reload_conf()");
    for (let i = 0; ; i++) {
      const { rows } = await admin.query<{ sync_state: string }>(
        "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'",
      );
      if (rows[0]?.sync_state === "sync") break;
      if (i > 300) throw new Error(`the standby did not become synchronous: ${JSON.stringify(rows)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await admin.end();
  }
  const standby = { url: `postgres://postgres@127.0.0.1:${port}/test`, port };
  const destroyStandby = async () => {
    try {
      run("pg_ctl", ["-D", dataDir, "-m", "immediate", "-w", "-t", "60", "stop"]);
    } catch {
      // Already stopped.
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  return {
    primary,
    standby,
    url: `postgres://postgres@127.0.0.1:${primary.port},127.0.0.1:${port}/test?target_session_attrs=read-write`,
    promote: async () => {
      run("pg_ctl", ["-D", dataDir, "-w", "-t", "60", "promote"]);
    },
    destroy: async () => {
      await destroyStandby();
      await primary.destroy();
    },
  };
}
