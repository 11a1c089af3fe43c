/** Runs the real `phonehome` binary with Node 24 in a child process, as a user would. */
import { execFile, spawnSync } from "node:child_process";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../../src/core/config/index.ts";

/** What a run of the command printed and how it ended. */
export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

const BIN = join(PACKAGE_ROOT, "bin/phonehome.ts");
const TIMEOUT_MS = 120_000;

/** Runs `phonehome args…` and waits for it; this process is blocked meanwhile. */
export function phonehome(args: readonly string[]): CliRun {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: PACKAGE_ROOT,
    encoding: "utf8",
    timeout: TIMEOUT_MS,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `phonehome args…` without blocking this process: for commands that call a server running in it. */
export function phonehomeAsync(args: readonly string[], options: { input?: string } = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: PACKAGE_ROOT, timeout: TIMEOUT_MS },
      (error, stdout, stderr) => {
        const status = error === null ? 0 : typeof error.code === "number" ? error.code : null;
        resolve({ status, stdout, stderr });
      },
    );
    child.stdin?.end(options.input ?? "");
  });
}
