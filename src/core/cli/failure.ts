/** How the CLI shows a failure: the code and message, each problem, and where. */
import { isPhoneHomeError } from "../errors/index.ts";

/** Writes `error` to stderr the way a person can act on it: a coded error plainly, anything else with its stack. */
export function printFailure(error: unknown): void {
  if (isPhoneHomeError(error)) {
    process.stderr.write(`error [${error.code}]: ${error.message}\n`);
    for (const p of error.problems ?? []) process.stderr.write(`  - ${p.path}: ${p.message}\n`);
    if (error.path !== undefined && !error.problems) process.stderr.write(`  at ${error.path}\n`);
    return;
  }
  process.stderr.write(`error: ${(error as Error)?.stack ?? String(error)}\n`);
}
