/**
 * `phonehome backup (--region R | --control-plane) --out FILE` and
 * `phonehome restore (--region R | --control-plane) --from FILE [--force]`
 * (docs/backup.md). Progress goes to stderr; the store, its tables' rows and
 * its audit head to stdout (`--json`: the manifest).
 */
import { resolve } from "node:path";
import type { Command } from "commander";
import { progressReporter } from "../../core/cli/index.ts";
import { loadConfig } from "../../core/config/index.ts";
import { backupJson, formatBackup, formatRestore, restoreJson } from "./backup.presenter.ts";
import { backUp, namedStore, type Progress, restore } from "./backup.service.ts";

/** One progress bar (or line every tenth) per kind of step, on stderr. */
function progressOnStderr(): Progress & { stop: () => void } {
  const reporters = new Map<string, ReturnType<typeof progressReporter>>();
  const of = (label: string) => {
    let reporter = reporters.get(label);
    if (reporter === undefined) {
      reporter = progressReporter(process.stderr, label);
      reporters.set(label, reporter);
    }
    return reporter;
  };
  return {
    facts: (step, done, total) => of(step).update(done, total),
    bytes: (done, total) => of("bytes checked").update(done, total),
    stop: () => {
      for (const reporter of reporters.values()) reporter.stop();
    },
  };
}

/** Runs `work` with progress on stderr, then prints what `present` makes of its result on stdout. */
async function reporting<T>(
  work: (progress: Progress) => Promise<T>,
  present: (result: T) => string[],
): Promise<void> {
  const progress = progressOnStderr();
  try {
    const result = await work(progress);
    progress.stop();
    process.stdout.write(`${present(result).join("\n")}\n`);
  } finally {
    progress.stop();
  }
}

interface StoreOptions {
  region?: string;
  controlPlane?: boolean;
  json?: boolean;
}

/** Registers `phonehome backup` and `phonehome restore`. */
export function register(program: Command): void {
  const config = () => loadConfig(program.opts<{ config?: string }>().config);
  program
    .command("backup")
    .description(
      "copy one store (a region's or the control plane's) into a file, with a manifest of its tables' rows and its audit head",
    )
    .option("--region <id>", "the region whose store to copy")
    .option("--control-plane", "copy the control plane's store")
    .requiredOption("--out <file>", "the backup file to write (must not exist)")
    .option("--json", "print the manifest as JSON")
    .action(async (options: StoreOptions & { out: string }) => {
      const target = namedStore(config(), options);
      const file = resolve(options.out);
      await reporting(
        (progress) => backUp(target, file, progress),
        (manifest) =>
          options.json === true
            ? [JSON.stringify(backupJson(file, manifest), null, 2)]
            : formatBackup(file, manifest),
      );
    });
  program
    .command("restore")
    .description(
      "put a backup back into its store, checked against its manifest (rows per table, audit chain) before it replaces anything",
    )
    .option("--region <id>", "the region whose store to restore")
    .option("--control-plane", "restore the control plane's store")
    .requiredOption("--from <file>", "the backup file")
    .option("--force", "replace a store that holds data (what it held is printed)")
    .option("--json", "print the manifest and what was replaced as JSON")
    .action(async (options: StoreOptions & { from: string; force?: boolean }) => {
      const target = namedStore(config(), options);
      const file = resolve(options.from);
      await reporting(
        (progress) => restore(target, file, options.force === true, progress),
        (result) =>
          options.json === true
            ? [JSON.stringify(restoreJson(file, result), null, 2)]
            : formatRestore(file, result),
      );
    });
}
