/**
 * `phonehome registry check [--dictionary DIR] [--json]`: lints the data
 * dictionary against the configuration's regions, prints every error and
 * warning and a summary, and exits 1 when there is an error — including an
 * approval that does not approve its version (unsigned, by its own author,
 * by an unlisted reviewer, not verifying, or over other content), so CI fails
 * when the dictionary in the repository differs from what was approved (2
 * when the configuration itself is invalid, via the CLI's failure report).
 */
import { resolve } from "node:path";
import type { Command } from "commander";
import { loadConfig } from "../config/index.ts";
import type { Problem } from "../errors/index.ts";
import { labelOf, lintDictionary } from "./load.ts";

/** Adds the `registry` command group to the program. */
export function register(program: Command): void {
  const registry = program
    .command("registry")
    .description("the data dictionary: collections, fields and approvals");
  registry
    .command("check")
    .description("lint the data dictionary; exits 1 on an error")
    .option("--dictionary <dir>", "dictionary folder (default: the configuration's `dictionary`)")
    .option("--json", "print the report as JSON")
    .action((options: { dictionary?: string; json?: boolean }) => {
      const config = loadConfig(program.opts<{ config?: string }>().config);
      const dir = options.dictionary === undefined ? config.dictionaryDir : resolve(options.dictionary);
      const report = lintDictionary(dir, { regions: config.regions.map((r) => r.id) });
      const errors = [...report.errors, ...report.refusals];
      const { collections, versions, fields } = report.stats;
      if (options.json) {
        const body = {
          ok: errors.length === 0,
          dictionary: labelOf(dir),
          ...report.stats,
          errors,
          warnings: report.warnings,
        };
        process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
      } else {
        const line = (kind: string, p: Problem) => `${kind} ${p.path}: ${p.message}\n`;
        for (const p of errors) process.stdout.write(line("error  ", p));
        for (const p of report.warnings) process.stdout.write(line("warning", p));
        process.stdout.write(
          `${labelOf(dir)}: ${plural(collections, "collection")}, ${plural(versions, "version")}, ${plural(fields, "field")}; ` +
            `${plural(errors.length, "error")}, ${plural(report.warnings.length, "warning")}\n`,
        );
      }
      if (errors.length > 0) process.exitCode = 1;
    });
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
