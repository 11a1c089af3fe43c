/**
 * PostgreSQL's own client programs (`pg_dump`, `pg_restore`): where they are,
 * how they reach the store without a password on their command line, and how
 * they are run.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { Readable } from "node:stream";
import { PhoneHomeError } from "../errors/index.ts";

/** Where Debian and Ubuntu install each major version's programs: `<root>/<major>/bin`. */
const VERSIONED_ROOT = "/usr/lib/postgresql";

/** A client program found, with what `--version` answered (e.g. "pg_dump (PostgreSQL) 15.20"). */
export interface PgTool {
  bin: string;
  version: string;
}

/** The versioned folders of `VERSIONED_ROOT`, newest first. */
function versionedBins(name: string): string[] {
  let majors: string[];
  try {
    majors = readdirSync(VERSIONED_ROOT).filter((d) => /^[0-9]+$/.test(d));
  } catch {
    return [];
  }
  return majors
    .sort((a, b) => Number(b) - Number(a))
    .map((major) => join(VERSIONED_ROOT, major, "bin", name));
}

/**
 * Finds `name` on PATH, else under /usr/lib/postgresql/<major>/bin (newest
 * first); throws `backup.tool_missing` saying where it looked.
 */
export function findPgTool(name: "pg_dump" | "pg_restore"): PgTool {
  for (const bin of [name, ...versionedBins(name)]) {
    const run = spawnSync(bin, ["--version"], { encoding: "utf8", timeout: 10_000 });
    if (run.error === undefined && run.status === 0) return { bin, version: run.stdout.trim() };
  }
  throw new PhoneHomeError(
    "backup.tool_missing",
    `${name} is neither on PATH nor under ${VERSIONED_ROOT}/<version>/bin: a PostgreSQL store is copied by ` +
      "PostgreSQL's own client programs; install them, of the server's major version or newer " +
      "(Debian: apt-get install postgresql-client-15)",
  );
}

/**
 * The store's URL as libpq takes it: no password in it (a command line is
 * visible to every user of the machine) but a password file of this process's
 * own, and the connect timeout in seconds (libpq's least is 2). `remove`
 * deletes the password file.
 */
export function libpqConnection(url: string, connectMs: number): { url: string; remove: () => void } {
  const u = new URL(url);
  const password = decodeURIComponent(u.password);
  u.password = "";
  u.searchParams.set("connect_timeout", String(Math.max(2, Math.ceil(connectMs / 1000))));
  if (password === "") return { url: u.toString(), remove: () => {} };
  const dir = mkdtempSync(join(tmpdir(), "phonehome-pgpass-"));
  const file = join(dir, "pgpass");
  // The password file's format: host:port:database:user:password, with ":" and "\" escaped.
  writeFileSync(file, `*:*:*:*:${password.replace(/[\\:]/g, "\\$&")}\n`, { mode: 0o600 });
  u.searchParams.set("passfile", file);
  return { url: u.toString(), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The last lines a tool wrote on stderr: what it says went wrong. */
function lastWords(stderr: string): string {
  const lines = stderr
    .trim()
    .split("\n")
    .filter((l) => l.trim() !== "");
  return lines.slice(-4).join("; ") || "no message";
}

/**
 * Runs `tool` with `args`: `stdin` is piped in, its stdout handed to `stdout`.
 * Resolves when it exits 0 and its output is taken; otherwise throws
 * `backup.failed` with the tool's last words (and stops it when taking its
 * output fails).
 */
export async function runPgTool(
  tool: PgTool,
  args: readonly string[],
  io: { stdin?: Readable; stdout?: (out: Readable) => Promise<void> },
): Promise<void> {
  const child = spawn(tool.bin, args, {
    stdio: [io.stdin === undefined ? "ignore" : "pipe", io.stdout === undefined ? "ignore" : "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-8000);
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve(code));
  });
  if (io.stdin !== undefined && child.stdin !== null) {
    // A tool that fails stops reading; its exit status and words say why, not the broken pipe.
    child.stdin.on("error", () => {});
    io.stdin.on("error", (error) => {
      stderr += `\n${error.message}`;
      child.kill();
    });
    io.stdin.pipe(child.stdin);
  }
  const taken =
    io.stdout === undefined || child.stdout === null
      ? Promise.resolve()
      : io.stdout(child.stdout).catch((error: unknown) => {
          child.kill();
          throw error;
        });
  const [code] = await Promise.all([exited, taken]);
  if (code !== 0) {
    throw new PhoneHomeError(
      "backup.failed",
      `${basename(tool.bin)} failed (exit ${code}): ${lastWords(stderr)}`,
    );
  }
}
