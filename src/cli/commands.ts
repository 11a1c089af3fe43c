/**
 * Every command of the CLI, in one list. Each command lives with its feature
 * (`src/<feature>/<feature>.command.ts`) and exports a `register` function.
 */
import type { Command } from "commander";

/** Adds every command to the program. */
export function registerAll(_program: Command): void {}
