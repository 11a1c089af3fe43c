/**
 * The `phonehome` command line. Each feature registers its own commands; this
 * file only assembles them and turns failures into clear messages and exit codes.
 */
import { Command, CommanderError } from "commander";
import { isPhoneHomeError } from "../../core/errors/index.ts";
import { registerAll } from "./commands.ts";
import { leaveWorkers } from "../system/index.ts";
import { printFailure } from "../../core/cli/index.ts";

/** Builds the program with every feature's commands. */
export function buildProgram(): Command {
  const program = new Command("phonehome")
    .description(
      "Device activation and opt-in diagnostics, with residency, minimisation and consent enforced",
    )
    .option("-c, --config <file>", "configuration file (default: $PHONEHOME_CONFIG or ./phonehome.yaml)")
    .exitOverride()
    .showHelpAfterError();
  registerAll(program);
  return program;
}

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (error) {
    return reportFailure(error);
  } finally {
    // A worker of `serve --workers N` ends with its command, also when it failed to start.
    leaveWorkers();
  }
}

/** Prints a failure the way a person can act on it; returns the exit code. */
export function reportFailure(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  printFailure(error);
  if (isPhoneHomeError(error)) {
    return [
      "config.invalid",
      "dictionary.invalid",
      "notice.invalid",
      "release.policy_invalid",
      "capture.unreadable",
      "capture.truncated",
      "capture.unsupported",
      "audit.invalid",
    ].includes(error.code)
      ? 2
      : 1;
  }
  return 1;
}
